//! Flowroute inbound webhooks (Messaging API v2.1, which the channel requires: seed 000 L347,
//! seed 001 L4979) and the parsing helpers the other key-pair providers share.
//!
//! **Verification: none.** Flowroute neither signs its callbacks nor authenticates them
//! (../shared/research/provider-contracts.md §5: nothing in the SDK or docs). The only protection
//! is the unguessable 32-hex token in the webhook URL, which is checked before [`verify`] is called
//! (decisions.md "Webhooks in"); [`verify`] accepts every request.
//!
//! Bodies (JSON, JSON:API):
//! - inbound SMS/MMS [DOC developer.flowroute.com/api/messages/v2.1/receive-an-sms, receive-an-mms]:
//!   `{"data":{"type":"message","id":"mdr2-…","attributes":{"from","to","body","is_mms","direction":"inbound","timestamp",…}},"included":[{"type":"media","attributes":{"url","mime_type","file_size",…}}]}`;
//! - delivery receipts [DOC …/v2.1/receive-a-dlr]: `{"data":{"type":"delivery_receipt","id":"mdr2-…","attributes":{"status","status_code","status_code_description","level","timestamp"}}}`;
//!   the id is the one the send answer returned. `status` maps to [`ReportedStatus`] by its words
//!   (…deliver… → Delivered; undeliver…/expired → Undelivered; …reject…/…fail… → Failed; anything
//!   else, e.g. `message buffered` or `smsc submit`, → Sent, not final);
//! - the legacy flat form `{"to","from","body","id"}` [DOC developer.flowroute.com/docs/setting-up-inbound-messages-with-flowroute]
//!   is accepted too, in case an account still runs an older webhook version.
//!
//! Numbers arrive without `+` (`12066418000`, 11 digits for NANP): `to` gets its `+`, and a
//! 10-digit NANP number gets `+1`. Unknown `data.type`s and outbound `message` records are skipped.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::credentials::KeyPair;
use crate::ids::ProviderMessageId;
use crate::inbound::MediaRef;
use crate::phone::CustomerAddress;
use crate::time::Timestamp;
use crate::webhook::{ParsedMessage, ReportedStatus, StatusReport, WebhookEvent, WebhookInput, WebhookRejection};

/// Accepts every request: Flowroute has no signature or callback authentication, so the URL
/// token (checked before this is called) is the only protection.
pub fn verify(_credentials: &KeyPair, _input: &WebhookInput<'_>) -> Result<(), WebhookRejection> {
    Ok(())
}

/// Parses a verified request into its messages and status reports.
pub fn parse(input: &WebhookInput<'_>) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let root = json_body(input.body)?;
    parse_jsonapi(&root, input.now)
}

/// Parses a Flowroute-style JSON:API callback (also SIPTRUNK's). `data` may be one resource or an
/// array of them; a body without `data` is read as the legacy flat `{to, from, body, id}` form.
pub(crate) fn parse_jsonapi(root: &Value, now: Timestamp) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let Some(data) = root.get("data") else {
        return legacy_flat(root, now).map(|m| m.into_iter().map(WebhookEvent::Message).collect());
    };
    let resources: Vec<&Value> = match data {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![data],
        _ => return Err(invalid("data must be an object (or an array of objects)")),
    };
    let included = root.get("included").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut events = Vec::new();
    for resource in resources {
        let kind = resource.get("type").and_then(Value::as_str).unwrap_or_default();
        let attributes = match resource.get("attributes") {
            Some(Value::Object(a)) => a,
            _ if kind == "message" || kind == "delivery_receipt" => {
                return Err(invalid("data.attributes must be an object"));
            }
            _ => continue,
        };
        let outbound =
            attributes.get("direction").and_then(Value::as_str).is_some_and(|d| d.eq_ignore_ascii_case("outbound"));
        match kind {
            "message" if !outbound => {
                if let Some(m) = jsonapi_message(resource, attributes, included, now)? {
                    events.push(WebhookEvent::Message(m));
                }
            }
            "delivery_receipt" | "message" => {
                if let Some(r) = jsonapi_receipt(resource, attributes, now)? {
                    events.push(WebhookEvent::Status(r));
                }
            }
            _ => {}
        }
    }
    Ok(events)
}

fn jsonapi_message(
    resource: &Value,
    attributes: &Map<String, Value>,
    included: &[Value],
    now: Timestamp,
) -> Result<Option<ParsedMessage>, WebhookRejection> {
    let id = resource
        .get("id")
        .and_then(scalar)
        .or_else(|| resource.get("message_id").and_then(scalar))
        .or_else(|| attributes.get("message_id").and_then(scalar))
        .or_else(|| attributes.get("id").and_then(scalar))
        .ok_or_else(|| invalid("data.id is required"))?;
    let provider_message_id = message_id(&id, "data.id")?;
    let from = customer(attributes.get("from").and_then(scalar).as_deref(), "data.attributes.from")?;
    let to = business_numbers(attributes.get("to"), "data.attributes.to")?;
    let text = text_of(attributes.get("body"));
    let mut media = Vec::new();
    for item in included {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or("media");
        if kind != "media" {
            continue;
        }
        let Some(a) = item.get("attributes") else { continue };
        let Some(url) = a.get("url").and_then(scalar) else { continue };
        let content_type = a.get("mime_type").or_else(|| a.get("content_type")).and_then(scalar);
        let size = a.get("file_size").or_else(|| a.get("size")).and_then(size_of);
        media.push(media_ref(&url, content_type, size, "included[].attributes.url")?);
    }
    if let Some(Value::Array(urls)) = attributes.get("media_urls") {
        for url in urls.iter().filter_map(scalar) {
            media.push(media_ref(&url, None, None, "data.attributes.media_urls")?);
        }
    }
    if text.is_none() && media.is_empty() {
        return Ok(None);
    }
    Ok(Some(ParsedMessage {
        provider_message_id,
        from,
        to,
        text,
        media,
        sent_at: timestamp_or(attributes.get("timestamp"), now),
        display_name: None,
    }))
}

fn jsonapi_receipt(
    resource: &Value,
    attributes: &Map<String, Value>,
    now: Timestamp,
) -> Result<Option<StatusReport>, WebhookRejection> {
    let Some(status) = attributes.get("status").and_then(scalar) else { return Ok(None) };
    let id = resource
        .get("id")
        .and_then(scalar)
        .or_else(|| attributes.get("message_id").and_then(scalar))
        .ok_or_else(|| invalid("data.id is required on a delivery receipt"))?;
    let code = attributes.get("status_code").and_then(scalar);
    let reason = attributes
        .get("status_code_description")
        .or_else(|| attributes.get("status_desc"))
        .and_then(scalar)
        .or_else(|| Some(status.clone()));
    Ok(Some(StatusReport {
        provider_message_id: id,
        status: status_from_words(&status, code, reason),
        at: timestamp_or(attributes.get("timestamp"), now),
    }))
}

/// A delivery state named in words (`delivered`, `failed`, `message buffered`, …).
pub(crate) fn status_from_words(status: &str, code: Option<String>, reason: Option<String>) -> ReportedStatus {
    let s = status.to_ascii_lowercase();
    if s.contains("undeliver") || s.contains("expired") {
        ReportedStatus::Undelivered { code, reason }
    } else if s.contains("reject") || s.contains("fail") || s.contains("error") {
        ReportedStatus::Failed { code, reason }
    } else if s.contains("deliver") {
        ReportedStatus::Delivered
    } else {
        ReportedStatus::Sent
    }
}

fn legacy_flat(root: &Value, now: Timestamp) -> Result<Option<ParsedMessage>, WebhookRejection> {
    let Some(obj) = root.as_object() else { return Err(invalid("the body must be a JSON object with 'data'")) };
    let id = obj.get("id").and_then(scalar).ok_or_else(|| invalid("data is required (JSON:API message)"))?;
    let provider_message_id = message_id(&id, "id")?;
    let from = customer(obj.get("from").and_then(scalar).as_deref(), "from")?;
    let to = business_numbers(obj.get("to"), "to")?;
    let text = text_of(obj.get("body"));
    if text.is_none() {
        return Ok(None);
    }
    Ok(Some(ParsedMessage {
        provider_message_id,
        from,
        to,
        text,
        media: Vec::new(),
        sent_at: timestamp_or(obj.get("timestamp"), now),
        display_name: None,
    }))
}

// ---- helpers shared by the key-pair providers' webhook modules ----

/// `InvalidPayload` with `msg`.
pub(crate) fn invalid(msg: &str) -> WebhookRejection {
    WebhookRejection::InvalidPayload(msg.to_owned())
}

/// The body as JSON.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, WebhookRejection> {
    serde_json::from_slice(body).map_err(|e| WebhookRejection::MalformedJson(e.to_string()))
}

/// A scalar JSON value as text (strings non-empty after trimming, numbers as written).
pub(crate) fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A text field: absent, null or empty means none (the text itself is kept untrimmed).
pub(crate) fn text_of(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn size_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A provider's message id, checked.
pub(crate) fn message_id(id: &str, field: &str) -> Result<ProviderMessageId, WebhookRejection> {
    ProviderMessageId::parse(id).map_err(|e| WebhookRejection::InvalidPayload(format!("{field} {}", e.reason)))
}

/// An id for a message whose provider names none: `<prefix>-` and the first 32 hex digits of
/// SHA-256 over the raw body and the receive second. A redelivery within the same second is
/// recognised as a duplicate; two identical texts sent seconds apart stay two messages (losing a
/// customer's message is worse than showing a provider's late retry twice).
pub(crate) fn synthetic_id(prefix: &str, body: &[u8], now: Timestamp) -> String {
    let mut h = Sha256::new();
    h.update(body);
    h.update(now.as_unix_seconds().to_be_bytes());
    let hex_digest = hex::encode(h.finalize());
    format!("{prefix}-{}", hex_digest.get(..32).unwrap_or(&hex_digest))
}

/// Normalises a number a provider wrote to the form channels store: separators (spaces, dashes,
/// dots, parentheses) removed; a number with `+` keeps it; `00` international prefix becomes `+`;
/// 10 digits starting 2-9 are NANP and get `+1`; 9 or more digits get `+`. Short codes (up to 8
/// digits) and alphanumeric sender ids are returned trimmed, unchanged.
pub(crate) fn normalise_number(raw: &str) -> String {
    let trimmed = raw.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, trimmed),
    };
    let digits: String = rest.chars().filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed.to_owned();
    }
    if plus {
        return format!("+{digits}");
    }
    if let Some(intl) = digits.strip_prefix("00").filter(|d| d.len() >= 8) {
        return format!("+{intl}");
    }
    if digits.len() == 10 && matches!(digits.as_bytes().first(), Some(b'2'..=b'9')) {
        return format!("+1{digits}");
    }
    if digits.len() > 8 { format!("+{digits}") } else { digits }
}

/// The customer's address from a provider's `from`.
pub(crate) fn customer(raw: Option<&str>, field: &str) -> Result<CustomerAddress, WebhookRejection> {
    let raw = raw.ok_or_else(|| WebhookRejection::InvalidPayload(format!("{field} is required")))?;
    CustomerAddress::parse(&normalise_number(raw))
        .map_err(|e| WebhookRejection::InvalidPayload(format!("{field} {}", e.0)))
}

/// The business numbers from a provider's `to`: a string, a number, or an array of them.
pub(crate) fn business_numbers(v: Option<&Value>, field: &str) -> Result<Vec<String>, WebhookRejection> {
    let numbers: Vec<String> = match v {
        Some(Value::Array(items)) => items.iter().filter_map(scalar).map(|n| normalise_number(&n)).collect(),
        Some(other) => scalar(other).map(|n| vec![normalise_number(&n)]).unwrap_or_default(),
        None => Vec::new(),
    };
    if numbers.is_empty() {
        return Err(WebhookRejection::InvalidPayload(format!("{field} is required")));
    }
    Ok(numbers)
}

/// A media reference, its URL checked to be absolute http(s).
pub(crate) fn media_ref(
    url: &str,
    content_type: Option<String>,
    size: Option<u64>,
    field: &str,
) -> Result<MediaRef, WebhookRejection> {
    let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if !ok {
        return Err(WebhookRejection::InvalidPayload(format!("{field} must be an absolute http(s) URL")));
    }
    Ok(MediaRef { url: url.to_owned(), content_type, sha256: None, size })
}

/// A provider's timestamp: RFC 3339 text, or Unix seconds / milliseconds as a number or digits.
/// Anything else (absent, no offset, unparseable) is `now`: the time a message was received is
/// not worth refusing the message for.
pub(crate) fn timestamp_or(v: Option<&Value>, now: Timestamp) -> Timestamp {
    let from_number = |n: i64| {
        if n > 100_000_000_000 { Timestamp::from_millis(n) } else { Timestamp::from_unix_seconds(n) }
    };
    match v {
        Some(Value::String(s)) => {
            let s = s.trim();
            if let Ok(t) = Timestamp::parse_rfc3339(s) {
                t
            } else if let Ok(n) = s.parse::<i64>() {
                from_number(n)
            } else {
                now
            }
        }
        Some(Value::Number(n)) => n.as_i64().map(from_number).unwrap_or(now),
        _ => now,
    }
}

/// Reads a body that is a JSON object/array or, failing that, `application/x-www-form-urlencoded`
/// fields, as a list of JSON objects (a JSON array yields one per element).
pub(crate) fn json_or_form(body: &[u8]) -> Result<Vec<Map<String, Value>>, WebhookRejection> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(invalid("the body is empty")),
        Some(b'{' | b'[') => match json_body(body)? {
            Value::Object(o) => Ok(vec![o]),
            Value::Array(items) => Ok(items
                .into_iter()
                .filter_map(|i| match i {
                    Value::Object(o) => Some(o),
                    _ => None,
                })
                .collect()),
            _ => Err(invalid("the body must be a JSON object")),
        },
        Some(_) => {
            if std::str::from_utf8(body).is_err() {
                return Err(invalid("the body is neither JSON nor form-encoded text"));
            }
            let mut map = Map::new();
            for (k, v) in form_urlencoded::parse(body) {
                map.entry(k.into_owned()).or_insert_with(|| Value::String(v.into_owned()));
            }
            if map.is_empty() {
                return Err(invalid("the body is neither JSON nor form-encoded fields"));
            }
            Ok(vec![map])
        }
    }
}

/// How a provider without a published inbound schema names its fields (each list in order of
/// preference; keys match case-insensitively).
pub(crate) struct FlatSpec {
    /// Prefix of ids made up when the payload carries none.
    pub id_prefix: &'static str,
    /// Message id keys.
    pub id: &'static [&'static str],
    /// Sender keys.
    pub from: &'static [&'static str],
    /// Business number keys.
    pub to: &'static [&'static str],
    /// Text keys.
    pub text: &'static [&'static str],
    /// Media keys (a URL, an array of URLs, or objects with `url`).
    pub media: &'static [&'static str],
    /// Media MIME type keys (for a single media URL).
    pub media_type: &'static [&'static str],
    /// Media size keys (for a single media URL).
    pub media_size: &'static [&'static str],
    /// Timestamp keys.
    pub time: &'static [&'static str],
    /// Media URLs that are not the customer's files (e.g. VoiceMeUp's `.mms.html` wrapper).
    pub skip_media: fn(&str, Option<&str>) -> bool,
}

impl FlatSpec {
    /// The common key spellings only (providers that document no inbound schema of their own).
    pub(crate) const fn common(id_prefix: &'static str) -> Self {
        Self {
            id_prefix,
            id: COMMON_ID,
            from: COMMON_FROM,
            to: COMMON_TO,
            text: COMMON_TEXT,
            media: COMMON_MEDIA,
            media_type: COMMON_MEDIA_TYPE,
            media_size: COMMON_MEDIA_SIZE,
            time: COMMON_TIME,
            skip_media: keep_all_media,
        }
    }
}

/// The keys every tolerant parser accepts besides its provider's own.
pub(crate) const COMMON_ID: &[&str] = &["id", "message_id", "messageId", "msg_id", "uuid", "message_uuid", "sms_id"];
/// Common sender keys.
pub(crate) const COMMON_FROM: &[&str] =
    &["from", "source", "source_number", "sender", "src", "caller_id_number", "msisdn"];
/// Common business number keys.
pub(crate) const COMMON_TO: &[&str] = &["to", "destination", "destination_number", "recipient", "dst", "did", "number"];
/// Common text keys.
pub(crate) const COMMON_TEXT: &[&str] = &["text", "body", "message", "content", "msg", "sms_body"];
/// Common media keys.
pub(crate) const COMMON_MEDIA: &[&str] =
    &["media", "media_urls", "mediaUrls", "attachment", "attachment_url", "attachments", "MediaUrl0"];
/// Common media type keys.
pub(crate) const COMMON_MEDIA_TYPE: &[&str] =
    &["attachment_mime_type", "attachment_type", "media_type", "mime_type", "content_type", "MediaContentType0"];
/// Common media size keys.
pub(crate) const COMMON_MEDIA_SIZE: &[&str] = &["attachment_size", "media_size", "size"];
/// Common timestamp keys.
pub(crate) const COMMON_TIME: &[&str] =
    &["timestamp", "received_at", "time", "date_created", "created_at", "datetime", "datetime_transmission", "date"];

/// Never skips a media URL.
pub(crate) fn keep_all_media(_url: &str, _content_type: Option<&str>) -> bool {
    false
}

fn lookup<'a>(obj: &'a Map<String, Value>, keys: &'a [&'a str]) -> Option<(&'a str, &'a Value)> {
    keys.iter().find_map(|key| {
        obj.get(*key)
            .map(|v| (*key, v))
            .or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(k, v)| (k.as_str(), v)))
            .filter(|(_, v)| !v.is_null())
    })
}

/// Parses a flat SMS callback (JSON object(s) or form fields) with the field names of `spec`.
/// A nested `data` object (or `data.attributes`) is read when the top level has no sender.
/// Records with `direction` outbound / `mt`, and records with neither sender nor text (status
/// pings the provider may send), are skipped; so are messages with neither text nor media.
pub(crate) fn parse_flat(input: &WebhookInput<'_>, spec: &FlatSpec) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let mut events = Vec::new();
    for record in json_or_form(input.body)? {
        let obj = unwrap_data(&record);
        if let Some((_, d)) = lookup(obj, &["direction"])
            && let Some(d) = scalar(d)
            && matches!(d.to_ascii_lowercase().as_str(), "outbound" | "out" | "mt" | "sent" | "outgoing")
        {
            continue;
        }
        let from = lookup(obj, spec.from).and_then(|(_, v)| scalar(v));
        let text = lookup(obj, spec.text).and_then(|(_, v)| text_of(Some(v)));
        let media = flat_media(obj, spec)?;
        if text.is_none() && media.is_empty() {
            continue;
        }
        let from_field = lookup(obj, spec.from).map(|(k, _)| k).unwrap_or(spec.from.first().copied().unwrap_or("from"));
        let from = customer(from.as_deref(), from_field)?;
        let (to_field, to_value) = match lookup(obj, spec.to) {
            Some((k, v)) => (k, Some(v)),
            None => (spec.to.first().copied().unwrap_or("to"), None),
        };
        let to = business_numbers(to_value, to_field)?;
        let provider_message_id = match lookup(obj, spec.id).and_then(|(k, v)| scalar(v).map(|s| (k, s))) {
            Some((k, id)) => message_id(&id, k)?,
            None => message_id(&synthetic_id(spec.id_prefix, input.body, input.now), "id")?,
        };
        events.push(WebhookEvent::Message(ParsedMessage {
            provider_message_id,
            from,
            to,
            text,
            media,
            sent_at: timestamp_or(lookup(obj, spec.time).map(|(_, v)| v), input.now),
            display_name: None,
        }));
    }
    Ok(events)
}

fn unwrap_data(record: &Map<String, Value>) -> &Map<String, Value> {
    if record.contains_key("from") || record.contains_key("From") {
        return record;
    }
    match record.get("data") {
        Some(Value::Object(d)) => match d.get("attributes") {
            Some(Value::Object(a)) => a,
            _ => d,
        },
        _ => record,
    }
}

fn flat_media(obj: &Map<String, Value>, spec: &FlatSpec) -> Result<Vec<MediaRef>, WebhookRejection> {
    let Some((field, value)) = lookup(obj, spec.media) else { return Ok(Vec::new()) };
    let single_type = lookup(obj, spec.media_type).and_then(|(_, v)| scalar(v));
    let single_size = lookup(obj, spec.media_size).and_then(|(_, v)| size_of(v));
    let mut out = Vec::new();
    let mut push = |url: String, content_type: Option<String>, size: Option<u64>| -> Result<(), WebhookRejection> {
        if !(spec.skip_media)(&url, content_type.as_deref()) {
            out.push(media_ref(&url, content_type, size, field)?);
        }
        Ok(())
    };
    match value {
        Value::String(s) if !s.trim().is_empty() => push(s.trim().to_owned(), single_type, single_size)?,
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::String(s) if !s.trim().is_empty() => push(s.trim().to_owned(), None, None)?,
                    Value::Object(o) => {
                        let url = ["url", "href", "media_url", "link"].iter().find_map(|k| o.get(*k).and_then(scalar));
                        if let Some(url) = url {
                            let ct = ["content_type", "mime_type", "type", "contentType"]
                                .iter()
                                .find_map(|k| o.get(*k).and_then(scalar));
                            let size = o.get("size").and_then(size_of);
                            push(url, ct, size)?;
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Object(o) => {
            if let Some(url) = o.get("url").and_then(scalar) {
                let ct = o.get("content_type").or_else(|| o.get("mime_type")).and_then(scalar);
                push(url, ct, o.get("size").and_then(size_of))?;
            }
        }
        _ => {}
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;
    use crate::webhook::Headers;
    use proptest::prelude::*;

    pub(crate) const NOW: Timestamp = Timestamp::from_unix_seconds(1_795_000_000);

    pub(crate) fn input<'a>(headers: &'a Headers, body: &'a [u8]) -> WebhookInput<'a> {
        WebhookInput {
            public_url: "https://sms.example.com/api/v1.0/webhook/x/429ced149ff9437695be795aff38407b",
            headers,
            body,
            now: NOW,
        }
    }

    pub(crate) fn only_message(events: Vec<WebhookEvent>) -> ParsedMessage {
        assert_eq!(events.len(), 1, "{events:?}");
        match events.into_iter().next() {
            Some(WebhookEvent::Message(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Inbound MMS as the v2.1 docs describe it (receive-an-mms), numbers without `+`.
    pub(crate) const MMS: &str = r#"{
      "data": {
        "attributes": {
          "amount_display": "0.0095", "amount_nanodollars": 9500000,
          "body": "Here is the picture", "delivery_receipts": [], "direction": "inbound",
          "from": "12066418000", "is_mms": true, "message_encoding": 0, "message_type": "longcode",
          "status": "delivered", "timestamp": "2017-10-18T18:41:59.26Z", "to": "18553569768"
        },
        "id": "mdr2-8fe1b5f4d8c111e7a61d0ebd8a1d58c4",
        "relationships": {"media": {"data": [{"id": "e1bfb4c6-b11d-11e7-8e56-ef14ddc4bc6e", "type": "media"}]}},
        "type": "message"
      },
      "included": [
        {
          "attributes": {"file_name": "IMG_0001.jpg", "file_size": 57366, "mime_type": "image/jpeg",
                         "url": "https://mms-media-prod.s3.amazonaws.com/614eb62e-IMG_0001.jpg"},
          "id": "e1bfb4c6-b11d-11e7-8e56-ef14ddc4bc6e",
          "links": {"self": "https://api.flowroute.com/v2.1/media/e1bfb4c6-b11d-11e7-8e56-ef14ddc4bc6e"},
          "type": "media"
        }
      ]
    }"#;

    const SMS: &str = r#"{"data":{"attributes":{"body":"Hello there","direction":"inbound","from":"12066418000","is_mms":false,"message_type":"longcode","status":"delivered","timestamp":"2017-10-18T18:41:59.26Z","to":"18553569768"},"id":"mdr2-ca82be46e6ba11e7a3a3d2bb1e4a2b8a","type":"message"}}"#;

    fn parse_str(body: &str) -> Result<Vec<WebhookEvent>, WebhookRejection> {
        let h = Headers::default();
        parse(&input(&h, body.as_bytes()))
    }

    /// An `events/` sample as (credentials built from its `<slug>.credentials.json`, headers, body).
    pub(crate) fn sample(
        provider: crate::channel::Provider,
        event: &str,
        credentials: &str,
    ) -> (crate::credentials::Credentials, Headers, Vec<u8>) {
        let event: Value = serde_json::from_str(event).unwrap();
        let values: crate::credentials::KeyValues = serde_json::from_str(credentials).unwrap();
        let creds = crate::credentials::Credentials::from_values(provider, &values).unwrap();
        assert_eq!(event["requestContext"]["domainName"], "sms.example.com");
        assert_eq!(
            event["rawPath"].as_str().unwrap(),
            format!("/api/v1.0/webhook/{}/429ced149ff9437695be795aff38407b", provider.slug())
        );
        let headers = Headers::from_pairs(
            event["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())),
        );
        let body = event["body"].as_str().unwrap().as_bytes().to_vec();
        assert_eq!(headers.get("content-length").unwrap(), body.len().to_string());
        (creds, headers, body)
    }

    /// Checks a sample's one message: the seed's business number and our test customer.
    pub(crate) fn assert_sample_message(events: Vec<WebhookEvent>) -> ParsedMessage {
        let m = only_message(events);
        assert_eq!(m.to, vec!["+14102161183".to_owned()]);
        assert_eq!(m.from.as_str(), "+14105550123");
        assert_eq!(m.text.as_deref(), Some("Hello, I need help with my order #4412."));
        m
    }

    #[test]
    fn sample_event_verifies_and_parses() {
        let (creds, headers, body) = sample(
            crate::channel::Provider::Flowroute,
            include_str!("../../../../events/webhook-ingest.flowroute-inbound.json"),
            include_str!("../../../../events/flowroute.credentials.json"),
        );
        let crate::credentials::Credentials::Flowroute(keys) = creds else { panic!("not flowroute") };
        let input = input(&headers, &body);
        assert_eq!(verify(&keys, &input), Ok(()));
        let m = assert_sample_message(parse(&input).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "mdr2-5f2a8c3e4b1d11f0a1b20242ac120002");
    }

    #[test]
    fn when_an_sms_arrives_should_add_the_plus_to_both_numbers() {
        let m = only_message(parse_str(SMS).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "mdr2-ca82be46e6ba11e7a3a3d2bb1e4a2b8a");
        assert_eq!(m.from.as_str(), "+12066418000");
        assert_eq!(m.to, vec!["+18553569768".to_owned()]);
        assert_eq!(m.text.as_deref(), Some("Hello there"));
        assert!(m.media.is_empty());
        assert_eq!(m.sent_at.to_rfc3339(), "2017-10-18T18:41:59.260Z");
    }

    #[test]
    fn when_an_mms_arrives_should_take_media_from_included() {
        let m = only_message(parse_str(MMS).unwrap());
        assert_eq!(m.media.len(), 1);
        assert_eq!(m.media[0].url, "https://mms-media-prod.s3.amazonaws.com/614eb62e-IMG_0001.jpg");
        assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(m.media[0].size, Some(57366));
    }

    #[test]
    fn when_a_delivery_receipt_arrives_should_report_its_status() {
        let dlr = |status: &str| {
            format!(
                r#"{{"data":{{"attributes":{{"body":"","level":2,"status":"{status}","status_code":"1003","status_code_description":"Message delivered to handset","timestamp":"2019-08-09T16:02:11.000Z"}},"id":"mdr2-39cadeace66e11e7aff806cd7f24ba2d","links":{{"related":"https://api.flowroute.com/v2.1/messages/mdr2-39cadeace66e11e7aff806cd7f24ba2d"}},"type":"delivery_receipt"}}}}"#
            )
        };
        let events = parse_str(&dlr("delivered")).unwrap();
        let [WebhookEvent::Status(r)] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(r.provider_message_id, "mdr2-39cadeace66e11e7aff806cd7f24ba2d");
        assert_eq!(r.status, ReportedStatus::Delivered);
        assert_eq!(r.at.to_rfc3339(), "2019-08-09T16:02:11.000Z");
        let status_of = |s: &str| match parse_str(&dlr(s)).unwrap().pop() {
            Some(WebhookEvent::Status(r)) => r.status,
            other => panic!("{other:?}"),
        };
        assert_eq!(status_of("message buffered"), ReportedStatus::Sent);
        assert_eq!(status_of("smsc submit"), ReportedStatus::Sent);
        assert!(matches!(status_of("delivery failed"), ReportedStatus::Failed { code: Some(c), .. } if c == "1003"));
        assert!(matches!(status_of("undelivered"), ReportedStatus::Undelivered { .. }));
        assert!(matches!(status_of("expired"), ReportedStatus::Undelivered { .. }));
    }

    #[test]
    fn when_the_legacy_flat_form_arrives_should_still_parse() {
        let body = r#"{"to": "12066418000", "body": "Hello there from Flowroute!", "from": "18553569768", "id": "mdr1-febb118b9b034338adf0662a3c02fd88"}"#;
        let m = only_message(parse_str(body).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "mdr1-febb118b9b034338adf0662a3c02fd88");
        assert_eq!(m.to, vec!["+12066418000".to_owned()]);
        assert_eq!(m.sent_at, NOW);
    }

    #[test]
    fn when_the_event_is_not_ours_should_skip_it() {
        assert!(parse_str(r#"{"data":{"type":"number","id":"1","attributes":{}}}"#).unwrap().is_empty());
        let outbound = SMS.replace(r#""direction":"inbound""#, r#""direction":"outbound""#);
        // an outbound MDR with a status is a report on our own message
        let events = parse_str(&outbound).unwrap();
        assert!(matches!(
            events.as_slice(),
            [WebhookEvent::Status(StatusReport { status: ReportedStatus::Delivered, .. })]
        ));
    }

    #[test]
    fn when_the_body_breaks_the_contract_should_name_the_field() {
        assert!(matches!(parse_str("{nope"), Err(WebhookRejection::MalformedJson(_))));
        let cases = [
            (r#"{"data": 3}"#, "data must be"),
            (r#"{"data":{"type":"message","id":"x"}}"#, "data.attributes"),
            (&SMS.replace(r#""from":"12066418000","#, ""), "data.attributes.from is required"),
            (&SMS.replace(r#""from":"12066418000""#, r#""from":"+""#), "data.attributes.from"),
            (&SMS.replace(r#""to":"18553569768""#, r#""to":"""#), "data.attributes.to is required"),
            (&SMS.replace(r#","id":"mdr2-ca82be46e6ba11e7a3a3d2bb1e4a2b8a""#, ""), "data.id is required"),
            (&MMS.replace("https://mms-media-prod", "ftp://mms-media-prod"), "included[].attributes.url"),
        ];
        for (body, needle) in cases {
            let err = parse_str(body).unwrap_err();
            assert!(err.to_string().contains(needle), "{body} -> {err}");
        }
    }

    #[test]
    fn verify_accepts_everything_because_flowroute_signs_nothing() {
        let h = Headers::default();
        let keys = KeyPair { id: "a".into(), secret: crate::secret::Secret::new("b") };
        assert_eq!(verify(&keys, &input(&h, b"anything")), Ok(()));
    }

    #[test]
    fn numbers_are_normalised_like_channels_store_them() {
        assert_eq!(normalise_number("12066418000"), "+12066418000");
        assert_eq!(normalise_number("2066418000"), "+12066418000");
        assert_eq!(normalise_number("+1 (206) 641-8000"), "+12066418000");
        assert_eq!(normalise_number("0033612345678"), "+33612345678");
        assert_eq!(normalise_number("447700900123"), "+447700900123");
        assert_eq!(normalise_number("72345"), "72345");
        assert_eq!(normalise_number(" MyBrand "), "MyBrand");
    }

    #[test]
    fn timestamps_fall_back_to_now() {
        use serde_json::json;
        assert_eq!(timestamp_or(Some(&json!("2026-01-28 10:29:02")), NOW), NOW);
        assert_eq!(timestamp_or(Some(&json!(1_700_000_000)), NOW), Timestamp::from_unix_seconds(1_700_000_000));
        assert_eq!(timestamp_or(Some(&json!("1700000000123")), NOW), Timestamp::from_millis(1_700_000_000_123));
        assert_eq!(timestamp_or(None, NOW), NOW);
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let h = Headers::default();
            let _ = parse(&input(&h, &body));
        }
    }
}
