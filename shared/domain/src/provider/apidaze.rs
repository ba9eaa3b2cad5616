//! Apidaze SMS send API.
//!
//! Confirmed in Apidaze's own SDKs [code apidaze/sdk-node lib/rest/Messages.js, Http.js;
//! apidaze/sdk-python apidaze/messages, apidaze/http]: `POST {base}/{api_key}/sms/send?api_secret={api_secret}`,
//! `Content-Type: application/x-www-form-urlencoded`, fields `from`, `to`, `body`; numbers as
//! digits with the country code and no `+` (`14125423968`). The credentials travel in the URL
//! (path and query), so the request carries no `Authorization`. The SDKs use
//! `https://api4.apidaze.io`; the URL here is built on `endpoints.apidaze`.
//!
//! **Files (UNVERIFIED).** The documented SMS call has no media parameter. A file therefore goes
//! out as its link in `body`, after the text; and because Apidaze requires a file to be
//! accompanied by text (seed 001 L4465-4476, the channel's `accompanying_msg`), a file sent
//! without text carries the channel's accompanying text instead: `body = "{text or
//! accompanying_text}\n{url}\n{url}…"`.
//!
//! **Answer (UNVERIFIED).** The SDK tests show `{"success": true}` with 200 and
//! `{"success": false}` with 500, no id. The id is read from `id`, `message_id`, `uuid`,
//! `messageId`, `data.id` when present; otherwise a 2xx that does not say `success: false` /
//! carry an `error` is **accepted** under an `apidaze-untracked-…` id (Apidaze sends no known
//! delivery reports; failing a message it took would make the agent send it twice). Other
//! answers map like Flowroute's (see [`crate::provider::flowroute`]).

use serde_json::Value;

use crate::credentials::KeyPair;
use crate::message::{SendErrorCode, prompts};
use crate::provider::flowroute::{SEND_TIMEOUT, by_status, digits, id_at, scalar, untracked_id};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response, path_segment, reason,
};

/// The send call for `content`.
pub fn send_request(
    credentials: &KeyPair,
    accompanying_text: &str,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    let text = content.text.filter(|t| !t.trim().is_empty());
    let mut body = match (text, content.media_urls.is_empty()) {
        (Some(t), _) => t.to_owned(),
        (None, false) => accompanying_text.to_owned(),
        (None, true) => String::new(),
    };
    for url in &content.media_urls {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(url);
    }
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("from", &digits(content.from))
        .append_pair("to", &digits(content.to))
        .append_pair("body", &body)
        .finish();
    let query =
        form_urlencoded::Serializer::new(String::new()).append_pair("api_secret", credentials.secret.expose()).finish();
    ProviderRequest {
        method: HttpMethod::Post,
        url: format!("{}/{}/sms/send?{query}", endpoints.apidaze.trim_end_matches('/'), path_segment(&credentials.id)),
        auth: RequestAuth::None,
        headers: vec![("Accept".into(), "application/json".into())],
        body: Some(("application/x-www-form-urlencoded".into(), form.into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

fn error_text(v: &Value) -> Option<String> {
    ["error", "message", "errors", "detail", "description"].iter().find_map(|k| v.get(*k)).and_then(|e| match e {
        Value::Array(items) => items.first().and_then(|f| f.get("message").and_then(scalar).or_else(|| scalar(f))),
        Value::Object(o) => o.get("message").and_then(scalar),
        other => scalar(other),
    })
}

/// What a send response means.
pub fn classify_send(response: &ProviderResponse) -> SendOutcome {
    let (status, headers, body) = match response {
        ProviderResponse::NoResponse { reason: why } => return no_response(why),
        ProviderResponse::Http { status, headers, body } => (*status, headers, body),
    };
    let parsed = serde_json::from_slice::<Value>(body).ok();
    if (200..300).contains(&status) {
        let refused = parsed.as_ref().is_some_and(|v| {
            v.get("success") == Some(&Value::Bool(false)) || v.get("error").and_then(scalar).is_some()
        });
        if refused {
            let detail = parsed.as_ref().and_then(error_text).unwrap_or_else(|| "success: false".into());
            return SendOutcome::Failed(reason(
                SendErrorCode::SendFail,
                prompts::FAILED_TO_SEND,
                None,
                Some(format!("HTTP {status}: {detail}")),
            ));
        }
        let id = parsed.as_ref().and_then(|v| {
            [&["id"][..], &["message_id"], &["uuid"], &["messageId"], &["data", "id"]].iter().find_map(|p| id_at(v, p))
        });
        return SendOutcome::Accepted {
            provider_message_id: id.unwrap_or_else(|| untracked_id("apidaze", headers, body)),
        };
    }
    let code = parsed.as_ref().and_then(|v| v.get("code")).and_then(scalar);
    let text = parsed.as_ref().and_then(error_text);
    by_status(status, headers, code, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::provider::flowroute::tests::{assert_common_statuses, failed_code, http};
    use crate::secret::Secret;

    fn creds() -> KeyPair {
        KeyPair { id: "API_KEY".into(), secret: Secret::new("API_SECRET") }
    }

    fn body_of(req: ProviderRequest) -> String {
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/x-www-form-urlencoded");
        String::from_utf8(body).unwrap()
    }

    #[test]
    fn when_building_an_sms_should_match_the_sdk_call() {
        let req = send_request(
            &creds(),
            "Sent by Yeastar",
            &ProviderEndpoints::default(),
            &OutboundContent {
                from: "+14125423968",
                to: "+14125423969",
                text: Some("Hello world!"),
                media_urls: vec![],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://api.apidaze.io/API_KEY/sms/send?api_secret=API_SECRET");
        assert_eq!(req.auth, RequestAuth::None);
        assert_eq!(body_of(req), "from=14125423968&to=14125423969&body=Hello+world%21");
    }

    #[test]
    fn when_a_file_goes_without_text_should_carry_the_accompanying_text() {
        let req = send_request(
            &creds(),
            "Sent by Yeastar",
            &ProviderEndpoints::all_at("http://127.0.0.1:9"),
            &OutboundContent {
                from: "+14125423968",
                to: "+14125423969",
                text: None,
                media_urls: vec!["https://pbx.example.com/f.png"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.url, "http://127.0.0.1:9/API_KEY/sms/send?api_secret=API_SECRET");
        assert_eq!(
            body_of(req),
            "from=14125423968&to=14125423969&body=Sent+by+Yeastar%0Ahttps%3A%2F%2Fpbx.example.com%2Ff.png"
        );
    }

    #[test]
    fn when_a_file_goes_with_text_should_keep_the_text() {
        let req = send_request(
            &KeyPair { id: "k y".into(), secret: Secret::new("s&t") },
            "Sent by Yeastar",
            &ProviderEndpoints::default(),
            &OutboundContent {
                from: "+14125423968",
                to: "+14125423969",
                text: Some("Look"),
                media_urls: vec!["https://a.example/1.png", "https://a.example/2.png"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.url, "https://api.apidaze.io/k%20y/sms/send?api_secret=s%26t");
        assert_eq!(
            body_of(req),
            "from=14125423968&to=14125423969&body=Look%0Ahttps%3A%2F%2Fa.example%2F1.png%0Ahttps%3A%2F%2Fa.example%2F2.png"
        );
    }

    #[test]
    fn when_apidaze_answers_should_classify_it() {
        let SendOutcome::Accepted { provider_message_id } = classify_send(&http(200, r#"{"success":true}"#)) else {
            panic!()
        };
        assert!(provider_message_id.starts_with("apidaze-untracked-"));
        assert_eq!(
            classify_send(&http(200, r#"{"ok":"Message sent","id":"42"}"#)),
            SendOutcome::Accepted { provider_message_id: "42".into() }
        );
        assert_eq!(failed_code(&classify_send(&http(200, r#"{"success":false}"#))), SendErrorCode::SendFail);
        assert!(matches!(classify_send(&http(500, r#"{"success":false}"#)), SendOutcome::RetryLater { .. }));
        let SendOutcome::Failed(r) = classify_send(&http(401, r#"{"message":"Invalid API secret"}"#)) else { panic!() };
        assert_eq!(r.code, SendErrorCode::AuthFail);
        assert_eq!(r.detail.as_deref(), Some("HTTP 401: Invalid API secret"));
        assert_common_statuses(classify_send);
    }
}
