//! Flowroute Messaging v2.1 send API (../shared/research/provider-contracts.md §5; seed 000 §1.2,
//! seed 001 §1.3.2: the channel requires "API Version v2.1").
//!
//! Request: `POST {endpoints.flowroute}/v2.1/messages`, HTTP Basic `access_key:secret_key`,
//! `Content-Type: application/vnd.api+json`, `Accept: application/vnd.api+json`, JSON:API body
//! `{"data":{"type":"message","attributes":{"to","from","body"?,"is_mms"?,"media_urls"?,"dlr_callback"?}}}` with the
//! numbers as digits without `+` (Flowroute writes NANP numbers as 11 digits, `1NPANXXXXXX`).
//! `is_mms` is the string `"true"` and goes, with `media_urls`, only on MMS (as in the SDK README
//! [SDK flowroute/flowroute-sdk-v3-python README.md]). Success: `202 Accepted` with
//! `{"data":{"id":"mdr2-…","type":"message","links":{…}}}`; the id is `data.id`.
//!
//! | answer | outcome |
//! |---|---|
//! | no HTTP response | retry, `request_fail` |
//! | 2xx with `data.id` | accepted |
//! | 2xx without `data.id` | failed, `send_fail` (we could not match delivery receipts) |
//! | 400 / 422 | failed, Invalid Parameter |
//! | 401 / 403 | failed, Authentication Failed |
//! | 404 | failed, `resource_not_found` |
//! | 429 | retry, channel schedule pushed back (Flowroute throttles with 429 [DOC developer.flowroute.com/docs/delivery-receipts]) |
//! | 408 / 5xx | retry |
//! | anything else | failed, Failed to send |
//!
//! Errors are JSON:API `{"errors":[{"id","status","title","detail"}]}` (field names UNVERIFIED,
//! read tolerantly): `title`/`detail` become the failure detail, `id`/`code` the provider code.
//!
//! This module also holds the classification helpers the other key-pair providers (SIPTRUNK,
//! Skyetel, Apidaze, VoiceMeUp) share.

use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::credentials::KeyPair;
use crate::message::{SendErrorCode, prompts};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response, reason, retry_after,
};
use crate::webhook::Headers;

/// How long a send call may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The JSON:API media type Flowroute speaks.
pub const JSON_API: &str = "application/vnd.api+json";

/// The send call for `content`.
pub fn send_request(
    credentials: &KeyPair,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    ProviderRequest {
        method: HttpMethod::Post,
        url: format!("{}/v2.1/messages", endpoints.flowroute.trim_end_matches('/')),
        auth: RequestAuth::Basic { user: credentials.id.clone(), password: credentials.secret.clone() },
        headers: vec![("Accept".into(), JSON_API.into())],
        body: Some((JSON_API.into(), jsonapi_message_body(content, false).into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

/// The JSON:API message document Flowroute (and SIPTRUNK, which copies it) takes. `plus` keeps
/// the `+` of E.164 numbers (SIPTRUNK), otherwise only digits go out (Flowroute).
pub(crate) fn jsonapi_message_body(content: &OutboundContent<'_>, plus: bool) -> String {
    let number = |n: &str| if plus { with_plus(n) } else { digits(n) };
    let mut attributes = Map::new();
    attributes.insert("to".into(), Value::from(number(content.to)));
    attributes.insert("from".into(), Value::from(number(content.from)));
    if let Some(text) = content.text {
        attributes.insert("body".into(), Value::from(text));
    }
    if !content.media_urls.is_empty() {
        attributes.insert("is_mms".into(), Value::from("true"));
        attributes.insert("media_urls".into(), json!(content.media_urls));
    }
    // Flowroute's per-message delivery-receipt URL (swagger `dlr_callback`); SIPTRUNK has none.
    if let Some(url) = content.status_callback.filter(|_| !plus) {
        attributes.insert("dlr_callback".into(), Value::from(url));
    }
    json!({"data": {"type": "message", "attributes": Value::Object(attributes)}}).to_string()
}

/// What a send response means.
pub fn classify_send(response: &ProviderResponse) -> SendOutcome {
    let (status, headers, body) = match response {
        ProviderResponse::NoResponse { reason: why } => return no_response(why),
        ProviderResponse::Http { status, headers, body } => (*status, headers, body),
    };
    let parsed = serde_json::from_slice::<Value>(body).ok();
    if (200..300).contains(&status) {
        // A 2xx without data.id is final: without the id no delivery receipt can be matched, and
        // retrying could send the message twice.
        return match parsed.as_ref().and_then(|v| id_at(v, &["data", "id"])) {
            Some(provider_message_id) => SendOutcome::Accepted { provider_message_id },
            None => SendOutcome::Failed(reason(
                SendErrorCode::SendFail,
                prompts::FAILED_TO_SEND,
                None,
                Some(format!("HTTP {status} without data.id")),
            )),
        };
    }
    let (code, text) = parsed.as_ref().map(jsonapi_error).unwrap_or((None, None));
    by_status(status, headers, code, text)
}

/// The first error of a JSON:API `{"errors":[…]}` body: (`code` or `id`, `title: detail`).
pub(crate) fn jsonapi_error(v: &Value) -> (Option<String>, Option<String>) {
    let Some(first) = v.get("errors").and_then(Value::as_array).and_then(|e| e.first()) else {
        return (None, None);
    };
    let code = first.get("code").and_then(scalar).or_else(|| first.get("id").and_then(scalar));
    let title = first.get("title").and_then(Value::as_str);
    let detail = first.get("detail").and_then(Value::as_str);
    let text = match (title, detail) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (Some(t), None) => Some(t.to_owned()),
        (None, Some(d)) => Some(d.to_owned()),
        (None, None) => None,
    };
    (code, text)
}

// ---- helpers shared by the key-pair providers' send modules ----

/// The digits of a number (`+1 410-216-1183` → `14102161183`).
pub(crate) fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// A number with its `+` (E.164 numbers keep it; short codes and sender ids stay as they are).
pub(crate) fn with_plus(number: &str) -> String {
    let d = digits(number);
    if number.trim_start().starts_with('+') || d.len() > 8 { format!("+{d}") } else { number.trim().to_owned() }
}

/// A scalar JSON value as text (strings non-empty, numbers as written).
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The scalar at `path` in `v`.
pub(crate) fn id_at(v: &Value, path: &[&str]) -> Option<String> {
    path.iter().try_fold(v, |node, key| node.get(key)).and_then(scalar)
}

/// The outcome of a non-2xx answer, from its status code, with the provider's code and text.
pub(crate) fn by_status(status: u16, headers: &Headers, code: Option<String>, text: Option<String>) -> SendOutcome {
    let detail = Some(match text {
        Some(t) => format!("HTTP {status}: {t}"),
        None => format!("HTTP {status}"),
    });
    let failed = |c, prompt: &str| SendOutcome::Failed(reason(c, prompt, code.clone(), detail.clone()));
    let retry = |c, prompt: &str, rate_limited| SendOutcome::RetryLater {
        reason: reason(c, prompt, code.clone(), detail.clone()),
        after: retry_after(headers),
        rate_limited,
    };
    match status {
        400 | 422 => failed(SendErrorCode::InvalidParam, prompts::INVALID_PARAMETER),
        401 | 403 => failed(SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
        404 => failed(SendErrorCode::ResourceNotFound, prompts::FAILED_TO_SEND),
        413 => failed(SendErrorCode::ExceedsSizeLimit, prompts::FILE_TOO_LARGE),
        415 => failed(SendErrorCode::UnsupportMediaType, prompts::UNSUPPORTED_MEDIA),
        429 => retry(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, true),
        408 | 500..=599 => retry(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, false),
        _ => failed(SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
    }
}

/// An id for a message a provider accepted without naming it (providers whose send answer has no
/// documented id field): `<prefix>-untracked-` and the first 24 hex digits of SHA-256 over the
/// response's request-id headers and body. It is only a reference for the record; no delivery
/// report can ever name it.
pub(crate) fn untracked_id(prefix: &str, headers: &Headers, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for name in ["x-request-id", "x-amzn-requestid", "request-id", "cf-ray", "date"] {
        if let Some(v) = headers.get(name) {
            h.update(name.as_bytes());
            h.update(v.as_bytes());
        }
    }
    h.update(body);
    let hex_digest = hex::encode(h.finalize());
    format!("{prefix}-untracked-{}", hex_digest.get(..24).unwrap_or(&hex_digest))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use crate::message::FailureReason;
    use crate::secret::Secret;

    pub(crate) fn http(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse::Http { status, headers: Headers::default(), body: body.as_bytes().to_vec() }
    }

    pub(crate) fn failed_code(out: &SendOutcome) -> SendErrorCode {
        match out {
            SendOutcome::Failed(r) => r.code,
            other => panic!("expected a final failure, got {other:?}"),
        }
    }

    /// The shared checks every key-pair provider's classifier must pass for non-2xx answers.
    pub(crate) fn assert_common_statuses(classify: fn(&ProviderResponse) -> SendOutcome) {
        let limited = classify(&ProviderResponse::Http {
            status: 429,
            headers: Headers::from_pairs([("Retry-After", "7")]),
            body: b"{}".to_vec(),
        });
        assert!(
            matches!(limited, SendOutcome::RetryLater { rate_limited: true, after: Some(d), .. } if d == Duration::from_secs(7)),
            "{limited:?}"
        );
        assert!(matches!(classify(&http(503, "")), SendOutcome::RetryLater { rate_limited: false, after: None, .. }));
        assert!(matches!(classify(&http(500, "oops")), SendOutcome::RetryLater { rate_limited: false, .. }));
        assert_eq!(failed_code(&classify(&http(401, ""))), SendErrorCode::AuthFail);
        assert_eq!(failed_code(&classify(&http(404, ""))), SendErrorCode::ResourceNotFound);
        assert_eq!(failed_code(&classify(&http(400, "{}"))), SendErrorCode::InvalidParam);
        assert_eq!(failed_code(&classify(&http(418, ""))), SendErrorCode::SendFail);
        let none = classify(&ProviderResponse::NoResponse { reason: "connection refused".into() });
        assert!(matches!(
            none,
            SendOutcome::RetryLater { reason: FailureReason { code: SendErrorCode::RequestFail, .. }, .. }
        ));
    }

    fn creds() -> KeyPair {
        KeyPair { id: "AK123".into(), secret: Secret::new("SK456") }
    }

    fn content<'a>(text: Option<&'a str>, media: Vec<&'a str>) -> OutboundContent<'a> {
        OutboundContent {
            from: "+12066418000",
            to: "+18553569768",
            text,
            media_urls: media,
            human_agent_tag: false,
            status_callback: None,
            template: None,
        }
    }

    #[test]
    fn when_building_an_sms_should_use_jsonapi_with_digits() {
        let req = send_request(&creds(), &ProviderEndpoints::default(), &content(Some("Hello"), vec![]));
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://api.flowroute.com/v2.1/messages");
        assert_eq!(req.auth, RequestAuth::Basic { user: "AK123".into(), password: Secret::new("SK456") });
        assert_eq!(req.headers, vec![("Accept".to_owned(), "application/vnd.api+json".to_owned())]);
        assert_eq!(req.timeout, Duration::from_secs(10));
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/vnd.api+json");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"data":{"attributes":{"body":"Hello","from":"12066418000","to":"18553569768"},"type":"message"}}"#
        );
    }

    #[test]
    fn when_building_an_mms_should_flag_it_and_list_the_media() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::all_at("http://127.0.0.1:9/"),
            &content(None, vec!["https://pbx.example.com/a.png", "https://pbx.example.com/b.jpg"]),
        );
        assert_eq!(req.url, "http://127.0.0.1:9/v2.1/messages");
        let v: Value = serde_json::from_slice(&req.body.unwrap().1).unwrap();
        assert_eq!(
            v,
            json!({"data": {"type": "message", "attributes": {
                "to": "18553569768", "from": "12066418000", "is_mms": "true",
                "media_urls": ["https://pbx.example.com/a.png", "https://pbx.example.com/b.jpg"]}}})
        );
    }

    #[test]
    fn when_flowroute_accepts_should_capture_data_id() {
        // SDK README response
        let body = r#"{"data":{"links":{"self":"https://api.flowroute.com/v2.1/messages/mdr2-39cadeace66e11e7aff806cd7f24ba2d"},"type":"message","id":"mdr2-39cadeace66e11e7aff806cd7f24ba2d"}}"#;
        assert_eq!(
            classify_send(&http(202, body)),
            SendOutcome::Accepted { provider_message_id: "mdr2-39cadeace66e11e7aff806cd7f24ba2d".into() }
        );
    }

    #[test]
    fn when_2xx_has_no_id_should_fail_with_a_clear_detail() {
        let SendOutcome::Failed(r) = classify_send(&http(202, r#"{"data":{}}"#)) else { panic!("not failed") };
        assert_eq!(r.code, SendErrorCode::SendFail);
        assert_eq!(r.detail.as_deref(), Some("HTTP 202 without data.id"));
        assert!(matches!(classify_send(&http(200, "not json")), SendOutcome::Failed(_)));
    }

    #[test]
    fn when_flowroute_refuses_should_keep_its_error_text() {
        let body = r#"{"errors":[{"id":"4b3d","status":401,"title":"Unauthorized","detail":"Bad credentials"}]}"#;
        let SendOutcome::Failed(r) = classify_send(&http(401, body)) else { panic!("not failed") };
        assert_eq!(r.code, SendErrorCode::AuthFail);
        assert_eq!(r.provider_code.as_deref(), Some("4b3d"));
        assert_eq!(r.detail.as_deref(), Some("HTTP 401: Unauthorized: Bad credentials"));
        assert_common_statuses(classify_send);
    }

    #[test]
    fn untracked_ids_differ_with_the_answer() {
        let a = untracked_id("x", &Headers::from_pairs([("Date", "Mon, 01 Jan 2026 00:00:00 GMT")]), b"{}");
        let b = untracked_id("x", &Headers::from_pairs([("Date", "Mon, 01 Jan 2026 00:00:01 GMT")]), b"{}");
        assert_ne!(a, b);
        assert!(a.starts_with("x-untracked-") && a.len() == "x-untracked-".len() + 24);
    }

    #[test]
    fn numbers_keep_or_lose_their_plus_as_asked() {
        assert_eq!(digits("+1 (410) 216-1183"), "14102161183");
        assert_eq!(with_plus("14102161183"), "+14102161183");
        assert_eq!(with_plus("+14102161183"), "+14102161183");
        assert_eq!(with_plus("12345"), "12345");
    }
}
