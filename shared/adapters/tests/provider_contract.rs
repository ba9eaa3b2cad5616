//! Outbound contract tests: every provider's send call as the domain builds it
//! (`domain::provider::send_request`), executed by the real HTTP adapter (`ReqwestProvider`) against
//! a local recording server on 127.0.0.1, and the server's scripted answers classified by
//! `domain::provider::classify_send`.
//!
//! The contracts are ../shared/research/provider-contracts.md (Twilio §1, Meta §2, Telnyx §3,
//! Bandwidth §4, Flowroute §5) and docs/providers.md (the General SMS API and the providers the
//! research does not cover: SIPTRUNK, Skyetel, Apidaze, VoiceMeUp). Every expected value (paths,
//! Basic credentials in Base64, bodies, provider codes and failure details) is written out
//! literally, never recomputed with the code under test. No test needs the Internet.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapters::http::ReqwestProvider;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use domain::channel::Provider;
use domain::credentials::{Credentials, KeyValues};
use domain::message::{FailureReason, SendErrorCode};
use domain::ports::ProviderHttp;
use domain::provider::{
    OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, SendOutcome, classify_send, send_request,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The recording server
// ---------------------------------------------------------------------------------------------

/// One request as the server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, exactly as sent.
    target: String,
    /// Header names lowercased, in arrival order, repeated names kept.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    /// The single value of a header (None when absent; a repeated header fails the test).
    fn header(&self, name: &str) -> Option<&str> {
        let values = self.values(name);
        assert!(values.len() <= 1, "header {name} sent {} times: {values:?}", values.len());
        values.first().copied()
    }
}

/// What the server answers with.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    delay: Option<Duration>,
}

impl Answer {
    /// A JSON answer.
    fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_owned(),
            delay: None,
        }
    }

    /// An answer without a body.
    fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: String::new(), delay: None }
    }

    fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

struct Shared {
    seen: Mutex<Vec<Seen>>,
    answer: Mutex<Answer>,
}

async fn record(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.map(|b| b.to_vec()).unwrap_or_default();
    shared.seen.lock().unwrap().push(Seen {
        method: parts.method.as_str().to_owned(),
        target: parts.uri.path_and_query().map(|pq| pq.as_str().to_owned()).unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body,
    });
    let answer = shared.answer.lock().unwrap().clone();
    if let Some(delay) = answer.delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        response = response.header(name.as_str(), value.as_str());
    }
    response.body(Body::from(answer.body)).unwrap()
}

/// A provider stand-in: records every request, answers with the scripted answer.
struct Stub {
    base: String,
    shared: Arc<Shared>,
}

impl Stub {
    async fn start() -> Self {
        let shared = Arc::new(Shared { seen: Mutex::new(Vec::new()), answer: Mutex::new(Answer::empty(500)) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(record).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, shared }
    }

    fn endpoints(&self) -> ProviderEndpoints {
        ProviderEndpoints::all_at(&self.base)
    }

    /// Sends `request` through the real adapter with `answer` scripted; returns the one request
    /// the server saw, the adapter's response and its classification for `provider`.
    async fn exchange(
        &self,
        provider: Provider,
        request: &ProviderRequest,
        answer: Answer,
    ) -> (Seen, ProviderResponse, SendOutcome) {
        *self.shared.answer.lock().unwrap() = answer;
        self.shared.seen.lock().unwrap().clear();
        let response = ReqwestProvider::new().unwrap().execute(request).await;
        let mut seen = std::mem::take(&mut *self.shared.seen.lock().unwrap());
        assert_eq!(seen.len(), 1, "{provider}: expected exactly one request, the server saw {seen:#?}");
        let outcome = classify_send(provider, &response);
        (seen.remove(0), response, outcome)
    }
}

/// A port nothing listens on: bound, read, released.
async fn closed_port_base() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------------
// Channel data, content, expectations
// ---------------------------------------------------------------------------------------------

const FROM: &str = "+14102161183";
const TO: &str = "+14155550123";
const TEXT: &str = "Hi & welcome, 100% ready?";
const MEDIA: &str = "https://pbx.example.com/files/photo.png";
/// Messenger: the page id is the channel's number, the customer a page-scoped id.
const PAGE_ID: &str = "110987654321098";
const PSID: &str = "8615328211815312";

const FAILED_TO_SEND: &str = "Failed to send";
const AUTHENTICATION_FAILED: &str = "Authentication Failed";
const INVALID_PHONE_NUMBER: &str = "Invalid Phone Number";
const INVALID_PARAMETER: &str = "Invalid Parameter";
const TOO_FREQUENT: &str = "Too frequent operations. Please try again later.";

/// A text with a file, from the business number to the customer.
fn text_and_file() -> OutboundContent<'static> {
    OutboundContent {
        from: FROM,
        to: TO,
        text: Some(TEXT),
        media_urls: vec![MEDIA],
        human_agent_tag: false,
        status_callback: None,
        template: None,
    }
}

/// A text only.
fn text_only() -> OutboundContent<'static> {
    OutboundContent {
        from: FROM,
        to: TO,
        text: Some(TEXT),
        media_urls: Vec::new(),
        human_agent_tag: false,
        status_callback: None,
        template: None,
    }
}

/// A channel's credentials through the real codec, with the values of events/<slug>.credentials.json
/// (General flavors: the seed's keys, their send URL on `base`).
fn credentials(provider: Provider, base: &str) -> Credentials {
    let send_url = format!("{base}/sendmessage");
    let pairs: Vec<(&str, &str)> = match provider {
        Provider::General | Provider::Athena | Provider::Ixica | Provider::Vetta | Provider::VoipMs => vec![
            ("api_key", "sandbox-general-api-key"),
            ("api_secret", "sandbox-webhook-secret"),
            ("api_send_url", &send_url),
        ],
        Provider::Apidaze => {
            vec![
                ("api_key", "a1b2c3d4"),
                ("api_secret", "sandbox-webhook-secret"),
                ("accompanying_msg", "Sent by Yeastar"),
            ]
        }
        Provider::Bandwidth => vec![
            ("application_id", "93de2206-9669-4e07-948d-329f4b722ee2"),
            ("account_id", "9900000"),
            ("username", "bw-callback-user"),
            ("password", "sandbox-webhook-secret"),
        ],
        Provider::Flowroute => vec![("access_key", "12345678"), ("secret_key", "sandbox-webhook-secret")],
        Provider::Siptrunk => vec![("access_key", "sandbox-access-key"), ("secret_key", "sandbox-webhook-secret")],
        Provider::Skyetel => vec![("sid_key", "sandbox-sid"), ("secret_key", "sandbox-webhook-secret")],
        Provider::Telnyx => {
            vec![("api_key", "KEYsandbox0123456789"), ("public_key", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=")]
        }
        Provider::Twilio => {
            vec![("account_sid", "AC0123456789abcdef0123456789abcdef"), ("auth_token", "sandbox-webhook-secret")]
        }
        Provider::VoiceMeUp => vec![("username", "sandbox-user"), ("auth_token", "sandbox-webhook-secret")],
        Provider::WhatsApp => vec![
            ("access_token", "sandbox-meta-access-token"),
            ("app_secret", "sandbox-meta-app-secret"),
            ("verify_token", "38owndego8ugcinx"),
            ("phone_number_id", "106540352242922"),
            ("business_account_id", "102290129340398"),
        ],
        Provider::Facebook => vec![
            ("access_token", "sandbox-meta-page-access-token"),
            ("app_secret", "sandbox-meta-app-secret"),
            ("verify_token", "qm3rprg52wzk1ah"),
            ("page_name", "Acme Support"),
        ],
    };
    let values: KeyValues = pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let creds = Credentials::from_values(provider, &values).unwrap_or_else(|e| panic!("{provider}: {e:?}"));
    assert_eq!(creds.provider(), provider);
    creds
}

/// The body a provider must receive.
enum WireBody {
    /// Compared as parsed JSON.
    Json(Value),
    /// Compared byte for byte (form encoding, pair order included).
    Form(&'static str),
}

/// The request a provider must receive.
struct Wire {
    target: &'static str,
    /// The whole `Authorization` value; None: the header must be absent.
    authorization: Option<&'static str>,
    content_type: &'static str,
    /// The `Accept` the call sets; None: the call sets none (reqwest's `*/*` goes out).
    accept: Option<&'static str>,
    body: WireBody,
}

fn assert_wire(label: &str, seen: &Seen, wire: &Wire) {
    assert_eq!(seen.method, "POST", "{label}: method");
    assert_eq!(seen.target, wire.target, "{label}: path and query");
    assert_eq!(seen.header("authorization"), wire.authorization, "{label}: Authorization");
    assert_eq!(seen.header("content-type"), Some(wire.content_type), "{label}: Content-Type");
    assert_eq!(seen.header("accept"), Some(wire.accept.unwrap_or("*/*")), "{label}: Accept");
    let agent = seen.header("user-agent").unwrap_or_default();
    assert!(agent.starts_with("Switchboard/"), "{label}: User-Agent {agent:?}");
    assert_eq!(seen.header("content-length"), Some(seen.body.len().to_string().as_str()), "{label}: Content-Length");
    let text = std::str::from_utf8(&seen.body).unwrap_or_else(|_| panic!("{label}: the body is not UTF-8"));
    match &wire.body {
        WireBody::Json(expected) => {
            let got: Value =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{label}: the body is not JSON ({e}): {text}"));
            assert_eq!(&got, expected, "{label}: JSON body");
        }
        WireBody::Form(expected) => assert_eq!(text, *expected, "{label}: form body"),
    }
}

fn failed(code: SendErrorCode, prompt: &str, provider_code: Option<&str>, detail: &str) -> SendOutcome {
    SendOutcome::Failed(FailureReason {
        code,
        prompt: prompt.to_owned(),
        provider_code: provider_code.map(str::to_owned),
        detail: Some(detail.to_owned()),
    })
}

fn retry(
    code: SendErrorCode,
    prompt: &str,
    provider_code: Option<&str>,
    detail: &str,
    after_secs: Option<u64>,
    rate_limited: bool,
) -> SendOutcome {
    SendOutcome::RetryLater {
        reason: FailureReason {
            code,
            prompt: prompt.to_owned(),
            provider_code: provider_code.map(str::to_owned),
            detail: Some(detail.to_owned()),
        },
        after: after_secs.map(Duration::from_secs),
        rate_limited,
    }
}

/// What an answer must mean.
enum Expect {
    Exactly(SendOutcome),
    /// Accepted under `<prefix>-untracked-<24 hex>` (providers that name no message id).
    Untracked(&'static str),
}

/// One scripted answer and its meaning.
struct Case {
    what: &'static str,
    answer: Answer,
    expect: Expect,
}

fn case(what: &'static str, answer: Answer, expect: SendOutcome) -> Case {
    Case { what, answer, expect: Expect::Exactly(expect) }
}

/// Sends `request` once per case and checks each classification; every call must reach the
/// server as `wire`.
async fn run_cases(stub: &Stub, provider: Provider, request: &ProviderRequest, wire: &Wire, cases: Vec<Case>) {
    for c in cases {
        let label = format!("{provider} / {}", c.what);
        let status = c.answer.status;
        let (seen, response, outcome) = stub.exchange(provider, request, c.answer).await;
        assert_wire(&label, &seen, wire);
        assert!(
            matches!(&response, ProviderResponse::Http { status: s, .. } if *s == status),
            "{label}: adapter response {response:?}"
        );
        match c.expect {
            Expect::Exactly(expected) => assert_eq!(outcome, expected, "{label}"),
            Expect::Untracked(prefix) => {
                let SendOutcome::Accepted { provider_message_id } = &outcome else {
                    panic!("{label}: expected Accepted, got {outcome:?}")
                };
                let hex = provider_message_id
                    .strip_prefix(&format!("{prefix}-untracked-"))
                    .unwrap_or_else(|| panic!("{label}: id {provider_message_id}"));
                assert!(
                    hex.len() == 24 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
                    "{label}: id {provider_message_id}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// General SMS API (general, athena, ixica, vetta, voipms): docs/providers.md "General SMS API"
// ---------------------------------------------------------------------------------------------

async fn general_contract(flavor: Provider) {
    let stub = Stub::start().await;
    let request = send_request(&credentials(flavor, &stub.base), &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/sendmessage",
        authorization: Some("Bearer sandbox-general-api-key"),
        content_type: "application/json",
        accept: None,
        body: WireBody::Json(json!({
            "from": "+14102161183",
            "to": "+14155550123",
            "text": "Hi & welcome, 100% ready?",
            "media_urls": ["https://pbx.example.com/files/photo.png"]
        })),
    };
    let cases = vec![
        case(
            "200 with data.id",
            Answer::json(200, r#"{"data":{"id":"b301ed3f-1490-491f-995f-6e64e69674d4"}}"#),
            SendOutcome::Accepted { provider_message_id: "b301ed3f-1490-491f-995f-6e64e69674d4".into() },
        ),
        case(
            "429 + Retry-After: 7, code 10006",
            Answer::json(429, r#"{"errors":[{"code":"10006","title":"Too Many Requests","detail":"Slow down."}]}"#)
                .with_header("Retry-After", "7"),
            retry(
                SendErrorCode::TooManyRequest,
                TOO_FREQUENT,
                Some("10006"),
                "Too Many Requests: Slow down.",
                Some(7),
                true,
            ),
        ),
        case(
            "429 + Retry-After: 7, no body",
            Answer::empty(429).with_header("Retry-After", "7"),
            retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, None, "HTTP 429", Some(7), true),
        ),
        case("503", Answer::empty(503), retry(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 503", None, false)),
        case(
            "400 code 10001",
            Answer::json(
                400,
                r#"{"errors":[{"code":"10001","title":"Invalid Phone Number","detail":"'to' is not E.164."}]}"#,
            ),
            failed(
                SendErrorCode::InvalidPhoneNumber,
                INVALID_PHONE_NUMBER,
                Some("10001"),
                "Invalid Phone Number: 'to' is not E.164.",
            ),
        ),
        case(
            "400 code 10002 (number)",
            Answer::json(400, r#"{"errors":[{"code":10002,"title":"Invalid Parameter"}]}"#),
            failed(SendErrorCode::InvalidParam, INVALID_PARAMETER, Some("10002"), "Invalid Parameter"),
        ),
        case(
            "401 code 10004",
            Answer::json(401, r#"{"errors":[{"code":"10004","title":"Authentication Failed","detail":"Bad key."}]}"#),
            failed(SendErrorCode::AuthFail, AUTHENTICATION_FAILED, Some("10004"), "Authentication Failed: Bad key."),
        ),
        case(
            "401 without a body",
            Answer::empty(401),
            failed(SendErrorCode::AuthFail, AUTHENTICATION_FAILED, None, "HTTP 401"),
        ),
    ];
    run_cases(&stub, flavor, &request, &wire, cases).await;
}

#[tokio::test]
async fn general_send_call_matches_the_general_sms_api() {
    general_contract(Provider::General).await;
}

#[tokio::test]
async fn athena_send_call_matches_the_general_sms_api() {
    general_contract(Provider::Athena).await;
}

#[tokio::test]
async fn ixica_send_call_matches_the_general_sms_api() {
    general_contract(Provider::Ixica).await;
}

#[tokio::test]
async fn vetta_send_call_matches_the_general_sms_api() {
    general_contract(Provider::Vetta).await;
}

#[tokio::test]
async fn voipms_send_call_matches_the_general_sms_api() {
    general_contract(Provider::VoipMs).await;
}

// ---------------------------------------------------------------------------------------------
// Twilio: provider-contracts.md §1
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn twilio_send_call_is_a_basic_auth_form_post_and_its_answers_classify() {
    let stub = Stub::start().await;
    let request = send_request(&credentials(Provider::Twilio, &stub.base), &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json",
        // base64("AC0123456789abcdef0123456789abcdef:sandbox-webhook-secret")
        authorization: Some("Basic QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjpzYW5kYm94LXdlYmhvb2stc2VjcmV0"),
        content_type: "application/x-www-form-urlencoded",
        accept: Some("application/json"),
        body: WireBody::Form(
            "To=%2B14155550123&From=%2B14102161183&Body=Hi+%26+welcome%2C+100%25+ready%3F\
             &MediaUrl=https%3A%2F%2Fpbx.example.com%2Ffiles%2Fphoto.png",
        ),
    };
    let cases = vec![
        case(
            "201 with sid",
            Answer::json(
                201,
                r#"{"account_sid":"AC0123456789abcdef0123456789abcdef","api_version":"2010-04-01","body":"Hi & welcome, 100% ready?","direction":"outbound-api","error_code":null,"from":"+14102161183","num_media":"1","num_segments":"1","sid":"MM3f8e1b2a9c4d4e5f8a7b6c5d4e3f2a1b","status":"queued","to":"+14155550123","uri":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM3f8e1b2a9c4d4e5f8a7b6c5d4e3f2a1b.json"}"#,
            ),
            SendOutcome::Accepted { provider_message_id: "MM3f8e1b2a9c4d4e5f8a7b6c5d4e3f2a1b".into() },
        ),
        case(
            "429 20429 + Retry-After: 7",
            Answer::json(
                429,
                r#"{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}"#,
            )
            .with_header("Retry-After", "7"),
            retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, Some("20429"), "Too Many Requests", Some(7), true),
        ),
        case(
            "503",
            Answer::json(
                503,
                r#"{"code":20503,"message":"Service unavailable","more_info":"https://www.twilio.com/docs/errors/20503","status":503}"#,
            ),
            retry(SendErrorCode::SendFail, FAILED_TO_SEND, Some("20503"), "Service unavailable", None, false),
        ),
        case(
            "400 21211",
            Answer::json(
                400,
                r#"{"code":21211,"message":"Invalid 'To' Phone Number: +14155550123","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#,
            ),
            failed(
                SendErrorCode::InvalidPhoneNumber,
                INVALID_PHONE_NUMBER,
                Some("21211"),
                "Invalid 'To' Phone Number: +14155550123",
            ),
        ),
        case(
            "400 21211 as RFC 9457 problem JSON",
            Answer::json(
                400,
                r#"{"type":"https://www.twilio.com/docs/errors/21211","title":"Invalid 'To' Phone Number","status":400,"code":21211,"detail":"The 'To' number +14155550123 is not a valid phone number.","instance":"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"}"#,
            )
            .with_header("content-type", "application/problem+json"),
            failed(
                SendErrorCode::InvalidPhoneNumber,
                INVALID_PHONE_NUMBER,
                Some("21211"),
                "The 'To' number +14155550123 is not a valid phone number.",
            ),
        ),
        case(
            "401 20003",
            Answer::json(
                401,
                r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
            ),
            failed(SendErrorCode::AuthFail, AUTHENTICATION_FAILED, Some("20003"), "Authenticate"),
        ),
    ];
    run_cases(&stub, Provider::Twilio, &request, &wire, cases).await;
}

// ---------------------------------------------------------------------------------------------
// Telnyx: provider-contracts.md §3
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn telnyx_send_call_is_a_bearer_json_post_and_its_answers_classify() {
    let stub = Stub::start().await;
    let request = send_request(&credentials(Provider::Telnyx, &stub.base), &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/v2/messages",
        authorization: Some("Bearer KEYsandbox0123456789"),
        content_type: "application/json",
        accept: Some("application/json"),
        body: WireBody::Json(json!({
            "from": "+14102161183",
            "to": "+14155550123",
            "text": "Hi & welcome, 100% ready?",
            "media_urls": ["https://pbx.example.com/files/photo.png"]
        })),
    };
    let rate_limited_body = r#"{"errors":[{"code":"10011","title":"Too many requests","detail":"You have exceeded the maximum number of allowed requests."}]}"#;
    let cases = vec![
        case(
            "200 with data.id",
            Answer::json(
                200,
                r#"{"data":{"record_type":"message","direction":"outbound","id":"40385f64-5717-4562-b3fc-2c963f66afa6","type":"MMS","from":{"phone_number":"+14102161183","carrier":"Telnyx","line_type":"Wireless"},"to":[{"phone_number":"+14155550123","status":"queued","carrier":"T-Mobile USA","line_type":"Wireless"}],"text":"Hi & welcome, 100% ready?","media":[{"url":"https://pbx.example.com/files/photo.png","content_type":null,"sha256":null,"size":null}],"parts":1,"errors":[]}}"#,
            ),
            SendOutcome::Accepted { provider_message_id: "40385f64-5717-4562-b3fc-2c963f66afa6".into() },
        ),
        case(
            "429 10011 + Retry-After: 7 (wins over x-ratelimit-reset)",
            Answer::json(429, rate_limited_body)
                .with_header("Retry-After", "7")
                .with_header("x-ratelimit-limit", "10")
                .with_header("x-ratelimit-remaining", "0")
                .with_header("x-ratelimit-reset", "4"),
            retry(
                SendErrorCode::TooManyRequest,
                TOO_FREQUENT,
                Some("10011"),
                "Too many requests: You have exceeded the maximum number of allowed requests.",
                Some(7),
                true,
            ),
        ),
        case(
            "429 10011 + x-ratelimit-reset: 4 only",
            Answer::json(429, rate_limited_body)
                .with_header("x-ratelimit-limit", "10")
                .with_header("x-ratelimit-remaining", "0")
                .with_header("x-ratelimit-reset", "4"),
            retry(
                SendErrorCode::TooManyRequest,
                TOO_FREQUENT,
                Some("10011"),
                "Too many requests: You have exceeded the maximum number of allowed requests.",
                Some(4),
                true,
            ),
        ),
        case(
            "503",
            Answer::json(503, r#"{"errors":[{"code":"10007","title":"Unexpected error","detail":"Try again."}]}"#),
            retry(SendErrorCode::SendFail, FAILED_TO_SEND, Some("10007"), "Unexpected error: Try again.", None, false),
        ),
        case(
            "400 40310 pointing at /to",
            Answer::json(
                400,
                r#"{"errors":[{"code":"40310","title":"Invalid 'to' address","detail":"The 'to' address should be in +E.164 format.","source":{"pointer":"/to"}}]}"#,
            ),
            failed(
                SendErrorCode::InvalidPhoneNumber,
                INVALID_PHONE_NUMBER,
                Some("40310"),
                "Invalid 'to' address: The 'to' address should be in +E.164 format.",
            ),
        ),
        case(
            "422 pointing at /text",
            Answer::json(
                422,
                r#"{"errors":[{"code":"10015","title":"Bad Request","detail":"The 'text' is too long.","source":{"pointer":"/text"}}]}"#,
            ),
            failed(
                SendErrorCode::InvalidParam,
                INVALID_PARAMETER,
                Some("10015"),
                "Bad Request: The 'text' is too long.",
            ),
        ),
        case(
            "401 10009",
            Answer::json(
                401,
                r#"{"errors":[{"code":"10009","title":"Authentication failed","detail":"The API key looks malformed."}]}"#,
            ),
            failed(
                SendErrorCode::AuthFail,
                AUTHENTICATION_FAILED,
                Some("10009"),
                "Authentication failed: The API key looks malformed.",
            ),
        ),
    ];
    run_cases(&stub, Provider::Telnyx, &request, &wire, cases).await;
}

// ---------------------------------------------------------------------------------------------
// Bandwidth: provider-contracts.md §4
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn bandwidth_send_call_is_a_basic_auth_json_post_and_its_answers_classify() {
    let stub = Stub::start().await;
    let request = send_request(&credentials(Provider::Bandwidth, &stub.base), &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/api/v2/users/9900000/messages",
        // base64("bw-callback-user:sandbox-webhook-secret")
        authorization: Some("Basic YnctY2FsbGJhY2stdXNlcjpzYW5kYm94LXdlYmhvb2stc2VjcmV0"),
        content_type: "application/json",
        accept: Some("application/json"),
        body: WireBody::Json(json!({
            "applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
            "to": ["+14155550123"],
            "from": "+14102161183",
            "text": "Hi & welcome, 100% ready?",
            "media": ["https://pbx.example.com/files/photo.png"]
        })),
    };
    let cases = vec![
        case(
            "202 Message",
            Answer::json(
                202,
                r#"{"id":"1589228074636lm4k2je7j7jklbn2","owner":"+14102161183","applicationId":"93de2206-9669-4e07-948d-329f4b722ee2","time":"2020-05-11T20:14:34.636Z","segmentCount":1,"direction":"out","to":["+14155550123"],"from":"+14102161183","text":"Hi & welcome, 100% ready?","media":["https://pbx.example.com/files/photo.png"],"priority":"default"}"#,
            ),
            SendOutcome::Accepted { provider_message_id: "1589228074636lm4k2je7j7jklbn2".into() },
        ),
        case(
            "429 + Retry-After: 7",
            Answer::json(429, r#"{"type":"too-many-requests","description":"Too many requests"}"#)
                .with_header("Retry-After", "7"),
            retry(
                SendErrorCode::TooManyRequest,
                TOO_FREQUENT,
                Some("too-many-requests"),
                "HTTP 429: Too many requests",
                Some(7),
                true,
            ),
        ),
        case(
            "503",
            Answer::json(503, r#"{"type":"service-unavailable","description":"Service unavailable"}"#),
            retry(
                SendErrorCode::SendFail,
                FAILED_TO_SEND,
                Some("service-unavailable"),
                "HTTP 503: Service unavailable",
                None,
                false,
            ),
        ),
        case(
            "400 request-validation on to",
            Answer::json(
                400,
                r#"{"type":"request-validation","description":"Your request could not be accepted","fieldErrors":[{"fieldName":"to","description":"'+1invalid' must be replaced with a valid E164 formatted telephone number"}]}"#,
            ),
            failed(
                SendErrorCode::InvalidPhoneNumber,
                INVALID_PHONE_NUMBER,
                Some("request-validation"),
                "HTTP 400: Your request could not be accepted (to: '+1invalid' must be replaced with a valid E164 formatted telephone number)",
            ),
        ),
        case(
            "400 request-validation on applicationId",
            Answer::json(
                400,
                r#"{"type":"request-validation","description":"Your request could not be accepted","fieldErrors":[{"fieldName":"applicationId","description":"Unknown application"}]}"#,
            ),
            failed(
                SendErrorCode::InvalidParam,
                INVALID_PARAMETER,
                Some("request-validation"),
                "HTTP 400: Your request could not be accepted (applicationId: Unknown application)",
            ),
        ),
        case(
            "401",
            Answer::json(401, r#"{"type":"unauthorized","description":"Authentication Failed"}"#),
            failed(
                SendErrorCode::AuthFail,
                AUTHENTICATION_FAILED,
                Some("unauthorized"),
                "HTTP 401: Authentication Failed",
            ),
        ),
    ];
    run_cases(&stub, Provider::Bandwidth, &request, &wire, cases).await;
}

// ---------------------------------------------------------------------------------------------
// Flowroute: provider-contracts.md §5
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn flowroute_send_call_is_a_basic_auth_jsonapi_post_and_its_answers_classify() {
    let stub = Stub::start().await;
    let request = send_request(&credentials(Provider::Flowroute, &stub.base), &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/v2.1/messages",
        // base64("12345678:sandbox-webhook-secret")
        authorization: Some("Basic MTIzNDU2Nzg6c2FuZGJveC13ZWJob29rLXNlY3JldA=="),
        content_type: "application/vnd.api+json",
        accept: Some("application/vnd.api+json"),
        body: WireBody::Json(json!({
            "data": {
                "type": "message",
                "attributes": {
                    "to": "14155550123",
                    "from": "14102161183",
                    "body": "Hi & welcome, 100% ready?",
                    "is_mms": "true",
                    "media_urls": ["https://pbx.example.com/files/photo.png"]
                }
            }
        })),
    };
    let cases = vec![
        case(
            "202 with data.id (SDK README)",
            Answer::json(
                202,
                r#"{"data":{"links":{"self":"https://api.flowroute.com/v2.1/messages/mdr2-39cadeace66e11e7aff806cd7f24ba2d"},"type":"message","id":"mdr2-39cadeace66e11e7aff806cd7f24ba2d"}}"#,
            ),
            SendOutcome::Accepted { provider_message_id: "mdr2-39cadeace66e11e7aff806cd7f24ba2d".into() },
        ),
        case(
            "429 + Retry-After: 7",
            Answer::json(
                429,
                r#"{"errors":[{"id":"c0e1a","status":429,"title":"Too Many Requests","detail":"Rate limit exceeded"}]}"#,
            )
            .with_header("Retry-After", "7"),
            retry(
                SendErrorCode::TooManyRequest,
                TOO_FREQUENT,
                Some("c0e1a"),
                "HTTP 429: Too Many Requests: Rate limit exceeded",
                Some(7),
                true,
            ),
        ),
        case(
            "503",
            Answer::empty(503),
            retry(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 503", None, false),
        ),
        case(
            "422",
            Answer::json(
                422,
                r#"{"errors":[{"id":"b5a2f","status":422,"title":"Unprocessable Entity","detail":"'to' is not a valid phone number"}]}"#,
            ),
            failed(
                SendErrorCode::InvalidParam,
                INVALID_PARAMETER,
                Some("b5a2f"),
                "HTTP 422: Unprocessable Entity: 'to' is not a valid phone number",
            ),
        ),
        case(
            "401",
            Answer::json(
                401,
                r#"{"errors":[{"id":"4b3d","status":401,"title":"Unauthorized","detail":"There was an issue with your API credentials."}]}"#,
            ),
            failed(
                SendErrorCode::AuthFail,
                AUTHENTICATION_FAILED,
                Some("4b3d"),
                "HTTP 401: Unauthorized: There was an issue with your API credentials.",
            ),
        ),
    ];
    run_cases(&stub, Provider::Flowroute, &request, &wire, cases).await;
}

// ---------------------------------------------------------------------------------------------
// SIPTRUNK: docs/providers.md (Flowroute-style JSON:API; UNVERIFIED, from the FreePBX connector)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn siptrunk_send_call_is_a_flowroute_style_jsonapi_post_and_its_answers_classify() {
    let stub = Stub::start().await;
    let request = send_request(&credentials(Provider::Siptrunk, &stub.base), &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/",
        // base64("sandbox-access-key:sandbox-webhook-secret")
        authorization: Some("Basic c2FuZGJveC1hY2Nlc3Mta2V5OnNhbmRib3gtd2ViaG9vay1zZWNyZXQ="),
        content_type: "application/vnd.api+json",
        accept: Some("application/vnd.api+json, application/json"),
        body: WireBody::Json(json!({
            "data": {
                "type": "message",
                "attributes": {
                    "to": "+14155550123",
                    "from": "+14102161183",
                    "body": "Hi & welcome, 100% ready?",
                    "is_mms": "true",
                    "media_urls": ["https://pbx.example.com/files/photo.png"]
                }
            }
        })),
    };
    let cases = vec![
        case(
            "202 with data.id",
            Answer::json(202, r#"{"data":{"id":"mdr2-5b1a0c3e9d7f11eeb1a2c3d4e5f6a7b8","type":"message"}}"#),
            SendOutcome::Accepted { provider_message_id: "mdr2-5b1a0c3e9d7f11eeb1a2c3d4e5f6a7b8".into() },
        ),
        Case {
            what: "200 without a body (any 2xx is sent)",
            answer: Answer::empty(200),
            expect: Expect::Untracked("siptrunk"),
        },
        case(
            "429 + Retry-After: 7",
            Answer::empty(429).with_header("Retry-After", "7"),
            retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, None, "HTTP 429", Some(7), true),
        ),
        case("503", Answer::empty(503), retry(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 503", None, false)),
        case(
            "400 JSON:API error",
            Answer::json(400, r#"{"errors":[{"title":"Bad Request","detail":"to is invalid"}]}"#),
            failed(SendErrorCode::InvalidParam, INVALID_PARAMETER, None, "HTTP 400: Bad Request: to is invalid"),
        ),
        case(
            "401",
            Answer::json(401, r#"{"message":"Unauthorized"}"#),
            failed(SendErrorCode::AuthFail, AUTHENTICATION_FAILED, None, "HTTP 401: Unauthorized"),
        ),
    ];
    run_cases(&stub, Provider::Siptrunk, &request, &wire, cases).await;
}

// ---------------------------------------------------------------------------------------------
// Skyetel: docs/providers.md (Skyetel's support article; no message id documented)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn skyetel_send_call_puts_from_in_the_query_and_its_answers_classify() {
    let stub = Stub::start().await;
    let request = send_request(&credentials(Provider::Skyetel, &stub.base), &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/v1/out?from=14102161183",
        // base64("sandbox-sid:sandbox-webhook-secret")
        authorization: Some("Basic c2FuZGJveC1zaWQ6c2FuZGJveC13ZWJob29rLXNlY3JldA=="),
        content_type: "application/json",
        accept: None,
        body: WireBody::Json(json!({
            "to": "14155550123",
            "text": "Hi & welcome, 100% ready?",
            "media": ["https://pbx.example.com/files/photo.png"]
        })),
    };
    let cases = vec![
        Case { what: "200 without an id", answer: Answer::empty(200), expect: Expect::Untracked("skyetel") },
        case(
            "200 with an id",
            Answer::json(200, r#"{"id":"b9d1c0a2-skyetel"}"#),
            SendOutcome::Accepted { provider_message_id: "b9d1c0a2-skyetel".into() },
        ),
        case(
            "200 with ERROR",
            Answer::json(200, r#"{"ERROR":"Invalid destination number"}"#),
            failed(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 200: Invalid destination number"),
        ),
        case(
            "429 + Retry-After: 7",
            Answer::json(429, r#"{"ERROR":"Too many requests"}"#).with_header("Retry-After", "7"),
            retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, None, "HTTP 429: Too many requests", Some(7), true),
        ),
        case(
            "403 rate limit (5-minute cooldown)",
            Answer::json(403, r#"{"ERROR":"Rate limit exceeded"}"#),
            retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, None, "HTTP 403: Rate limit exceeded", Some(300), true),
        ),
        case("503", Answer::empty(503), retry(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 503", None, false)),
        case(
            "400",
            Answer::json(400, r#"{"ERROR":"Invalid destination number"}"#),
            failed(SendErrorCode::InvalidParam, INVALID_PARAMETER, None, "HTTP 400: Invalid destination number"),
        ),
        case(
            "401",
            Answer::json(401, r#"{"ERROR":"Invalid credentials"}"#),
            failed(SendErrorCode::AuthFail, AUTHENTICATION_FAILED, None, "HTTP 401: Invalid credentials"),
        ),
    ];
    run_cases(&stub, Provider::Skyetel, &request, &wire, cases).await;
}

// ---------------------------------------------------------------------------------------------
// Apidaze: docs/providers.md (Apidaze's SDKs; credentials in the URL, files as links)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn apidaze_send_call_carries_its_keys_in_the_url_and_its_answers_classify() {
    let stub = Stub::start().await;
    let creds = credentials(Provider::Apidaze, &stub.base);
    let request = send_request(&creds, &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/a1b2c3d4/sms/send?api_secret=sandbox-webhook-secret",
        authorization: None,
        content_type: "application/x-www-form-urlencoded",
        accept: Some("application/json"),
        body: WireBody::Form(
            "from=14102161183&to=14155550123&body=Hi+%26+welcome%2C+100%25+ready%3F%0Ahttps%3A%2F%2Fpbx.example.com%2Ffiles%2Fphoto.png",
        ),
    };
    let cases = vec![
        Case {
            what: "200 success:true (SDK tests)",
            answer: Answer::json(200, r#"{"success":true}"#),
            expect: Expect::Untracked("apidaze"),
        },
        case(
            "200 success:false",
            Answer::json(200, r#"{"success":false}"#),
            failed(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 200: success: false"),
        ),
        case(
            "429 + Retry-After: 7",
            Answer::json(429, r#"{"message":"Too many requests"}"#).with_header("Retry-After", "7"),
            retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, None, "HTTP 429: Too many requests", Some(7), true),
        ),
        case(
            "500 success:false (SDK tests)",
            Answer::json(500, r#"{"success":false}"#),
            retry(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 500", None, false),
        ),
        case(
            "400",
            Answer::json(400, r#"{"error":"Invalid 'to' number"}"#),
            failed(SendErrorCode::InvalidParam, INVALID_PARAMETER, None, "HTTP 400: Invalid 'to' number"),
        ),
        case(
            "401",
            Answer::json(401, r#"{"message":"Invalid API secret"}"#),
            failed(SendErrorCode::AuthFail, AUTHENTICATION_FAILED, None, "HTTP 401: Invalid API secret"),
        ),
    ];
    run_cases(&stub, Provider::Apidaze, &request, &wire, cases).await;

    // A file without text carries the channel's accompanying text.
    let file_only = OutboundContent {
        from: FROM,
        to: TO,
        text: None,
        media_urls: vec![MEDIA],
        human_agent_tag: false,
        status_callback: None,
        template: None,
    };
    let request = send_request(&creds, &stub.endpoints(), &file_only);
    let (seen, _, _) = stub.exchange(Provider::Apidaze, &request, Answer::json(200, r#"{"success":true}"#)).await;
    assert_wire(
        "apidaze / file without text",
        &seen,
        &Wire {
            body: WireBody::Form(
                "from=14102161183&to=14155550123&body=Sent+by+Yeastar%0Ahttps%3A%2F%2Fpbx.example.com%2Ffiles%2Fphoto.png",
            ),
            ..wire
        },
    );
}

// ---------------------------------------------------------------------------------------------
// VoiceMeUp: docs/providers.md (UNVERIFIED, from an open-source client)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn voicemeup_send_call_is_a_form_post_with_credentials_in_the_body_and_its_answers_classify() {
    let stub = Stub::start().await;
    let request = send_request(&credentials(Provider::VoiceMeUp, &stub.base), &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/api/v1.1/json/queue_sms",
        authorization: None,
        content_type: "application/x-www-form-urlencoded",
        accept: Some("application/json"),
        body: WireBody::Form(
            "username=sandbox-user&auth_token=sandbox-webhook-secret&source_number=14102161183\
             &destination_number=14155550123&message=Hi+%26+welcome%2C+100%25+ready%3F\
             &attachment=https%3A%2F%2Fpbx.example.com%2Ffiles%2Fphoto.png",
        ),
    };
    let cases = vec![
        case(
            "200 success with queued_sms_hash",
            Answer::json(
                200,
                r#"{"response_details":{"response_status":"success","response_messages":{"message":[{"code":"queued_sms_hash","_content":"5f2b9c1d7e3a4b6c8d0e1f2a3b4c5d6e"}]}}}"#,
            ),
            SendOutcome::Accepted { provider_message_id: "5f2b9c1d7e3a4b6c8d0e1f2a3b4c5d6e".into() },
        ),
        case(
            "200 error permission_refused",
            Answer::json(
                200,
                r#"{"response_details":{"response_status":"error","response_messages":{"message":{"code":"permission_refused","_content":"Invalid username or auth_token"}}}}"#,
            ),
            failed(
                SendErrorCode::AuthFail,
                AUTHENTICATION_FAILED,
                Some("permission_refused"),
                "HTTP 200: Invalid username or auth_token",
            ),
        ),
        case(
            "200 error rate_limit_exceeded",
            Answer::json(
                200,
                r#"{"response_details":{"response_status":"error","response_messages":{"message":{"code":"rate_limit_exceeded","_content":"Too many messages"}}}}"#,
            ),
            retry(
                SendErrorCode::TooManyRequest,
                TOO_FREQUENT,
                Some("rate_limit_exceeded"),
                "HTTP 200: Too many messages",
                None,
                true,
            ),
        ),
        case(
            "429 + Retry-After: 7",
            Answer::empty(429).with_header("Retry-After", "7"),
            retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, None, "HTTP 429", Some(7), true),
        ),
        case("503", Answer::empty(503), retry(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 503", None, false)),
        case(
            "400 error",
            Answer::json(
                400,
                r#"{"response_details":{"response_status":"error","response_messages":{"message":[{"code":"invalid_destination_number","_content":"Destination number is invalid"}]}}}"#,
            ),
            failed(
                SendErrorCode::InvalidParam,
                INVALID_PARAMETER,
                Some("invalid_destination_number"),
                "HTTP 400: Destination number is invalid",
            ),
        ),
        case("401", Answer::empty(401), failed(SendErrorCode::AuthFail, AUTHENTICATION_FAILED, None, "HTTP 401")),
    ];
    run_cases(&stub, Provider::VoiceMeUp, &request, &wire, cases).await;
}

// ---------------------------------------------------------------------------------------------
// Meta Graph API (WhatsApp, Messenger): provider-contracts.md §2
// ---------------------------------------------------------------------------------------------

const GRAPH_130429: &str = r#"{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},"fbtrace_id":"AxYz5"}}"#;
const GRAPH_130429_DETAIL: &str =
    "(#130429) Rate limit hit: Cloud API message throughput has been reached. (type OAuthException, fbtrace_id AxYz5)";
const GRAPH_131056: &str = r#"{"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit","type":"OAuthException","code":131056,"error_data":{"messaging_product":"whatsapp","details":"Too many messages sent to the same recipient in a short period of time."},"fbtrace_id":"AxYz6"}}"#;
const GRAPH_131056_DETAIL: &str = "(#131056) (Business Account, Consumer Account) pair rate limit hit: Too many messages sent to the same recipient in a short period of time. (type OAuthException, fbtrace_id AxYz6)";
const GRAPH_190: &str = r#"{"error":{"message":"Error validating access token: Session has expired.","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AxYz7"}}"#;
const GRAPH_190_DETAIL: &str =
    "Error validating access token: Session has expired. (type OAuthException, subcode 463, fbtrace_id AxYz7)";

/// The Graph rate-limit answers both Meta channels share: 130429 and 131056 in the JSON error,
/// with HTTP 400 or 200 (the status is unverified, the code decides).
fn graph_rate_limit_cases() -> Vec<Case> {
    let throughput =
        retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, Some("130429"), GRAPH_130429_DETAIL, None, true);
    // The pair limit is per recipient: this message waits at least 6 s, the channel's schedule
    // stays (docs/providers.md "131056 retry after ≥ 6 s"; meta.rs PAIR_RATE_LIMIT_WAIT).
    let pair = retry(SendErrorCode::TooManyRequest, TOO_FREQUENT, Some("131056"), GRAPH_131056_DETAIL, Some(6), false);
    vec![
        case("400 130429", Answer::json(400, GRAPH_130429), throughput.clone()),
        case("200 130429", Answer::json(200, GRAPH_130429), throughput),
        case("400 131056", Answer::json(400, GRAPH_131056), pair.clone()),
        case("200 131056", Answer::json(200, GRAPH_131056), pair),
        case("503", Answer::empty(503), retry(SendErrorCode::SendFail, FAILED_TO_SEND, None, "HTTP 503", None, false)),
        case(
            "401 190",
            Answer::json(401, GRAPH_190),
            failed(SendErrorCode::AuthFail, AUTHENTICATION_FAILED, Some("190"), GRAPH_190_DETAIL),
        ),
    ]
}

#[tokio::test]
async fn whatsapp_send_call_is_a_bearer_cloud_api_post_and_its_answers_classify() {
    let stub = Stub::start().await;
    let creds = credentials(Provider::WhatsApp, &stub.base);

    // With a file: the first link as an image, the text as its caption.
    let request = send_request(&creds, &stub.endpoints(), &text_and_file());
    let wire = Wire {
        target: "/v21.0/106540352242922/messages",
        authorization: Some("Bearer sandbox-meta-access-token"),
        content_type: "application/json",
        accept: None,
        body: WireBody::Json(json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "14155550123",
            "type": "image",
            "image": {"link": "https://pbx.example.com/files/photo.png", "caption": "Hi & welcome, 100% ready?"}
        })),
    };
    let mut cases = vec![
        case(
            "200 with messages[0].id",
            Answer::json(
                200,
                r#"{"messaging_product":"whatsapp","contacts":[{"input":"+14155550123","wa_id":"14155550123"}],"messages":[{"id":"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}]}"#,
            ),
            SendOutcome::Accepted {
                provider_message_id: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA".into(),
            },
        ),
        case(
            "429 code 4 + Retry-After: 7",
            Answer::json(
                429,
                r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"fbtrace_id":"AxYz4"}}"#,
            )
            .with_header("Retry-After", "7"),
            retry(
                SendErrorCode::TooManyRequest,
                TOO_FREQUENT,
                Some("4"),
                "(#4) Application request limit reached (type OAuthException, fbtrace_id AxYz4)",
                Some(7),
                true,
            ),
        ),
        case(
            "400 131030 (documented example)",
            Answer::json(
                400,
                r#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},"fbtrace_id":"AI5Ob3u0Hfd6pX0LdP-hN6B"}}"#,
            ),
            failed(
                SendErrorCode::InvalidPhoneNumber,
                INVALID_PHONE_NUMBER,
                Some("131030"),
                "(#131030) Recipient phone number not in allowed list: Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again. (type OAuthException, fbtrace_id AI5Ob3u0Hfd6pX0LdP-hN6B)",
            ),
        ),
        case(
            "400 131047 (24 h window closed)",
            Answer::json(
                400,
                r#"{"error":{"message":"(#131047) Re-engagement message","type":"OAuthException","code":131047,"error_data":{"messaging_product":"whatsapp","details":"More than 24 hours have passed since the recipient last replied."},"fbtrace_id":"AxYz8"}}"#,
            ),
            failed(
                SendErrorCode::SendFail,
                FAILED_TO_SEND,
                Some("131047"),
                "more than 24 hours have passed since the customer last replied: a WhatsApp message template is required (Meta: (#131047) Re-engagement message: More than 24 hours have passed since the recipient last replied. (type OAuthException, fbtrace_id AxYz8))",
            ),
        ),
    ];
    cases.extend(graph_rate_limit_cases());
    run_cases(&stub, Provider::WhatsApp, &request, &wire, cases).await;

    // Text only.
    let request = send_request(&creds, &stub.endpoints(), &text_only());
    let (seen, _, _) = stub
        .exchange(
            Provider::WhatsApp,
            &request,
            Answer::json(200, r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.text"}]}"#),
        )
        .await;
    assert_wire(
        "whatsapp / text",
        &seen,
        &Wire {
            body: WireBody::Json(json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "14155550123",
                "type": "text",
                "text": {"body": "Hi & welcome, 100% ready?", "preview_url": false}
            })),
            ..wire
        },
    );
}

#[tokio::test]
async fn whatsapp_template_send_call_carries_the_template_object_and_not_the_text() {
    let stub = Stub::start().await;
    let creds = credentials(Provider::WhatsApp, &stub.base);
    // The filled template as `FilledTemplate::cloud_api_template` gives it; the text is the
    // preview kept in the history and must not be sent.
    let template = json!({
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]
    });
    let content = OutboundContent {
        text: Some("Hello Ann, your order 42 ships today.\nThanks for shopping with Acme"),
        template: Some(&template),
        ..text_only()
    };
    let request = send_request(&creds, &stub.endpoints(), &content);
    let (seen, _, outcome) = stub
        .exchange(
            Provider::WhatsApp,
            &request,
            Answer::json(200, r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.template"}]}"#),
        )
        .await;
    assert_wire(
        "whatsapp / template",
        &seen,
        &Wire {
            target: "/v21.0/106540352242922/messages",
            authorization: Some("Bearer sandbox-meta-access-token"),
            content_type: "application/json",
            accept: None,
            body: WireBody::Json(json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "14155550123",
                "type": "template",
                "template": {
                    "name": "order_update",
                    "language": {"code": "en_US"},
                    "components": [{"type": "body", "parameters": [
                        {"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]
                }
            })),
        },
    );
    assert_eq!(outcome, SendOutcome::Accepted { provider_message_id: "wamid.template".into() });
}

#[tokio::test]
async fn messenger_send_call_is_a_bearer_send_api_post_and_its_answers_classify() {
    let stub = Stub::start().await;
    let creds = credentials(Provider::Facebook, &stub.base);
    let reply = OutboundContent {
        from: PAGE_ID,
        to: PSID,
        text: Some(TEXT),
        media_urls: Vec::new(),
        human_agent_tag: false,
        status_callback: None,
        template: None,
    };
    let request = send_request(&creds, &stub.endpoints(), &reply);
    let wire = Wire {
        target: "/v21.0/110987654321098/messages",
        authorization: Some("Bearer sandbox-meta-page-access-token"),
        content_type: "application/json",
        accept: None,
        body: WireBody::Json(json!({
            "recipient": {"id": "8615328211815312"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Hi & welcome, 100% ready?"}
        })),
    };
    let mut cases = vec![
        case(
            "200 with message_id",
            Answer::json(
                200,
                r#"{"recipient_id":"8615328211815312","message_id":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"}"#,
            ),
            SendOutcome::Accepted {
                provider_message_id:
                    "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P".into(),
            },
        ),
        case(
            "429 code 613 + Retry-After: 7",
            Answer::json(
                429,
                r#"{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613,"fbtrace_id":"BxYz1"}}"#,
            )
            .with_header("Retry-After", "7"),
            retry(
                SendErrorCode::TooManyRequest,
                TOO_FREQUENT,
                Some("613"),
                "(#613) Calls to this api have exceeded the rate limit. (type OAuthException, fbtrace_id BxYz1)",
                Some(7),
                true,
            ),
        ),
        case(
            "500 code 2 (transient)",
            Answer::json(
                500,
                r#"{"error":{"message":"(#2) Service temporarily unavailable","type":"OAuthException","code":2,"is_transient":true,"fbtrace_id":"BxYz2"}}"#,
            ),
            retry(
                SendErrorCode::SendFail,
                FAILED_TO_SEND,
                Some("2"),
                "(#2) Service temporarily unavailable (type OAuthException, fbtrace_id BxYz2)",
                None,
                false,
            ),
        ),
        case(
            "400 10 / 2018278 (outside the window)",
            Answer::json(
                400,
                r#"{"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2018278,"fbtrace_id":"BxYz3"}}"#,
            ),
            failed(
                SendErrorCode::SendFail,
                FAILED_TO_SEND,
                Some("10"),
                "outside the 24-hour messaging window: within 7 days of the customer's last message reply with the HUMAN_AGENT tag (Meta: (#10) This message is sent outside of allowed window. (type OAuthException, subcode 2018278, fbtrace_id BxYz3))",
            ),
        ),
        case(
            "400 100",
            Answer::json(
                400,
                r#"{"error":{"message":"(#100) The parameter recipient is required","type":"OAuthException","code":100,"fbtrace_id":"BxYz4"}}"#,
            ),
            failed(
                SendErrorCode::InvalidParam,
                INVALID_PARAMETER,
                Some("100"),
                "(#100) The parameter recipient is required (type OAuthException, fbtrace_id BxYz4)",
            ),
        ),
    ];
    cases.extend(graph_rate_limit_cases());
    run_cases(&stub, Provider::Facebook, &request, &wire, cases).await;

    let ok = || Answer::json(200, r#"{"recipient_id":"8615328211815312","message_id":"m_late"}"#);

    // 24 h to 7 days after the customer's last message: MESSAGE_TAG + HUMAN_AGENT.
    let late = OutboundContent { human_agent_tag: true, ..reply.clone() };
    let (seen, _, outcome) =
        stub.exchange(Provider::Facebook, &send_request(&creds, &stub.endpoints(), &late), ok()).await;
    assert_wire(
        "facebook / HUMAN_AGENT",
        &seen,
        &Wire {
            body: WireBody::Json(json!({
                "recipient": {"id": "8615328211815312"},
                "messaging_type": "MESSAGE_TAG",
                "tag": "HUMAN_AGENT",
                "message": {"text": "Hi & welcome, 100% ready?"}
            })),
            ..wire
        },
    );
    assert_eq!(outcome, SendOutcome::Accepted { provider_message_id: "m_late".into() });

    // A file: one attachment, by extension an image.
    let file = OutboundContent {
        from: PAGE_ID,
        to: PSID,
        text: None,
        media_urls: vec![MEDIA],
        human_agent_tag: false,
        status_callback: None,
        template: None,
    };
    let (seen, _, _) = stub.exchange(Provider::Facebook, &send_request(&creds, &stub.endpoints(), &file), ok()).await;
    assert_wire(
        "facebook / attachment",
        &seen,
        &Wire {
            body: WireBody::Json(json!({
                "recipient": {"id": "8615328211815312"},
                "messaging_type": "RESPONSE",
                "message": {"attachment": {"type": "image", "payload": {"url": "https://pbx.example.com/files/photo.png", "is_reusable": false}}}
            })),
            ..wire
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Transport failures, every provider
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_providers_send_to_a_closed_port_is_no_response_and_retries() {
    assert_eq!(Provider::ALL.len(), 15);
    let closed = closed_port_base().await;
    let endpoints = ProviderEndpoints::all_at(&closed);
    let http = ReqwestProvider::new().unwrap();
    for &provider in Provider::ALL {
        let content = match provider {
            Provider::Facebook => OutboundContent {
                from: PAGE_ID,
                to: PSID,
                text: Some(TEXT),
                media_urls: Vec::new(),
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
            _ => text_and_file(),
        };
        let request = send_request(&credentials(provider, &closed), &endpoints, &content);
        assert!(request.url.starts_with(&format!("{closed}/")), "{provider}: {}", request.url);
        let response = http.execute(&request).await;
        let ProviderResponse::NoResponse { reason } = &response else {
            panic!("{provider}: expected no response, got {response:?}")
        };
        assert!(reason.starts_with("could not connect"), "{provider}: {reason}");
        assert_eq!(
            classify_send(provider, &response),
            SendOutcome::RetryLater {
                reason: FailureReason {
                    code: SendErrorCode::RequestFail,
                    prompt: FAILED_TO_SEND.to_owned(),
                    provider_code: None,
                    detail: Some(reason.clone()),
                },
                after: None,
                rate_limited: false,
            },
            "{provider}"
        );
    }
}

#[tokio::test]
async fn a_provider_slower_than_the_timeout_is_no_response_and_retries() {
    let stub = Stub::start().await;
    let mut request = send_request(&credentials(Provider::Twilio, &stub.base), &stub.endpoints(), &text_only());
    request.timeout = Duration::from_millis(200);
    let mut slow = Answer::json(201, r#"{"sid":"SM0"}"#);
    slow.delay = Some(Duration::from_secs(3));
    let (_, response, outcome) = stub.exchange(Provider::Twilio, &request, slow).await;
    assert_eq!(response, ProviderResponse::NoResponse { reason: "the request timed out".into() });
    assert_eq!(outcome, retry(SendErrorCode::RequestFail, FAILED_TO_SEND, None, "the request timed out", None, false));
}

#[tokio::test]
async fn a_redirect_is_not_followed_and_the_send_does_not_count_as_accepted() {
    let stub = Stub::start().await;
    let request = send_request(&credentials(Provider::Twilio, &stub.base), &stub.endpoints(), &text_only());
    let moved = Answer::empty(307).with_header("location", "/somewhere-else");
    // `exchange` asserts the server saw exactly one request: a followed redirect would be a second
    let (_, response, outcome) = stub.exchange(Provider::Twilio, &request, moved).await;
    assert!(matches!(response, ProviderResponse::Http { status: 307, .. }), "{response:?}");
    assert!(!matches!(outcome, SendOutcome::Accepted { .. }), "{outcome:?}");
}

// ---------------------------------------------------------------------------------------------
// Status-callback URL per message: Twilio `StatusCallback`, Telnyx `webhook_url`, Flowroute
// `dlr_callback` (provider-contracts.md §1, §3, §5); SIPTRUNK takes none
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn providers_that_take_a_status_callback_url_per_message_are_given_the_channels_webhook() {
    const CALLBACK: &str = "https://sms.example.com/api/v1.0/webhook/twilio/aaaabbbbccccddddeeeeffff00001111";
    let stub = Stub::start().await;
    let content = OutboundContent { status_callback: Some(CALLBACK), ..text_only() };
    let seen = |provider: Provider| {
        let request = send_request(&credentials(provider, &stub.base), &stub.endpoints(), &content);
        let stub = &stub;
        async move {
            let answer = Answer::json(202, r#"{"sid":"SM1","data":{"id":"x"}}"#);
            let (seen, _, _) = stub.exchange(provider, &request, answer).await;
            String::from_utf8(seen.body).unwrap()
        }
    };
    assert_eq!(
        seen(Provider::Twilio).await,
        "To=%2B14155550123&From=%2B14102161183&Body=Hi+%26+welcome%2C+100%25+ready%3F\
         &StatusCallback=https%3A%2F%2Fsms.example.com%2Fapi%2Fv1.0%2Fwebhook%2Ftwilio%2Faaaabbbbccccddddeeeeffff00001111"
    );
    let telnyx: Value = serde_json::from_str(&seen(Provider::Telnyx).await).unwrap();
    assert_eq!(
        telnyx,
        json!({"from": "+14102161183", "to": "+14155550123", "text": "Hi & welcome, 100% ready?", "webhook_url": CALLBACK})
    );
    let flowroute: Value = serde_json::from_str(&seen(Provider::Flowroute).await).unwrap();
    assert_eq!(
        flowroute,
        json!({"data": {"type": "message", "attributes": {"to": "14155550123", "from": "14102161183",
            "body": "Hi & welcome, 100% ready?", "dlr_callback": CALLBACK}}})
    );
    let siptrunk: Value = serde_json::from_str(&seen(Provider::Siptrunk).await).unwrap();
    assert_eq!(siptrunk["data"]["attributes"].get("dlr_callback"), None, "SIPTRUNK documents no such field");
}
