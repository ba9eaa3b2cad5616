//! Scheduled event → `evaluate_all`. A failure fails the invocation (EventBridge retries it);
//! overlapping or retried runs are safe: a window is stored once, and a crossing's notice is
//! cleared only after it was delivered.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use domain::ports::{Clock, EventPublisher, ExtensionDirectory, Mailer, QueueDirectory, SlaLedger};
use domain::services::sla::{SlaPorts, evaluate_all};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, E, M, K> {
    /// Queues, extensions and SLA records (one DynamoDB store in production).
    pub store: S,
    /// The event bus.
    pub events: E,
    /// E-mail.
    pub mailer: M,
    /// Time.
    pub clock: K,
}

/// Handles one scheduled run; answers what it did.
pub async fn handle<S, E, M, K>(
    deps: &Deps<S, E, M, K>,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, Error>
where
    S: QueueDirectory + ExtensionDirectory + SlaLedger,
    E: EventPublisher,
    M: Mailer,
    K: Clock,
{
    let span = info_span!("queue_sla", scheduled_time = event.payload.time.map(|t| t.to_rfc3339()).unwrap_or_default());
    let ports = SlaPorts {
        directory: &deps.store,
        ledger: &deps.store,
        events: &deps.events,
        mailer: &deps.mailer,
        clock: &deps.clock,
    };
    let report = evaluate_all(&ports).instrument(span).await?;
    Ok(json!({
        "queues": report.queues,
        "evaluated": report.evaluated,
        "notices": report.notices,
        "lost_races": report.lost_races,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use adapters::memory::{InMemoryEvents, InMemoryMailer, InMemoryStore, ManualClock};
    use domain::directory::{AssignmentMode, Extension, MessageQueue, QueueManager, SlaSettings};
    use domain::events::DomainEvent;
    use domain::ids::{ExtensionId, ExtensionNumber, QueueId, SessionId};
    use domain::sla::{OfferKey, OfferRecord};
    use domain::time::Timestamp;

    const SAMPLE: &str = include_str!("../../../events/queue-sla.scheduled.json");
    type TestDeps = Deps<InMemoryStore, InMemoryEvents, InMemoryMailer, ManualClock>;

    /// A UTC midnight: a multiple of every evaluation interval.
    const START: i64 = 1_800_000_000 - 1_800_000_000 % 86_400;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_unix_seconds(START + secs)
    }

    fn queue() -> QueueId {
        QueueId::new(1).unwrap()
    }

    async fn deps() -> TestDeps {
        let store = InMemoryStore::new();
        store
            .insert_extension(&Extension {
                id: ExtensionId::new(5).unwrap(),
                number: ExtensionNumber::parse("1005").unwrap(),
                caller_id_name: "Lead".into(),
                first_name: String::new(),
                last_name: String::new(),
                email_addr: "lead@example.com".into(),
                mobile_number: String::new(),
                password_hash: String::new(),
                created_at: at(0),
            })
            .await
            .unwrap()
            .unwrap();
        store
            .insert_queue(&MessageQueue {
                id: queue(),
                name: "Support".into(),
                assignment_mode: AssignmentMode::Manual,
                members: Vec::new(),
                sla: SlaSettings { sla_time_secs: 60, evaluation_interval_mins: 15, alarm_threshold_percent: 80 },
                managers: vec![
                    QueueManager::Extension(ExtensionId::new(5).unwrap()),
                    QueueManager::Email("ops@example.com".into()),
                    QueueManager::Email("LEAD@example.com".into()),
                ],
                created_at: at(0),
            })
            .await
            .unwrap();
        Deps { store, events: InMemoryEvents::new(), mailer: InMemoryMailer::new(), clock: ManualClock::new(at(0)) }
    }

    /// An offer entering at `entered` (s from START), answered `answer` seconds later.
    fn offer(deps: &TestDeps, session: u64, entered: i64, answer: Option<i64>) {
        let key = OfferKey { queue: queue(), entered_at: at(entered), session: SessionId::new(session).unwrap() };
        deps.store.put_offer(OfferRecord { answered_at: answer.map(|a| at(entered + a)), ..OfferRecord::new(key) });
    }

    fn event() -> LambdaEvent<EventBridgeEvent<Value>> {
        LambdaEvent::new(serde_json::from_str(SAMPLE).unwrap(), lambda_runtime::Context::default())
    }

    fn sla_events(deps: &TestDeps) -> Vec<(String, String)> {
        deps.events
            .published()
            .iter()
            .filter(|e| matches!(e, DomainEvent::QueueSla { .. }))
            .map(|e| (e.event_type().to_owned(), e.event_id()))
            .collect()
    }

    #[tokio::test]
    async fn the_sample_event_parses_and_a_quiet_queue_has_no_figure_and_no_alarm() {
        let deps = deps().await;
        deps.clock.advance(Duration::from_secs(15 * 60 + 5));
        let out = handle(&deps, event()).await.unwrap();
        assert_eq!(out, json!({"queues": 1, "evaluated": 1, "notices": 0, "lost_races": 0}));
        assert!(deps.events.published().is_empty());
        assert!(deps.mailer.sent().is_empty());
    }

    #[tokio::test]
    async fn a_drop_below_the_threshold_alarms_once_and_the_return_recovers_once() {
        let deps = deps().await;
        // Window 1 (00:00-00:15): 1 of 3 in time → 33.33 %.
        offer(&deps, 1, 10, Some(5));
        offer(&deps, 2, 20, Some(120));
        offer(&deps, 3, 30, None);
        deps.clock.advance(Duration::from_secs(15 * 60 + 5));
        handle(&deps, event()).await.unwrap();
        let events = sla_events(&deps);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].0, "queue.sla_below_threshold");
        let mail = deps.mailer.sent();
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].0, vec!["lead@example.com".to_owned(), "ops@example.com".to_owned()]);
        assert_eq!(mail[0].1, "SLA alarm: message queue \"Support\" at 33.33% (threshold 80%)");

        // Window 2: still low → no storm.
        offer(&deps, 4, 15 * 60 + 10, None);
        deps.clock.advance(Duration::from_secs(15 * 60));
        handle(&deps, event()).await.unwrap();
        assert_eq!(sla_events(&deps).len(), 1);
        assert_eq!(deps.mailer.sent().len(), 1);

        // Window 3: no traffic → nothing either way.
        deps.clock.advance(Duration::from_secs(15 * 60));
        handle(&deps, event()).await.unwrap();
        assert_eq!(sla_events(&deps).len(), 1);

        // Window 4: 4 of 4 in time → one recovery.
        for s in 0..4 {
            offer(&deps, 10 + s, 45 * 60 + 10 + i64::try_from(s).unwrap(), Some(3));
        }
        deps.clock.advance(Duration::from_secs(15 * 60));
        handle(&deps, event()).await.unwrap();
        let events = sla_events(&deps);
        assert_eq!(events.len(), 2);
        assert_eq!(events[1].0, "queue.sla_recovered");
        assert_eq!(deps.mailer.sent().len(), 2);
        let history = deps.store.evaluations(queue(), 10).await.unwrap();
        assert_eq!(history.len(), 4, "every window is recorded, newest first");
        assert!(history[0].window.end > history[3].window.end);
    }

    #[tokio::test]
    async fn overlapping_runs_evaluate_a_window_once() {
        let deps = deps().await;
        offer(&deps, 1, 10, None);
        deps.clock.advance(Duration::from_secs(15 * 60 + 5));
        let (a, b) = tokio::join!(handle(&deps, event()), handle(&deps, event()));
        let evaluated = a.unwrap()["evaluated"].as_u64().unwrap() + b.unwrap()["evaluated"].as_u64().unwrap();
        assert_eq!(evaluated, 1);
        // A retry in the same window does nothing either.
        handle(&deps, event()).await.unwrap();
        assert_eq!(sla_events(&deps).len(), 1);
        assert_eq!(deps.mailer.sent().len(), 1);
    }

    #[tokio::test]
    async fn an_undelivered_alarm_is_sent_by_the_next_run_with_the_same_event_id() {
        let deps = deps().await;
        offer(&deps, 1, 10, None);
        deps.clock.advance(Duration::from_secs(15 * 60 + 5));
        deps.mailer.set_failing(Some(true));
        assert!(handle(&deps, event()).await.is_err(), "a mail outage fails the run so it is retried");
        assert!(deps.store.sla_state(queue()).await.unwrap().pending.is_some());

        deps.mailer.set_failing(None);
        deps.clock.advance(Duration::from_secs(60));
        handle(&deps, event()).await.unwrap();
        let events = sla_events(&deps);
        assert_eq!(events.len(), 2, "published again after the failed run");
        assert_eq!(events[0].1, events[1].1, "with the same id");
        assert_eq!(deps.mailer.sent().len(), 1);
        assert!(deps.store.sla_state(queue()).await.unwrap().pending.is_none());
    }

    #[tokio::test]
    async fn a_rejected_address_does_not_hold_the_alarm_back() {
        let deps = deps().await;
        offer(&deps, 1, 10, None);
        deps.clock.advance(Duration::from_secs(15 * 60 + 5));
        deps.mailer.set_failing(Some(false));
        handle(&deps, event()).await.unwrap();
        assert_eq!(sla_events(&deps).len(), 1);
        assert!(deps.store.sla_state(queue()).await.unwrap().pending.is_none());
    }
}
