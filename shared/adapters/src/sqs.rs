//! SQS implementations of the work queues: JSON job bodies, per-message `DelaySeconds`.

use std::time::Duration;

use aws_sdk_sqs::Client;
use domain::inbound::InboundJob;
use domain::message::OutboundJob;
use domain::pacing::MAX_QUEUE_DELAY_SECONDS;
use domain::ports::{CampaignJob, CampaignQueue, InboundQueue, OutboundQueue, SlaTimers, StoreError};
use domain::sla::SlaTimer;

/// A standard SQS queue (per-message delays need a standard queue, not FIFO).
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
}

impl SqsQueue {
    /// A queue by URL.
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self { client, queue_url: queue_url.into() }
    }

    async fn send(&self, operation: &'static str, body: String, delay_seconds: u32) -> Result<(), StoreError> {
        let delay = i32::try_from(delay_seconds.min(MAX_QUEUE_DELAY_SECONDS)).unwrap_or(0);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| StoreError::retryable(operation, e))?;
        Ok(())
    }
}

impl InboundQueue for SqsQueue {
    async fn enqueue_inbound(&self, job: &InboundJob) -> Result<(), StoreError> {
        let body = serde_json::to_string(job).map_err(|e| StoreError::permanent("encode inbound job", e))?;
        self.send("enqueue inbound job", body, 0).await
    }
}

impl OutboundQueue for SqsQueue {
    async fn enqueue_outbound(&self, job: &OutboundJob, delay_seconds: u32) -> Result<(), StoreError> {
        let body = serde_json::to_string(job).map_err(|e| StoreError::permanent("encode outbound job", e))?;
        self.send("enqueue outbound job", body, delay_seconds).await
    }
}

impl CampaignQueue for SqsQueue {
    async fn enqueue_campaign(&self, job: &CampaignJob, delay_seconds: u32) -> Result<(), StoreError> {
        let body = serde_json::to_string(job).map_err(|e| StoreError::permanent("encode campaign job", e))?;
        self.send("enqueue campaign job", body, delay_seconds).await
    }
}

/// Sends to one of two queues by job kind (the outbox reconciler hands work to both).
#[derive(Debug, Clone)]
pub struct SqsQueues {
    /// Routing queue.
    pub inbound: SqsQueue,
    /// Sending queue.
    pub outbound: SqsQueue,
    /// SLA breach timers.
    pub sla_timers: SqsQueue,
}

impl SlaTimers for SqsQueues {
    async fn start_timer(&self, timer: &SlaTimer, delay: Duration) -> Result<(), StoreError> {
        self.sla_timers.start_timer(timer, delay).await
    }
}

impl InboundQueue for SqsQueues {
    async fn enqueue_inbound(&self, job: &InboundJob) -> Result<(), StoreError> {
        self.inbound.enqueue_inbound(job).await
    }
}

impl OutboundQueue for SqsQueues {
    async fn enqueue_outbound(&self, job: &OutboundJob, delay_seconds: u32) -> Result<(), StoreError> {
        self.outbound.enqueue_outbound(job, delay_seconds).await
    }
}

impl SlaTimers for SqsQueue {
    async fn start_timer(&self, timer: &SlaTimer, delay: Duration) -> Result<(), StoreError> {
        let body = serde_json::to_string(timer).map_err(|e| StoreError::permanent("encode SLA timer", e))?;
        // `send` caps the delay at the SQS maximum.
        self.send("start SLA timer", body, u32::try_from(delay.as_secs()).unwrap_or(u32::MAX)).await
    }
}

/// The sending queue and the SLA timer queue (what the agent API hands work to).
#[derive(Debug, Clone)]
pub struct SendQueues {
    /// Sending queue.
    pub outbound: SqsQueue,
    /// SLA breach timers.
    pub sla_timers: SqsQueue,
}

impl OutboundQueue for SendQueues {
    async fn enqueue_outbound(&self, job: &OutboundJob, delay_seconds: u32) -> Result<(), StoreError> {
        self.outbound.enqueue_outbound(job, delay_seconds).await
    }
}

impl SlaTimers for SendQueues {
    async fn start_timer(&self, timer: &SlaTimer, delay: Duration) -> Result<(), StoreError> {
        self.sla_timers.start_timer(timer, delay).await
    }
}

impl domain::ports::PushRetries for SqsQueue {
    async fn retry_later(&self, delivery: &domain::event_push::Delivery, delay_seconds: u32) -> Result<(), StoreError> {
        let body = domain::event_push::retry_job(delivery).to_string();
        self.send("queue event-push retry", body, delay_seconds).await
    }
}
