//! Telnyx send API: the request we build and what its responses mean.
//! Contract: ../shared/research/provider-contracts.md §3.
//!
//! Request: `POST {telnyx}/v2/messages`, `Authorization: Bearer <API key>`, JSON
//! `{"from","to","text"?,"media_urls"?}` (https://developers.telnyx.com/docs/messaging/messages/send-message).
//! Success: `{"data":{"record_type":"message","id":"<uuid>",…}}`; the id is `data.id`, the same
//! id the `message.sent` / `message.finalized` webhooks carry in `data.payload.id`. Errors:
//! `{"errors":[{"code","title","detail","source"?{"pointer"}}]}`
//! (https://developers.telnyx.com/development/api-fundamentals/api-errors). Rate limiting: HTTP
//! 429, code `10011`, with `x-ratelimit-reset` = seconds until the window resets
//! (…/api-fundamentals/reliability/rate-limiting).
//!
//! | Telnyx answer | outcome | prompt / `send_error` |
//! |---|---|---|
//! | no HTTP response | retry | Failed to send / `request_fail` |
//! | 2xx with `data.id` | accepted | |
//! | 2xx without `data.id` | failed (we could not track the message) | Failed to send / `send_fail` |
//! | HTTP 429 or code 10011 | retry, channel schedule pushed back, after `Retry-After` or `x-ratelimit-reset` | Too frequent operations... |
//! | HTTP 401 | failed | Authentication Failed |
//! | HTTP 403 | failed | Recipient Platform Service Unavailable |
//! | HTTP 404 | failed | Failed to send / `resource_not_found` |
//! | 4xx whose error points at `/to` | failed | Invalid Phone Number |
//! | 4xx whose error points at another field | failed | Invalid Parameter |
//! | HTTP 408, 5xx | retry | Failed to send / `send_fail` |
//! | anything else | failed | Failed to send, with Telnyx's code, title and detail |

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::credentials::TelnyxCredentials;
use crate::message::{SendErrorCode, prompts};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response, reason, retry_after,
};
use crate::webhook::Headers;

/// How long a send call may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Telnyx's "Too many requests" error code.
pub const RATE_LIMIT_CODE: &str = "10011";

/// The send call for `content`.
pub fn send_request(
    credentials: &TelnyxCredentials,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    // Keys inserted in alphabetical order, so the bytes are the same whether or not serde_json
    // preserves insertion order.
    let mut body = Map::new();
    body.insert("from".into(), Value::from(content.from));
    if !content.media_urls.is_empty() {
        body.insert("media_urls".into(), json!(content.media_urls));
    }
    if let Some(text) = content.text {
        body.insert("text".into(), Value::from(text));
    }
    body.insert("to".into(), Value::from(content.to));
    if let Some(url) = content.status_callback {
        body.insert("webhook_url".into(), Value::from(url));
    }
    ProviderRequest {
        method: HttpMethod::Post,
        url: format!("{}/v2/messages", endpoints.telnyx.trim_end_matches('/')),
        auth: RequestAuth::Bearer(credentials.api_key.clone()),
        headers: vec![("Accept".into(), "application/json".into())],
        body: Some(("application/json".into(), Value::Object(body).to_string().into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

/// The first error of a `{"errors":[…]}` body: code, "title: detail", and `source.pointer`.
struct TelnyxError {
    code: Option<String>,
    text: Option<String>,
    pointer: Option<String>,
}

fn first_error(body: &[u8]) -> Option<TelnyxError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let first = v.get("errors")?.as_array()?.first()?;
    let code = match first.get("code") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let title = first.get("title").and_then(Value::as_str).filter(|s| !s.is_empty());
    let detail = first.get("detail").and_then(Value::as_str).filter(|s| !s.is_empty());
    let text = match (title, detail) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (Some(t), None) => Some(t.to_owned()),
        (None, Some(d)) => Some(d.to_owned()),
        (None, None) => None,
    };
    let pointer = first.get("source").and_then(|s| s.get("pointer")).and_then(Value::as_str).map(str::to_owned);
    Some(TelnyxError { code, text, pointer })
}

/// `Retry-After`, else `x-ratelimit-reset` (seconds until the rate-limit window resets).
fn wait_hint(headers: &Headers) -> Option<Duration> {
    retry_after(headers).or_else(|| {
        headers.get("x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
    })
}

/// What a send response means.
pub fn classify_send(response: &ProviderResponse) -> SendOutcome {
    let (status, headers, body) = match response {
        ProviderResponse::NoResponse { reason: why } => return no_response(why),
        ProviderResponse::Http { status, headers, body } => (*status, headers, body),
    };

    if (200..300).contains(&status) {
        let id = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v.get("data")?.get("id")?.as_str().map(str::to_owned))
            .filter(|s| !s.is_empty());
        // Without the id no delivery webhook can be matched to the message: a final failure
        // with a clear detail (a retry could send the message twice).
        return match id {
            Some(provider_message_id) => SendOutcome::Accepted { provider_message_id },
            None => SendOutcome::Failed(reason(
                SendErrorCode::SendFail,
                prompts::FAILED_TO_SEND,
                None,
                Some(format!("HTTP {status} without data.id")),
            )),
        };
    }

    let error = first_error(body).unwrap_or(TelnyxError { code: None, text: None, pointer: None });
    let provider_code = error.code.clone();
    let detail = error.text.clone().or_else(|| Some(format!("HTTP {status}")));
    let failed = |code, prompt: &str| SendOutcome::Failed(reason(code, prompt, provider_code.clone(), detail.clone()));

    if status == 429 || provider_code.as_deref() == Some(RATE_LIMIT_CODE) {
        return SendOutcome::RetryLater {
            reason: reason(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, provider_code.clone(), detail.clone()),
            after: wait_hint(headers),
            rate_limited: true,
        };
    }
    match status {
        408 | 500..=599 => SendOutcome::RetryLater {
            reason: reason(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, provider_code.clone(), detail.clone()),
            after: retry_after(headers),
            rate_limited: false,
        },
        401 => failed(SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
        403 => failed(SendErrorCode::ServiceUnavailable, prompts::SERVICE_UNAVAILABLE),
        404 => failed(SendErrorCode::ResourceNotFound, prompts::FAILED_TO_SEND),
        _ => match error.pointer.as_deref() {
            Some("/to") => failed(SendErrorCode::InvalidPhoneNumber, prompts::INVALID_PHONE_NUMBER),
            Some(_) => failed(SendErrorCode::InvalidParam, prompts::INVALID_PARAMETER),
            None => failed(SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::message::FailureReason;
    use crate::secret::Secret;

    fn creds() -> TelnyxCredentials {
        TelnyxCredentials {
            api_key: Secret::new("KEY01234567890ABCDEF"),
            public_key: "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=".into(),
        }
    }

    fn http(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse::Http { status, headers: Headers::default(), body: body.as_bytes().to_vec() }
    }

    fn failed(out: SendOutcome) -> FailureReason {
        match out {
            SendOutcome::Failed(r) => r,
            other => panic!("expected a final failure, got {other:?}"),
        }
    }

    #[test]
    fn request_is_a_bearer_json_post() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::default(),
            &OutboundContent {
                from: "+18445550001",
                to: "+18665550001",
                text: Some("Hello, World!"),
                media_urls: vec!["https://pbx.example.com/a.png"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://api.telnyx.com/v2/messages");
        assert_eq!(req.auth, RequestAuth::Bearer(Secret::new("KEY01234567890ABCDEF")));
        assert_eq!(req.headers, vec![("Accept".to_owned(), "application/json".to_owned())]);
        assert_eq!(req.timeout, Duration::from_secs(10));
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/json");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"from":"+18445550001","media_urls":["https://pbx.example.com/a.png"],"text":"Hello, World!","to":"+18665550001"}"#
        );
    }

    #[test]
    fn request_uses_the_configured_endpoint_and_leaves_out_absent_fields() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::all_at("http://127.0.0.1:9000"),
            &OutboundContent {
                from: "+18445550001",
                to: "+18665550001",
                text: Some("Hi"),
                media_urls: vec![],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.url, "http://127.0.0.1:9000/v2/messages");
        assert_eq!(req.body.unwrap().1, br#"{"from":"+18445550001","text":"Hi","to":"+18665550001"}"#.to_vec());
    }

    #[test]
    fn success_captures_data_id() {
        let body = r#"{"data":{"record_type":"message","id":"40385f64-5717-4562-b3fc-2c963f66afa6","direction":"outbound","to":[{"phone_number":"+18665550001","status":"queued"}]}}"#;
        assert_eq!(
            classify_send(&http(200, body)),
            SendOutcome::Accepted { provider_message_id: "40385f64-5717-4562-b3fc-2c963f66afa6".into() }
        );
        let r = failed(classify_send(&http(200, r#"{"data":{}}"#)));
        assert_eq!(r.code, SendErrorCode::SendFail);
        assert_eq!(r.detail.as_deref(), Some("HTTP 200 without data.id"));
    }

    #[test]
    fn rate_limits_retry_after_the_reset() {
        let body = r#"{"errors":[{"code":"10011","title":"Too many requests","detail":"You have exceeded the maximum number of allowed requests."}]}"#;
        let with = |pairs: &[(&str, &str)]| ProviderResponse::Http {
            status: 429,
            headers: Headers::from_pairs(pairs.iter().copied()),
            body: body.as_bytes().to_vec(),
        };
        match classify_send(&with(&[
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "4"),
        ])) {
            SendOutcome::RetryLater { reason, after, rate_limited } => {
                assert!(rate_limited);
                assert_eq!(after, Some(Duration::from_secs(4)));
                assert_eq!(reason.code, SendErrorCode::TooManyRequest);
                assert_eq!(reason.provider_code.as_deref(), Some("10011"));
                assert_eq!(
                    reason.detail.as_deref(),
                    Some("Too many requests: You have exceeded the maximum number of allowed requests.")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_send(&with(&[("Retry-After", "9"), ("x-ratelimit-reset", "4")])),
            SendOutcome::RetryLater { after: Some(d), .. } if d == Duration::from_secs(9)
        ));
        assert!(matches!(
            classify_send(&http(429, "")),
            SendOutcome::RetryLater { rate_limited: true, after: None, .. }
        ));
    }

    #[test]
    fn server_errors_and_no_response_retry() {
        assert!(matches!(classify_send(&http(502, "")), SendOutcome::RetryLater { rate_limited: false, .. }));
        assert!(matches!(classify_send(&http(408, "")), SendOutcome::RetryLater { rate_limited: false, .. }));
        match classify_send(&ProviderResponse::NoResponse { reason: "connection refused".into() }) {
            SendOutcome::RetryLater { reason, rate_limited: false, .. } => {
                assert_eq!(reason.code, SendErrorCode::RequestFail)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn client_errors_fail_with_telnyx_code_and_text() {
        let to = r#"{"errors":[{"code":"40310","title":"Invalid 'to' address","detail":"The 'to' address is invalid.","source":{"pointer":"/to"}}]}"#;
        let r = failed(classify_send(&http(400, to)));
        assert_eq!((r.code, r.prompt.as_str()), (SendErrorCode::InvalidPhoneNumber, prompts::INVALID_PHONE_NUMBER));
        assert_eq!(r.provider_code.as_deref(), Some("40310"));
        assert_eq!(r.detail.as_deref(), Some("Invalid 'to' address: The 'to' address is invalid."));
        let text = r#"{"errors":[{"code":"10015","title":"Bad Request","source":{"pointer":"/text"}}]}"#;
        assert_eq!(failed(classify_send(&http(422, text))).code, SendErrorCode::InvalidParam);
        let cases = [
            (http(401, r#"{"errors":[{"code":"10009","title":"Authentication failed"}]}"#), SendErrorCode::AuthFail),
            (http(403, ""), SendErrorCode::ServiceUnavailable),
            (http(404, ""), SendErrorCode::ResourceNotFound),
            (http(400, r#"{"errors":[{"code":"40002","title":"Blocked as spam"}]}"#), SendErrorCode::SendFail),
            (http(400, "<html>"), SendErrorCode::SendFail),
        ];
        for (response, code) in cases {
            assert_eq!(failed(classify_send(&response)).code, code, "{response:?}");
        }
        assert_eq!(failed(classify_send(&http(400, ""))).detail.as_deref(), Some("HTTP 400"));
    }
}
