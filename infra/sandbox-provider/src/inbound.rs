//! Inbound webhooks (provider → PBX): the Telnyx-like `message.received` envelope of the seed's
//! example, and its `X-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>` signature.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::model::InboundSpec;

/// The signature header name.
pub const SIGNATURE_HEADER: &str = "X-Signature-256";

/// `YYYY-MM-DDTHH:MM:SS.mmm+00:00`.
pub fn timestamp(now: time::OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+00:00");
    now.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// The webhook body for `spec`, delivered to `webhook_url`, with payload id `payload_id`.
pub fn inbound_body(spec: &InboundSpec, payload_id: &str, webhook_url: &str, now: time::OffsetDateTime) -> Value {
    let stamp = timestamp(now);
    let mut payload = Map::new();
    payload.insert("id".into(), json!(payload_id));
    payload.insert("direction".into(), json!("inbound"));
    payload.insert("from".into(), json!({"phone_number": spec.from, "carrier": "Sandbox", "line_type": "long_code"}));
    let to = if spec.to_as_object {
        json!({"phone_number": spec.to})
    } else {
        json!([{"phone_number": spec.to, "status": "webhook_delivered"}])
    };
    payload.insert("to".into(), to);
    if let Some(text) = &spec.text {
        payload.insert("text".into(), json!(text));
    }
    if !spec.media_urls.is_empty() {
        let media: Vec<Value> = spec
            .media_urls
            .iter()
            .map(|url| json!({"url": url, "content_type": null, "sha256": null, "size": null}))
            .collect();
        payload.insert("media".into(), Value::Array(media));
    }
    payload.insert("received_at".into(), json!(stamp));
    payload.insert("record_type".into(), json!("message"));
    payload.insert("type".into(), json!("SMS"));
    json!({
        "data": {
            "event_type": "message.received",
            "id": uuid::Uuid::new_v4().to_string(),
            "occurred_at": stamp,
            "payload": Value::Object(payload),
            "record_type": "event",
        },
        "meta": {"attempt": 1, "delivered_to": webhook_url},
    })
}

/// `sha256=<lowercase hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let digest = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    format!("sha256={}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_formatting_timestamps_should_use_milliseconds_and_utc_offset() {
        let t = time::macros::datetime!(2024-01-02 03:04:05.678901 +02:00);
        assert_eq!(timestamp(t), "2024-01-02T01:04:05.678+00:00");
    }

    #[test]
    fn when_signing_should_prefix_sha256_and_use_lowercase_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
