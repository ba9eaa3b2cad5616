//! Yeastar event push through the local stack: `webhook/update|query` (validation included), a
//! number routed to the third-party platform (`api`), its customer's SMS reported as a signed
//! 30031, the platform's `message/send` (sender_type 9) reported as 30032, event-id filtering,
//! GET delivery, retries with a stable `X-Event-Id`, parking and `webhook/redeliver`, and the
//! platform handing the session back with `message_session/transfer`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use system_tests::{AGENT_PASSWORD, Options, PLATFORM, SETTLE, TestStack, eventually};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    method: String,
    signature: String,
    event_id: String,
    /// The raw report: the POST body, or the GET `event` parameter.
    report: String,
    /// What the receiver answered.
    status: u16,
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Per path: how many more requests to answer 500 (`u32::MAX`: always).
    failures: HashMap<String, u32>,
}

/// A tiny webhook receiver on 127.0.0.1 that records every request.
#[derive(Clone)]
struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    addr: SocketAddr,
}

async fn record(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let report = if method == Method::GET {
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "event")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    let mut s = state.lock().unwrap();
    let path = uri.path().to_owned();
    let fail = match s.failures.get_mut(&path) {
        Some(n) if *n > 0 => {
            if *n != u32::MAX {
                *n -= 1;
            }
            true
        }
        _ => false,
    };
    let status = if fail { StatusCode::INTERNAL_SERVER_ERROR } else { StatusCode::NO_CONTENT };
    s.received.push(Received {
        path,
        method: method.to_string(),
        signature: header("x-signature"),
        event_id: header("x-event-id"),
        report,
        status: status.as_u16(),
    });
    status
}

impl Receiver {
    async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/{*path}", any(record)).with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Self { state, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn fail(&self, path: &str, times: u32) {
        self.state.lock().unwrap().failures.insert(path.to_owned(), times);
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.state.lock().unwrap().received.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// The requests at `path` carrying event `type`.
    fn reports(&self, path: &str, event_type: u64) -> Vec<(Received, Value)> {
        self.at(path)
            .into_iter()
            .filter_map(|r| {
                let v: Value = serde_json::from_str(&r.report).ok()?;
                (v["type"] == event_type).then_some((r, v))
            })
            .collect()
    }
}

fn sign(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(payload.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

async fn start() -> TestStack {
    let mut options = Options::default();
    options.parameters.push(("EventPushRetryBaseSeconds", "1".into()));
    TestStack::start_with(options).await
}

const SECRET: &str = "receiver-secret-0123456789abcdef";
const DID: &str = "+14102161183";
const CUSTOMER: &str = "+8618012121222";

#[tokio::test]
async fn platform_number_reports_signed_30031_and_30032_to_subscribed_webhooks() {
    let t = start().await;
    let rx = Receiver::start().await;
    let admin = t.admin_token().await;

    // defaults before any update
    let q = t.get("webhook/query", &admin, &[]).await;
    assert_eq!(q["errcode"], 0, "{q}");
    assert_eq!(q["data"]["enb_webhook_event_push"], 0);
    assert_eq!(q["data"]["webhook_event_push_timeout"], 5);
    assert_eq!(q["data"]["webhook_event_push_retry_count"], 3);
    assert_eq!(q["data"]["webhook_event_ids"], json!([30030, 30031, 30032, 30038]));

    let good = json!({
        "enb_webhook_event_push": 1,
        "webhook_event_push_list": [
            {"url": rx.url("/all"), "secret": SECRET, "request_method": "POST", "event_ids": [0]},
            {"url": rx.url("/get"), "request_method": "GET", "event_ids": [30031]},
            {"url": rx.url("/receipts"), "secret": SECRET, "request_method": "POST", "event_ids": [30038]}
        ],
        "webhook_event_push_timeout": 3,
        "webhook_event_push_retry_count": 2
    });
    let r = t.post("webhook/update", Some(&admin), &good).await;
    assert_eq!(r["errcode"], 0, "{r}");
    let before = t.get("webhook/query", &admin, &[]).await;

    // refusals change nothing
    for (bad, field) in [
        (json!({"webhook_event_push_timeout": 2}), "webhook_event_push_timeout"),
        (json!({"webhook_event_push_retry_count": 6}), "webhook_event_push_retry_count"),
        (
            json!({"enb_webhook_event_push": 0, "webhook_event_push_list": [
            {"url": "not a url", "request_method": "POST", "event_ids": [0]}]}),
            "webhook_event_push_list[0].url",
        ),
        (
            json!({"webhook_event_push_list": [{"url": rx.url("/x"), "request_method": "PUT", "event_ids": [0]}]}),
            "webhook_event_push_list[0].request_method",
        ),
        (
            json!({"webhook_event_push_list": [{"url": rx.url("/x"), "request_method": "POST", "event_ids": [30011]}]}),
            "webhook_event_push_list[0].event_ids",
        ),
        (
            json!({"webhook_event_push_list": (0..6).map(|i| json!({"url": rx.url(&format!("/{i}")),
            "request_method": "POST", "event_ids": [0]})).collect::<Vec<_>>()}),
            "webhook_event_push_list",
        ),
    ] {
        let r = t.post("webhook/update", Some(&admin), &bad).await;
        assert_eq!(r["errcode"], 40002, "{bad} was accepted: {r}");
        assert!(r["invalid_param_list"].as_array().unwrap().iter().any(|e| e["field"] == field), "{r}");
    }
    let after = t.get("webhook/query", &admin, &[]).await;
    assert_eq!(after, before, "a refused update changes nothing");
    let list = after["data"]["webhook_event_push_list"].as_array().unwrap();
    assert_eq!(list[0]["secret"], SECRET);
    let generated = list[1]["secret"].as_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "a missing secret is generated");
    assert!(generated.chars().all(|c| c.is_ascii_alphanumeric()));

    // a number routed to the platform
    let (channel_id, _) = t.general_channel(&admin, 10, &[(DID, "api", 0)]).await;
    let channel_id = channel_id.to_string();
    let detail = t.get("message_channel/get", &admin, &[("id", &channel_id)]).await;
    assert_eq!(detail["data"]["dids"][0]["destination_type"], "api", "{detail}");

    t.deliver(CUSTOMER, DID, "where is my parcel?").await;
    let (post, report) = eventually(SETTLE, "a 30031 at /all", || async { rx.reports("/all", 30031).pop() }).await;
    assert_eq!(post.method, "POST");
    assert_eq!(post.signature, sign(SECRET, &post.report), "X-Signature = base64(HMAC-SHA256(secret, raw body))");
    assert!(post.event_id.starts_with("30031:"), "{}", post.event_id);
    assert_eq!(report["msg"]["msg_body"], "where is my parcel?");
    assert_eq!(report["msg"]["sender"]["user_no"], CUSTOMER);
    assert!(report["sn"].as_str().is_some_and(|s| !s.is_empty()));
    let session_id = report["msg"]["session_id"].as_u64().unwrap();
    let msg_id = report["msg"]["msg_id"].as_u64().unwrap();

    // the GET webhook got the same report in `event`, signed with the generated secret
    let (get, _) = eventually(SETTLE, "a 30031 at /get", || async { rx.reports("/get", 30031).pop() }).await;
    assert_eq!(get.method, "GET");
    assert_eq!(get.report, post.report);
    assert_eq!(get.signature, sign(&generated, &get.report));

    // the platform reads the session and answers as sender_type 9
    let history = t.history(&admin, session_id).await;
    assert!(history.iter().any(|m| m["msg_id"] == msg_id));
    let sent = t.send_text(&admin, PLATFORM, "api", session_id, "It ships tomorrow.").await;
    assert_eq!(sent["errcode"], 0, "{sent}");
    let reply_id = sent["msg_id"].as_u64().unwrap();
    t.wait_sent("It ships tomorrow.").await;
    let (result, report) = eventually(SETTLE, "a 30032 at /all", || async { rx.reports("/all", 30032).pop() }).await;
    assert_eq!(report["msg"]["msg_id"], reply_id);
    assert_eq!(report["msg"]["delivery_status"], 1);
    assert_eq!(report["msg"]["sender"]["user_type"], 9);
    assert_eq!(result.signature, sign(SECRET, &result.report));

    // filtering: /get takes only 30031, /receipts only 30038
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(rx.reports("/get", 30032).is_empty());
    assert!(rx.at("/receipts").is_empty(), "{:?}", rx.at("/receipts"));
    assert_eq!(rx.reports("/all", 30031).len(), 1, "one report per message");

    // the platform hands the session back to a human
    let ext = t.extension(&admin, "1000").await;
    let back = t.transfer(&admin, Some((PLATFORM, "api")), session_id, "extension", ext).await;
    assert_eq!(back["errcode"], 0, "{back}");
    let agent = t.token("1000", AGENT_PASSWORD).await;
    assert_eq!(t.wait_for_session(&agent, "1000", DID, CUSTOMER).await, session_id);
    // the customer's next message goes to the agent, not to the platform
    t.deliver(CUSTOMER, DID, "thanks").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rx.reports("/all", 30031).len(), 1, "no 30031 for a session the platform no longer owns");

    // the agent transfers it to the platform: a 30031 with the customer's latest message
    let r = t.transfer(&agent, Some((1, "1000")), session_id, "api", 0).await;
    assert_eq!(r["errcode"], 0, "{r}");
    let (moved, report) = eventually(SETTLE, "a 30031 for the transfer", || async {
        rx.reports("/all", 30031).into_iter().find(|(r, _)| r.event_id.starts_with("30031:session.transferred:"))
    })
    .await;
    assert_eq!(report["msg"]["msg_body"], "thanks");
    assert_eq!(report["msg"]["session_id"], session_id);
    assert_eq!(moved.signature, sign(SECRET, &moved.report));

    // push disabled: nothing is sent
    let r = t.post("webhook/update", Some(&admin), &json!({"enb_webhook_event_push": 0})).await;
    assert_eq!(r["errcode"], 0, "{r}");
    t.deliver(CUSTOMER, DID, "hello again").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rx.reports("/all", 30031).len(), 2, "disabled push sends nothing");
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_one_event_id_then_parked_and_redelivered() {
    let t = start().await;
    let rx = Receiver::start().await;
    let admin = t.admin_token().await;
    let r = t
        .post(
            "webhook/update",
            Some(&admin),
            &json!({
                "enb_webhook_event_push": 1,
                "webhook_event_push_list": [
                    {"url": rx.url("/flaky"), "secret": SECRET, "request_method": "POST", "event_ids": [30031]},
                    {"url": rx.url("/down"), "secret": SECRET, "request_method": "POST", "event_ids": [30031]},
                    {"url": rx.url("/fine"), "secret": SECRET, "request_method": "POST", "event_ids": [30031]}
                ],
                "webhook_event_push_retry_count": 2
            }),
        )
        .await;
    assert_eq!(r["errcode"], 0, "{r}");
    rx.fail("/flaky", 2);
    rx.fail("/down", u32::MAX);
    t.general_channel(&admin, 10, &[(DID, "api", 0)]).await;
    t.deliver(CUSTOMER, DID, "anyone there?").await;

    // flaky: two failures, then success, always the same event id
    let flaky = eventually(Duration::from_secs(30), "the third attempt at /flaky", || async {
        let got = rx.at("/flaky");
        (got.len() >= 3).then_some(got)
    })
    .await;
    let ids: Vec<&str> = flaky.iter().map(|r| r.event_id.as_str()).collect();
    assert!(ids.iter().all(|i| *i == ids[0] && i.starts_with("30031:")), "{ids:?}");
    assert_eq!(flaky.iter().map(|r| r.status).collect::<Vec<_>>(), vec![500, 500, 204]);
    assert!(flaky.iter().all(|r| r.report == flaky[0].report && r.signature == sign(SECRET, &r.report)));

    // down: the first attempt and two re-sends, then parked
    let parked = eventually(Duration::from_secs(30), "a parked delivery", || async {
        let list = t.get("webhook/failed_deliveries", &admin, &[]).await;
        (list["total_number"] == 1).then_some(list)
    })
    .await;
    assert_eq!(rx.at("/down").len(), 3);
    let entry = &parked["data"][0];
    assert_eq!(entry["url"], rx.url("/down"));
    assert_eq!(entry["event_id"], ids[0]);
    assert_eq!(entry["type"], 30031);
    assert_eq!(entry["attempts"], 3);
    assert_eq!(entry["last_error"], "HTTP 500");

    // the retries of one webhook never re-deliver to the others
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rx.at("/fine").len(), 1);
    assert_eq!(rx.at("/flaky").len(), 3);

    // redeliver: refused while the receiver still fails (entry kept), then delivered
    let id = entry["id"].as_str().unwrap().to_owned();
    let r = t.post("webhook/redeliver", Some(&admin), &json!({"id": id})).await;
    assert_eq!((r["errcode"].clone(), r["reason"].clone()), (json!(-1), json!("redelivery_failed")), "{r}");
    rx.fail("/down", 0);
    let r = t.post("webhook/redeliver", Some(&admin), &json!({"id": id})).await;
    assert_eq!(r["errcode"], 0, "{r}");
    let last = rx.at("/down").pop().unwrap();
    assert_eq!((last.status, last.event_id.as_str()), (204, ids[0]));
    assert_eq!(last.signature, sign(SECRET, &last.report));
    let list = t.get("webhook/failed_deliveries", &admin, &[]).await;
    assert_eq!(list["total_number"], 0, "{list}");
    let r = t.post("webhook/redeliver", Some(&admin), &json!({"id": id})).await;
    assert_eq!(r["errcode"], 60001, "{r}");
}
