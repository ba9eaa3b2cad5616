//! Two triggers: the campaign queue (SQS batch → one job per record, a slice of sending each)
//! and the schedule (EventBridge, every few minutes → `sweep`: a job for every campaign whose
//! job may have been lost). Retryable failures of our own dependencies are reported as batch
//! item failures, so SQS redelivers the job.

use std::time::Duration;

use aws_lambda_events::event::sqs::SqsEvent;
use domain::ports::{CampaignJob, CampaignQueue, Clock, EventPublisher, OutboundQueue, ProviderHttp};
use domain::provider::ProviderEndpoints;
use domain::services::campaigns::{CampaignError, CampaignWorkerStore, WorkerPorts, run_job, sweep};
use domain::services::sending::RetryPolicy;
use lambda_runtime::{Error, LambdaEvent};
use lambda_support::sqs::{outcome_of, process_batch};
use serde_json::{Value, json};
use tracing::{Instrument, info, info_span};

/// What the handler needs.
pub struct Deps<S, O, W, H, E, K> {
    /// Campaigns, ledger, sessions, channels, pacer, sequences, files (one DynamoDB store in
    /// production).
    pub store: S,
    /// The sending queue.
    pub outbound: O,
    /// The campaign queue.
    pub work: W,
    /// Provider HTTP.
    pub provider: H,
    /// The event bus.
    pub events: E,
    /// Time.
    pub clock: K,
    /// Provider attempts and backoff.
    pub retry: RetryPolicy,
    /// How long one invocation sends.
    pub slice: Duration,
    /// Where the providers' APIs are.
    pub endpoints: ProviderEndpoints,
    /// The public base URL of our webhooks.
    pub callback_base_url: Option<String>,
}

/// Handles one invocation: an SQS batch of campaign jobs, or the scheduled sweep.
pub async fn handle<S, O, W, H, E, K>(deps: &Deps<S, O, W, H, E, K>, event: LambdaEvent<Value>) -> Result<Value, Error>
where
    S: CampaignWorkerStore,
    O: OutboundQueue,
    W: CampaignQueue,
    H: ProviderHttp,
    E: EventPublisher,
    K: Clock,
{
    if event.payload.get("Records").is_none() {
        let kicked = sweep(&deps.store, &deps.work, &deps.clock).await?;
        info!(kicked, "campaign sweep");
        return Ok(json!({"kicked": kicked}));
    }
    let batch: SqsEvent = serde_json::from_value(event.payload)?;
    let ports = WorkerPorts {
        store: &deps.store,
        outbound: &deps.outbound,
        provider: &deps.provider,
        events: &deps.events,
        clock: &deps.clock,
        work: &deps.work,
        endpoints: &deps.endpoints,
        callback_base: deps.callback_base_url.as_deref(),
        policy: deps.retry,
        slice: deps.slice,
    };
    let response = process_batch(batch, |job: CampaignJob| {
        let ports = &ports;
        let span = info_span!("campaign", campaign_id = %job.campaign_id);
        async move {
            // A fresh token per invocation: a redelivered job of a crashed runner takes over once
            // its lease has run out.
            let token = uuid::Uuid::new_v4().simple().to_string();
            let outcome = run_job(ports, &job, &token).await;
            match &outcome {
                Ok(done) => info!(outcome = ?done, "campaign job done"),
                Err(error) => tracing::warn!(error = %error, "campaign job failed"),
            }
            outcome_of(outcome, CampaignError::is_retryable)
        }
        .instrument(span)
    })
    .await;
    Ok(serde_json::to_value(response)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    use adapters::memory::fixtures::general_channel;
    use adapters::memory::{InMemoryEvents, InMemoryQueues, InMemoryStore, ManualClock, ScriptedProvider};
    use domain::campaign::{
        Campaign, CampaignContent, CampaignCounts, CampaignRecipient, CampaignSpec, CampaignStatus, RecipientSource,
        RecipientState, SendMode, SendType,
    };
    use domain::channel::{ChannelType, Destination};
    use domain::events::DomainEvent;
    use domain::ids::{CampaignId, ChannelId, ExtensionId};
    use domain::phone::{BusinessNumber, CustomerAddress, E164};
    use domain::ports::{CampaignStore, ChannelWriter, OptOuts, SessionStore};
    use domain::services::campaigns::JobOutcome;
    use domain::time::Timestamp;

    const SAMPLE: &str = include_str!("../../../events/campaign-worker.sqs-batch.json");
    const SWEEP: &str = include_str!("../../../events/campaign-worker.scheduled.json");
    const NUMBER: &str = "+14102161183";
    type TestDeps = Deps<InMemoryStore, InMemoryQueues, InMemoryQueues, ScriptedProvider, InMemoryEvents, ManualClock>;

    async fn deps() -> TestDeps {
        let deps = Deps {
            store: InMemoryStore::new(),
            outbound: InMemoryQueues::new(),
            work: InMemoryQueues::new(),
            provider: ScriptedProvider::new(),
            events: InMemoryEvents::new(),
            clock: ManualClock::new(Timestamp::from_millis(1_795_000_000_000)),
            retry: RetryPolicy { max_attempts: 3, base_delay: Duration::from_secs(2) },
            slice: Duration::from_secs(20),
            endpoints: ProviderEndpoints::default(),
            callback_base_url: None,
        };
        let channel = general_channel(1, 10, None, &[(NUMBER, Destination::Extension(ExtensionId::new(7).unwrap()))]);
        deps.store.insert_channel(&channel).await.unwrap().unwrap();
        deps
    }

    fn campaign(id: u64, numbers: &[&str], status: CampaignStatus) -> (Campaign, Vec<CampaignRecipient>) {
        let id = CampaignId::new(id).unwrap();
        let recipients: Vec<CampaignRecipient> = numbers
            .iter()
            .zip(1u32..)
            .map(|(n, index)| CampaignRecipient {
                campaign: id,
                index,
                number: E164::parse(n).unwrap(),
                contact_name: None,
                state: RecipientState::Pending,
                run: 1,
                message: None,
                sent_at: None,
                failure: None,
                replied_at: None,
            })
            .collect();
        let now = Timestamp::from_millis(1_795_000_000_000);
        let c = Campaign {
            id,
            spec: CampaignSpec {
                name: "Spring".into(),
                channel_type: ChannelType::Sms,
                channel_id: ChannelId::new(1).unwrap(),
                sender: BusinessNumber::parse(NUMBER).unwrap(),
                recipients: RecipientSource::Input { file_name: None },
                content: CampaignContent::Text { text: "20% off".into() },
                send_type: SendType::Immediately,
                send_time: None,
                time_zone: "UTC".into(),
                send_mode: SendMode::Direct,
            },
            status,
            total: recipients.len() as u64,
            counts: CampaignCounts::default(),
            run: 1,
            stop_reason: None,
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
            version: 1,
        };
        (c, recipients)
    }

    fn job(id: u64) -> CampaignJob {
        CampaignJob { campaign_id: CampaignId::new(id).unwrap() }
    }

    /// Runs campaign jobs off the in-memory queue (ignoring their delays: the clock is manual)
    /// until none is left or `limit` were run.
    async fn drain(deps: &TestDeps, limit: usize) -> Vec<JobOutcome> {
        let mut outcomes = Vec::new();
        for _ in 0..limit {
            let jobs = deps.work.take_campaign();
            if jobs.is_empty() {
                break;
            }
            for (j, delay) in jobs {
                deps.clock.advance(Duration::from_secs(u64::from(delay)));
                outcomes.push(run_job(&ports(deps), &j, "runner").await.unwrap());
            }
        }
        outcomes
    }

    fn ports(
        deps: &TestDeps,
    ) -> WorkerPorts<'_, InMemoryStore, InMemoryQueues, InMemoryQueues, ScriptedProvider, InMemoryEvents, ManualClock>
    {
        WorkerPorts {
            store: &deps.store,
            outbound: &deps.outbound,
            work: &deps.work,
            provider: &deps.provider,
            events: &deps.events,
            clock: &deps.clock,
            endpoints: &deps.endpoints,
            callback_base: None,
            policy: deps.retry,
            slice: deps.slice,
        }
    }

    fn event() -> LambdaEvent<Value> {
        LambdaEvent::new(serde_json::from_str(SAMPLE).unwrap(), lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn a_campaign_job_from_sqs_sends_each_recipient_once_and_completes() {
        let deps = deps().await;
        let (c, r) = campaign(1, &["+15550000001", "+15550000002", "+15550000003"], CampaignStatus::Pending);
        deps.store.create_campaign(&c, &r).await.unwrap();

        let reply = handle(&deps, event()).await.unwrap();
        assert_eq!(reply["batchItemFailures"], serde_json::json!([]));
        let outcomes = drain(&deps, 10).await;
        assert!(matches!(outcomes.last(), Some(JobOutcome::Finished(CampaignStatus::Completed))), "{outcomes:?}");
        assert_eq!(deps.provider.calls().len(), 3, "one provider call per recipient");
        let done = deps.store.campaign(c.id).await.unwrap().unwrap();
        assert_eq!((done.status, done.counts.sent, done.counts.failed), (CampaignStatus::Completed, 3, 0));
        assert!(deps.store.recipients(c.id).await.unwrap().iter().all(|r| r.state == RecipientState::Sent));
        assert!(
            deps.events.published().iter().any(|e| matches!(e, DomainEvent::CampaignFinished { sent: 3, .. })),
            "campaign.completed is published"
        );
        // "send directly": the carriers are in nobody's list
        let key = domain::session::SessionKey {
            channel_id: ChannelId::new(1).unwrap(),
            business_number: BusinessNumber::parse(NUMBER).unwrap(),
            customer: CustomerAddress::parse("+15550000001").unwrap(),
        };
        assert_eq!(deps.store.open_session_id(&key).await.unwrap(), None, "no open session for a direct message");

        // A redelivered job finds the campaign finished and sends nothing more.
        handle(&deps, event()).await.unwrap();
        assert_eq!(deps.provider.calls().len(), 3);
    }

    #[tokio::test]
    async fn a_recipient_claimed_once_is_never_sent_again_by_a_second_runner() {
        let deps = deps().await;
        let (c, r) = campaign(1, &["+15550000001", "+15550000002"], CampaignStatus::Executing);
        deps.store.create_campaign(&c, &r).await.unwrap();
        deps.store.acquire_channel(c.spec.channel_id, c.id).await.unwrap();
        // two runners one after the other (the first lease released), then redelivered jobs
        let first = run_job(&ports(&deps), &job(1), "a").await.unwrap();
        let second = run_job(&ports(&deps), &job(1), "b").await.unwrap();
        assert!(matches!(first, JobOutcome::Finished(CampaignStatus::Completed)), "{first:?}");
        assert_eq!(second, JobOutcome::Idle);
        assert_eq!(deps.provider.calls().len(), 2);
    }

    #[tokio::test]
    async fn a_job_finding_another_runners_lease_comes_back_when_it_expires() {
        let deps = deps().await;
        let (c, r) = campaign(1, &["+15550000001"], CampaignStatus::Executing);
        deps.store.create_campaign(&c, &r).await.unwrap();
        let now = deps.clock.now();
        assert!(deps.store.take_runner_lease(c.id, "crashed", now, now.plus(Duration::from_secs(30))).await.unwrap());
        let outcome = run_job(&ports(&deps), &job(1), "redelivered").await.unwrap();
        assert_eq!(outcome, JobOutcome::Waiting(31));
        assert_eq!(deps.work.take_campaign(), vec![(job(1), 31)], "not dropped: the crashed runner's work goes on");
        assert!(deps.provider.calls().is_empty());
    }

    #[tokio::test]
    async fn opted_out_recipients_are_skipped_and_counted() {
        let deps = deps().await;
        let (c, r) = campaign(1, &["+15550000001", "+15550000002"], CampaignStatus::Pending);
        deps.store.create_campaign(&c, &r).await.unwrap();
        let number = BusinessNumber::parse(NUMBER).unwrap();
        let stop = CustomerAddress::parse("+15550000002").unwrap();
        deps.store.set_opt_out(c.spec.channel_id, &number, &stop, true, deps.clock.now()).await.unwrap();
        deps.work.enqueue_campaign(&job(1), 0).await.unwrap();
        drain(&deps, 10).await;
        let done = deps.store.campaign(c.id).await.unwrap().unwrap();
        assert_eq!((done.status, done.counts.sent, done.counts.opted_out), (CampaignStatus::Completed, 1, 1));
        assert_eq!(deps.provider.calls().len(), 1);
    }

    #[tokio::test]
    async fn a_second_campaign_on_the_channel_waits_pending_and_starts_when_the_first_finishes() {
        let deps = deps().await;
        let (a, ra) = campaign(1, &["+15550000001"], CampaignStatus::Pending);
        let (b, rb) = campaign(2, &["+15550000002"], CampaignStatus::Pending);
        deps.store.create_campaign(&a, &ra).await.unwrap();
        deps.store.create_campaign(&b, &rb).await.unwrap();
        assert_eq!(run_job(&ports(&deps), &job(1), "r").await.unwrap(), JobOutcome::Sliced(0));
        let waiting = run_job(&ports(&deps), &job(2), "r").await.unwrap();
        assert!(matches!(waiting, JobOutcome::Waiting(_)), "{waiting:?}");
        assert_eq!(deps.store.campaign(b.id).await.unwrap().unwrap().status, CampaignStatus::Pending);
        drain(&deps, 20).await;
        for id in [a.id, b.id] {
            assert_eq!(deps.store.campaign(id).await.unwrap().unwrap().status, CampaignStatus::Completed);
        }
        assert_eq!(deps.provider.calls().len(), 2);
    }

    #[tokio::test]
    async fn a_campaign_whose_channel_is_gone_stops_with_the_reason() {
        let deps = deps().await;
        let (mut c, r) = campaign(1, &["+15550000001"], CampaignStatus::Pending);
        c.spec.channel_id = ChannelId::new(9).unwrap();
        deps.store.create_campaign(&c, &r).await.unwrap();
        deps.work.enqueue_campaign(&job(1), 0).await.unwrap();
        drain(&deps, 10).await;
        let stopped = deps.store.campaign(c.id).await.unwrap().unwrap();
        assert_eq!(stopped.status, CampaignStatus::Stop);
        assert!(stopped.stop_reason.unwrap().contains("channel"));
        assert!(deps.provider.calls().is_empty());
    }

    #[tokio::test]
    async fn the_sweep_gives_a_job_to_a_scheduled_campaign_past_its_time() {
        let deps = deps().await;
        let (mut c, r) = campaign(1, &["+15550000001"], CampaignStatus::Scheduled);
        c.spec.send_time = Some(deps.clock.now());
        deps.store.create_campaign(&c, &r).await.unwrap();
        let (d, rd) = campaign(2, &["+15550000002"], CampaignStatus::Draft);
        deps.store.create_campaign(&d, &rd).await.unwrap();
        let sweep = LambdaEvent::new(serde_json::from_str(SWEEP).unwrap(), lambda_runtime::Context::default());
        assert_eq!(handle(&deps, sweep).await.unwrap()["kicked"], 1);
        assert_eq!(deps.work.take_campaign(), vec![(job(1), 0)]);
    }

    #[tokio::test]
    async fn a_send_whose_worker_died_mid_call_is_recorded_interrupted_and_never_called_again() {
        use domain::events::LifecycleEvent;
        use domain::ids::{MessageId, SessionId};
        use domain::message::{DeliveryState, Direction, Message, Origin, Sender};
        use domain::ports::{
            AssignmentChange, OutboundCommit, OutboundCommitOutcome, OutboundLedger, RecipientClaim, SendClaim,
        };
        use domain::session::{Actor, Assignment, ListView, Session, SessionKey, SessionOrigin, SessionStatus};

        let deps = deps().await;
        let (c, r) = campaign(1, &["+15550000001"], CampaignStatus::Executing);
        deps.store.create_campaign(&c, &r).await.unwrap();
        deps.store.acquire_channel(c.spec.channel_id, c.id).await.unwrap();
        // what a slice stores for the recipient before its provider call
        let now = deps.clock.now();
        let (sid, mid) = (SessionId::new(1).unwrap(), MessageId::new(1).unwrap());
        let key = SessionKey {
            channel_id: c.spec.channel_id,
            business_number: c.spec.sender.clone(),
            customer: CustomerAddress::parse("+15550000001").unwrap(),
        };
        let carrier = Session {
            id: sid,
            key,
            provider: domain::channel::Provider::General,
            channel_type: ChannelType::Sms,
            status: SessionStatus::Closed { at: now },
            assignment: Assignment::Api,
            last_queue: None,
            origin: SessionOrigin::CampaignDirect,
            created_at: now,
            last_activity_at: now,
            last_message: None,
            last_customer_message_at: None,
            customer_name: None,
            unread: 0,
            view: ListView { archived: false, removed: true },
            offer: None,
            version: 1,
        };
        let message = Message {
            session_id: sid,
            msg_id: mid,
            channel_id: c.spec.channel_id,
            direction: Direction::Outbound,
            sender: Sender::System,
            origin: Origin::Campaign,
            text: Some("20% off".into()),
            media: Vec::new(),
            created_at: now,
            delivery: DeliveryState::Queued,
            attempts: 0,
            provider_message_id: None,
            events_published: false,
            receipt: None,
            template: None,
        };
        let accepted = LifecycleEvent::MessageAccepted {
            session_id: sid,
            msg_id: mid,
            channel_id: c.spec.channel_id,
            by: Actor::Admin,
            text: None,
            assignment: Assignment::Api,
            at: now,
        };
        let commit = OutboundCommit {
            message,
            outbox_due: now,
            assignment: AssignmentChange::StartDetached { session: Box::new(carrier) },
            accepted,
            answers: None,
            recipient: Some(RecipientClaim { campaign: c.id, index: 1 }),
        };
        assert_eq!(deps.store.commit_outbound(&commit).await.unwrap(), OutboundCommitOutcome::Committed);
        assert_eq!(
            deps.store.commit_outbound(&commit).await.unwrap(),
            OutboundCommitOutcome::RecipientTaken,
            "the same recipient cannot get a second message"
        );
        // ... and a sender claimed it, then died during the provider call
        let claim = deps.store.claim_for_send(sid, mid, now, now.plus(Duration::from_secs(1))).await.unwrap();
        assert!(matches!(claim, SendClaim::Claimed(_)));
        deps.clock.advance(Duration::from_secs(5));
        let later = deps.clock.now();
        let again = deps.store.claim_for_send(sid, mid, later, later.plus(Duration::from_secs(1))).await.unwrap();
        assert_eq!(again, SendClaim::HeldElsewhere, "an expired campaign claim is not taken again");

        let outcome = run_job(&ports(&deps), &job(1), "runner").await.unwrap();
        assert_eq!(outcome, JobOutcome::Finished(CampaignStatus::Completed));
        let rows = deps.store.recipients(c.id).await.unwrap();
        assert_eq!(rows[0].state, RecipientState::Failed);
        assert!(rows[0].failure.as_deref().unwrap_or_default().starts_with("Interrupted"), "{rows:?}");
        assert!(deps.provider.calls().is_empty(), "never called again");
        let final_claim = deps.store.claim_for_send(sid, mid, later, later.plus(Duration::from_secs(1))).await.unwrap();
        assert_eq!(final_claim, SendClaim::AlreadyFinal);
    }
}
