//! Skyetel SMS/MMS send API.
//!
//! Confirmed [DOC support.skyetel.com/hc/en-us/articles/360056299914-SMS-MMS-API]:
//! `POST https://sms.skyetel.com/v1/out?from=<11-digit number>`, HTTP Basic `SID:SECRET`,
//! `Content-Type: application/json`, body `{"to":"<11-digit number>","text":"…","media":[…]?}`;
//! `text` is required (up to 1024 characters), `media` optional (links, 1.5 MB in total). The same
//! call is made by the FreePBX SMS Connector [code simontelephonics/smsconnector
//! providers/provider-Skyetel.php]. The URL is `{endpoints.skyetel}/v1/out?from=…`, so the
//! endpoint must be `https://sms.skyetel.com` (the workspace default `https://api.skyetel.com` is
//! Skyetel's account API, not its SMS API — see the report).
//!
//! **UNVERIFIED**: the answer. Neither the docs nor any client found show a success body or an
//! id field (both clients only check for 2xx). The id is read from `id`, `message_id`, `uuid`,
//! `data.id` when present; otherwise a 2xx is still **accepted** under a `skyetel-untracked-…` id
//! (Skyetel sends no delivery reports that could need it; failing a message Skyetel took would make
//! the agent send it twice). A 2xx whose JSON says `{"ERROR": …}` / `{"error": …}` is a failure.
//! Errors are `{"ERROR": "…"}` [code dfiel/python_skyetel skyetel.py]. A third-party client notes
//! that exceeding 300 sends per 5 minutes answers `403` with a 5-minute cooldown
//! [code, 3P]: a 403 whose text mentions a rate or limit is retried after 300 s with the channel's
//! schedule pushed back; any other 403 is Authentication Failed.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::credentials::KeyPair;
use crate::message::{SendErrorCode, prompts};
use crate::provider::flowroute::{SEND_TIMEOUT, by_status, digits, id_at, scalar, untracked_id};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response, reason, retry_after,
};

/// Skyetel's cooldown after its rate limit trips (3P, see the module doc).
pub const RATE_LIMIT_COOLDOWN: Duration = Duration::from_secs(300);

/// The send call for `content`.
pub fn send_request(
    credentials: &KeyPair,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    let mut body = Map::new();
    body.insert("to".into(), Value::from(digits(content.to)));
    // `text` is required by Skyetel, even for a file on its own.
    body.insert("text".into(), Value::from(content.text.unwrap_or_default()));
    if !content.media_urls.is_empty() {
        body.insert("media".into(), json!(content.media_urls));
    }
    ProviderRequest {
        method: HttpMethod::Post,
        url: format!("{}/v1/out?from={}", endpoints.skyetel.trim_end_matches('/'), digits(content.from)),
        auth: RequestAuth::Basic { user: credentials.id.clone(), password: credentials.secret.clone() },
        headers: Vec::new(),
        body: Some(("application/json".into(), Value::Object(body).to_string().into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

fn error_text(v: &Value) -> Option<String> {
    ["ERROR", "error", "message", "description"].iter().find_map(|k| v.get(*k)).and_then(|e| match e {
        Value::Object(o) => o.get("message").or_else(|| o.get("description")).and_then(scalar),
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
        if let Some(err) = parsed.as_ref().and_then(|v| v.get("ERROR").or_else(|| v.get("error"))).and_then(scalar) {
            return SendOutcome::Failed(reason(
                SendErrorCode::SendFail,
                prompts::FAILED_TO_SEND,
                None,
                Some(format!("HTTP {status}: {err}")),
            ));
        }
        let id = parsed
            .as_ref()
            .and_then(|v| [&["id"][..], &["message_id"], &["uuid"], &["data", "id"]].iter().find_map(|p| id_at(v, p)));
        return SendOutcome::Accepted {
            provider_message_id: id.unwrap_or_else(|| untracked_id("skyetel", headers, body)),
        };
    }
    let text = parsed.as_ref().and_then(error_text).or_else(|| {
        let raw = String::from_utf8_lossy(body).trim().to_owned();
        (!raw.is_empty() && raw.len() <= 300).then_some(raw)
    });
    if status == 403
        && text.as_deref().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t.contains("rate") || t.contains("limit") || t.contains("too many")
        })
    {
        return SendOutcome::RetryLater {
            reason: reason(
                SendErrorCode::TooManyRequest,
                prompts::TOO_FREQUENT,
                None,
                text.map(|t| format!("HTTP 403: {t}")),
            ),
            after: retry_after(headers).or(Some(RATE_LIMIT_COOLDOWN)),
            rate_limited: true,
        };
    }
    by_status(status, headers, None, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::provider::flowroute::tests::{assert_common_statuses, failed_code, http};
    use crate::secret::Secret;

    fn creds() -> KeyPair {
        KeyPair { id: "SID123".into(), secret: Secret::new("SECRET456") }
    }

    #[test]
    fn when_building_an_sms_should_match_the_documented_curl() {
        let endpoints = ProviderEndpoints { skyetel: "https://sms.skyetel.com".into(), ..ProviderEndpoints::default() };
        let req = send_request(
            &creds(),
            &endpoints,
            &OutboundContent {
                from: "+15558004321",
                to: "+15558001234",
                text: Some("You are awesome"),
                media_urls: vec![],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://sms.skyetel.com/v1/out?from=15558004321");
        assert_eq!(req.auth, RequestAuth::Basic { user: "SID123".into(), password: Secret::new("SECRET456") });
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/json");
        assert_eq!(String::from_utf8(body).unwrap(), r#"{"text":"You are awesome","to":"15558001234"}"#);
    }

    #[test]
    fn when_building_an_mms_should_keep_text_and_list_media() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::all_at("http://127.0.0.1:9"),
            &OutboundContent {
                from: "+15558004321",
                to: "+15558001234",
                text: None,
                media_urls: vec!["https://media.example.com/a.gif"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.url, "http://127.0.0.1:9/v1/out?from=15558004321");
        let v: Value = serde_json::from_slice(&req.body.unwrap().1).unwrap();
        assert_eq!(v, json!({"to": "15558001234", "text": "", "media": ["https://media.example.com/a.gif"]}));
    }

    #[test]
    fn when_skyetel_answers_should_classify_it() {
        let SendOutcome::Accepted { provider_message_id } = classify_send(&http(200, "")) else {
            panic!("not accepted")
        };
        assert!(provider_message_id.starts_with("skyetel-untracked-"));
        assert_eq!(
            classify_send(&http(200, r#"{"id":"abc"}"#)),
            SendOutcome::Accepted { provider_message_id: "abc".into() }
        );
        assert_eq!(
            failed_code(&classify_send(&http(200, r#"{"ERROR":"Invalid destination"}"#))),
            SendErrorCode::SendFail
        );
        let SendOutcome::Failed(r) = classify_send(&http(400, r#"{"ERROR":"Invalid to"}"#)) else { panic!() };
        assert_eq!(r.detail.as_deref(), Some("HTTP 400: Invalid to"));
        let limited = classify_send(&http(403, r#"{"ERROR":"Rate limit exceeded"}"#));
        assert!(
            matches!(limited, SendOutcome::RetryLater { rate_limited: true, after: Some(d), .. } if d == RATE_LIMIT_COOLDOWN)
        );
        assert_eq!(failed_code(&classify_send(&http(403, r#"{"ERROR":"Bad credentials"}"#))), SendErrorCode::AuthFail);
        assert_common_statuses(classify_send);
    }
}
