//! Yeastar "General SMS API" inbound webhooks: signature verification and body parsing
//! (seed 000 L1572-1614 and L1978-2164; seed 001 §1.4.6; decisions.md "Webhooks in").
//!
//! Signature: `X-Signature-256: sha256=<lowercase hex HMAC-SHA256(secret, raw body)>`. The header
//! name is matched case-insensitively (the seed spells it `x-Signature-256` and `X-Signature-256`);
//! the hex must be lowercase (seed 000 L1605); the MAC is checked in constant time.
//!
//! Body: `data.event_type` = `message.received`; `data.payload.id` (≤ 255 chars; `data.id` when
//! absent); `data.payload.from.phone_number`; `data.payload.to` as an object or an array of
//! objects with `phone_number` (the seed's table and its example disagree); `text` and/or `media`
//! (at least one); `received_at` in ISO 8601 with offset; `record_type` = `message`.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::ids::ProviderMessageId;
use crate::inbound::MediaRef;
use crate::phone::CustomerAddress;
use crate::secret::Secret;
use crate::time::Timestamp;
use crate::webhook::{Headers, WebhookRejection};

/// Name of the signature header (compared case-insensitively).
pub const SIGNATURE_HEADER: &str = "x-signature-256";

/// Checks the `X-Signature-256` header against the raw body.
pub fn verify_signature(secret: &Secret, headers: &Headers, body: &[u8]) -> Result<(), WebhookRejection> {
    let value = headers.get(SIGNATURE_HEADER).ok_or(WebhookRejection::SignatureMissing)?;
    let hex_sig = value
        .trim()
        .strip_prefix("sha256=")
        .ok_or(WebhookRejection::SignatureMalformed("the value must start with 'sha256='"))?;
    if hex_sig.len() != 64 || !hex_sig.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(WebhookRejection::SignatureMalformed("the signature must be 64 lowercase hex characters"));
    }
    let expected =
        hex::decode(hex_sig).map_err(|_| WebhookRejection::SignatureMalformed("the signature is not hex"))?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).map_err(|_| WebhookRejection::SignatureMismatch)?;
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| WebhookRejection::SignatureMismatch)
}

/// Computes the header value a provider sends for `body` (used by tests, fixtures and the sandbox).
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so construction cannot fail; fall back to an empty MAC
    // input rather than panic if that ever changes.
    match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::from("sha256="),
    }
}

/// A General webhook body, parsed and checked, before the business number is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneralWebhook {
    /// `data.payload.id`, or `data.id` when the payload has none.
    pub provider_message_id: ProviderMessageId,
    /// `data.payload.from.phone_number`.
    pub from: CustomerAddress,
    /// Every `data.payload.to[].phone_number`, in order.
    pub to: Vec<String>,
    /// `data.payload.text` (absent or empty: none).
    pub text: Option<String>,
    /// `data.payload.media`.
    pub media: Vec<MediaRef>,
    /// `data.payload.received_at`.
    pub received_at: Timestamp,
}

/// Parses and checks a General webhook body.
pub fn parse(body: &[u8]) -> Result<GeneralWebhook, WebhookRejection> {
    let root: Value = serde_json::from_slice(body).map_err(|e| WebhookRejection::MalformedJson(e.to_string()))?;
    let invalid = |msg: &str| WebhookRejection::InvalidPayload(msg.to_owned());
    let data = root.get("data").filter(|d| d.is_object()).ok_or_else(|| invalid("'data' must be an object"))?;

    match data.get("event_type").and_then(Value::as_str) {
        Some("message.received") => {}
        Some(other) => {
            return Err(WebhookRejection::InvalidPayload(format!(
                "data.event_type '{other}' is not supported; only 'message.received' is"
            )));
        }
        None => return Err(invalid("data.event_type is required and must be 'message.received'")),
    }
    let payload =
        data.get("payload").filter(|p| p.is_object()).ok_or_else(|| invalid("data.payload must be an object"))?;

    let id_text = payload
        .get("id")
        .and_then(Value::as_str)
        .or_else(|| data.get("id").and_then(Value::as_str))
        .ok_or_else(|| invalid("data.payload.id is required"))?;
    let provider_message_id = ProviderMessageId::parse(id_text)
        .map_err(|e| WebhookRejection::InvalidPayload(format!("data.payload.id {}", e.reason)))?;

    if let Some(record_type) = payload.get("record_type") {
        if record_type.as_str() != Some("message") {
            return Err(invalid("data.payload.record_type must be 'message'"));
        }
    } else {
        return Err(invalid("data.payload.record_type is required and must be 'message'"));
    }

    let from_text = payload
        .get("from")
        .and_then(|f| f.get("phone_number"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("data.payload.from.phone_number is required"))?;
    let from = CustomerAddress::parse(from_text)
        .map_err(|e| WebhookRejection::InvalidPayload(format!("data.payload.from.phone_number {}", e.0)))?;

    let to = match payload.get("to") {
        Some(Value::Object(o)) => o.get("phone_number").and_then(Value::as_str).map(|s| vec![s.to_owned()]),
        Some(Value::Array(items)) => {
            let numbers: Option<Vec<String>> =
                items.iter().map(|i| i.get("phone_number").and_then(Value::as_str).map(str::to_owned)).collect();
            numbers.filter(|n| !n.is_empty())
        }
        _ => None,
    }
    .ok_or_else(|| invalid("data.payload.to.phone_number is required (an object, or an array of objects)"))?;

    let text = match payload.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("data.payload.text must be a string")),
    };

    let media = match payload.get("media") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(parse_media).collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(invalid("data.payload.media must be an array")),
    };
    if text.is_none() && media.is_empty() {
        return Err(invalid("either data.payload.text or data.payload.media must be provided"));
    }

    let received_text = payload.get("received_at").and_then(Value::as_str).ok_or_else(|| {
        invalid("data.payload.received_at is required (ISO 8601, e.g. 2019-12-09T20:16:07.588+08:00)")
    })?;
    let received_at = Timestamp::parse_rfc3339(received_text).map_err(|_| {
        invalid("data.payload.received_at must be ISO 8601 with an offset, e.g. 2019-12-09T20:16:07.588+08:00")
    })?;

    Ok(GeneralWebhook { provider_message_id, from, to, text, media, received_at })
}

fn parse_media(item: &Value) -> Result<MediaRef, WebhookRejection> {
    let invalid = |msg: &str| WebhookRejection::InvalidPayload(msg.to_owned());
    let url_text =
        item.get("url").and_then(Value::as_str).ok_or_else(|| invalid("every data.payload.media item needs a url"))?;
    let parsed =
        url::Url::parse(url_text).map_err(|_| invalid("data.payload.media url must be an absolute http(s) URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("data.payload.media url must be an absolute http(s) URL"));
    }
    Ok(MediaRef {
        url: url_text.to_owned(),
        content_type: item.get("content_type").and_then(Value::as_str).map(str::to_owned),
        sha256: item.get("sha256").and_then(Value::as_str).map(str::to_owned),
        size: item.get("size").and_then(Value::as_u64),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The seed's full example (seed 000 L2064-2155), comments removed: `to` is an array.
    pub(crate) const SEED_EXAMPLE: &str = r#"{
      "data": {
        "event_type": "message.received",
        "id": "b301ed3f-1490-491f-995f-6e64e69674d4",
        "occurred_at": "2019-12-09T20:16:07.588+00:00",
        "payload": {
          "completed_at": null, "cost": null, "direction": "inbound", "encoding": "GSM-7", "errors": [],
          "from": {"carrier": "T-Mobile USA", "line_type": "long_code", "phone_number": "+8618012121222", "status": "webhook_delivered"},
          "id": "84cca175-9755-4859-b67f-4730d7f58aa3",
          "media": [{"content_type": null, "sha256": null, "size": null, "url": "https://pbs.twimg.com/profile_images/1142168442042118144/AW3F4fFD_400x400.png"}],
          "messaging_profile_id": "740572b6-099c-44a1-89b9-6c92163bc68d",
          "organization_id": "47a530f8-4362-4526-829b-bcee17fd9f7a",
          "parts": 1,
          "received_at": "2019-12-09T20:16:07.503+00:00",
          "record_type": "message",
          "sent_at": null, "tags": [], "text": "Hello from PBX!",
          "to": [{"carrier": "PBX", "line_type": "Wireless", "phone_number": "+8618012121223", "status": "webhook_delivered"}],
          "type": "SMS/MMS", "valid_until": null, "webhook_failover_url": null,
          "webhook_url": "http://webhook.site/04bbd2e3-09b5-4c9e-95de-aldebeb9e675"
        },
        "record_type": "event"
      },
      "meta": {"attempt": 1, "delivered_to": "http://webhook.site/04bbd2e3-09b5-4c9e-95de-aldebeb9e675"}
    }"#;

    fn headers(sig: &str) -> Headers {
        Headers::from_pairs([("X-Signature-256", sig)])
    }

    #[test]
    fn when_seed_example_is_parsed_should_yield_every_field() {
        let w = parse(SEED_EXAMPLE.as_bytes()).unwrap();
        assert_eq!(w.provider_message_id.as_str(), "84cca175-9755-4859-b67f-4730d7f58aa3");
        assert_eq!(w.from.as_str(), "+8618012121222");
        assert_eq!(w.to, vec!["+8618012121223".to_owned()]);
        assert_eq!(w.text.as_deref(), Some("Hello from PBX!"));
        assert_eq!(w.media.len(), 1);
        assert_eq!(w.media[0].content_type, None);
        assert_eq!(w.received_at.to_rfc3339(), "2019-12-09T20:16:07.503Z");
    }

    #[test]
    fn when_to_is_an_object_should_parse_like_the_seed_table_says() {
        let body = SEED_EXAMPLE.replace(
            r#""to": [{"carrier": "PBX", "line_type": "Wireless", "phone_number": "+8618012121223", "status": "webhook_delivered"}]"#,
            r#""to": {"phone_number": "+8618012121223"}"#,
        );
        assert_eq!(parse(body.as_bytes()).unwrap().to, vec!["+8618012121223".to_owned()]);
    }

    #[test]
    fn when_payload_id_is_missing_should_fall_back_to_the_event_id() {
        let body = SEED_EXAMPLE.replace(r#""id": "84cca175-9755-4859-b67f-4730d7f58aa3","#, "");
        assert_eq!(
            parse(body.as_bytes()).unwrap().provider_message_id.as_str(),
            "b301ed3f-1490-491f-995f-6e64e69674d4"
        );
    }

    #[test]
    fn when_body_breaks_the_contract_should_say_which_field() {
        let cases = [
            ("{not json", "malformed"),
            (r#"{"data": 3}"#, "'data' must be an object"),
            (r#"{"data": {"event_type": "message.sent", "payload": {}}}"#, "not supported"),
            (r#"{"data": {"payload": {}}}"#, "event_type is required"),
        ];
        for (body, needle) in cases {
            let err = parse(body.as_bytes()).unwrap_err();
            assert!(err.to_string().contains(needle), "{body} -> {err}");
        }
        let no_text_no_media = SEED_EXAMPLE
            .replace(r#""text": "Hello from PBX!","#, "")
            .replace(
                r#""media": [{"content_type": null, "sha256": null, "size": null, "url": "https://pbs.twimg.com/profile_images/1142168442042118144/AW3F4fFD_400x400.png"}],"#,
                "",
            );
        assert!(parse(no_text_no_media.as_bytes()).unwrap_err().to_string().contains("either"));
        let bad_from = SEED_EXAMPLE.replace("+8618012121222", "not-a-number");
        assert!(parse(bad_from.as_bytes()).unwrap_err().to_string().contains("from.phone_number"));
        let bad_time = SEED_EXAMPLE.replace("2019-12-09T20:16:07.503+00:00", "yesterday");
        assert!(parse(bad_time.as_bytes()).unwrap_err().to_string().contains("received_at"));
        let long_id = SEED_EXAMPLE.replace("84cca175-9755-4859-b67f-4730d7f58aa3", &"x".repeat(256));
        assert!(parse(long_id.as_bytes()).unwrap_err().to_string().contains("255"));
    }

    #[test]
    fn when_signature_is_right_should_verify_and_any_change_should_fail() {
        let secret = Secret::new("mySuperSecret123");
        let body = SEED_EXAMPLE.as_bytes();
        let good = sign(&secret, body);
        assert!(verify_signature(&secret, &headers(&good), body).is_ok());
        // header name in other cases
        assert!(verify_signature(&secret, &Headers::from_pairs([("x-Signature-256", good.as_str())]), body).is_ok());
        // uppercase hex is refused (seed 000 L1605)
        let upper = format!("sha256={}", good.trim_start_matches("sha256=").to_uppercase());
        assert!(matches!(
            verify_signature(&secret, &headers(&upper), body),
            Err(WebhookRejection::SignatureMalformed(_))
        ));
        // missing prefix, missing header, wrong secret, changed body, trailing newline
        assert!(verify_signature(&secret, &headers(good.trim_start_matches("sha256=")), body).is_err());
        assert_eq!(verify_signature(&secret, &Headers::default(), body), Err(WebhookRejection::SignatureMissing));
        assert_eq!(
            verify_signature(&Secret::new("other"), &headers(&good), body),
            Err(WebhookRejection::SignatureMismatch)
        );
        let mut changed = body.to_vec();
        changed.push(b'\n');
        assert_eq!(verify_signature(&secret, &headers(&good), &changed), Err(WebhookRejection::SignatureMismatch));
    }

    #[test]
    fn known_vector_matches_an_independent_hmac_computation() {
        // HMAC-SHA256(key="key", "The quick brown fox jumps over the lazy dog") from RFC 4231-style
        // published examples (Wikipedia "HMAC" article).
        let sig = sign(&Secret::new("key"), b"The quick brown fox jumps over the lazy dog");
        assert_eq!(sig, "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
        // empty body
        let empty = sign(&Secret::new("key"), b"");
        assert_eq!(empty, "sha256=5d5d139563c95b5967b9bd9a8c9b233a9dedb45072794cd232dc1b74832607d0");
    }

    proptest! {
        #[test]
        fn any_body_signed_with_the_secret_verifies(body in proptest::collection::vec(any::<u8>(), 0..512), key in "[ -~]{1,40}") {
            let secret = Secret::new(key);
            let sig = sign(&secret, &body);
            prop_assert!(verify_signature(&secret, &headers(&sig), &body).is_ok());
        }

        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&body);
        }
    }
}
