//! Meta Graph API send (WhatsApp Cloud API and Messenger): the request we build and what its
//! responses mean. Contract: ../shared/research/provider-contracts.md §2; seed 001 §1.5-1.6.
//!
//! - **WhatsApp:** `POST {graph}/{phone_number_id}/messages`, `Authorization: Bearer {access
//!   token}`, JSON `{"messaging_product":"whatsapp","recipient_type":"individual","to":"<digits>",
//!   "type":"text","text":{"body","preview_url":false}}`; with media, `"type":"image"|"document"`
//!   and `{"link","caption"}`; a template message, `"type":"template","template":{"name",
//!   "language":{"code"},"components"}` (the filled template, see `crate::whatsapp_template`).
//!   Success: `messages[0].id` (`wamid.…`).
//! - **Messenger:** `POST {graph}/{page_id}/messages` with the Page access token,
//!   `{"recipient":{"id":PSID},"messaging_type":"RESPONSE","message":{"text"}}`; 24 h to 7 days
//!   after the customer's last message `"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT"`.
//!   Success: `message_id`.
//! - **Errors** (both): `{"error":{"message","type","code","error_subcode","error_data":{"details"},
//!   "fbtrace_id"}}`, usually with HTTP 400 whatever the cause; the `code` decides (also on a 2xx
//!   that carries an error and no message id):
//!
//! | `error.code` | outcome | prompt / `send_error` |
//! |---|---|---|
//! | 4, 17, 32, 613, 80007, 130429 (rate limits) | retry, channel schedule pushed back | Too frequent / `too_many_request` |
//! | 131056 (pair rate limit: ~1 msg / 6 s to one user) | retry after ≥ 6 s, schedule kept | Too frequent / `too_many_request` |
//! | 1, 2, 131000, 131016, 133004 (transient Meta errors) | retry | Failed to send / Service unavailable |
//! | 131049 (Meta's per-user marketing limit) | failed (do not retry soon) | Failed to send / `send_fail` |
//! | 131047 (outside the 24 h window) | failed, "a template is required" | Failed to send / `send_fail` |
//! | 10 + subcode 2018278 (Messenger, outside the window) | failed, "HUMAN_AGENT tag within 7 days" | Failed to send / `send_fail` |
//! | 0, 3, 10, 102, 190, 200-299 (token, permissions) | failed | Authentication Failed / `auth_fail` |
//! | 100, 131008, 131009 (parameters) | failed | Invalid Parameter |
//! | 131030 (test number: recipient not allowed) | failed | Invalid Phone Number |
//! | 131051, 131053 (media type / upload) | failed | unsupported media prompt |
//! | other code, or none: HTTP 429 | retry, schedule pushed back (Retry-After honoured) | Too frequent |
//! | HTTP 408, 5xx, no response | retry | Failed to send / `send_fail` (`request_fail`) |
//! | HTTP 401 / 404 / other | failed | Authentication Failed / `resource_not_found` / `send_fail` |

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::credentials::{FacebookCredentials, WhatsAppCredentials};
use crate::message::{SendErrorCode, prompts};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response, reason, retry_after,
};

/// How long a send call may take.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest wait after a 131056 pair rate limit (Meta: about one message every 6 s to the
/// same user).
pub const PAIR_RATE_LIMIT_WAIT: Duration = Duration::from_secs(6);

/// The Graph error code of the WhatsApp pair rate limit.
const PAIR_RATE_LIMIT: i64 = 131_056;

/// `/{id}/messages` under the Graph base URL, the id percent-encoded as a path segment.
fn messages_url(endpoints: &ProviderEndpoints, id: &str) -> String {
    let mut segment = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            segment.push(char::from(b));
        } else {
            segment.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{}/{segment}/messages", endpoints.graph.trim_end_matches('/'))
}

fn json_request(url: String, token: &crate::secret::Secret, body: &Value) -> ProviderRequest {
    ProviderRequest {
        method: HttpMethod::Post,
        url,
        auth: RequestAuth::Bearer(token.clone()),
        headers: Vec::new(),
        body: Some(("application/json".into(), body.to_string().into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

/// Whether a media URL names an image by its extension (WhatsApp images are JPEG or PNG;
/// Messenger also shows GIFs inline).
fn looks_like_image(url: &str, extensions: &[&str]) -> bool {
    let path = url::Url::parse(url).map(|u| u.path().to_ascii_lowercase()).unwrap_or_default();
    extensions.iter().any(|ext| path.ends_with(ext))
}

/// The WhatsApp send call (`POST {graph}/{phone_number_id}/messages`).
///
/// A template message (`content.template`) is sent as `"type":"template"` with that object;
/// its text (the preview kept in the history) and any media are not sent.
///
/// Otherwise one message per request is the Cloud API's norm: with media, only the first URL is sent (as
/// an image when its extension says JPEG/PNG, else as a document), with the text as its caption.
/// Further media URLs are NOT sent by this call; the caller must send them as separate messages.
pub fn whatsapp_send_request(
    credentials: &WhatsAppCredentials,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    let to = content.to.strip_prefix('+').unwrap_or(content.to);
    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("recipient_type".into(), json!("individual"));
    body.insert("to".into(), json!(to));
    match (content.template, content.media_urls.first()) {
        (Some(template), _) => {
            body.insert("type".into(), json!("template"));
            body.insert("template".into(), template.clone());
        }
        (None, Some(link)) => {
            let kind = if looks_like_image(link, &[".jpg", ".jpeg", ".png"]) { "image" } else { "document" };
            let mut media = Map::new();
            media.insert("link".into(), json!(link));
            if let Some(text) = content.text.filter(|t| !t.is_empty()) {
                media.insert("caption".into(), json!(text));
            }
            body.insert("type".into(), json!(kind));
            body.insert(kind.into(), Value::Object(media));
        }
        (None, None) => {
            body.insert("type".into(), json!("text"));
            body.insert("text".into(), json!({"body": content.text.unwrap_or_default(), "preview_url": false}));
        }
    }
    json_request(
        messages_url(endpoints, &credentials.phone_number_id),
        &credentials.meta.access_token,
        &Value::Object(body),
    )
}

/// The Messenger send call (`POST {graph}/{page_id}/messages`); the page id is `content.from`.
///
/// A Messenger message carries text or one attachment, not both: with media, the first URL is
/// sent as an attachment (`image` by extension, else `file`) and the text and further media are
/// NOT part of this call; the caller must send them as separate messages.
pub fn messenger_send_request(
    credentials: &FacebookCredentials,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    let message = match content.media_urls.first() {
        Some(url) => {
            let kind = if looks_like_image(url, &[".jpg", ".jpeg", ".png", ".gif"]) { "image" } else { "file" };
            json!({"attachment": {"type": kind, "payload": {"url": url, "is_reusable": false}}})
        }
        None => json!({"text": content.text.unwrap_or_default()}),
    };
    let mut body = Map::new();
    body.insert("recipient".into(), json!({"id": content.to}));
    if content.human_agent_tag {
        body.insert("messaging_type".into(), json!("MESSAGE_TAG"));
        body.insert("tag".into(), json!("HUMAN_AGENT"));
    } else {
        body.insert("messaging_type".into(), json!("RESPONSE"));
    }
    body.insert("message".into(), message);
    json_request(messages_url(endpoints, content.from), &credentials.meta.access_token, &Value::Object(body))
}

/// A Graph `{"error":{..}}` body.
struct GraphError {
    code: Option<i64>,
    subcode: Option<i64>,
    detail: Option<String>,
}

fn graph_error(body: &[u8]) -> Option<GraphError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let e = v.get("error")?.as_object()?;
    let int = |k: &str| match e.get(k) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let message = text(e.get("message"));
    let details = text(e.get("error_data").and_then(|d| d.get("details")));
    let mut detail = match (message, details) {
        (Some(m), Some(d)) if m != d => Some(format!("{m}: {d}")),
        (Some(m), _) => Some(m),
        (None, d) => d,
    };
    let extras: Vec<String> = [
        text(e.get("type")).map(|t| format!("type {t}")),
        int("error_subcode").map(|s| format!("subcode {s}")),
        text(e.get("fbtrace_id")).map(|t| format!("fbtrace_id {t}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !extras.is_empty() {
        detail = Some(format!("{} ({})", detail.unwrap_or_else(|| "Graph API error".into()), extras.join(", ")));
    }
    Some(GraphError { code: int("code"), subcode: int("error_subcode"), detail })
}

/// What a Graph API send response means (WhatsApp and Messenger share the error shape).
pub fn classify_send(response: &ProviderResponse) -> SendOutcome {
    let (status, headers, body) = match response {
        ProviderResponse::NoResponse { reason: why } => return no_response(why),
        ProviderResponse::Http { status, headers, body } => (*status, headers, body),
    };

    if (200..300).contains(&status) {
        let id = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            // WhatsApp: messages[0].id; Messenger: message_id.
            let id = v.get("messages").and_then(|m| m.get(0)).and_then(|m| m.get("id")).or_else(|| v.get("message_id"));
            id.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
        });
        match id {
            Some(provider_message_id) => return SendOutcome::Accepted { provider_message_id },
            // A 2xx carrying a Graph `{"error":{..}}` and no id: Meta refused the message, and
            // its error code decides below like on any other status (Graph reports rate limits
            // such as 130429 / 131056 in the JSON error, whatever the HTTP status).
            None if graph_error(body).is_some() => {}
            // Failed, not retried: Meta may well have taken the message, and a retry could
            // deliver it twice; without an id its delivery reports cannot be matched anyway.
            None => {
                return SendOutcome::Failed(reason(
                    SendErrorCode::SendFail,
                    prompts::FAILED_TO_SEND,
                    None,
                    Some(format!("HTTP {status} without messages[0].id or message_id")),
                ));
            }
        }
    }

    let error = graph_error(body);
    let code = error.as_ref().and_then(|e| e.code);
    let subcode = error.as_ref().and_then(|e| e.subcode);
    let provider_code = code.map(|c| c.to_string());
    let detail = error.and_then(|e| e.detail).or_else(|| Some(format!("HTTP {status}")));
    let with_note = |note: &str| Some(format!("{note} (Meta: {})", detail.as_deref().unwrap_or_default()));
    let failed = |code, prompt: &str, detail: Option<String>| {
        SendOutcome::Failed(reason(code, prompt, provider_code.clone(), detail))
    };
    let retry = |code, prompt: &str, after: Option<Duration>, rate_limited| SendOutcome::RetryLater {
        reason: reason(code, prompt, provider_code.clone(), detail.clone()),
        after,
        rate_limited,
    };

    match code {
        Some(4 | 17 | 32 | 613 | 80_007 | 130_429) => {
            return retry(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, retry_after(headers), true);
        }
        // Per recipient, not per channel: the channel's schedule stays, this message waits.
        Some(PAIR_RATE_LIMIT) => {
            let after = retry_after(headers).map_or(PAIR_RATE_LIMIT_WAIT, |d| d.max(PAIR_RATE_LIMIT_WAIT));
            return retry(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, Some(after), false);
        }
        Some(1 | 2 | 131_000 | 133_004) => {
            return retry(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, retry_after(headers), false);
        }
        Some(131_016) => {
            return retry(SendErrorCode::ServiceUnavailable, prompts::SERVICE_UNAVAILABLE, retry_after(headers), false);
        }
        Some(131_049) => {
            let note = "Meta limits how many marketing messages this user receives; do not retry soon";
            return failed(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, with_note(note));
        }
        Some(131_047) => {
            let note = "more than 24 hours have passed since the customer last replied: a WhatsApp message template is required";
            return failed(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, with_note(note));
        }
        Some(10) if subcode == Some(2_018_278) => {
            let note = "outside the 24-hour messaging window: within 7 days of the customer's last message reply with the HUMAN_AGENT tag";
            return failed(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, with_note(note));
        }
        Some(0 | 3 | 10 | 102 | 190 | 200..=299) => {
            return failed(SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED, detail.clone());
        }
        Some(100 | 131_008 | 131_009) => {
            return failed(SendErrorCode::InvalidParam, prompts::INVALID_PARAMETER, detail.clone());
        }
        Some(131_030) => {
            return failed(SendErrorCode::InvalidPhoneNumber, prompts::INVALID_PHONE_NUMBER, detail.clone());
        }
        Some(131_051 | 131_053) => {
            return failed(SendErrorCode::UnsupportMediaType, prompts::UNSUPPORTED_MEDIA, detail.clone());
        }
        _ => {}
    }

    match status {
        429 => retry(SendErrorCode::TooManyRequest, prompts::TOO_FREQUENT, retry_after(headers), true),
        408 | 500..=599 => retry(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, retry_after(headers), false),
        401 => failed(SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED, detail.clone()),
        404 => failed(SendErrorCode::ResourceNotFound, prompts::FAILED_TO_SEND, detail.clone()),
        _ => failed(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, detail.clone()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::credentials::MetaCredentials;
    use crate::message::FailureReason;
    use crate::secret::Secret;
    use crate::webhook::Headers;

    fn meta(token: &str) -> MetaCredentials {
        MetaCredentials {
            access_token: Secret::new(token),
            app_secret: Secret::new("app-secret"),
            verify_token: Secret::new("38owndego8ugcinx"),
        }
    }

    fn whatsapp() -> WhatsAppCredentials {
        WhatsAppCredentials {
            meta: meta("EAAJB-system-user"),
            phone_number_id: "106540352242922".into(),
            business_account_id: "102290129340398".into(),
        }
    }

    fn facebook() -> FacebookCredentials {
        FacebookCredentials { meta: meta("EAAJB-page"), page_name: Some("Acme".into()) }
    }

    fn content<'a>(from: &'a str, to: &'a str, text: Option<&'a str>, media: Vec<&'a str>) -> OutboundContent<'a> {
        OutboundContent {
            from,
            to,
            text,
            media_urls: media,
            human_agent_tag: false,
            status_callback: None,
            template: None,
        }
    }

    fn body_of(req: &ProviderRequest) -> Value {
        let (ct, body) = req.body.clone().unwrap();
        assert_eq!(ct, "application/json");
        serde_json::from_slice(&body).unwrap()
    }

    fn http(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse::Http { status, headers: Headers::default(), body: body.as_bytes().to_vec() }
    }

    fn graph(code: i64, subcode: Option<i64>) -> String {
        let mut e = json!({"message": "M", "type": "OAuthException", "code": code, "fbtrace_id": "AbC"});
        if let Some(s) = subcode {
            e["error_subcode"] = json!(s);
        }
        json!({ "error": e }).to_string()
    }

    // --- WhatsApp requests ---

    #[test]
    fn when_building_a_whatsapp_text_should_match_the_cloud_api() {
        let req = whatsapp_send_request(
            &whatsapp(),
            &ProviderEndpoints::default(),
            &content("+15550783881", "+16505551234", Some("Hello, World!"), vec![]),
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://graph.facebook.com/v21.0/106540352242922/messages");
        assert_eq!(req.auth, RequestAuth::Bearer(Secret::new("EAAJB-system-user")));
        assert!(req.headers.is_empty());
        assert_eq!(req.timeout, Duration::from_secs(10));
        assert_eq!(
            body_of(&req),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                   "type": "text", "text": {"body": "Hello, World!", "preview_url": false}})
        );
    }

    #[test]
    fn when_building_whatsapp_media_should_send_the_first_link_with_the_text_as_caption() {
        let endpoints = ProviderEndpoints::all_at("http://127.0.0.1:4010/");
        let req = whatsapp_send_request(
            &whatsapp(),
            &endpoints,
            &content(
                "+15550783881",
                "+16505551234",
                Some("Our catalogue"),
                vec!["https://pbx.example.com/f/a.PNG", "https://pbx.example.com/f/b.pdf"],
            ),
        );
        assert_eq!(req.url, "http://127.0.0.1:4010/v21.0/106540352242922/messages");
        assert_eq!(
            body_of(&req),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                   "type": "image", "image": {"link": "https://pbx.example.com/f/a.PNG", "caption": "Our catalogue"}})
        );
        let req = whatsapp_send_request(
            &whatsapp(),
            &endpoints,
            &content(
                "+15550783881",
                "+16505551234",
                None,
                vec!["https://pbx.example.com/api/chat/70dee7e2f95041ca890f222ace06c2dc"],
            ),
        );
        assert_eq!(
            body_of(&req),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                   "type": "document", "document": {"link": "https://pbx.example.com/api/chat/70dee7e2f95041ca890f222ace06c2dc"}})
        );
    }

    #[test]
    fn when_building_a_whatsapp_template_should_send_the_template_object_instead_of_the_text() {
        let template = json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]});
        let content = OutboundContent {
            template: Some(&template),
            ..content(
                "+15550783881",
                "+16505551234",
                Some("Hello Ann, your order 42 ships today."),
                vec!["https://pbx.example.com/f/a.png"],
            )
        };
        let req = whatsapp_send_request(&whatsapp(), &ProviderEndpoints::default(), &content);
        assert_eq!(req.url, "https://graph.facebook.com/v21.0/106540352242922/messages");
        assert_eq!(req.auth, RequestAuth::Bearer(Secret::new("EAAJB-system-user")));
        assert_eq!(
            body_of(&req),
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234",
                   "type": "template",
                   "template": {"name": "order_update", "language": {"code": "en_US"}, "components": [
                       {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]}})
        );
        // Messenger has no templates here: the text goes out as usual.
        let req = messenger_send_request(&facebook(), &ProviderEndpoints::default(), &content);
        assert_eq!(body_of(&req)["message"]["attachment"]["type"], "image");
    }

    #[test]
    fn path_ids_are_percent_encoded() {
        let mut creds = whatsapp();
        creds.phone_number_id = "1/../2?x".into();
        let req = whatsapp_send_request(&creds, &ProviderEndpoints::default(), &content("+1", "+2", Some("t"), vec![]));
        assert_eq!(req.url, "https://graph.facebook.com/v21.0/1%2F..%2F2%3Fx/messages");
    }

    // --- Messenger requests ---

    #[test]
    fn when_building_a_messenger_reply_should_match_the_send_api() {
        let req = messenger_send_request(
            &facebook(),
            &ProviderEndpoints::default(),
            &content("110987654321098", "8615328211815312", Some("How can we help?"), vec![]),
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://graph.facebook.com/v21.0/110987654321098/messages");
        assert_eq!(req.auth, RequestAuth::Bearer(Secret::new("EAAJB-page")));
        assert!(req.headers.is_empty());
        assert_eq!(
            body_of(&req),
            json!({"recipient": {"id": "8615328211815312"}, "messaging_type": "RESPONSE",
                   "message": {"text": "How can we help?"}})
        );
    }

    #[test]
    fn when_messenger_reply_is_late_should_carry_the_human_agent_tag() {
        let mut c = content("110987654321098", "8615328211815312", Some("Sorry for the wait"), vec![]);
        c.human_agent_tag = true;
        let req = messenger_send_request(&facebook(), &ProviderEndpoints::default(), &c);
        assert_eq!(
            body_of(&req),
            json!({"recipient": {"id": "8615328211815312"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                   "message": {"text": "Sorry for the wait"}})
        );
    }

    #[test]
    fn when_building_messenger_media_should_send_one_attachment() {
        let c = content("110987654321098", "8615328211815312", None, vec!["https://pbx.example.com/f/photo.jpeg"]);
        assert_eq!(
            body_of(&messenger_send_request(&facebook(), &ProviderEndpoints::default(), &c)),
            json!({"recipient": {"id": "8615328211815312"}, "messaging_type": "RESPONSE",
                   "message": {"attachment": {"type": "image", "payload": {"url": "https://pbx.example.com/f/photo.jpeg", "is_reusable": false}}}})
        );
        let c = content("110987654321098", "8615328211815312", None, vec!["https://pbx.example.com/f/invoice.pdf"]);
        let v = body_of(&messenger_send_request(&facebook(), &ProviderEndpoints::default(), &c));
        assert_eq!(v["message"]["attachment"]["type"], "file");
    }

    // --- classification ---

    #[test]
    fn when_meta_accepts_should_capture_the_message_id() {
        let wa = r#"{"messaging_product":"whatsapp","contacts":[{"input":"+16505551234","wa_id":"16505551234"}],
                     "messages":[{"id":"wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"}]}"#;
        assert_eq!(
            classify_send(&http(200, wa)),
            SendOutcome::Accepted {
                provider_message_id: "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA".into()
            }
        );
        let fb = r#"{"recipient_id":"8615328211815312","message_id":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P"}"#;
        assert!(
            matches!(classify_send(&http(200, fb)), SendOutcome::Accepted { provider_message_id } if provider_message_id.starts_with("m_AG5"))
        );
    }

    #[test]
    fn when_2xx_has_no_id_should_fail_without_retrying() {
        for body in [r#"{"messaging_product":"whatsapp","messages":[]}"#, "{}", "not json", r#"{"message_id":""}"#] {
            let SendOutcome::Failed(r) = classify_send(&http(200, body)) else { panic!("{body}") };
            assert_eq!(r.code, SendErrorCode::SendFail);
            assert!(r.detail.unwrap().contains("without"));
        }
    }

    #[test]
    fn when_a_2xx_carries_a_graph_error_should_classify_it_by_its_code() {
        // provider-contracts.md §2: Graph reports rate limits in the JSON error, not with 429
        // semantics, and the HTTP status is unverified: the code decides, even on a 2xx.
        let out = classify_send(&http(200, &graph(130_429, None)));
        assert!(
            matches!(&out, SendOutcome::RetryLater { rate_limited: true, after: None, reason } if reason.code == SendErrorCode::TooManyRequest && reason.provider_code.as_deref() == Some("130429")),
            "{out:?}"
        );
        let out = classify_send(&http(200, &graph(131_056, None)));
        assert!(
            matches!(&out, SendOutcome::RetryLater { rate_limited: false, after: Some(d), reason } if *d == PAIR_RATE_LIMIT_WAIT && reason.code == SendErrorCode::TooManyRequest),
            "{out:?}"
        );
        let SendOutcome::Failed(r) = classify_send(&http(200, &graph(100, None))) else { panic!() };
        assert_eq!((r.code, r.provider_code.as_deref()), (SendErrorCode::InvalidParam, Some("100")));
        // a 2xx with neither an id nor an error stays a final failure
        let SendOutcome::Failed(r) = classify_send(&http(200, r#"{"messaging_product":"whatsapp"}"#)) else { panic!() };
        assert_eq!(r.detail.as_deref(), Some("HTTP 200 without messages[0].id or message_id"));
    }

    #[test]
    fn when_meta_rate_limits_should_retry_and_push_the_schedule_back() {
        for code in [4, 17, 32, 613, 80_007, 130_429] {
            let out = classify_send(&http(400, &graph(code, None)));
            assert!(
                matches!(&out, SendOutcome::RetryLater { rate_limited: true, after: None, reason } if reason.code == SendErrorCode::TooManyRequest && reason.provider_code == Some(code.to_string())),
                "{code}: {out:?}"
            );
        }
        // Retry-After is honoured, on a code or a bare 429
        let headers = Headers::from_pairs([("Retry-After", "30")]);
        let out = classify_send(&ProviderResponse::Http {
            status: 400,
            headers: headers.clone(),
            body: graph(130_429, None).into_bytes(),
        });
        assert!(
            matches!(out, SendOutcome::RetryLater { after: Some(d), rate_limited: true, .. } if d == Duration::from_secs(30))
        );
        let out = classify_send(&ProviderResponse::Http { status: 429, headers, body: Vec::new() });
        assert!(
            matches!(out, SendOutcome::RetryLater { after: Some(d), rate_limited: true, .. } if d == Duration::from_secs(30))
        );
    }

    #[test]
    fn when_pair_rate_limit_hits_should_wait_six_seconds_without_slowing_the_channel() {
        let out = classify_send(&http(400, &graph(131_056, None)));
        assert!(
            matches!(out, SendOutcome::RetryLater { rate_limited: false, after: Some(d), .. } if d == PAIR_RATE_LIMIT_WAIT)
        );
        let headers = Headers::from_pairs([("retry-after", "2")]);
        let out =
            classify_send(&ProviderResponse::Http { status: 400, headers, body: graph(131_056, None).into_bytes() });
        assert!(matches!(out, SendOutcome::RetryLater { after: Some(d), .. } if d == PAIR_RATE_LIMIT_WAIT));
    }

    #[test]
    fn when_meta_refuses_should_fail_with_the_right_prompt_and_detail() {
        let cases: Vec<(String, SendErrorCode, &str)> = vec![
            (graph(131_049, None), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
            (graph(131_047, None), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
            (graph(10, Some(2_018_278)), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
            (graph(10, None), SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
            (graph(200, None), SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
            (graph(190, Some(463)), SendErrorCode::AuthFail, prompts::AUTHENTICATION_FAILED),
            (graph(100, None), SendErrorCode::InvalidParam, prompts::INVALID_PARAMETER),
            (graph(131_030, None), SendErrorCode::InvalidPhoneNumber, prompts::INVALID_PHONE_NUMBER),
            (graph(131_053, None), SendErrorCode::UnsupportMediaType, prompts::UNSUPPORTED_MEDIA),
            (graph(131_026, None), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
            (String::new(), SendErrorCode::SendFail, prompts::FAILED_TO_SEND),
        ];
        for (body, code, prompt) in cases {
            let out = classify_send(&http(400, &body));
            let SendOutcome::Failed(r) = out else { panic!("{body}: {out:?}") };
            assert_eq!((r.code, r.prompt.as_str()), (code, prompt), "{body}");
        }
        let SendOutcome::Failed(r) = classify_send(&http(400, &graph(131_047, None))) else { panic!() };
        assert_eq!(r.provider_code.as_deref(), Some("131047"));
        let detail = r.detail.unwrap();
        assert!(detail.contains("template is required"), "{detail}");
        assert!(detail.contains("fbtrace_id AbC"), "{detail}");
        let SendOutcome::Failed(r) = classify_send(&http(400, &graph(10, Some(2_018_278)))) else { panic!() };
        assert!(r.detail.unwrap().contains("HUMAN_AGENT"));
        // the documented error shape keeps message and details
        let documented = r#"{"error":{"message":"(#131030) Recipient phone number not in allowed list","type":"OAuthException","code":131030,
            "error_data":{"messaging_product":"whatsapp","details":"Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again."},
            "fbtrace_id":"AI5Ob3u0Hfd6pX0LdP-hN6B"}}"#;
        let SendOutcome::Failed(r) = classify_send(&http(400, documented)) else { panic!() };
        assert_eq!(
            r.detail.as_deref(),
            Some(
                "(#131030) Recipient phone number not in allowed list: Recipient phone number not in allowed list: Add recipient phone number to recipient list and try again. (type OAuthException, fbtrace_id AI5Ob3u0Hfd6pX0LdP-hN6B)"
            )
        );
        // HTTP fallbacks without a Graph body
        let SendOutcome::Failed(r) = classify_send(&http(401, "")) else { panic!() };
        assert_eq!(r.code, SendErrorCode::AuthFail);
        let SendOutcome::Failed(r) = classify_send(&http(404, "")) else { panic!() };
        assert_eq!((r.code, r.detail.as_deref()), (SendErrorCode::ResourceNotFound, Some("HTTP 404")));
    }

    #[test]
    fn when_failure_is_transient_should_retry_without_slowing_the_channel() {
        for out in [
            classify_send(&http(500, &graph(2, None))),
            classify_send(&http(503, "<html>")),
            classify_send(&http(400, &graph(131_016, None))),
            classify_send(&http(500, &graph(131_000, None))),
            classify_send(&http(408, "")),
        ] {
            assert!(matches!(out, SendOutcome::RetryLater { rate_limited: false, .. }), "{out:?}");
        }
        let none = classify_send(&ProviderResponse::NoResponse { reason: "connection refused".into() });
        assert!(matches!(
            none,
            SendOutcome::RetryLater {
                reason: FailureReason { code: SendErrorCode::RequestFail, .. },
                rate_limited: false,
                ..
            }
        ));
    }
}
