//! The event tap: an SQS queue subscribed (through an EventBridge rule) to everything published
//! on one bus, so tests and `make dev` can see the events our functions publish.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::provision::AwsClients;

/// Why a tap could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The emulator refused a call.
    #[error("{operation} failed: {message}")]
    Aws {
        /// The API operation.
        operation: &'static str,
        /// The SDK error with its context.
        message: String,
    },
}

fn aws<E: std::error::Error + 'static>(operation: &'static str, e: E) -> TapError {
    TapError::Aws { operation, message: aws_sdk_sqs::error::DisplayErrorContext(&e).to_string() }
}

/// A queue receiving every event of one bus.
#[derive(Debug, Clone)]
pub struct EventTap {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    rule_name: String,
    bus_name: String,
}

/// The account of an ARN (`arn:aws:service:region:ACCOUNT:...`).
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

impl EventTap {
    /// Creates queue `<prefix>event-tap` and a rule on `bus_name` matching every event of the
    /// bus's account, targeting the queue.
    pub async fn create(
        clients: &AwsClients,
        prefix: &str,
        bus_name: &str,
        bus_arn: &str,
    ) -> Result<EventTap, TapError> {
        let queue_name = format!("{prefix}event-tap");
        let queue_url = clients
            .sqs
            .create_queue()
            .queue_name(&queue_name)
            .send()
            .await
            .map_err(|e| aws("CreateQueue", e))?
            .queue_url
            .unwrap_or_default();
        let queue_arn = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| aws("GetQueueAttributes", e))?
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .unwrap_or_default();
        // Every event put on a bus carries the bus owner's account; moto fills `account` from
        // its own account id, which is the one in the ARNs it returns.
        let account = arn_account(bus_arn).unwrap_or(crate::resolve::ACCOUNT_ID);
        let pattern = serde_json::json!({ "account": [account] }).to_string();
        let rule_name = format!("{prefix}event-tap");
        clients
            .events
            .put_rule()
            .name(&rule_name)
            .event_bus_name(bus_name)
            .event_pattern(pattern)
            .send()
            .await
            .map_err(|e| aws("PutRule", e))?;
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("event-tap")
            .arn(queue_arn)
            .build()
            .map_err(|e| aws("Target", e))?;
        clients
            .events
            .put_targets()
            .rule(&rule_name)
            .event_bus_name(bus_name)
            .targets(target)
            .send()
            .await
            .map_err(|e| aws("PutTargets", e))?;
        Ok(EventTap { sqs: clients.sqs.clone(), queue_url, rule_name, bus_name: bus_name.to_owned() })
    }

    /// The tap queue's URL.
    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// The rule's name.
    pub fn rule_name(&self) -> &str {
        &self.rule_name
    }

    /// The bus tapped.
    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    /// Receives (and deletes) every event that arrived so far: EventBridge envelopes as JSON.
    pub async fn drain(&self) -> Vec<Value> {
        let mut events = Vec::new();
        loop {
            let out = match self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "event tap receive failed");
                    break;
                }
            };
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                if let Some(body) = &m.body {
                    events.push(serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.clone())));
                }
                if let Some(handle) = &m.receipt_handle {
                    let _ = self.sqs.delete_message().queue_url(&self.queue_url).receipt_handle(handle).send().await;
                }
            }
        }
        events
    }

    /// Drains until at least `count` events arrived or `timeout` passed; returns them all.
    pub async fn drain_until(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut events = self.drain().await;
        while events.len() < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            events.extend(self.drain().await);
        }
        events
    }
}
