//! SQS batch → `push_event` (an EventBridge event) or `retry_delivery` (our retry) per record.
//! A failed webhook attempt is not a failure of the record: it is queued again (per webhook) or
//! parked by the use case. Only a failing dependency (the store, the queue) reports the record as
//! a batch item failure, so SQS brings the whole event back; webhooks already served then get it
//! again with the same `X-Event-Id`.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::event_push::PushQueueMessage;
use domain::ports::{
    Clock, OutboundLedger, ParkedDeliveries, ProviderHttp, PushRetries, SessionStore, WebhookSettingsStore,
};
use domain::services::event_push::{PushConfig, PushError, PushPorts, push_event, retry_delivery};
use lambda_runtime::{Error, LambdaEvent};
use lambda_support::sqs::{outcome_of, process_batch};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, Q, H, K> {
    /// Settings, parked deliveries, messages (one DynamoDB store in production).
    pub store: S,
    /// The event-push queue itself (retries).
    pub retries: Q,
    /// HTTP to the webhooks.
    pub http: H,
    /// Time.
    pub clock: K,
    /// `sn` and the retry schedule.
    pub config: PushConfig,
}

/// Handles one batch.
pub async fn handle<S, Q, H, K>(
    deps: &Deps<S, Q, H, K>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error>
where
    S: WebhookSettingsStore + ParkedDeliveries + OutboundLedger + SessionStore,
    Q: PushRetries,
    H: ProviderHttp,
    K: Clock,
{
    let ports = PushPorts { store: &deps.store, retries: &deps.retries, http: &deps.http, clock: &deps.clock };
    Ok(process_batch(event.payload, |message: PushQueueMessage| {
        let ports = &ports;
        let config = &deps.config;
        async move {
            match message {
                PushQueueMessage::Event { detail_type, detail } => {
                    let span = info_span!(
                        "event_push",
                        event_type = detail_type.as_str(),
                        event_id = detail.event_id.as_str()
                    );
                    outcome_of(push_event(ports, config, &detail).instrument(span).await, PushError::is_retryable)
                }
                PushQueueMessage::Retry { push_retry } => {
                    let span = info_span!(
                        "event_push_retry",
                        report_id = push_retry.report_id.as_str(),
                        failed_attempts = push_retry.failed_attempts
                    );
                    outcome_of(
                        retry_delivery(ports, config, push_retry).instrument(span).await,
                        PushError::is_retryable,
                    )
                }
            }
        }
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::memory::fixtures::{general_channel, pending_inbound};
    use adapters::memory::{
        InMemoryEvents, InMemoryPushRetries, InMemoryQueues, InMemoryStore, ManualClock, ScriptedProvider,
    };
    use domain::channel::{Destination, ProviderUrl, UrlPolicy};
    use domain::event_push::{
        Delivery, EventSelection, PushEvent, RequestMethod, WebhookSettings, WebhookTarget, signature,
    };
    use domain::events::DomainEvent;
    use domain::inbound::InboundJob;
    use domain::ports::{ChannelWriter, Inbox};
    use domain::provider::ProviderResponse;
    use domain::secret::Secret;
    use domain::services::routing::{RoutingPorts, route_inbound};
    use domain::session::Assignment;
    use domain::time::Timestamp;
    use serde_json::{Value, json};
    use std::collections::BTreeSet;

    type TestDeps = Deps<InMemoryStore, InMemoryPushRetries, ScriptedProvider, ManualClock>;

    const SECRET: &str = "Pugghh14VCb05rtG7WGumbD4hwJPIvzu";

    fn target(url: &str, events: EventSelection) -> WebhookTarget {
        WebhookTarget {
            url: ProviderUrl::parse(url, UrlPolicy::HttpsOnly).unwrap(),
            secret: Secret::new(SECRET),
            method: RequestMethod::Post,
            events,
        }
    }

    async fn deps(targets: Vec<WebhookTarget>, enabled: bool) -> TestDeps {
        let store = InMemoryStore::new();
        let channel = general_channel(1, 1, None, &[("+14102161183", Destination::Api)]);
        store.insert_channel(&channel).await.unwrap().unwrap();
        let settings = WebhookSettings { enabled, targets, timeout_secs: 5, retry_count: 2 };
        domain::ports::WebhookSettingsStore::put_webhook_settings(&store, &settings).await.unwrap();
        Deps {
            store,
            retries: InMemoryPushRetries::new(),
            http: ScriptedProvider::new(),
            clock: ManualClock::new(Timestamp::from_millis(1_795_000_000_000)),
            config: PushConfig { sn: "switchboard-test".into(), retry_base_secs: 10 },
        }
    }

    /// A customer's message routed through the real routing use case onto the `api` number;
    /// returns the domain events it published, as EventBridge would put them on the queue.
    async fn customer_writes(deps: &TestDeps) -> Vec<Value> {
        let record = pending_inbound(
            "p1",
            "+8618012121222",
            "+14102161183",
            "hello bot",
            Timestamp::from_millis(1_795_000_000_000),
        );
        deps.store.insert_pending(&record).await.unwrap();
        let events = InMemoryEvents::new();
        let timers = InMemoryQueues::new();
        let ports = RoutingPorts {
            channels: &deps.store,
            inbox: &deps.store,
            sessions: &deps.store,
            sequences: &deps.store,
            events: &events,
            timers: &timers,
        };
        route_inbound(&ports, &InboundJob { key: record.key.clone() }).await.unwrap();
        events
            .published()
            .iter()
            .map(|e: &DomainEvent| {
                json!({"version": "0", "id": "x", "source": "switchboard", "detail-type": e.event_type(),
                       "detail": serde_json::to_value(e.detail()).unwrap()})
            })
            .collect()
    }

    fn batch(bodies: &[Value]) -> LambdaEvent<SqsEvent> {
        let records: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"messageId": format!("m{i}"), "body": b.to_string(), "attributes": {"ApproximateReceiveCount": "1"}}))
            .collect();
        LambdaEvent::new(
            serde_json::from_value(json!({"Records": records})).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    fn header(req: &domain::provider::ProviderRequest, name: &str) -> String {
        req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    #[tokio::test]
    async fn when_a_customer_writes_to_an_api_number_should_push_a_signed_30031() {
        let deps = deps(vec![target("https://bot.example.com/hook", EventSelection::All)], true).await;
        let events = customer_writes(&deps).await;
        let session = deps.store.session(domain::ids::SessionId::new(1).unwrap()).await.unwrap().unwrap();
        assert_eq!(session.assignment, Assignment::Api);
        let response = handle(&deps, batch(&events)).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        let calls = deps.http.calls();
        assert_eq!(calls.len(), 1, "one report (session.created makes none)");
        let body = &calls[0].body.as_ref().unwrap().1;
        let report: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(report["type"], 30031);
        assert_eq!(report["sn"], "switchboard-test");
        assert_eq!(report["msg"]["msg_body"], "hello bot");
        assert_eq!(header(&calls[0], "X-Signature"), signature(&Secret::new(SECRET), body));
        assert!(header(&calls[0], "X-Event-Id").starts_with("30031:message.received:"));
    }

    #[tokio::test]
    async fn when_push_is_disabled_or_not_subscribed_should_send_nothing() {
        let disabled = deps(vec![target("https://bot.example.com/hook", EventSelection::All)], false).await;
        let events = customer_writes(&disabled).await;
        handle(&disabled, batch(&events)).await.unwrap();
        assert!(disabled.http.calls().is_empty());

        let only_receipts = EventSelection::Only(BTreeSet::from([PushEvent::ReadReceipt]));
        let other = deps(vec![target("https://bot.example.com/hook", only_receipts)], true).await;
        let events = customer_writes(&other).await;
        handle(&other, batch(&events)).await.unwrap();
        assert!(other.http.calls().is_empty());
    }

    #[tokio::test]
    async fn when_one_webhook_fails_should_retry_only_that_one_then_park_it() {
        let deps = deps(
            vec![
                target("https://good.example.com/", EventSelection::All),
                target("https://bad.example.com/", EventSelection::All),
            ],
            true,
        )
        .await;
        let events = customer_writes(&deps).await;
        // the script answers calls in order; join_all starts the good one first
        deps.http.script([
            ProviderResponse::Http { status: 200, headers: Default::default(), body: vec![] },
            ProviderResponse::Http { status: 500, headers: Default::default(), body: vec![] },
        ]);
        handle(&deps, batch(&events)).await.unwrap();
        let queued = deps.retries.take();
        assert_eq!(queued.len(), 1);
        let (retry, delay): (Delivery, u32) = queued[0].clone();
        assert_eq!((retry.url.as_str(), retry.failed_attempts, delay), ("https://bad.example.com/", 1, 10));

        // retry_count 2: two more failures park it
        deps.http.script([ProviderResponse::NoResponse { reason: "timed out".into() }]);
        handle(&deps, batch(&[domain::event_push::retry_job(&retry)])).await.unwrap();
        let (retry2, delay2) = deps.retries.take().remove(0);
        assert_eq!((retry2.failed_attempts, delay2), (2, 30));
        assert_eq!(retry2.body, retry.body, "every attempt carries the same bytes");
        deps.http.script([ProviderResponse::Http { status: 503, headers: Default::default(), body: vec![] }]);
        handle(&deps, batch(&[domain::event_push::retry_job(&retry2)])).await.unwrap();
        assert!(deps.retries.take().is_empty());
        let parked = deps.store.parked_deliveries().await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!((parked[0].delivery.failed_attempts, parked[0].delivery.last_error.as_str()), (3, "HTTP 503"));
        let urls: Vec<String> = deps.http.calls().iter().map(|c| c.url.clone()).collect();
        assert_eq!(urls.iter().filter(|u| u.starts_with("https://good")).count(), 1, "the good webhook got it once");
    }

    #[tokio::test]
    async fn when_the_queue_is_down_should_report_the_record_for_redelivery() {
        let deps = deps(vec![target("https://bad.example.com/", EventSelection::All)], true).await;
        let events = customer_writes(&deps).await;
        deps.http.script([ProviderResponse::Http { status: 500, headers: Default::default(), body: vec![] }]);
        deps.retries.set_failing(true);
        let response = handle(&deps, batch(&events)).await.unwrap();
        assert_eq!(response.batch_item_failures.len(), 1);
    }
}
