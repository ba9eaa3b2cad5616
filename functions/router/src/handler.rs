//! SQS batch → `route_inbound` per record. Retryable failures (a dependency, a lost race) are
//! reported as batch item failures; a routed, parked or missing record is acknowledged.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::inbound::InboundJob;
use domain::ports::{CampaignStore, ChannelReader, EventPublisher, Inbox, OptOuts, Sequences, SessionStore, SlaTimers};
use domain::services::campaigns::after_routing;
use domain::services::routing::{RouteError, RouteOutcome, RoutingPorts, route_inbound};
use lambda_runtime::{Error, LambdaEvent};
use lambda_support::sqs::{outcome_of, process_batch};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, E, T> {
    /// Channels, inbox, sessions and sequences (one DynamoDB store in production).
    pub store: S,
    /// The event bus.
    pub events: E,
    /// The SLA breach timers (a session opened in a queue starts one).
    pub timers: T,
}

/// Handles one batch.
pub async fn handle<S, E, T>(deps: &Deps<S, E, T>, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error>
where
    S: ChannelReader + Inbox + SessionStore + Sequences + CampaignStore + OptOuts,
    E: EventPublisher,
    T: SlaTimers,
{
    let ports = RoutingPorts {
        channels: &deps.store,
        inbox: &deps.store,
        sessions: &deps.store,
        sequences: &deps.store,
        events: &deps.events,
        timers: &deps.timers,
    };
    Ok(process_batch(event.payload, |job: InboundJob| {
        let ports = &ports;
        let span = info_span!("route", channel_id = %job.key.channel_id, provider_message_id = job.key.provider_message_id.as_str());
        async move {
            let routed = route_inbound(ports, &job).await;
            // Campaigns: STOP / START, and replies counted for the response rate (idempotent, so
            // a redelivered record that routed before is looked at again).
            let routed = match routed {
                Ok(outcome @ (RouteOutcome::Routed { .. } | RouteOutcome::AlreadyDone)) => {
                    after_routing(&deps.store, &job.key).await.map(|()| outcome).map_err(RouteError::from)
                }
                other => other,
            };
            outcome_of(routed, RouteError::is_retryable)
        }
        .instrument(span)
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::memory::fixtures::{general_channel, pending_inbound};
    use adapters::memory::{InMemoryEvents, InMemoryQueues, InMemoryStore, close_session_for_test};
    use domain::channel::Destination;
    use domain::events::DomainEvent;
    use domain::ids::{ChannelId, ExtensionId, QueueId, SessionId};
    use domain::inbound::InboundKey;
    use domain::ports::{ChannelWriter, StatsReader};
    use domain::session::Assignment;
    use domain::time::Timestamp;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../events/router.sqs-batch.json");

    async fn deps() -> Deps<InMemoryStore, InMemoryEvents, InMemoryQueues> {
        let store = InMemoryStore::new();
        let channel = general_channel(
            1,
            1,
            None,
            &[
                ("+14102161183", Destination::Extension(ExtensionId::new(7).unwrap())),
                ("+14102161184", Destination::Queue(QueueId::new(3).unwrap())),
            ],
        );
        store.insert_channel(&channel).await.unwrap().unwrap();
        Deps { store, events: InMemoryEvents::new(), timers: InMemoryQueues::new() }
    }

    async fn stored(
        deps: &Deps<InMemoryStore, InMemoryEvents, InMemoryQueues>,
        id: &str,
        from: &str,
        to: &str,
    ) -> InboundKey {
        let mut record =
            pending_inbound(id, from, to, &format!("message {id}"), Timestamp::from_millis(1_795_000_000_000));
        record.accepted_at = Timestamp::from_millis(1_795_000_000_100);
        deps.store.insert_pending(&record).await.unwrap();
        record.key
    }

    fn batch(keys: &[&InboundKey]) -> LambdaEvent<SqsEvent> {
        let records: Vec<serde_json::Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                json!({"messageId": format!("rec-{i}"), "body": serde_json::to_string(&InboundJob { key: (*k).clone() }).unwrap(),
                       "attributes": {"ApproximateReceiveCount": "1"}, "eventSource": "aws:sqs"})
            })
            .collect();
        LambdaEvent::new(
            serde_json::from_value(json!({"Records": records})).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    #[tokio::test]
    async fn the_sample_event_parses_and_an_unknown_record_is_acknowledged() {
        let deps = deps().await;
        let event: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
        let response = handle(&deps, LambdaEvent::new(event, lambda_runtime::Context::default())).await.unwrap();
        assert!(response.batch_item_failures.is_empty(), "missing records are acknowledged, not retried");
    }

    #[tokio::test]
    async fn when_a_customer_writes_first_should_open_a_session_where_the_number_routes() {
        let deps = deps().await;
        let to_ext = stored(&deps, "a", "+8618012121222", "+14102161183").await;
        let to_queue = stored(&deps, "b", "+8618012121222", "+14102161184").await;
        let response = handle(&deps, batch(&[&to_ext, &to_queue])).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(deps.store.session_count(), 2);
        let mut assignments = vec![];
        for id in [1, 2] {
            let s = deps.store.session(SessionId::new(id).unwrap()).await.unwrap().unwrap();
            assignments.push(s.assignment);
        }
        assert!(assignments.contains(&Assignment::Extension(ExtensionId::new(7).unwrap())));
        assert!(assignments.contains(&Assignment::Queue(QueueId::new(3).unwrap())));
        let types: Vec<&str> = deps.events.published().iter().map(DomainEvent::event_type).collect();
        assert_eq!(types.iter().filter(|t| **t == "session.created").count(), 2);
        assert_eq!(types.iter().filter(|t| **t == "message.received").count(), 2);
        let received = deps.store.number_stats(ChannelId::new(1).unwrap(), "+14102161183", None).await.unwrap();
        assert_eq!(received.received, 1);
    }

    #[tokio::test]
    async fn when_a_follow_up_arrives_should_join_the_open_session_and_after_close_open_a_new_one() {
        let deps = deps().await;
        let first = stored(&deps, "1", "+8618012121222", "+14102161183").await;
        handle(&deps, batch(&[&first])).await.unwrap();
        let second = stored(&deps, "2", "+8618012121222", "+14102161183").await;
        handle(&deps, batch(&[&second])).await.unwrap();
        assert_eq!(deps.store.session_count(), 1);
        let session = deps.store.session(SessionId::new(1).unwrap()).await.unwrap().unwrap();
        assert_eq!(session.unread, 2);

        close_session_for_test(&deps.store, SessionId::new(1).unwrap(), Timestamp::from_millis(1_795_000_001_000));
        let third = stored(&deps, "3", "+8618012121222", "+14102161183").await;
        handle(&deps, batch(&[&third])).await.unwrap();
        assert_eq!(deps.store.session_count(), 2, "no reopen: a new session");
    }

    #[tokio::test]
    async fn when_the_same_job_is_delivered_twice_should_route_once() {
        let deps = deps().await;
        let key = stored(&deps, "dup", "+8618012121222", "+14102161183").await;
        handle(&deps, batch(&[&key, &key])).await.unwrap();
        handle(&deps, batch(&[&key])).await.unwrap();
        assert_eq!(deps.store.session_count(), 1);
        assert_eq!(deps.store.all_messages().len(), 1);
        let received = deps.store.number_stats(ChannelId::new(1).unwrap(), "+14102161183", None).await.unwrap();
        assert_eq!(received.received, 1);
    }

    #[tokio::test]
    async fn when_the_bus_is_down_should_retry_and_publish_the_same_events_later() {
        let deps = deps().await;
        let key = stored(&deps, "e", "+8618012121222", "+14102161183").await;
        deps.events.set_failing(true);
        let response = handle(&deps, batch(&[&key])).await.unwrap();
        assert_eq!(response.batch_item_failures.len(), 1);
        assert_eq!(deps.store.all_messages().len(), 1, "the message is in its session already");
        deps.events.set_failing(false);
        let response = handle(&deps, batch(&[&key])).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let ids: Vec<String> = deps.events.published().iter().map(DomainEvent::event_id).collect();
        assert_eq!(ids, vec!["session.created:1".to_owned(), "message.received:1".to_owned()]);
        assert_eq!(deps.store.all_messages().len(), 1);
    }

    #[tokio::test]
    async fn when_a_customer_first_writes_in_a_queued_session_without_an_offer_should_open_one_with_its_timer() {
        let deps = deps().await;
        let first = stored(&deps, "q1", "+8618012121222", "+14102161184").await;
        handle(&deps, batch(&[&first])).await.unwrap();
        assert_eq!(deps.timers.take_timers().len(), 1, "a new queued session starts its timer");
        let id = SessionId::new(1).unwrap();
        // as a campaign leaves the sessions it starts in a queue
        adapters::memory::clear_offer_for_test(&deps.store, id);
        let mut reply = pending_inbound(
            "q2",
            "+8618012121222",
            "+14102161184",
            "yes please",
            Timestamp::from_millis(1_795_000_001_000),
        );
        reply.accepted_at = Timestamp::from_millis(1_795_000_001_100);
        deps.store.insert_pending(&reply).await.unwrap();
        handle(&deps, batch(&[&reply.key])).await.unwrap();
        let session = deps.store.session(id).await.unwrap().unwrap();
        let offer = session.offer.expect("the reply opens an offer");
        assert_eq!((offer.queue, offer.entered_at), (QueueId::new(3).unwrap(), reply.accepted_at));
        assert_eq!(deps.timers.take_timers().len(), 1, "and starts its breach timer");
        // a further message opens nothing more
        let third = stored(&deps, "q3", "+8618012121222", "+14102161184").await;
        handle(&deps, batch(&[&third])).await.unwrap();
        assert!(deps.timers.take_timers().is_empty());
    }

    #[tokio::test]
    async fn when_a_customer_texts_stop_or_start_should_record_the_opt_out_per_number() {
        use domain::phone::{BusinessNumber, CustomerAddress};
        use domain::ports::OptOuts;
        let deps = deps().await;
        let number = BusinessNumber::parse("+14102161183").unwrap();
        let customer = CustomerAddress::parse("+8618012121222").unwrap();
        let channel = ChannelId::new(1).unwrap();
        for (id, text, expected) in [("s1", " Stop ", true), ("s2", "please stop", true), ("s3", "START", false)] {
            let record =
                pending_inbound(id, "+8618012121222", "+14102161183", text, Timestamp::from_millis(1_795_000_000_000));
            deps.store.insert_pending(&record).await.unwrap();
            let response = handle(&deps, batch(&[&record.key])).await.unwrap();
            assert!(response.batch_item_failures.is_empty());
            assert_eq!(deps.store.opted_out(channel, &number, &customer).await.unwrap(), expected, "after {text:?}");
        }
        let other = BusinessNumber::parse("+14102161184").unwrap();
        assert!(!deps.store.opted_out(channel, &other, &customer).await.unwrap(), "per number");
    }
}
