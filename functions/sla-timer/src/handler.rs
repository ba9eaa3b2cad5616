//! SQS batch → `fire_timer` per record. A failure is reported as a batch item failure so SQS
//! redelivers the timer; redelivery is harmless (the breach is recorded once and its event,
//! with a stable id, is published until it is marked published).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::ports::{Clock, EventPublisher, QueueDirectory, SlaLedger, SlaTimers, StoreError};
use domain::services::sla::{TimerPorts, fire_timer};
use domain::sla::SlaTimer;
use lambda_runtime::{Error, LambdaEvent};
use lambda_support::sqs::{outcome_of, process_batch};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, E, T, K> {
    /// Queues and offers (one DynamoDB store in production).
    pub store: S,
    /// The event bus.
    pub events: E,
    /// The timer queue itself (to wait further).
    pub timers: T,
    /// Time.
    pub clock: K,
}

/// Handles one batch.
pub async fn handle<S, E, T, K>(
    deps: &Deps<S, E, T, K>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error>
where
    S: QueueDirectory + SlaLedger,
    E: EventPublisher,
    T: SlaTimers,
    K: Clock,
{
    let ports = TimerPorts {
        queues: &deps.store,
        ledger: &deps.store,
        events: &deps.events,
        timers: &deps.timers,
        clock: &deps.clock,
    };
    Ok(process_batch(event.payload, |timer: SlaTimer| {
        let ports = &ports;
        let span = info_span!("sla_timer", session_id = %timer.offer.session, queue_id = %timer.offer.queue);
        async move { outcome_of(fire_timer(ports, &timer).await, |e: &StoreError| e.retryable) }.instrument(span)
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use adapters::memory::{InMemoryEvents, InMemoryQueues, InMemoryStore, ManualClock};
    use domain::directory::{AssignmentMode, MessageQueue, SlaSettings};
    use domain::events::DomainEvent;
    use domain::ids::{QueueId, SessionId};
    use domain::sla::{OfferKey, OfferRecord};
    use domain::time::Timestamp;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../events/sla-timer.sqs-batch.json");
    type TestDeps = Deps<InMemoryStore, InMemoryEvents, InMemoryQueues, ManualClock>;

    fn entered() -> Timestamp {
        Timestamp::from_millis(1_795_757_811_600)
    }

    fn key() -> OfferKey {
        OfferKey { queue: QueueId::new(1).unwrap(), entered_at: entered(), session: SessionId::new(42).unwrap() }
    }

    async fn deps(sla_time_secs: u32) -> TestDeps {
        let store = InMemoryStore::new();
        store
            .insert_queue(&MessageQueue {
                id: QueueId::new(1).unwrap(),
                name: "Support".into(),
                assignment_mode: AssignmentMode::Manual,
                members: Vec::new(),
                sla: SlaSettings { sla_time_secs, ..SlaSettings::default() },
                managers: Vec::new(),
                created_at: entered(),
            })
            .await
            .unwrap();
        store.put_offer(OfferRecord::new(key()));
        Deps { store, events: InMemoryEvents::new(), timers: InMemoryQueues::new(), clock: ManualClock::new(entered()) }
    }

    fn sample() -> LambdaEvent<SqsEvent> {
        LambdaEvent::new(serde_json::from_str(SAMPLE).unwrap(), lambda_runtime::Context::default())
    }

    fn breaches(deps: &TestDeps) -> Vec<String> {
        deps.events
            .published()
            .iter()
            .filter(|e| matches!(e, DomainEvent::SessionSlaBreached { .. }))
            .map(DomainEvent::event_id)
            .collect()
    }

    #[tokio::test]
    async fn a_timer_waits_out_sla_time_in_hops_then_fires_exactly_at_the_due_time() {
        let deps = deps(3600).await;
        let response = handle(&deps, sample()).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(deps.timers.take_timers(), vec![(SlaTimer { offer: key() }, Duration::from_secs(900))]);
        deps.clock.advance(Duration::from_secs(3000));
        handle(&deps, sample()).await.unwrap();
        assert_eq!(deps.timers.take_timers()[0].1, Duration::from_secs(600));
        assert!(breaches(&deps).is_empty());
        deps.clock.advance(Duration::from_secs(600));
        handle(&deps, sample()).await.unwrap();
        assert!(deps.timers.take_timers().is_empty());
        assert_eq!(breaches(&deps), vec![format!("session.sla_breached:42:1:{}", entered().as_micros())]);
        let detail = deps.events.published()[0].detail();
        assert_eq!(
            detail.data,
            json!({"session_id": 42, "queue_id": 1, "entered_queue_at": entered().to_rfc3339(), "sla_time": 3600})
        );
        // Redelivered: nothing more.
        handle(&deps, sample()).await.unwrap();
        assert_eq!(breaches(&deps).len(), 1);
    }

    #[tokio::test]
    async fn an_answered_or_ended_offer_never_breaches() {
        for record in [
            OfferRecord { answered_at: Some(entered().plus(Duration::from_secs(5))), ..OfferRecord::new(key()) },
            OfferRecord { left_at: Some(entered().plus(Duration::from_secs(5))), ..OfferRecord::new(key()) },
        ] {
            let deps = deps(60).await;
            deps.store.put_offer(record);
            deps.clock.advance(Duration::from_secs(61));
            handle(&deps, sample()).await.unwrap();
            assert!(breaches(&deps).is_empty());
            assert!(deps.timers.take_timers().is_empty());
        }
    }

    #[tokio::test]
    async fn a_failed_publish_is_retried_and_the_breach_announced_once_it_succeeds() {
        let deps = deps(60).await;
        deps.clock.advance(Duration::from_secs(60));
        deps.events.set_failing(true);
        let response = handle(&deps, sample()).await.unwrap();
        assert_eq!(response.batch_item_failures.len(), 1, "SQS redelivers the timer");
        deps.events.set_failing(false);
        deps.clock.advance(Duration::from_secs(30));
        handle(&deps, sample()).await.unwrap();
        assert_eq!(breaches(&deps).len(), 1);
        let offer = deps.store.offer(&key()).await.unwrap().unwrap();
        assert_eq!(offer.breached_at, Some(entered().plus(Duration::from_secs(60))), "recorded at the due time");
        assert!(offer.breach_announced);
    }
}
