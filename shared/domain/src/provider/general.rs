//! The General SMS API send contract (seed 000 L1753-1976, seed 001 §1.4.5).
//!
//! Request: `POST {api_send_url}`, `Authorization: Bearer {api_key}`, JSON
//! `{"from","to","text"?,"media_urls"?}` (keys without a value are left out, as in the seed's SMS
//! and MMS examples). Success: HTTP 200 with `data.id`. Failures map to the seed's prompts:
//!
//! | provider answer | outcome | prompt / `send_error` |
//! |---|---|---|
//! | no HTTP response | retry | Failed to send / `request_fail` |
//! | 2xx with `data.id` | accepted | |
//! | 2xx without `data.id` | failed | Failed to send / `send_fail` |
//! | code 10001 | failed | Invalid Phone Number |
//! | code 10002 | failed | Invalid Parameter |
//! | code 10003 | failed | unsupported media prompt |
//! | code 10004, 10005 | failed | Authentication Failed |
//! | code 10006 or HTTP 429 | retry, channel schedule pushed back | Too frequent operations... |
//! | code 10007 | retry | Recipient Platform Service Unavailable |
//! | code 10008 | failed | file size prompt |
//! | HTTP 401 | failed | Authentication Failed |
//! | HTTP 403 | failed | Recipient Platform Service Unavailable |
//! | HTTP 404 | failed | Failed to send / `resource_not_found` |
//! | HTTP 408, 5xx | retry | Failed to send / `send_fail` |
//! | anything else | failed | Failed to send, with the provider's title and detail |
//!
//! A known error code wins over the HTTP status (the seed lists codes and statuses side by side
//! without precedence; the code is the more specific statement).

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::channel::GeneralCredentials;
use crate::message::{SendErrorCode, prompts};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome, no_response, reason,
    retry_after,
};

/// How long a send call may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds the send call.
pub fn send_request(credentials: &GeneralCredentials, content: &OutboundContent<'_>) -> ProviderRequest {
    let mut body = Map::new();
    body.insert("from".into(), Value::from(content.from));
    body.insert("to".into(), Value::from(content.to));
    if let Some(text) = content.text {
        body.insert("text".into(), Value::from(text));
    }
    if !content.media_urls.is_empty() {
        body.insert("media_urls".into(), json!(content.media_urls));
    }
    ProviderRequest {
        method: HttpMethod::Post,
        url: credentials.send_url.as_str().to_owned(),
        auth: RequestAuth::Bearer(credentials.api_key.clone()),
        headers: Vec::new(),
        body: Some(("application/json".into(), Value::Object(body).to_string().into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

/// The first error of a `{"errors":[{"code","title","detail"}]}` body, if it has that shape.
fn first_error(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let first = v.get("errors")?.as_array()?.first()?;
    let code = match first.get("code") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let title = first.get("title").and_then(Value::as_str);
    let detail = first.get("detail").and_then(Value::as_str);
    let text = match (title, detail) {
        (Some(t), Some(d)) => Some(format!("{t}: {d}")),
        (Some(t), None) => Some(t.to_owned()),
        (None, Some(d)) => Some(d.to_owned()),
        (None, None) => None,
    };
    Some((code, text))
}

/// Classifies the answer to a send call.
pub fn classify_send(response: &ProviderResponse) -> SendOutcome {
    let (status, headers, body) = match response {
        ProviderResponse::NoResponse { reason: why } => return no_response(why),
        ProviderResponse::Http { status, headers, body } => (*status, headers, body),
    };

    if (200..300).contains(&status) {
        let id =
            serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("data")?.get("id").cloned()).and_then(|id| {
                match id {
                    Value::String(s) if !s.is_empty() => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }
            });
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

    let (provider_code, provider_text) = first_error(body).unwrap_or((None, None));
    let detail = provider_text.clone().or_else(|| Some(format!("HTTP {status}")));
    let failed = |code, prompt: &str| SendOutcome::Failed(reason(code, prompt, provider_code.clone(), detail.clone()));
    let retry = |code, prompt: &str, rate_limited| SendOutcome::RetryLater {
        reason: reason(code, prompt, provider_code.clone(), detail.clone()),
        after: retry_after(headers),
        rate_limited,
    };

    match provider_code.as_deref() {
        Some("10001") => return failed(SendErrorCode::InvalidPhoneNumber, prompts::INVALID_PHONE_NUMBER),
        Some("10002") => return failed(SendErrorCode::InvalidParam, prompts::INVALID_PARAMETER),
        Some("10003") => return failed(SendErrorCode::UnsupportMediaType, prompts::UNSUPPORTED_MEDIA),
        Some("10004" | "10005") => return failed(SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
        Some("10006") => return retry(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, true),
        Some("10007") => return retry(SendErrorCode::ServiceUnavailable, prompts::SERVICE_UNAVAILABLE, false),
        Some("10008") => return failed(SendErrorCode::ExceedsSizeLimit, prompts::FILE_TOO_LARGE),
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
    use crate::channel::{ProviderUrl, UrlPolicy};
    use crate::message::FailureReason;
    use crate::secret::Secret;
    use crate::webhook::Headers;

    fn creds() -> GeneralCredentials {
        GeneralCredentials {
            api_key: Secret::new("myAPIKey456"),
            api_secret: None,
            verify_url: None,
            send_url: ProviderUrl::parse("https://service-provider.example.com/sendmessage", UrlPolicy::HttpsOnly)
                .unwrap(),
        }
    }

    fn http(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse::Http { status, headers: Headers::default(), body: body.as_bytes().to_vec() }
    }

    fn errors(code: &str) -> String {
        format!(r#"{{"errors":[{{"code":"{code}","title":"T","detail":"D"}}]}}"#)
    }

    #[test]
    fn when_building_an_sms_should_match_the_seed_example() {
        // seed 000 L1816-1830
        let req = send_request(
            &creds(),
            &OutboundContent {
                from: "+8618012121222",
                to: "+8618012121223",
                text: Some("Hello, World!"),
                media_urls: vec![],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://service-provider.example.com/sendmessage");
        assert_eq!(req.auth, RequestAuth::Bearer(Secret::new("myAPIKey456")));
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/json");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v, json!({"from": "+8618012121222", "text": "Hello, World!", "to": "+8618012121223"}));
    }

    #[test]
    fn when_building_an_mms_should_leave_text_out() {
        // seed 000 L1835-1847
        let req = send_request(
            &creds(),
            &OutboundContent {
                from: "+8618012121222",
                to: "+8618012121223",
                text: None,
                media_urls: vec!["https://pbx.example.com/api/chat/70dee7e2f95041ca890f222ace06c2dc"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        let v: Value = serde_json::from_slice(&req.body.unwrap().1).unwrap();
        assert_eq!(v.get("text"), None);
        assert_eq!(v["media_urls"], json!(["https://pbx.example.com/api/chat/70dee7e2f95041ca890f222ace06c2dc"]));
    }

    #[test]
    fn when_provider_accepts_should_capture_data_id() {
        let out = classify_send(&http(200, r#"{"data":{"id":"b301ed3f-1490-491f-995f-6e64e69674d4"}}"#));
        assert_eq!(out, SendOutcome::Accepted { provider_message_id: "b301ed3f-1490-491f-995f-6e64e69674d4".into() });
    }

    fn failed_prompt(out: SendOutcome) -> (SendErrorCode, String) {
        match out {
            SendOutcome::Failed(r) => (r.code, r.prompt),
            other => panic!("expected a final failure, got {other:?}"),
        }
    }

    #[test]
    fn when_provider_fails_should_map_every_seed_case_to_its_prompt() {
        let cases: Vec<(ProviderResponse, SendErrorCode, &str)> = vec![
            (http(200, r#"{"data":{}}"#), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
            (http(200, "not json"), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
            (http(404, ""), SendErrorCode::ResourceNotFound, prompts::FAILED_TO_SEND),
            (http(401, ""), SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
            (http(403, ""), SendErrorCode::ServiceUnavailable, prompts::SERVICE_UNAVAILABLE),
            (http(400, &errors("10001")), SendErrorCode::InvalidPhoneNumber, prompts::INVALID_PHONE_NUMBER),
            (http(400, &errors("10002")), SendErrorCode::InvalidParam, prompts::INVALID_PARAMETER),
            (http(400, &errors("10003")), SendErrorCode::UnsupportMediaType, prompts::UNSUPPORTED_MEDIA),
            (http(401, &errors("10004")), SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
            (http(403, &errors("10005")), SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
            (http(400, &errors("10008")), SendErrorCode::ExceedsSizeLimit, prompts::FILE_TOO_LARGE),
            (http(400, &errors("99999")), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
            (http(422, "<html>"), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
        ];
        for (response, code, prompt) in cases {
            let (got_code, got_prompt) = failed_prompt(classify_send(&response));
            assert_eq!((got_code, got_prompt.as_str()), (code, prompt), "{response:?}");
        }
    }

    #[test]
    fn when_provider_error_carries_text_should_keep_it_as_detail() {
        let SendOutcome::Failed(r) = classify_send(&http(400, &errors("10001"))) else { panic!("not failed") };
        assert_eq!(r.provider_code.as_deref(), Some("10001"));
        assert_eq!(r.detail.as_deref(), Some("T: D"));
        // numeric codes are accepted too
        let numeric = classify_send(&http(400, r#"{"errors":[{"code":10002}]}"#));
        assert_eq!(failed_prompt(numeric).0, SendErrorCode::InvalidParam);
    }

    #[test]
    fn when_failure_is_transient_should_retry_and_flag_rate_limits() {
        let mut headers = Headers::from_pairs([("Retry-After", "7")]);
        let limited = classify_send(&ProviderResponse::Http { status: 429, headers: headers.clone(), body: vec![] });
        assert!(
            matches!(limited, SendOutcome::RetryLater { rate_limited: true, after: Some(d), .. } if d == Duration::from_secs(7))
        );
        headers = Headers::default();
        let code_10006 =
            classify_send(&ProviderResponse::Http { status: 400, headers, body: errors("10006").into_bytes() });
        assert!(matches!(code_10006, SendOutcome::RetryLater { rate_limited: true, .. }));
        assert!(matches!(classify_send(&http(503, "")), SendOutcome::RetryLater { rate_limited: false, .. }));
        assert!(matches!(
            classify_send(&http(400, &errors("10007"))),
            SendOutcome::RetryLater { rate_limited: false, .. }
        ));
        let none = classify_send(&ProviderResponse::NoResponse { reason: "connection refused".into() });
        assert!(matches!(
            none,
            SendOutcome::RetryLater { reason: FailureReason { code: SendErrorCode::RequestFail, .. }, .. }
        ));
    }
}
