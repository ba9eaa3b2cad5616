//! Twilio send API: the request we build and what its responses mean.
//! Contract: ../shared/research/provider-contracts.md §1.
//!
//! Request: `POST {twilio}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic
//! `AccountSid:AuthToken`, `application/x-www-form-urlencoded` with `To`, `From`, `Body` and one
//! `MediaUrl` per attachment (twilio-python `rest/api/v2010/account/message/__init__.py`).
//! Success: HTTP 201 with the message's `sid` (`SM…` / `MM…`). Errors: `{"code","message",
//! "more_info","status"}` (twilio-python `base/version.py`), or RFC 9457 problem JSON
//! (`{"type","title","status","code","detail"}`) from newer APIs.
//!
//! | Twilio answer | outcome | prompt / `send_error` |
//! |---|---|---|
//! | no HTTP response | retry | Failed to send / `request_fail` |
//! | 2xx with `sid` | accepted | |
//! | 2xx without `sid` | failed (we could not track the message) | Failed to send / `send_fail` |
//! | HTTP 429 or code 20429 | retry, channel schedule pushed back, `Retry-After` honoured | Too frequent operations... |
//! | code 20003, HTTP 401 | failed | Authentication Failed |
//! | code 21211, 21614 (invalid / non-mobile `To`) | failed | Invalid Phone Number |
//! | code 21602, 21619 (no body or media) | failed | Invalid Parameter |
//! | HTTP 403 | failed | Recipient Platform Service Unavailable |
//! | HTTP 404 | failed | Failed to send / `resource_not_found` |
//! | HTTP 408, 5xx | retry | Failed to send / `send_fail` |
//! | anything else | failed | Failed to send, with Twilio's code and message |
//!
//! "An API Request that receives an error 429 response is never processed and is always safe to
//! retry" (https://www.twilio.com/docs/errors/20429).

use std::time::Duration;

use serde_json::Value;

use crate::credentials::KeyPair;
use crate::message::{SendErrorCode, prompts};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response, reason, retry_after,
};

/// How long a send call may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The send call for `content`.
pub fn send_request(
    credentials: &KeyPair,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("To", content.to);
    form.append_pair("From", content.from);
    if let Some(text) = content.text {
        form.append_pair("Body", text);
    }
    for url in &content.media_urls {
        form.append_pair("MediaUrl", url);
    }
    if let Some(url) = content.status_callback {
        form.append_pair("StatusCallback", url);
    }
    ProviderRequest {
        method: HttpMethod::Post,
        url: format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            endpoints.twilio.trim_end_matches('/'),
            form_urlencoded::byte_serialize(credentials.id.as_bytes()).collect::<String>()
        ),
        auth: RequestAuth::Basic { user: credentials.id.clone(), password: credentials.secret.clone() },
        headers: vec![("Accept".into(), "application/json".into())],
        body: Some(("application/x-www-form-urlencoded".into(), form.finish().into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

/// Twilio's error code and text from a legacy (`code`, `message`) or problem-JSON (`code`,
/// `detail`, `title`) body.
fn twilio_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return (None, None) };
    let code = match v.get("code") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let text = ["message", "detail", "title"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .map(str::to_owned);
    (code, text)
}

/// What a send response means.
pub fn classify_send(response: &ProviderResponse) -> SendOutcome {
    let (status, headers, body) = match response {
        ProviderResponse::NoResponse { reason: why } => return no_response(why),
        ProviderResponse::Http { status, headers, body } => (*status, headers, body),
    };

    if (200..300).contains(&status) {
        let sid = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("sid")?.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty());
        // Without the sid no status callback can be matched to the message: a final failure
        // with a clear detail (a retry could send the message twice).
        return match sid {
            Some(provider_message_id) => SendOutcome::Accepted { provider_message_id },
            None => SendOutcome::Failed(reason(
                SendErrorCode::SendFail,
                prompts::FAILED_TO_SEND,
                None,
                Some(format!("HTTP {status} without a message sid")),
            )),
        };
    }

    let (provider_code, text) = twilio_error(body);
    let detail = text.or_else(|| Some(format!("HTTP {status}")));
    let failed = |code, prompt: &str| SendOutcome::Failed(reason(code, prompt, provider_code.clone(), detail.clone()));
    let retry = |code, prompt: &str, rate_limited| SendOutcome::RetryLater {
        reason: reason(code, prompt, provider_code.clone(), detail.clone()),
        after: retry_after(headers),
        rate_limited,
    };

    match provider_code.as_deref() {
        Some("20429") => return retry(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, true),
        Some("20003") => return failed(SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
        Some("21211" | "21614") => return failed(SendErrorCode::InvalidPhoneNumber, prompts::INVALID_PHONE_NUMBER),
        Some("21602" | "21619") => return failed(SendErrorCode::InvalidParam, prompts::INVALID_PARAMETER),
        _ => {}
    }
    match status {
        401 => failed(SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
        403 => failed(SendErrorCode::ServiceUnavailable, prompts::SERVICE_UNAVAILABLE),
        404 => failed(SendErrorCode::ResourceNotFound, prompts::FAILED_TO_SEND),
        429 => retry(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, true),
        408 | 500..=599 => retry(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, false),
        _ => failed(SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::message::FailureReason;
    use crate::secret::Secret;
    use crate::webhook::Headers;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    fn creds() -> KeyPair {
        KeyPair { id: SID.into(), secret: Secret::new("auth-token-1") }
    }

    fn http(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse::Http { status, headers: Headers::default(), body: body.as_bytes().to_vec() }
    }

    fn error(code: u32, status: u16) -> String {
        format!(
            r#"{{"code": {code}, "message": "M", "more_info": "https://www.twilio.com/docs/errors/{code}", "status": {status}}}"#
        )
    }

    fn failed(out: SendOutcome) -> FailureReason {
        match out {
            SendOutcome::Failed(r) => r,
            other => panic!("expected a final failure, got {other:?}"),
        }
    }

    #[test]
    fn request_is_a_form_post_with_basic_auth() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::default(),
            &OutboundContent {
                from: "+14102161183",
                to: "+14155550123",
                text: Some("Hi & welcome, 100% ready?"),
                media_urls: vec!["https://pbx.example.com/a.png?x=1&y=2", "https://pbx.example.com/b.pdf"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"));
        assert_eq!(req.auth, RequestAuth::Basic { user: SID.into(), password: Secret::new("auth-token-1") });
        assert_eq!(req.headers, vec![("Accept".to_owned(), "application/json".to_owned())]);
        assert_eq!(req.timeout, Duration::from_secs(10));
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/x-www-form-urlencoded");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "To=%2B14155550123&From=%2B14102161183&Body=Hi+%26+welcome%2C+100%25+ready%3F\
             &MediaUrl=https%3A%2F%2Fpbx.example.com%2Fa.png%3Fx%3D1%26y%3D2&MediaUrl=https%3A%2F%2Fpbx.example.com%2Fb.pdf"
        );
    }

    #[test]
    fn request_uses_the_configured_endpoint_and_leaves_out_an_absent_body() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::all_at("http://127.0.0.1:9000/"),
            &OutboundContent {
                from: "+14102161183",
                to: "+14155550123",
                text: None,
                media_urls: vec![],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.url, format!("http://127.0.0.1:9000/2010-04-01/Accounts/{SID}/Messages.json"));
        assert_eq!(req.body.unwrap().1, b"To=%2B14155550123&From=%2B14102161183".to_vec());
    }

    #[test]
    fn created_captures_the_sid() {
        let body = r#"{"account_sid": "AC0123456789abcdef0123456789abcdef", "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "status": "queued"}"#;
        assert_eq!(
            classify_send(&http(201, body)),
            SendOutcome::Accepted { provider_message_id: "SM1f0e8ae6ade43cb3c0ce4525424e404f".into() }
        );
        let r = failed(classify_send(&http(201, r#"{"status": "queued"}"#)));
        assert_eq!(r.code, SendErrorCode::SendFail);
        assert!(r.detail.unwrap().contains("sid"));
        assert_eq!(failed(classify_send(&http(200, "not json"))).code, SendErrorCode::SendFail);
    }

    #[test]
    fn rate_limits_retry_with_retry_after() {
        let limited = ProviderResponse::Http {
            status: 429,
            headers: Headers::from_pairs([("Retry-After", "12")]),
            body: error(20429, 429).into_bytes(),
        };
        match classify_send(&limited) {
            SendOutcome::RetryLater { reason, after, rate_limited } => {
                assert!(rate_limited);
                assert_eq!(after, Some(Duration::from_secs(12)));
                assert_eq!(reason.code, SendErrorCode::TooManyRequest);
                assert_eq!(reason.prompt, prompts::TOO_FREQUENT);
                assert_eq!(reason.provider_code.as_deref(), Some("20429"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_send(&http(429, "")),
            SendOutcome::RetryLater { rate_limited: true, after: None, .. }
        ));
        assert!(matches!(
            classify_send(&http(400, &error(20429, 400))),
            SendOutcome::RetryLater { rate_limited: true, .. }
        ));
    }

    #[test]
    fn server_errors_and_no_response_retry() {
        assert!(matches!(classify_send(&http(503, "")), SendOutcome::RetryLater { rate_limited: false, .. }));
        assert!(matches!(
            classify_send(&http(500, &error(20500, 500))),
            SendOutcome::RetryLater { rate_limited: false, .. }
        ));
        match classify_send(&ProviderResponse::NoResponse { reason: "timeout".into() }) {
            SendOutcome::RetryLater { reason, rate_limited: false, .. } => {
                assert_eq!(reason.code, SendErrorCode::RequestFail);
                assert_eq!(reason.detail.as_deref(), Some("timeout"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_errors_fail_with_twilio_code_and_message() {
        let r = failed(classify_send(&http(400, &error(21211, 400))));
        assert_eq!((r.code, r.prompt.as_str()), (SendErrorCode::InvalidPhoneNumber, prompts::INVALID_PHONE_NUMBER));
        assert_eq!(r.provider_code.as_deref(), Some("21211"));
        assert_eq!(r.detail.as_deref(), Some("M"));
        let cases = [
            (http(400, &error(21614, 400)), SendErrorCode::InvalidPhoneNumber),
            (http(400, &error(21602, 400)), SendErrorCode::InvalidParam),
            (http(401, &error(20003, 401)), SendErrorCode::AuthFail),
            (http(401, ""), SendErrorCode::AuthFail),
            (http(403, ""), SendErrorCode::ServiceUnavailable),
            (http(404, &error(20404, 404)), SendErrorCode::ResourceNotFound),
            (http(400, &error(21610, 400)), SendErrorCode::SendFail),
            (http(422, "<html>"), SendErrorCode::SendFail),
        ];
        for (response, code) in cases {
            assert_eq!(failed(classify_send(&response)).code, code, "{response:?}");
        }
        // RFC 9457 problem JSON
        let problem = r#"{"type": "https://www.twilio.com/docs/errors/21211", "title": "Invalid To", "status": 400, "code": 21211, "detail": "The 'To' number is not valid"}"#;
        let r = failed(classify_send(&http(400, problem)));
        assert_eq!(r.code, SendErrorCode::InvalidPhoneNumber);
        assert_eq!(r.detail.as_deref(), Some("The 'To' number is not valid"));
        assert_eq!(failed(classify_send(&http(418, ""))).detail.as_deref(), Some("HTTP 418"));
    }
}
