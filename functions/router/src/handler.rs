//! SQS batch → `route_inbound` per record. Retryable failures (a dependency, a lost race) are
//! reported as batch item failures; a parked or missing record is acknowledged.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::inbound::InboundJob;
use domain::ports::{ChannelReader, EventPublisher, Inbox, Sequences, SessionStore};
use domain::services::routing::{RouteOutcome, RoutingPorts, route_inbound};
use lambda_runtime::{Error, LambdaEvent};
use lambda_support::sqs::{RecordOutcome, process_batch};
use tracing::{Instrument, error, info_span};

/// What the handler needs.
pub struct Deps<S, E> {
    /// Channels, inbox, sessions and sequences (one DynamoDB store in production).
    pub store: S,
    /// The event bus.
    pub events: E,
}

/// Handles one batch.
pub async fn handle<S, E>(deps: &Deps<S, E>, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error>
where
    S: ChannelReader + Inbox + SessionStore + Sequences,
    E: EventPublisher,
{
    let ports = RoutingPorts {
        channels: &deps.store,
        inbox: &deps.store,
        sessions: &deps.store,
        sequences: &deps.store,
        events: &deps.events,
    };
    Ok(process_batch(event.payload, |job: InboundJob| {
        let ports = &ports;
        let span = info_span!("route", channel_id = %job.key.channel_id, provider_message_id = job.key.provider_message_id.as_str());
        async move {
            match route_inbound(ports, &job).await {
                Ok(RouteOutcome::Routed { .. } | RouteOutcome::AlreadyDone | RouteOutcome::Missing) => RecordOutcome::Done,
                Ok(RouteOutcome::Unroutable(_)) => RecordOutcome::Done,
                Err(e) if e.is_retryable() => {
                    error!(error.message = %e, error.cause_chain = ?e, "routing failed; will retry");
                    RecordOutcome::Retry
                }
                Err(e) => {
                    error!(error.message = %e, error.cause_chain = ?e, "routing failed permanently");
                    RecordOutcome::Drop
                }
            }
        }
        .instrument(span)
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::memory::{InMemoryEvents, InMemoryStore, close_session_for_test};
    use domain::channel::{
        Channel, ChannelStatus, Credentials, Destination, GeneralCredentials, NumberRule, ProviderUrl, SendRate,
        SessionTimeoutDays, UrlPolicy, WebhookUrlType,
    };
    use domain::events::DomainEvent;
    use domain::ids::{ChannelId, ExtensionId, ProviderMessageId, QueueId, SessionId, WebhookToken};
    use domain::inbound::{InboundKey, InboundMessage, InboundRecord, InboundState};
    use domain::phone::{BusinessNumber, CustomerAddress};
    use domain::ports::{ChannelWriter, StatsReader};
    use domain::secret::Secret;
    use domain::session::Assignment;
    use domain::time::Timestamp;
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../events/router.sqs-batch.json");

    async fn deps() -> Deps<InMemoryStore, InMemoryEvents> {
        let store = InMemoryStore::new();
        let channel = Channel {
            id: ChannelId::new(1).unwrap(),
            name: "General".into(),
            credentials: Credentials::General(GeneralCredentials {
                api_key: Secret::new("k"),
                api_secret: None,
                verify_url: None,
                send_url: ProviderUrl::parse("https://sp.example.com/send", UrlPolicy::HttpsOnly).unwrap(),
            }),
            webhook_token: WebhookToken::parse("429ced149ff9437695be795aff38407b").unwrap(),
            webhook_url_type: WebhookUrlType::Nat,
            send_rate: SendRate::DEFAULT,
            auto_close_session: false,
            session_expired_days: SessionTimeoutDays::DEFAULT,
            numbers: vec![
                NumberRule {
                    number: BusinessNumber::parse("+14102161183").unwrap(),
                    destination: Destination::Extension(ExtensionId::new(7).unwrap()),
                    members: vec![],
                },
                NumberRule {
                    number: BusinessNumber::parse("+14102161184").unwrap(),
                    destination: Destination::Queue(QueueId::new(3).unwrap()),
                    members: vec![],
                },
            ],
            status: ChannelStatus::Unknown,
            enabled: true,
            created_at: Timestamp::from_millis(0),
        };
        store.insert_channel(&channel).await.unwrap().unwrap();
        Deps { store, events: InMemoryEvents::new() }
    }

    async fn stored(deps: &Deps<InMemoryStore, InMemoryEvents>, id: &str, from: &str, to: &str) -> InboundKey {
        let key = InboundKey {
            channel_id: ChannelId::new(1).unwrap(),
            provider_message_id: ProviderMessageId::parse(id).unwrap(),
        };
        let record = InboundRecord {
            key: key.clone(),
            message: InboundMessage {
                provider_message_id: key.provider_message_id.clone(),
                from: CustomerAddress::parse(from).unwrap(),
                to: BusinessNumber::parse(to).unwrap(),
                text: Some(format!("message {id}")),
                media: vec![],
                provider_timestamp: Timestamp::from_millis(1_795_000_000_000),
                display_name: None,
            },
            accepted_at: Timestamp::from_millis(1_795_000_000_100),
            raw_body: "{}".into(),
            state: InboundState::Pending,
        };
        deps.store.insert_pending(&record).await.unwrap();
        key
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
}
