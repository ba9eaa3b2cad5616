//! Scheduled event → `reconcile`. A retryable failure fails the invocation (EventBridge retries
//! it); overlapping or retried runs are safe because each entry is postponed conditionally
//! before it is handed on.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use domain::ports::{Clock, EventPublisher, InboundQueue, OutboundQueue, Outbox, SlaTimers};
use domain::services::outbox::{OutboxPorts, reconcile};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<X, Q, E, K> {
    /// The outbox index.
    pub outbox: X,
    /// The work queues and the SLA timer queue.
    pub queues: Q,
    /// The event bus.
    pub events: E,
    /// Time.
    pub clock: K,
}

/// Handles one scheduled run.
pub async fn handle<X, Q, E, K>(
    deps: &Deps<X, Q, E, K>,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, Error>
where
    X: Outbox,
    Q: InboundQueue + OutboundQueue + SlaTimers,
    E: EventPublisher,
    K: Clock,
{
    let span = info_span!("reconcile", scheduled_time = event.payload.time.map(|t| t.to_rfc3339()).unwrap_or_default());
    let ports = OutboxPorts {
        outbox: &deps.outbox,
        inbound: &deps.queues,
        outbound: &deps.queues,
        events: &deps.events,
        clock: &deps.clock,
        timers: &deps.queues,
    };
    let report = reconcile(&ports).instrument(span).await?;
    Ok(json!({"due": report.due, "handed_on": report.handed_on, "skipped": report.skipped}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use adapters::memory::fixtures::pending_inbound;
    use adapters::memory::{InMemoryEvents, InMemoryQueues, InMemoryStore, ManualClock};
    use domain::inbound::InboundKey;
    use domain::ports::Inbox;
    use domain::time::Timestamp;

    const SAMPLE: &str = include_str!("../../../events/outbox-reconciler.scheduled.json");

    type TestDeps = Deps<InMemoryStore, InMemoryQueues, InMemoryEvents, ManualClock>;

    fn deps(start: Timestamp) -> TestDeps {
        Deps {
            outbox: InMemoryStore::new(),
            queues: InMemoryQueues::new(),
            events: InMemoryEvents::new(),
            clock: ManualClock::new(start),
        }
    }

    fn event() -> LambdaEvent<EventBridgeEvent<Value>> {
        LambdaEvent::new(serde_json::from_str(SAMPLE).unwrap(), lambda_runtime::Context::default())
    }

    async fn pending(store: &InMemoryStore, id: &str, at: Timestamp) -> InboundKey {
        let record = pending_inbound(id, "+8618012121222", "+14102161183", "hi", at);
        store.insert_pending(&record).await.unwrap();
        record.key
    }

    #[tokio::test]
    async fn when_a_stored_message_was_never_routed_should_hand_it_on_once_per_grace_period() {
        let start = Timestamp::from_millis(1_795_000_000_000);
        let deps = deps(start);
        let key = pending(&deps.outbox, "lost", start).await;

        // not due yet: routing normally finishes within a second
        let report = handle(&deps, event()).await.unwrap();
        assert_eq!(report["due"], 0);

        deps.clock.advance(Duration::from_secs(61));
        let report = handle(&deps, event()).await.unwrap();
        assert_eq!(report["handed_on"], 1);
        let jobs = deps.queues.take_inbound();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].key, key);

        // an overlapping run right after finds it postponed
        let report = handle(&deps, event()).await.unwrap();
        assert_eq!(report["handed_on"], 0);
        assert!(deps.queues.take_inbound().is_empty());
    }

    #[tokio::test]
    async fn when_the_queue_is_down_should_fail_the_run_so_it_is_retried() {
        let start = Timestamp::from_millis(1_795_000_000_000);
        let deps = deps(start);
        pending(&deps.outbox, "lost", start).await;
        deps.clock.advance(Duration::from_secs(61));
        deps.queues.set_failing(true);
        assert!(handle(&deps, event()).await.is_err());
    }

    #[tokio::test]
    async fn when_a_lifecycle_event_was_left_unpublished_should_publish_it_once_overdue() {
        let start = Timestamp::from_millis(1_795_000_000_000);
        let deps = deps(start);
        let left = domain::events::LifecycleEvent::Closed {
            session_id: domain::ids::SessionId::new(4).unwrap(),
            channel_id: domain::ids::ChannelId::new(1).unwrap(),
            version: 3,
            by: None,
            assignment: domain::session::Assignment::Api,
            at: start,
        };
        deps.outbox.leave_unpublished(&left, start);
        assert_eq!(handle(&deps, event()).await.unwrap()["due"], 0, "the request itself normally publishes it");
        deps.clock.advance(Duration::from_secs(61));
        assert_eq!(handle(&deps, event()).await.unwrap()["handed_on"], 1);
        let published = deps.events.published();
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].event_id(), "session.closed:4:3");
        assert!(deps.outbox.unpublished_events().is_empty());
        assert_eq!(handle(&deps, event()).await.unwrap()["due"], 0, "published once");
    }
}
