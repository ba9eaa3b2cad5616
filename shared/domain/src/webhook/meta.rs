//! Meta (WhatsApp Cloud API and Messenger) inbound webhooks: handshake, verification and parsing.
//! Contract: ../shared/research/provider-contracts.md §2; seed 001 §1.5-1.6.
//!
//! - **Handshake** (`GET`): `hub.mode=subscribe`, `hub.verify_token` equal to the channel's token
//!   (constant-time), answer `hub.challenge` verbatim.
//! - **Signature** (`POST`): `X-Hub-Signature-256: sha256=<lowercase hex HMAC-SHA256(app secret,
//!   raw body)>`. The legacy SHA-1 `X-Hub-Signature` alone is refused as missing. Meta signs the
//!   escaped-unicode body exactly as sent, so only the raw bytes are checked. Meta sends no
//!   timestamp, so there is no replay window: de-duplication is on the message ids (`wamid.…`,
//!   `mid`).
//! - **WhatsApp** (`object = "whatsapp_business_account"`): `entry[].changes[]` with
//!   `field = "messages"`; `value.metadata.display_phone_number` is the business number,
//!   `value.contacts[]` the senders' profile names, `value.messages[]` the customer's messages,
//!   `value.statuses[]` the delivery reports of ours. Other fields are skipped. Media arrive as a
//!   Graph media id only, kept as the URL `whatsapp-media:{id}` (fetched later with the token).
//!   Every message type yields a message: types without text get a short placeholder
//!   (`[location] …`, `[reaction] 👍`, …) so no customer message disappears silently.
//! - **Messenger** (`object = "page"`): `entry[].messaging[]` with `message{mid,text,attachments}`
//!   from `sender.id` (PSID) to `recipient.id` (the page id), timestamps in milliseconds; echoes of
//!   our own sends (`is_echo`) are skipped; `delivery{mids,watermark}` yields a Delivered report
//!   per mid; `read` (no mids) and other events are skipped. Messenger gives no user name.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::credentials::MetaCredentials;
use crate::ids::ProviderMessageId;
use crate::inbound::MediaRef;
use crate::phone::CustomerAddress;
use crate::secret::Secret;
use crate::time::Timestamp;
use crate::webhook::{ParsedMessage, ReportedStatus, StatusReport, WebhookEvent, WebhookInput, WebhookRejection};

/// Name of the signature header (compared case-insensitively).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Scheme of the URLs standing for WhatsApp media ids (`whatsapp-media:{id}`): the file is
/// fetched with `GET {graph}/{id}` and the access token.
pub const WHATSAPP_MEDIA_SCHEME: &str = "whatsapp-media:";

/// Answers Meta's subscription handshake (`GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`,
/// `query` is the raw query string): the challenge to echo, or a refusal.
pub fn handshake(verify_token: &crate::secret::Secret, query: &str) -> Result<String, WebhookRejection> {
    let (mut mode, mut token, mut challenge) = (None, None, None);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        // The first occurrence wins; a repeated parameter cannot override it.
        let slot = match name.as_ref() {
            "hub.mode" => &mut mode,
            "hub.verify_token" => &mut token,
            "hub.challenge" => &mut challenge,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(value.into_owned());
        }
    }
    if mode.as_deref() != Some("subscribe") || verify_token.is_empty() {
        return Err(WebhookRejection::HandshakeRefused);
    }
    let given = Secret::new(token.ok_or(WebhookRejection::HandshakeRefused)?);
    // `Secret`'s equality is constant-time.
    if given != *verify_token {
        return Err(WebhookRejection::HandshakeRefused);
    }
    challenge.filter(|c| !c.is_empty() && !c.chars().any(char::is_control)).ok_or(WebhookRejection::HandshakeRefused)
}

/// Checks `X-Hub-Signature-256` against the raw body with the app secret.
pub fn verify(credentials: &MetaCredentials, input: &WebhookInput<'_>) -> Result<(), WebhookRejection> {
    // Only the SHA-256 header counts: a request carrying just the legacy SHA-1
    // `X-Hub-Signature` is treated as unsigned.
    let value = input.headers.get(SIGNATURE_HEADER).ok_or(WebhookRejection::SignatureMissing)?;
    let hex_sig = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(WebhookRejection::SignatureMalformed("the value must start with 'sha256='"))?;
    // Meta sends lowercase hex and its SDK compares strings, so uppercase is refused.
    if hex_sig.len() != 64 || !hex_sig.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(WebhookRejection::SignatureMalformed("the signature must be 64 lowercase hex characters"));
    }
    let expected =
        hex::decode(hex_sig).map_err(|_| WebhookRejection::SignatureMalformed("the signature is not hex"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(credentials.app_secret.expose().as_bytes())
        .map_err(|_| WebhookRejection::SignatureMismatch)?;
    mac.update(input.body);
    mac.verify_slice(&expected).map_err(|_| WebhookRejection::SignatureMismatch)
}

/// The `X-Hub-Signature-256` value Meta sends for `body` (tests, fixtures, the sandbox provider).
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail; never panic if that changes.
    match Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::from("sha256="),
    }
}

/// Parses a verified request into its messages and status reports.
pub fn parse(input: &WebhookInput<'_>) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let root: Value = serde_json::from_slice(input.body).map_err(|e| WebhookRejection::MalformedJson(e.to_string()))?;
    match root.get("object").and_then(Value::as_str) {
        Some("whatsapp_business_account") => parse_whatsapp(&root, input.now),
        Some("page") => parse_messenger(&root, input.now),
        Some(other) => Err(WebhookRejection::InvalidPayload(format!(
            "object '{other}' is not supported; only 'whatsapp_business_account' and 'page' are"
        ))),
        None => Err(invalid("object is required ('whatsapp_business_account' or 'page')")),
    }
}

fn invalid(msg: &str) -> WebhookRejection {
    WebhookRejection::InvalidPayload(msg.to_owned())
}

/// An array field: absent or null is empty, anything else but an array is an error.
fn array<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a [Value], WebhookRejection> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(WebhookRejection::InvalidPayload(format!("{path} must be an array"))),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// A non-empty string field.
fn text_at(v: &Value, path: &[&str]) -> Option<String> {
    str_at(v, path).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

/// An integer given as a JSON number or a decimal string.
fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A timestamp field (`unit` converts the integer); absent means "now".
fn timestamp(
    v: &Value,
    key: &str,
    path: &str,
    now: Timestamp,
    unit: fn(i64) -> Timestamp,
) -> Result<Timestamp, WebhookRejection> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(now),
        Some(t) => integer(t)
            .filter(|n| *n >= 0)
            .map(unit)
            .ok_or_else(|| WebhookRejection::InvalidPayload(format!("{path} must be a Unix time"))),
    }
}

/// `+` followed by the digits of a phone number written with or without `+`, spaces, dashes,
/// dots or parentheses; anything else is returned as written (and validated by the caller).
fn plus_digits(s: &str) -> String {
    let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '+')).collect();
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) { format!("+{digits}") } else { s.to_owned() }
}

/// The id under `key` of `v`; `path` names it in errors.
fn message_id(v: &Value, key: &str, path: &str) -> Result<ProviderMessageId, WebhookRejection> {
    let id = str_at(v, &[key]).ok_or_else(|| WebhookRejection::InvalidPayload(format!("{path} is required")))?;
    ProviderMessageId::parse(id).map_err(|e| WebhookRejection::InvalidPayload(format!("{path} {}", e.reason)))
}

// ---------------------------------------------------------------------------------------------
// WhatsApp Cloud API

fn parse_whatsapp(root: &Value, now: Timestamp) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let mut events = Vec::new();
    for entry in array(root, "entry", "entry")? {
        for change in array(entry, "changes", "entry[].changes")? {
            if change.get("field").and_then(Value::as_str) != Some("messages") {
                continue; // account updates, template status, ...: not ours to handle here
            }
            let value = change
                .get("value")
                .filter(|v| v.is_object())
                .ok_or_else(|| invalid("entry[].changes[].value must be an object"))?;
            let messages = array(value, "messages", "value.messages")?;
            if !messages.is_empty() {
                let to = str_at(value, &["metadata", "display_phone_number"])
                    .map(plus_digits)
                    .ok_or_else(|| invalid("value.metadata.display_phone_number is required"))?;
                let contacts = array(value, "contacts", "value.contacts")?;
                for m in messages {
                    events.push(WebhookEvent::Message(whatsapp_message(m, &to, contacts, now)?));
                }
            }
            for s in array(value, "statuses", "value.statuses")? {
                if let Some(report) = whatsapp_status(s, now)? {
                    events.push(WebhookEvent::Status(report));
                }
            }
        }
    }
    Ok(events)
}

/// Media message types: the object under the type's name carries `id`, `mime_type`, `sha256`
/// and an optional `caption`.
const WHATSAPP_MEDIA_TYPES: &[&str] = &["image", "audio", "video", "document", "sticker"];

fn whatsapp_message(
    m: &Value,
    to: &str,
    contacts: &[Value],
    now: Timestamp,
) -> Result<ParsedMessage, WebhookRejection> {
    let provider_message_id = message_id(m, "id", "value.messages[].id")?;
    let from_raw = str_at(m, &["from"]).ok_or_else(|| invalid("value.messages[].from is required"))?;
    // WhatsApp senders are phone numbers (digits without `+`).
    let from = Some(plus_digits(from_raw))
        .filter(|n| n.starts_with('+'))
        .ok_or("must be the sender's phone number")
        .and_then(|n| CustomerAddress::parse(&n).map_err(|e| e.0))
        .map_err(|e| WebhookRejection::InvalidPayload(format!("value.messages[].from {e}")))?;
    let sent_at = timestamp(m, "timestamp", "value.messages[].timestamp", now, Timestamp::from_unix_seconds)?;
    let display_name = contacts
        .iter()
        .find(|c| str_at(c, &["wa_id"]) == Some(from_raw))
        .and_then(|c| text_at(c, &["profile", "name"]));

    let kind = str_at(m, &["type"]).unwrap_or("unknown");
    let mut media = Vec::new();
    let text = if WHATSAPP_MEDIA_TYPES.contains(&kind) {
        let obj = m.get(kind).filter(|o| o.is_object());
        match obj.and_then(|o| text_at(o, &["id"])) {
            Some(id) => {
                let o = obj.unwrap_or(&Value::Null);
                media.push(MediaRef {
                    url: format!("{WHATSAPP_MEDIA_SCHEME}{id}"),
                    content_type: text_at(o, &["mime_type"]),
                    sha256: text_at(o, &["sha256"]),
                    size: None,
                });
                text_at(o, &["caption"])
            }
            // A media message without a media id: keep the message, say what it was.
            None => Some(format!("[{kind}]")),
        }
    } else {
        whatsapp_text(m, kind)
    };
    // Never an empty message: a placeholder names the type.
    let text = if text.is_none() && media.is_empty() { Some(format!("[{kind}]")) } else { text };

    Ok(ParsedMessage { provider_message_id, from, to: vec![to.to_owned()], text, media, sent_at, display_name })
}

/// The text of a non-media message: its own text where it has one, else a short placeholder.
fn whatsapp_text(m: &Value, kind: &str) -> Option<String> {
    match kind {
        "text" => text_at(m, &["text", "body"]),
        "button" => text_at(m, &["button", "text"]).or_else(|| Some("[button]".into())),
        "interactive" => {
            let i = m.get("interactive").unwrap_or(&Value::Null);
            text_at(i, &["button_reply", "title"])
                .or_else(|| text_at(i, &["list_reply", "title"]))
                .or_else(|| text_at(i, &["nfm_reply", "body"]).map(|b| format!("[form] {b}")))
                .or_else(|| Some("[interactive]".into()))
        }
        "reaction" => Some(match text_at(m, &["reaction", "emoji"]) {
            Some(emoji) => format!("[reaction] {emoji}"),
            None => "[reaction removed]".into(),
        }),
        "location" => {
            let l = m.get("location").unwrap_or(&Value::Null);
            let mut parts = vec!["[location]".to_owned()];
            parts.extend(text_at(l, &["name"]));
            parts.extend(text_at(l, &["address"]));
            if let (Some(lat), Some(lon)) =
                (l.get("latitude").and_then(Value::as_f64), l.get("longitude").and_then(Value::as_f64))
            {
                parts.push(format!("({lat}, {lon})"));
            }
            Some(parts.join(" "))
        }
        "contacts" => {
            let names: Vec<String> = m
                .get("contacts")
                .and_then(Value::as_array)
                .map(|cs| cs.iter().filter_map(|c| text_at(c, &["name", "formatted_name"])).collect())
                .unwrap_or_default();
            Some(if names.is_empty() { "[contacts]".into() } else { format!("[contacts] {}", names.join(", ")) })
        }
        "system" => {
            text_at(m, &["system", "body"]).map(|b| format!("[system] {b}")).or_else(|| Some("[system]".into()))
        }
        "order" => Some("[order]".into()),
        "unsupported" | "unknown" => Some("[unsupported message]".into()),
        other => Some(format!("[{other}]")),
    }
}

fn whatsapp_status(s: &Value, now: Timestamp) -> Result<Option<StatusReport>, WebhookRejection> {
    let id = text_at(s, &["id"]).ok_or_else(|| invalid("value.statuses[].id is required"))?;
    let status = match str_at(s, &["status"]) {
        Some("sent") => ReportedStatus::Sent,
        Some("delivered") => ReportedStatus::Delivered,
        // `played` is the voice-message form of read.
        Some("read" | "played") => ReportedStatus::Read,
        Some("failed") => {
            let first = s.get("errors").and_then(Value::as_array).and_then(|e| e.first());
            let code = first.and_then(|e| e.get("code")).and_then(|c| match c {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                _ => None,
            });
            let reason = first.and_then(|e| {
                let title = text_at(e, &["title"]).or_else(|| text_at(e, &["message"]));
                match (title, text_at(e, &["error_data", "details"])) {
                    (Some(t), Some(d)) if t != d => Some(format!("{t}: {d}")),
                    (Some(t), _) => Some(t),
                    (None, d) => d,
                }
            });
            ReportedStatus::Failed { code, reason }
        }
        _ => return Ok(None), // a status we do not track (e.g. "deleted", "warning")
    };
    let at = timestamp(s, "timestamp", "value.statuses[].timestamp", now, Timestamp::from_unix_seconds)?;
    Ok(Some(StatusReport { provider_message_id: id, status, at }))
}

// ---------------------------------------------------------------------------------------------
// Messenger

fn parse_messenger(root: &Value, now: Timestamp) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let mut events = Vec::new();
    for entry in array(root, "entry", "entry")? {
        // Entries without `messaging` (e.g. `standby`, `changes`) are not ours.
        for event in array(entry, "messaging", "entry[].messaging")? {
            if let Some(message) = event.get("message").filter(|m| m.is_object()) {
                if message.get("is_echo").and_then(Value::as_bool) == Some(true) {
                    continue; // our own send, echoed back
                }
                events.push(WebhookEvent::Message(messenger_message(event, message, now)?));
            } else if let Some(postback) = event.get("postback").filter(|p| p.is_object() && p.get("mid").is_some()) {
                // A button tap is a customer message too (only when Meta gives it a mid to
                // de-duplicate on).
                events.push(WebhookEvent::Message(messenger_postback(event, postback, now)?));
            } else if let Some(delivery) = event.get("delivery").filter(|d| d.is_object()) {
                let at =
                    timestamp(delivery, "watermark", "messaging[].delivery.watermark", now, Timestamp::from_millis)?;
                for mid in array(delivery, "mids", "messaging[].delivery.mids")? {
                    if let Some(mid) = mid.as_str().filter(|m| !m.is_empty()) {
                        events.push(WebhookEvent::Status(StatusReport {
                            provider_message_id: mid.to_owned(),
                            status: ReportedStatus::Delivered,
                            at,
                        }));
                    }
                }
            }
            // `read` (a watermark, no mids), reactions, referrals, ...: skipped.
        }
    }
    Ok(events)
}

/// Sender (PSID), recipient (page id) and time of a `messaging[]` event.
fn messenger_parties(event: &Value, now: Timestamp) -> Result<(CustomerAddress, String, Timestamp), WebhookRejection> {
    let sender = id_field(event, "sender").ok_or_else(|| invalid("messaging[].sender.id is required"))?;
    let from = CustomerAddress::parse(&sender)
        .map_err(|e| WebhookRejection::InvalidPayload(format!("messaging[].sender.id {}", e.0)))?;
    let page = id_field(event, "recipient").ok_or_else(|| invalid("messaging[].recipient.id is required"))?;
    let at = timestamp(event, "timestamp", "messaging[].timestamp", now, Timestamp::from_millis)?;
    Ok((from, page, at))
}

/// `{key: {id}}` with the id as a string or a number.
fn id_field(event: &Value, key: &str) -> Option<String> {
    match event.get(key)?.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn messenger_message(event: &Value, message: &Value, now: Timestamp) -> Result<ParsedMessage, WebhookRejection> {
    let provider_message_id = message_id(message, "mid", "messaging[].message.mid")?;
    let (from, page, sent_at) = messenger_parties(event, now)?;
    let mut text = str_at(message, &["text"]).filter(|t| !t.is_empty()).map(str::to_owned);
    let mut media = Vec::new();
    let mut placeholders = Vec::new();
    for a in array(message, "attachments", "messaging[].message.attachments")? {
        let kind = str_at(a, &["type"]).unwrap_or("attachment");
        match str_at(a, &["payload", "url"]).filter(|u| is_http_url(u)) {
            Some(url) if kind != "fallback" => {
                media.push(MediaRef { url: url.to_owned(), content_type: None, sha256: None, size: None });
            }
            // A shared link, a location, a template, or a file without a usable URL: keep a
            // trace in the text rather than dropping it.
            found => {
                let title = text_at(a, &["title"]).or_else(|| text_at(a, &["payload", "title"]));
                let mut p = format!("[{kind}]");
                for extra in [title, found.map(str::to_owned)].into_iter().flatten() {
                    p.push(' ');
                    p.push_str(&extra);
                }
                placeholders.push(p);
            }
        }
    }
    if !placeholders.is_empty() {
        let joined = placeholders.join("\n");
        text = Some(match text {
            Some(t) => format!("{t}\n{joined}"),
            None => joined,
        });
    }
    if text.is_none() && media.is_empty() {
        text = Some("[unsupported message]".into());
    }
    Ok(ParsedMessage { provider_message_id, from, to: vec![page], text, media, sent_at, display_name: None })
}

fn messenger_postback(event: &Value, postback: &Value, now: Timestamp) -> Result<ParsedMessage, WebhookRejection> {
    let provider_message_id = message_id(postback, "mid", "messaging[].postback.mid")?;
    let (from, page, sent_at) = messenger_parties(event, now)?;
    let text = text_at(postback, &["title"]).or_else(|| Some("[postback]".into()));
    Ok(ParsedMessage {
        provider_message_id,
        from,
        to: vec![page],
        text,
        media: Vec::new(),
        sent_at,
        display_name: None,
    })
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::webhook::Headers;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp::from_unix_seconds(1_795_757_811);

    /// Meta's "messages webhook reference" text example (developers.facebook.com/documentation/
    /// business-messaging/whatsapp/webhooks/reference/messages).
    const WA_TEXT: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [{
        "id": "102290129340398",
        "changes": [{
          "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{
              "from": "16505551234",
              "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
              "timestamp": "1749416383",
              "type": "text",
              "text": {"body": "Does it come in another color?"}
            }]
          },
          "field": "messages"
        }]
      }]
    }"#;

    /// The image reference's shape (…/reference/messages/image), with example values.
    const WA_IMAGE: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [{
          "from": "16505551234",
          "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgB=",
          "timestamp": "1750090702",
          "type": "image",
          "image": {"caption": "Black jacket", "mime_type": "image/jpeg",
                    "sha256": "1H0Nvt5prlIXo4ZMnEWZ8WA3gTpQwZUHrKqAqGGwIIQ=", "id": "1003383421387256"}
        }]
      }}]}]
    }"#;

    /// The status reference's shape (…/reference/messages/status): delivered and failed.
    const WA_STATUSES: &str = r#"{
      "object": "whatsapp_business_account",
      "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "statuses": [
          {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA", "status": "delivered",
           "timestamp": "1750263773", "recipient_id": "16505551234",
           "conversation": {"id": "4d4ad2f1a4a6e4d0e8b3b0e6b1b2f3c4", "origin": {"type": "service"}},
           "pricing": {"billable": true, "pricing_model": "PMP", "category": "service"}},
          {"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0ZA", "status": "failed",
           "timestamp": "1750263774", "recipient_id": "16505551234",
           "errors": [{"code": 131047, "title": "Re-engagement message",
                       "message": "Re-engagement message",
                       "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                       "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"}]},
          {"id": "wamid.x", "status": "deleted", "timestamp": "1750263775", "recipient_id": "16505551234"}
        ]
      }}]}]
    }"#;

    /// The Messenger platform's message example (webhook-events/messages), with a PSID and page id.
    const FB_TEXT: &str = r#"{
      "object": "page",
      "entry": [{
        "id": "106540352242922",
        "time": 1583173667623,
        "messaging": [{
          "sender": {"id": "8615328211815312"},
          "recipient": {"id": "106540352242922"},
          "timestamp": 1583173666767,
          "message": {"mid": "m_toDnmD9b6Fqw-XePhUmUTLGTx_k2VdzKc4SG5-JqFANQWqq8oVrjFk1ZpnhyuY3HxeeyYTvLprBVWMmStsoepQ",
                      "text": "This is a text message"}
        }]
      }]
    }"#;

    fn input<'a>(headers: &'a Headers, body: &'a [u8]) -> WebhookInput<'a> {
        WebhookInput { public_url: "https://sms.example.com/api/v1.0/webhook/whatsapp/t", headers, body, now: NOW }
    }

    fn events(body: &str) -> Vec<WebhookEvent> {
        let h = Headers::default();
        parse(&input(&h, body.as_bytes())).unwrap()
    }

    fn message(e: &WebhookEvent) -> &ParsedMessage {
        match e {
            WebhookEvent::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    fn creds(app_secret: &str) -> MetaCredentials {
        MetaCredentials {
            access_token: Secret::new("EAAG-token"),
            app_secret: Secret::new(app_secret),
            verify_token: Secret::new("38owndego8ugcinx"),
        }
    }

    fn check(secret: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<(), WebhookRejection> {
        let h = Headers::from_pairs(headers.iter().copied());
        verify(&creds(secret), &input(&h, body))
    }

    // --- handshake ---

    #[test]
    fn when_handshake_names_the_token_should_echo_the_challenge() {
        let token = Secret::new("38owndego8ugcinx");
        let q = "hub.mode=subscribe&hub.verify_token=38owndego8ugcinx&hub.challenge=1158201444";
        assert_eq!(handshake(&token, q).unwrap(), "1158201444");
        // order does not matter; values are percent-decoded
        let q = "hub.challenge=CHALLENGE%20ACCEPTED&hub.verify_token=38owndego8ugcinx&hub.mode=subscribe";
        assert_eq!(handshake(&token, q).unwrap(), "CHALLENGE ACCEPTED");
    }

    #[test]
    fn when_handshake_is_wrong_should_refuse_without_echoing() {
        let token = Secret::new("38owndego8ugcinx");
        let refused = [
            "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1",
            "hub.mode=unsubscribe&hub.verify_token=38owndego8ugcinx&hub.challenge=1",
            "hub.verify_token=38owndego8ugcinx&hub.challenge=1",
            "hub.mode=subscribe&hub.challenge=1",
            "hub.mode=subscribe&hub.verify_token=38owndego8ugcinx",
            "hub.mode=subscribe&hub.verify_token=38owndego8ugcinx&hub.challenge=",
            "hub.mode=subscribe&hub.verify_token=38owndego8ugcin&hub.challenge=1",
            "hub.mode=subscribe&hub.verify_token=38OWNDEGO8UGCINX&hub.challenge=1",
            // a repeated token cannot replace the first one
            "hub.mode=subscribe&hub.verify_token=wrong&hub.verify_token=38owndego8ugcinx&hub.challenge=1",
            "",
        ];
        for q in refused {
            assert_eq!(handshake(&token, q), Err(WebhookRejection::HandshakeRefused), "{q}");
        }
        // an empty configured token never matches
        assert_eq!(
            handshake(&Secret::new(""), "hub.mode=subscribe&hub.verify_token=&hub.challenge=1"),
            Err(WebhookRejection::HandshakeRefused)
        );
    }

    // --- signature ---

    #[test]
    fn official_sdk_vector_signs_test_with_test_app_secret() {
        // WhatsApp/WhatsApp-Nodejs-SDK src/__tests__/utils.test.ts ('signature match'), secret from
        // jest.config.ts.
        let expected = "sha256=0c61947b610d4f45e65f3d680e26027121ec2413e77598bcb6cfc6e0d9888221";
        assert_eq!(sign("TEST_APP_SECRET", b"test"), expected);
        assert_eq!(check("TEST_APP_SECRET", &[("X-Hub-Signature-256", expected)], b"test"), Ok(()));
    }

    #[test]
    fn when_signature_is_wrong_should_say_how() {
        let body = WA_TEXT.as_bytes();
        let good = sign("app-secret", body);
        assert_eq!(check("app-secret", &[("x-hub-signature-256", &good)], body), Ok(()));
        // one byte changed
        let mut changed = body.to_vec();
        changed[10] ^= 1;
        assert_eq!(
            check("app-secret", &[("X-Hub-Signature-256", &good)], &changed),
            Err(WebhookRejection::SignatureMismatch)
        );
        // wrong secret
        assert_eq!(check("other", &[("X-Hub-Signature-256", &good)], body), Err(WebhookRejection::SignatureMismatch));
        // missing; the SHA-1 header alone is not enough
        assert_eq!(check("app-secret", &[], body), Err(WebhookRejection::SignatureMissing));
        assert_eq!(
            check("app-secret", &[("X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")], body),
            Err(WebhookRejection::SignatureMissing)
        );
        // malformed: uppercase hex, no prefix, sha1 prefix, short, not hex
        let hex = good.trim_start_matches("sha256=");
        for bad in [
            format!("sha256={}", hex.to_uppercase()),
            hex.to_owned(),
            format!("sha1={hex}"),
            format!("sha256={}", &hex[..62]),
            format!("sha256={}zz", &hex[..62]),
        ] {
            assert!(
                matches!(
                    check("app-secret", &[("X-Hub-Signature-256", &bad)], body),
                    Err(WebhookRejection::SignatureMalformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn signature_covers_the_raw_escaped_bytes_not_a_reserialisation() {
        // Meta signs the escaped-unicode body; re-serialising would unescape and break it.
        let raw =
            br#"{"object":"page","entry":[{"id":"1","messaging":[{"message":{"text":"caf\u00e9 \ud83d\ude80"}}]}]}"#;
        let sig = sign("s", raw);
        assert_eq!(check("s", &[("X-Hub-Signature-256", &sig)], raw), Ok(()));
        let reserialised = serde_json::to_vec(&serde_json::from_slice::<Value>(raw).unwrap()).unwrap();
        assert_ne!(reserialised, raw.to_vec());
        assert_eq!(
            check("s", &[("X-Hub-Signature-256", &sig)], &reserialised),
            Err(WebhookRejection::SignatureMismatch)
        );
    }

    // --- WhatsApp parsing ---

    #[test]
    fn when_whatsapp_text_arrives_should_yield_every_field() {
        let e = events(WA_TEXT);
        assert_eq!(e.len(), 1);
        let m = message(&e[0]);
        assert_eq!(m.provider_message_id.as_str(), "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=");
        assert_eq!(m.from.as_str(), "+16505551234");
        assert_eq!(m.to, vec!["+15550783881".to_owned()]);
        assert_eq!(m.text.as_deref(), Some("Does it come in another color?"));
        assert!(m.media.is_empty());
        assert_eq!(m.sent_at, Timestamp::from_unix_seconds(1_749_416_383));
        assert_eq!(m.display_name.as_deref(), Some("Sheena Nelson"));
    }

    #[test]
    fn when_whatsapp_image_arrives_should_keep_the_media_id_and_caption() {
        let e = events(WA_IMAGE);
        let m = message(&e[0]);
        assert_eq!(m.text.as_deref(), Some("Black jacket"));
        assert_eq!(
            m.media,
            vec![MediaRef {
                url: "whatsapp-media:1003383421387256".into(),
                content_type: Some("image/jpeg".into()),
                sha256: Some("1H0Nvt5prlIXo4ZMnEWZ8WA3gTpQwZUHrKqAqGGwIIQ=".into()),
                size: None,
            }]
        );
        // without a caption: media only
        let no_caption = WA_IMAGE.replace(r#""caption": "Black jacket", "#, "");
        let e = events(&no_caption);
        assert_eq!(message(&e[0]).text, None);
        assert_eq!(message(&e[0]).media.len(), 1);
    }

    #[test]
    fn when_whatsapp_sends_other_types_should_keep_a_placeholder() {
        let cases = [
            (
                r#""type": "location", "location": {"latitude": 37.483307, "longitude": -122.148981, "name": "Pablo Morales", "address": "1 Hacker Way"}"#,
                "[location] Pablo Morales 1 Hacker Way (37.483307, -122.148981)",
            ),
            (r#""type": "reaction", "reaction": {"message_id": "wamid.abc", "emoji": "👍"}"#, "[reaction] 👍"),
            (r#""type": "reaction", "reaction": {"message_id": "wamid.abc"}"#, "[reaction removed]"),
            (r#""type": "button", "button": {"payload": "p", "text": "Yes, please"}"#, "Yes, please"),
            (
                r#""type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "Talk to an agent"}}"#,
                "Talk to an agent",
            ),
            (
                r#""type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "l1", "title": "Billing"}}"#,
                "Billing",
            ),
            (
                r#""type": "contacts", "contacts": [{"name": {"formatted_name": "John Smith"}}]"#,
                "[contacts] John Smith",
            ),
            (
                r#""type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]"#,
                "[unsupported message]",
            ),
            (
                r#""type": "system", "system": {"body": "NAME changed from 1 to 2", "type": "user_changed_number"}"#,
                "[system] NAME changed from 1 to 2",
            ),
            (r#""type": "order", "order": {"catalog_id": "1"}"#, "[order]"),
            (r#""type": "brand_new_thing""#, "[brand_new_thing]"),
            (r#""type": "image", "image": {}"#, "[image]"),
            (r#""type": "text", "text": {"body": ""}"#, "[text]"),
        ];
        for (fields, expected) in cases {
            let body = WA_TEXT.replace(
                r#""type": "text",
              "text": {"body": "Does it come in another color?"}"#,
                fields,
            );
            assert_ne!(body, WA_TEXT);
            let e = events(&body);
            assert_eq!(message(&e[0]).text.as_deref(), Some(expected), "{fields}");
        }
    }

    #[test]
    fn when_whatsapp_reports_statuses_should_map_them_and_skip_unknown_ones() {
        let e = events(WA_STATUSES);
        assert_eq!(
            e,
            vec![
                WebhookEvent::Status(StatusReport {
                    provider_message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA".into(),
                    status: ReportedStatus::Delivered,
                    at: Timestamp::from_unix_seconds(1_750_263_773),
                }),
                WebhookEvent::Status(StatusReport {
                    provider_message_id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0ZA".into(),
                    status: ReportedStatus::Failed {
                        code: Some("131047".into()),
                        reason: Some("Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number.".into()),
                    },
                    at: Timestamp::from_unix_seconds(1_750_263_774),
                }),
            ]
        );
        for (s, expected) in [("sent", ReportedStatus::Sent), ("read", ReportedStatus::Read)] {
            let body = WA_STATUSES.replacen(r#""status": "delivered""#, &format!(r#""status": "{s}""#), 1);
            assert!(matches!(&events(&body)[0], WebhookEvent::Status(r) if r.status == expected));
        }
    }

    #[test]
    fn when_whatsapp_sends_other_fields_or_nothing_should_skip_them() {
        let other_field = WA_TEXT.replace(r#""field": "messages""#, r#""field": "message_template_status_update""#);
        assert!(events(&other_field).is_empty());
        let errors_only = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{
            "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"1"},
            "errors":[{"code":131000,"title":"Something went wrong"}]}}]}]}"#;
        assert!(events(errors_only).is_empty());
        assert!(events(r#"{"object":"whatsapp_business_account","entry":[]}"#).is_empty());
    }

    #[test]
    fn when_whatsapp_body_breaks_the_contract_should_name_the_field() {
        let h = Headers::default();
        let err = |body: &str| parse(&input(&h, body.as_bytes())).unwrap_err().to_string();
        assert!(err("{nope").contains("malformed"));
        assert!(err(r#"{"object":"instagram","entry":[]}"#).contains("'instagram' is not supported"));
        assert!(err(r#"{"entry":[]}"#).contains("object is required"));
        assert!(err(r#"{"object":"whatsapp_business_account","entry":{}}"#).contains("entry must be an array"));
        assert!(
            err(&WA_TEXT.replace(r#""display_phone_number": "15550783881", "#, "")).contains("display_phone_number")
        );
        assert!(err(&WA_TEXT.replace(r#""from": "16505551234","#, "")).contains("messages[].from"));
        assert!(err(&WA_TEXT.replace(r#""from": "16505551234""#, r#""from": "x""#)).contains("messages[].from"));
        assert!(err(&WA_TEXT.replace(r#""timestamp": "1749416383""#, r#""timestamp": "soon""#)).contains("timestamp"));
        assert!(
            err(&WA_TEXT.replace("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "")).contains("id")
        );
        // a missing timestamp falls back to now
        let e = events(&WA_TEXT.replace(r#""timestamp": "1749416383","#, ""));
        assert_eq!(message(&e[0]).sent_at, NOW);
    }

    // --- Messenger parsing ---

    #[test]
    fn when_messenger_text_arrives_should_yield_every_field() {
        let e = events(FB_TEXT);
        assert_eq!(e.len(), 1);
        let m = message(&e[0]);
        assert!(m.provider_message_id.as_str().starts_with("m_toDnmD9b6Fqw"));
        assert_eq!(m.from.as_str(), "8615328211815312");
        assert_eq!(m.to, vec!["106540352242922".to_owned()]);
        assert_eq!(m.text.as_deref(), Some("This is a text message"));
        assert_eq!(m.sent_at, Timestamp::from_millis(1_583_173_666_767));
        assert_eq!(m.display_name, None);
    }

    #[test]
    fn when_messenger_attachments_arrive_should_keep_urls_and_trace_the_rest() {
        let body = FB_TEXT.replace(
            r#""text": "This is a text message""#,
            r#""attachments": [
                 {"type": "image", "payload": {"url": "https://scontent.xx.fbcdn.net/v/t1.15752-9/a.jpg"}},
                 {"type": "file", "payload": {"url": "https://cdn.fbsbx.com/v/t59.2708-21/b.pdf"}},
                 {"type": "fallback", "title": "Our shop", "payload": {"url": "https://shop.example.com/"}},
                 {"type": "template", "payload": {"template_type": "generic"}}]"#,
        );
        let e = events(&body);
        let m = message(&e[0]);
        let urls: Vec<&str> = m.media.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            vec!["https://scontent.xx.fbcdn.net/v/t1.15752-9/a.jpg", "https://cdn.fbsbx.com/v/t59.2708-21/b.pdf"]
        );
        assert_eq!(m.text.as_deref(), Some("[fallback] Our shop https://shop.example.com/\n[template]"));
        // a non-http URL is not fetched
        let odd = FB_TEXT.replace(
            r#""text": "This is a text message""#,
            r#""attachments": [{"type": "image", "payload": {"url": "file:///etc/passwd"}}]"#,
        );
        let e = events(&odd);
        assert!(message(&e[0]).media.is_empty());
        assert_eq!(message(&e[0]).text.as_deref(), Some("[image]"));
    }

    #[test]
    fn when_messenger_echoes_our_send_should_skip_it() {
        let echo = FB_TEXT.replace(
            r#""text": "This is a text message""#,
            r#""is_echo": true, "app_id": 1517776481860111, "text": "our reply""#,
        );
        assert!(events(&echo).is_empty());
    }

    #[test]
    fn when_messenger_reports_delivery_should_yield_one_report_per_mid_and_skip_reads() {
        let body = r#"{"object":"page","entry":[{"id":"106540352242922","time":1458668856463,"messaging":[
            {"sender":{"id":"8615328211815312"},"recipient":{"id":"106540352242922"},
             "delivery":{"mids":["mid.1458668856218:ed81099e15d3f4f233","mid.1458668856219:ed81099e15d3f4f234"],"watermark":1458668856253}},
            {"sender":{"id":"8615328211815312"},"recipient":{"id":"106540352242922"},"timestamp":1458668856463,
             "read":{"watermark":1458668856253}}]}]}"#;
        let e = events(body);
        let at = Timestamp::from_millis(1_458_668_856_253);
        assert_eq!(
            e,
            vec![
                WebhookEvent::Status(StatusReport {
                    provider_message_id: "mid.1458668856218:ed81099e15d3f4f233".into(),
                    status: ReportedStatus::Delivered,
                    at
                }),
                WebhookEvent::Status(StatusReport {
                    provider_message_id: "mid.1458668856219:ed81099e15d3f4f234".into(),
                    status: ReportedStatus::Delivered,
                    at
                }),
            ]
        );
    }

    #[test]
    fn when_messenger_postback_has_a_mid_should_become_a_message() {
        let body = r#"{"object":"page","entry":[{"id":"106540352242922","time":1,"messaging":[
            {"sender":{"id":"8615328211815312"},"recipient":{"id":"106540352242922"},"timestamp":1458692752478,
             "postback":{"mid":"m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P","title":"Talk to a human","payload":"AGENT"}},
            {"sender":{"id":"8615328211815312"},"recipient":{"id":"106540352242922"},"timestamp":1458692752479,
             "postback":{"title":"no mid","payload":"X"}}]}]}"#;
        let e = events(body);
        assert_eq!(e.len(), 1);
        assert_eq!(message(&e[0]).text.as_deref(), Some("Talk to a human"));
    }

    #[test]
    fn when_messenger_body_breaks_the_contract_should_name_the_field() {
        let h = Headers::default();
        let err = |body: &str| parse(&input(&h, body.as_bytes())).unwrap_err().to_string();
        assert!(err(&FB_TEXT.replace(r#""sender": {"id": "8615328211815312"},"#, "")).contains("sender.id"));
        assert!(err(&FB_TEXT.replace("8615328211815312", "12")).contains("sender.id"));
        assert!(err(&FB_TEXT.replace(r#""recipient": {"id": "106540352242922"},"#, "")).contains("recipient.id"));
        assert!(err(&FB_TEXT.replace(r#""mid": "m_"#, r#""nomid": "m_"#)).contains("mid"));
        assert!(err(&FB_TEXT.replace(r#""messaging": ["#, r#""messaging": 3, "x": ["#)).contains("messaging"));
        // entries without messaging (standby, changes) are skipped
        assert!(events(r#"{"object":"page","entry":[{"id":"1","time":1,"standby":[]}]}"#).is_empty());
    }

    #[test]
    fn sample_events_are_signed_with_their_documented_credentials() {
        for (event, creds_file) in [
            (
                include_str!("../../../../events/webhook-ingest.whatsapp-inbound.json"),
                include_str!("../../../../events/whatsapp.credentials.json"),
            ),
            (
                include_str!("../../../../events/webhook-ingest.facebook-inbound.json"),
                include_str!("../../../../events/facebook.credentials.json"),
            ),
        ] {
            let event: Value = serde_json::from_str(event).unwrap();
            let creds_values: Value = serde_json::from_str(creds_file).unwrap();
            let body = event["body"].as_str().unwrap();
            let sig = event["headers"]["x-hub-signature-256"].as_str().unwrap();
            let secret = creds_values["app_secret"].as_str().unwrap();
            assert_eq!(check(secret, &[("X-Hub-Signature-256", sig)], body.as_bytes()), Ok(()));
            assert_eq!(event["headers"]["content-length"].as_str().unwrap(), body.len().to_string());
            let e = events(body);
            assert!(!e.is_empty());
            assert!(matches!(&e[0], WebhookEvent::Message(_)));
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let h = Headers::default();
            let _ = parse(&input(&h, &body));
        }

        #[test]
        fn parse_never_panics_on_mangled_examples(cut in 0usize..2000, byte in any::<u8>()) {
            for example in [WA_TEXT, WA_IMAGE, WA_STATUSES, FB_TEXT] {
                let mut body = example.as_bytes().to_vec();
                let i = cut % body.len();
                body[i] = byte;
                let h = Headers::default();
                let _ = parse(&input(&h, &body));
            }
        }

        #[test]
        fn any_body_signed_with_the_app_secret_verifies(body in proptest::collection::vec(any::<u8>(), 0..512), key in "[ -~]{1,40}") {
            let sig = sign(&key, &body);
            prop_assert_eq!(check(&key, &[("X-Hub-Signature-256", &sig)], &body), Ok(()));
        }
    }
}
