//! Scheduled event → `close_inactive`. A retryable failure fails the invocation (EventBridge
//! retries it); an overlapping or retried run is safe because every close is a conditional,
//! versioned write.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use domain::ports::{ChannelReader, Clock, EventPublisher, InactiveSessions, SessionStore};
use domain::services::auto_close::{AutoClosePorts, close_inactive};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, E, K> {
    /// Channels, sessions and the inactivity index (one DynamoDB store in production).
    pub store: S,
    /// The event bus.
    pub events: E,
    /// Time.
    pub clock: K,
}

/// Handles one scheduled run; answers what it did.
pub async fn handle<S, E, K>(deps: &Deps<S, E, K>, event: LambdaEvent<EventBridgeEvent<Value>>) -> Result<Value, Error>
where
    S: ChannelReader + InactiveSessions + SessionStore,
    E: EventPublisher,
    K: Clock,
{
    let span =
        info_span!("auto_close", scheduled_time = event.payload.time.map(|t| t.to_rfc3339()).unwrap_or_default());
    let ports = AutoClosePorts {
        channels: &deps.store,
        inactive: &deps.store,
        sessions: &deps.store,
        events: &deps.events,
        clock: &deps.clock,
    };
    let report = close_inactive(&ports).instrument(span).await?;
    Ok(json!({
        "channels": report.channels,
        "examined": report.examined,
        "closed": report.closed,
        "kept": report.kept,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use adapters::memory::fixtures::{general_channel, pending_inbound};
    use adapters::memory::{InMemoryEvents, InMemoryStore, ManualClock};
    use domain::channel::{Destination, SessionTimeoutDays};
    use domain::events::{DomainEvent, LifecycleEvent};
    use domain::ids::{ChannelId, ExtensionId, SessionId};
    use domain::inbound::InboundJob;
    use domain::ports::{ChannelWriter, Inbox, StoreError};
    use domain::services::routing::{RoutingPorts, route_inbound};
    use domain::session::{Operation, Session};
    use domain::time::Timestamp;

    const SAMPLE: &str = include_str!("../../../events/auto-close.scheduled.json");
    const DAY: Duration = Duration::from_secs(86_400);
    type TestDeps = Deps<InMemoryStore, InMemoryEvents, ManualClock>;

    fn start() -> Timestamp {
        Timestamp::from_millis(1_795_000_000_000)
    }

    /// Channel 1 closes after 1 day (+14102161183), channel 2 never (+14102161184).
    async fn deps() -> TestDeps {
        let deps =
            Deps { store: InMemoryStore::new(), events: InMemoryEvents::new(), clock: ManualClock::new(start()) };
        let owner = Destination::Extension(ExtensionId::new(7).unwrap());
        let mut closing = general_channel(1, 1, None, &[("+14102161183", owner)]);
        closing.auto_close_session = true;
        closing.session_expired_days = SessionTimeoutDays::new(1).unwrap();
        deps.store.insert_channel(&closing).await.unwrap().unwrap();
        let mut keeping = general_channel(2, 1, None, &[("+14102161184", owner)]);
        keeping.webhook_token = domain::ids::WebhookToken::parse("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").unwrap();
        deps.store.insert_channel(&keeping).await.unwrap().unwrap();
        deps
    }

    /// A customer's message from `customer` to `to`, routed now.
    async fn customer_says(
        store: &InMemoryStore,
        events: &InMemoryEvents,
        id: &str,
        customer: &str,
        to: &str,
        at: Timestamp,
    ) {
        let mut record = pending_inbound(id, customer, to, "hello", at);
        if to == "+14102161184" {
            record.key.channel_id = ChannelId::new(2).unwrap();
        }
        let key = record.key.clone();
        store.insert_pending(&record).await.unwrap();
        let timers = adapters::memory::InMemoryQueues::new();
        let routing =
            RoutingPorts { channels: store, inbox: store, sessions: store, sequences: store, events, timers: &timers };
        route_inbound(&routing, &InboundJob { key }).await.unwrap();
    }

    fn event() -> LambdaEvent<EventBridgeEvent<Value>> {
        LambdaEvent::new(serde_json::from_str(SAMPLE).unwrap(), lambda_runtime::Context::default())
    }

    async fn session(deps: &TestDeps, id: u64) -> Session {
        deps.store.session(SessionId::new(id).unwrap()).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn when_a_session_has_been_silent_for_the_channels_expiry_should_close_it_automatically() {
        let deps = deps().await;
        customer_says(&deps.store, &deps.events, "m1", "+8618012121222", "+14102161183", start()).await;
        customer_says(&deps.store, &deps.events, "m2", "+8618012121333", "+14102161184", start()).await;
        deps.clock.advance(Duration::from_secs(12 * 3600));
        customer_says(&deps.store, &deps.events, "m3", "+8618012121444", "+14102161183", deps.clock.now()).await;

        // one second before the expiry: nothing is due
        deps.clock.advance(Duration::from_secs(12 * 3600 - 1));
        let report = handle(&deps, event()).await.unwrap();
        assert_eq!(report, json!({"channels": 1, "examined": 0, "closed": 0, "kept": 0}));

        deps.clock.advance(Duration::from_secs(1));
        let report = handle(&deps, event()).await.unwrap();
        assert_eq!(report, json!({"channels": 1, "examined": 1, "closed": 1, "kept": 0}));
        assert!(!session(&deps, 1).await.is_open(), "silent for a day on an auto-close channel");
        assert!(session(&deps, 2).await.is_open(), "its channel does not auto-close");
        assert!(session(&deps, 3).await.is_open(), "active 12 h ago");
        let timeline = deps.store.timeline(SessionId::new(1).unwrap()).await.unwrap();
        assert_eq!(timeline.last().unwrap().operation, Operation::Closed { by: None }, "an automatic close");
        let closed: Vec<_> = deps
            .events
            .published()
            .into_iter()
            .filter_map(|e| match e {
                DomainEvent::Lifecycle(LifecycleEvent::Closed { session_id, by: None, .. }) => Some(session_id.get()),
                _ => None,
            })
            .collect();
        assert_eq!(closed, [1]);

        // a retried or overlapping run finds nothing more to do
        assert_eq!(handle(&deps, event()).await.unwrap()["closed"], 0);
        deps.clock.advance(DAY);
        assert_eq!(handle(&deps, event()).await.unwrap()["closed"], 1, "session 3 in its turn");
    }

    /// An inactivity index that, right after answering, lets a customer's message land in every
    /// session it returned: the close is decided on a stale read.
    struct MessageLandsAfterTheRead<'a> {
        deps: &'a TestDeps,
    }

    impl InactiveSessions for MessageLandsAfterTheRead<'_> {
        async fn inactive_sessions(
            &self,
            channel: ChannelId,
            cutoff: Timestamp,
            limit: usize,
        ) -> Result<Vec<Session>, StoreError> {
            let due = self.deps.store.inactive_sessions(channel, cutoff, limit).await?;
            for s in &due {
                let id = format!("late-{}", s.id);
                let (customer, to) = (s.key.customer.as_str(), s.key.business_number.as_str());
                customer_says(&self.deps.store, &self.deps.events, &id, customer, to, self.deps.clock.now()).await;
            }
            Ok(due)
        }
    }

    #[tokio::test]
    async fn when_a_message_arrives_between_the_read_and_the_close_should_keep_the_session_open() {
        let deps = deps().await;
        customer_says(&deps.store, &deps.events, "m1", "+8618012121222", "+14102161183", start()).await;
        deps.clock.advance(DAY + Duration::from_secs(60));
        let racing = MessageLandsAfterTheRead { deps: &deps };
        let ports = AutoClosePorts {
            channels: &deps.store,
            inactive: &racing,
            sessions: &deps.store,
            events: &deps.events,
            clock: &deps.clock,
        };
        let report = close_inactive(&ports).await.unwrap();
        assert_eq!((report.examined, report.closed, report.kept), (1, 0, 1));
        let s = session(&deps, 1).await;
        assert!(s.is_open(), "the customer just wrote");
        assert_eq!(deps.store.messages(s.id, None, 10).await.unwrap().len(), 2, "both messages are in it");
    }
}
