//! HTTP → `ingest_webhook` → HTTP. Status codes: 204 accepted (also for a repeated delivery),
//! 400 bad or missing signature / malformed or invalid body, 404 unknown webhook URL or business
//! number, 413 body over the limit, 503 when the message could not be stored (the provider
//! should retry). Rejections are counted as a metric by reason.

use domain::ports::{ChannelReader, Clock, EventPublisher, InboundQueue, Inbox, ReceiptLedger};
use domain::services::ingest::{IngestError, IngestPorts, WebhookRequest, handshake, ingest_webhook};
use domain::webhook::{self, Headers, WebhookRejection};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::json;
use tracing::{Instrument, error, info_span, warn};

/// What the handler needs.
pub struct Deps<C, I, Q, R, E, K> {
    /// Channel lookup.
    pub channels: C,
    /// The inbox.
    pub inbox: I,
    /// The routing queue.
    pub queue: Q,
    /// Delivery receipts (status callbacks).
    pub receipts: R,
    /// The event bus (`message.receipt`).
    pub events: E,
    /// Time.
    pub clock: K,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// The public base URL providers call (`PUBLIC_BASE_URL`); when absent, the scheme and the
    /// domain API Gateway saw.
    pub public_base_url: Option<String>,
}

fn status_of(rejection: &WebhookRejection) -> u16 {
    match rejection {
        WebhookRejection::BodyTooLarge { .. } => 413,
        WebhookRejection::UnknownChannel | WebhookRejection::UnknownBusinessNumber => 404,
        WebhookRejection::SignatureMissing
        | WebhookRejection::SignatureMalformed(_)
        | WebhookRejection::SignatureMismatch
        | WebhookRejection::MalformedJson(_)
        | WebhookRejection::InvalidPayload(_)
        | WebhookRejection::StaleTimestamp { .. } => 400,
        WebhookRejection::Unauthorized => 401,
        WebhookRejection::HandshakeRefused => 403,
    }
}

fn response(status: u16, body: Option<serde_json::Value>) -> Response<Body> {
    let mut r = Response::new(body.map_or(Body::Empty, |b| Body::Text(b.to_string())));
    *r.status_mut() = http_status(status);
    if r.body() != &Body::Empty {
        r.headers_mut().insert("content-type", lambda_http::http::HeaderValue::from_static("application/json"));
    }
    r
}

fn http_status(code: u16) -> lambda_http::http::StatusCode {
    lambda_http::http::StatusCode::from_u16(code).unwrap_or(lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR)
}

/// Handles one webhook request.
pub async fn handle<C, I, Q, R, E, K>(deps: &Deps<C, I, Q, R, E, K>, request: Request) -> Result<Response<Body>, Error>
where
    C: ChannelReader,
    I: Inbox,
    Q: InboundQueue,
    R: ReceiptLedger,
    E: EventPublisher,
    K: Clock,
{
    let params = request.path_parameters();
    let provider = params.first("provider").unwrap_or_default().to_owned();
    let token = params.first("token").unwrap_or_default().to_owned();
    let headers = Headers::from_pairs(
        request.headers().iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned()))),
    );
    let body: &[u8] = request.body();
    let query = request.uri().query().map(str::to_owned);
    let base = match &deps.public_base_url {
        Some(url) if !url.trim().is_empty() => url.trim_end_matches('/').to_owned(),
        _ => {
            let domain = match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(ctx)) => ctx.domain_name.clone(),
                _ => None,
            }
            .or_else(|| headers.get("host").map(str::to_owned))
            .unwrap_or_else(|| "localhost".to_owned());
            let scheme = if headers.get("x-forwarded-proto") == Some("http") { "http" } else { "https" };
            format!("{scheme}://{domain}")
        }
    };
    let public_url = webhook::public_url(&base, &provider, &token, query.as_deref());
    let ports = IngestPorts {
        channels: &deps.channels,
        inbox: &deps.inbox,
        queue: &deps.queue,
        receipts: &deps.receipts,
        events: &deps.events,
        clock: &deps.clock,
    };
    if request.method() == lambda_http::http::Method::GET {
        let span = info_span!("webhook_handshake", provider = provider.as_str());
        return Ok(match handshake(&ports, &provider, &token, query.as_deref().unwrap_or("")).instrument(span).await {
            Ok(challenge) => {
                let mut r = Response::new(Body::Text(challenge));
                r.headers_mut().insert("content-type", lambda_http::http::HeaderValue::from_static("text/plain"));
                r
            }
            Err(error) => rejection_response(&provider, error),
        });
    }
    let span = info_span!("webhook", provider = provider.as_str(), body_bytes = body.len());
    let result = ingest_webhook(
        &ports,
        deps.max_body_bytes,
        WebhookRequest { provider: &provider, token: &token, headers: &headers, body, public_url: &public_url },
    )
    .instrument(span)
    .await;
    Ok(match result {
        Ok(_) => response(204, None),
        Err(error) => rejection_response(&provider, error),
    })
}

fn rejection_response(provider: &str, error: IngestError) -> Response<Body> {
    match error {
        IngestError::Rejected(rejection) => {
            warn!(provider, reason = rejection.code(), detail = %rejection, "webhook rejected");
            lambda_support::metrics::count("WebhookRejected", "Reason", rejection.code());
            response(status_of(&rejection), Some(json!({"error": rejection.code(), "message": rejection.to_string()})))
        }
        IngestError::Store(e) => {
            error!(error.message = %e, error.cause_chain = ?e, "webhook could not be stored");
            response(
                503,
                Some(json!({"error": "unavailable", "message": "the message could not be stored; retry later"})),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::memory::fixtures::general_channel;
    use adapters::memory::{InMemoryEvents, InMemoryQueues, InMemoryStore, ManualClock};

    type TestDeps = Deps<InMemoryStore, InMemoryStore, InMemoryQueues, InMemoryStore, InMemoryEvents, ManualClock>;
    use domain::channel::Destination;
    use domain::ids::ExtensionId;
    use domain::ports::ChannelWriter;
    use domain::secret::Secret;
    use domain::time::Timestamp;

    const VALID: &str = include_str!("../../../events/webhook-ingest.general-inbound.json");
    const BAD_SIGNATURE: &str = include_str!("../../../events/webhook-ingest.bad-signature.json");

    async fn deps() -> TestDeps {
        let store = InMemoryStore::new();
        let channel = general_channel(
            1,
            1,
            Some("sandbox-webhook-secret"),
            &[("+14102161183", Destination::Extension(ExtensionId::new(1).unwrap()))],
        );
        store.insert_channel(&channel).await.unwrap().unwrap();
        Deps {
            channels: store,
            inbox: InMemoryStore::new(),
            queue: InMemoryQueues::new(),
            receipts: InMemoryStore::new(),
            events: InMemoryEvents::new(),
            clock: ManualClock::new(Timestamp::from_millis(1_795_000_000_000)),
            max_body_bytes: 262_144,
            public_base_url: None,
        }
    }

    async fn call(deps: &TestDeps, event: &str) -> Response<Body> {
        let request = lambda_http::request::from_str(event).unwrap();
        handle(deps, request).await.unwrap()
    }

    fn with_body(event: &str, body: &str, signature: Option<&str>) -> String {
        let mut v: serde_json::Value = serde_json::from_str(event).unwrap();
        v["body"] = serde_json::Value::String(body.to_owned());
        match signature {
            Some(sig) => v["headers"]["x-signature-256"] = serde_json::Value::String(sig.to_owned()),
            None => {
                v["headers"].as_object_mut().unwrap().remove("x-signature-256");
            }
        }
        v.to_string()
    }

    fn sign(body: &str) -> String {
        domain::webhook::general::sign(&Secret::new("sandbox-webhook-secret"), body.as_bytes())
    }

    fn body_of(event: &str) -> String {
        serde_json::from_str::<serde_json::Value>(event).unwrap()["body"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn when_the_sample_event_is_signed_right_should_store_enqueue_and_answer_204() {
        let deps = deps().await;
        let r = call(&deps, VALID).await;
        assert_eq!(r.status(), 204);
        assert_eq!(deps.inbox.inbound_count(), 1);
        assert_eq!(deps.queue.take_inbound().len(), 1);
    }

    #[tokio::test]
    async fn when_the_same_message_comes_again_should_answer_204_and_change_nothing() {
        let deps = deps().await;
        assert_eq!(call(&deps, VALID).await.status(), 204);
        deps.queue.take_inbound();
        assert_eq!(call(&deps, VALID).await.status(), 204);
        assert_eq!(deps.inbox.inbound_count(), 1);
        // still pending (no router ran in this test), so it is handed on again; routing is idempotent
        assert_eq!(deps.queue.take_inbound().len(), 1);
    }

    #[tokio::test]
    async fn when_the_signature_is_wrong_or_missing_should_answer_400_and_store_nothing() {
        let deps = deps().await;
        assert_eq!(call(&deps, BAD_SIGNATURE).await.status(), 400);
        let body = body_of(VALID);
        assert_eq!(call(&deps, &with_body(VALID, &body, None)).await.status(), 400);
        let upper = sign(&body).to_uppercase().replace("SHA256=", "sha256=");
        assert_eq!(call(&deps, &with_body(VALID, &body, Some(&upper))).await.status(), 400);
        assert_eq!(deps.inbox.inbound_count(), 0);
        assert!(deps.queue.take_inbound().is_empty());
    }

    #[tokio::test]
    async fn when_the_body_is_malformed_or_too_large_should_refuse_and_store_nothing() {
        let mut deps = deps().await;
        let broken = "{\"data\": ";
        let r = call(&deps, &with_body(VALID, broken, Some(&sign(broken)))).await;
        assert_eq!(r.status(), 400);
        let text = match r.body() {
            Body::Text(t) => t.clone(),
            other => panic!("unexpected body {other:?}"),
        };
        assert!(text.contains("malformed_json"), "{text}");
        deps.max_body_bytes = 100;
        assert_eq!(call(&deps, VALID).await.status(), 413);
        assert_eq!(deps.inbox.inbound_count(), 0);
    }

    #[tokio::test]
    async fn when_the_token_or_number_is_unknown_should_answer_404() {
        let deps = deps().await;
        let unknown_token = VALID.replace("429ced149ff9437695be795aff38407b", "00000000000000000000000000000000");
        assert_eq!(call(&deps, &unknown_token).await.status(), 404);
        let body = body_of(VALID).replace("+14102161183", "+14105550000");
        assert_eq!(call(&deps, &with_body(VALID, &body, Some(&sign(&body)))).await.status(), 404);
        assert_eq!(deps.inbox.inbound_count(), 0);
    }

    #[tokio::test]
    async fn when_the_queue_is_down_should_still_acknowledge_a_stored_message() {
        let deps = deps().await;
        deps.queue.set_failing(true);
        assert_eq!(call(&deps, VALID).await.status(), 204);
        assert_eq!(deps.inbox.inbound_count(), 1, "stored, so the outbox will hand it on");
    }
}
