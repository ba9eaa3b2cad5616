//! VoiceMeUp SMS/MMS send API. **UNVERIFIED against VoiceMeUp's own documentation**, which could
//! not be found (searched docs/pages for "VoiceMeUp API sms", "clients.voicemeup.com"). The
//! contract implemented is the one of the RoomKit VoiceMeUp provider and its tests
//! [code roomkit-live/roomkit src/roomkit/providers/voicemeup/sms.py, tests]:
//!
//! `POST {endpoints.voicemeup}/api/v1.1/json/queue_sms`, `application/x-www-form-urlencoded`
//! fields `username`, `auth_token` (the credentials travel in the body, no `Authorization`),
//! `source_number`, `destination_number` (digits, no `+`), `message` (left out when there is no
//! text) and `attachment` (one file URL). VoiceMeUp takes **one** attachment per message: the
//! first file goes as `attachment`, further files are appended to `message` as links so none is
//! lost. RoomKit splits texts over 1000 characters into several calls; one call is made here, the
//! text as given (longer texts are VoiceMeUp's to refuse).
//!
//! Answer: HTTP 200 with `{"response_details":{"response_status":"success"|"error",
//! "response_messages":{"message":[{"code":"queued_sms_hash","_content":"<hash>"}]}}}` (`message`
//! may also be a single object). Success → the `queued_sms_hash` is the id (a success without it is
//! accepted under a `voicemeup-untracked-…` id: VoiceMeUp queued the message). Error → the first
//! message's `code` and `_content`: codes naming auth/permission/login → Authentication Failed,
//! rate/limit → retry with the schedule pushed back, others → Failed to send. Non-2xx answers map
//! like Flowroute's (see [`crate::provider::flowroute`]).

use serde_json::Value;

use crate::credentials::KeyPair;
use crate::message::{SendErrorCode, prompts};
use crate::provider::flowroute::{SEND_TIMEOUT, by_status, digits, scalar, untracked_id};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response, reason, retry_after,
};

/// The send call for `content`.
pub fn send_request(
    credentials: &KeyPair,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    let mut message = content.text.unwrap_or_default().to_owned();
    for url in content.media_urls.iter().skip(1) {
        if !message.is_empty() {
            message.push('\n');
        }
        message.push_str(url);
    }
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("username", &credentials.id)
        .append_pair("auth_token", credentials.secret.expose())
        .append_pair("source_number", &digits(content.from))
        .append_pair("destination_number", &digits(content.to));
    if !message.is_empty() {
        form.append_pair("message", &message);
    }
    if let Some(first) = content.media_urls.first() {
        form.append_pair("attachment", first);
    }
    ProviderRequest {
        method: HttpMethod::Post,
        url: format!("{}/api/v1.1/json/queue_sms", endpoints.voicemeup.trim_end_matches('/')),
        auth: RequestAuth::None,
        headers: vec![("Accept".into(), "application/json".into())],
        body: Some(("application/x-www-form-urlencoded".into(), form.finish().into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

/// The `response_messages.message` entries as (code, content).
fn messages(details: &Value) -> Vec<(Option<String>, Option<String>)> {
    let entry = |m: &Value| (m.get("code").and_then(scalar), m.get("_content").and_then(scalar));
    match details.get("response_messages").and_then(|r| r.get("message")) {
        Some(Value::Array(items)) => items.iter().map(entry).collect(),
        Some(one @ Value::Object(_)) => vec![entry(one)],
        _ => Vec::new(),
    }
}

/// What a send response means.
pub fn classify_send(response: &ProviderResponse) -> SendOutcome {
    let (status, headers, body) = match response {
        ProviderResponse::NoResponse { reason: why } => return no_response(why),
        ProviderResponse::Http { status, headers, body } => (*status, headers, body),
    };
    let details = serde_json::from_slice::<Value>(body).ok().and_then(|v| v.get("response_details").cloned());
    let listed = details.as_ref().map(messages).unwrap_or_default();
    let first = listed.first().cloned().unwrap_or((None, None));
    if (200..300).contains(&status) {
        let state = details.as_ref().and_then(|d| d.get("response_status")).and_then(scalar).unwrap_or_default();
        if state.eq_ignore_ascii_case("error") {
            let (code, text) = first;
            let detail = Some(format!(
                "HTTP {status}: {}",
                text.clone().or_else(|| code.clone()).unwrap_or_else(|| "error".into())
            ));
            let c = code.clone().unwrap_or_default().to_ascii_lowercase();
            if c.contains("auth") || c.contains("permission") || c.contains("login") || c.contains("credential") {
                return SendOutcome::Failed(reason(
                    SendErrorCode::AuthFail,
                    prompts::AUTHENTICATION_FAILED,
                    code,
                    detail,
                ));
            }
            if c.contains("rate") || c.contains("limit") || c.contains("too_many") {
                return SendOutcome::RetryLater {
                    reason: reason(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, code, detail),
                    after: retry_after(headers),
                    rate_limited: true,
                };
            }
            return SendOutcome::Failed(reason(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, code, detail));
        }
        let hash = listed.into_iter().find(|(c, _)| c.as_deref() == Some("queued_sms_hash")).and_then(|(_, h)| h);
        return SendOutcome::Accepted {
            provider_message_id: hash.unwrap_or_else(|| untracked_id("voicemeup", headers, body)),
        };
    }
    let (code, text) = first;
    by_status(status, headers, code, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::provider::flowroute::tests::{assert_common_statuses, failed_code, http};
    use crate::secret::Secret;

    fn creds() -> KeyPair {
        KeyPair { id: "testuser".into(), secret: Secret::new("secret123") }
    }

    fn success(hash: &str) -> String {
        format!(
            r#"{{"response_details":{{"response_status":"success","response_messages":{{"message":[{{"code":"queued_sms_hash","_content":"{hash}"}}]}}}}}}"#
        )
    }

    fn error(code: &str) -> String {
        format!(
            r#"{{"response_details":{{"response_status":"error","response_messages":{{"message":{{"code":"{code}","_content":"{code} happened"}}}}}}}}"#
        )
    }

    #[test]
    fn when_building_an_sms_should_post_the_form() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::default(),
            &OutboundContent {
                from: "+15145551234",
                to: "+15145559999",
                text: Some("Hello from us"),
                media_urls: vec![],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://clients.voicemeup.com/api/v1.1/json/queue_sms");
        assert_eq!(req.auth, RequestAuth::None);
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/x-www-form-urlencoded");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "username=testuser&auth_token=secret123&source_number=15145551234&destination_number=15145559999&message=Hello+from+us"
        );
    }

    #[test]
    fn when_building_an_mms_should_attach_the_first_file_and_link_the_rest() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::all_at("http://127.0.0.1:9"),
            &OutboundContent {
                from: "+15145551234",
                to: "+15145559999",
                text: None,
                media_urls: vec!["https://a.example/1.jpg", "https://a.example/2.jpg"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.url, "http://127.0.0.1:9/api/v1.1/json/queue_sms");
        assert_eq!(
            String::from_utf8(req.body.unwrap().1).unwrap(),
            "username=testuser&auth_token=secret123&source_number=15145551234&destination_number=15145559999&message=https%3A%2F%2Fa.example%2F2.jpg&attachment=https%3A%2F%2Fa.example%2F1.jpg"
        );
        let single = send_request(
            &creds(),
            &ProviderEndpoints::default(),
            &OutboundContent {
                from: "+15145551234",
                to: "+15145559999",
                text: None,
                media_urls: vec!["https://a.example/1.jpg"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        let body = String::from_utf8(single.body.unwrap().1).unwrap();
        assert!(!body.contains("message=") && body.ends_with("&attachment=https%3A%2F%2Fa.example%2F1.jpg"));
    }

    #[test]
    fn when_voicemeup_answers_should_classify_it() {
        assert_eq!(
            classify_send(&http(200, &success("hash-42"))),
            SendOutcome::Accepted { provider_message_id: "hash-42".into() }
        );
        let SendOutcome::Accepted { provider_message_id } =
            classify_send(&http(200, r#"{"response_details":{"response_status":"success"}}"#))
        else {
            panic!()
        };
        assert!(provider_message_id.starts_with("voicemeup-untracked-"));
        let SendOutcome::Failed(r) = classify_send(&http(200, &error("permission_refused"))) else { panic!() };
        assert_eq!(r.code, SendErrorCode::AuthFail);
        assert_eq!(r.provider_code.as_deref(), Some("permission_refused"));
        assert_eq!(r.detail.as_deref(), Some("HTTP 200: permission_refused happened"));
        assert_eq!(failed_code(&classify_send(&http(200, &error("duplicate_entry")))), SendErrorCode::SendFail);
        assert!(matches!(
            classify_send(&http(200, &error("rate_limit_exceeded"))),
            SendOutcome::RetryLater { rate_limited: true, .. }
        ));
        assert_common_statuses(classify_send);
    }
}
