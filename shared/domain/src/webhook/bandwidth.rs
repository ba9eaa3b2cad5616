//! Bandwidth Messaging v2 inbound callbacks (../shared/research/provider-contracts.md §4; seed 000
//! §1.1; seed 001 §1.3.2-1.3.3).
//!
//! **Verification: HTTP Basic.** Bandwidth signs nothing; it authenticates callbacks with the
//! application's callback credentials (`InboundCallbackCreds` / `OutboundCallbackCreds`, RFC 7617)
//! [DOC dev.bandwidth.com/docs/account/applications]. Our decision: **the Bandwidth messaging
//! application's callback user name and password must be set to the channel's Username and
//! Password** (the API user the channel already stores), so every callback carries
//! `Authorization: Basic base64(username:password)`. The scheme is matched case-insensitively,
//! the decoded text split on the first `:`, and both halves compared in constant time. No header
//! → `SignatureMissing`; a header that is not Basic, not Base64 or has no `:` →
//! `SignatureMalformed`; other credentials → `Unauthorized`. The URL token is checked before.
//!
//! Body: a JSON **array** of events `{type, time, description, to, errorCode?, message:{id, owner,
//! applicationId, time, segmentCount, direction, to[], from, text, media[]?}}`
//! [SDK Bandwidth/python-sdk models/inbound_callback_message.py]:
//! - `message-received` → a customer message; the business number is the event's `to` (falling
//!   back to `message.owner`), id `message.id`, media `message.media[]` (URLs that need the same
//!   Basic credentials to download; `.smil` presentation files are dropped);
//! - `message-delivered` → Delivered; `message-failed` → Failed{`errorCode`, `description`},
//!   keyed by `message.id` (the id the send answer returned);
//! - `message-sending` (MMS accepted, not final) and unknown types → skipped.
//!
//! Bandwidth retries for 24 h and delivers at least once: duplicates are expected and deduplicated
//! downstream by message id.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::credentials::BandwidthCredentials;
use crate::secret::ct_eq;
use crate::webhook::flowroute::{
    business_numbers, customer, invalid, json_body, media_ref, message_id, scalar, text_of, timestamp_or,
};
use crate::webhook::{ParsedMessage, ReportedStatus, StatusReport, WebhookEvent, WebhookInput, WebhookRejection};

/// Checks the callback's `Authorization: Basic` against the channel's username and password.
pub fn verify(credentials: &BandwidthCredentials, input: &WebhookInput<'_>) -> Result<(), WebhookRejection> {
    let header = input.headers.get("authorization").ok_or(WebhookRejection::SignatureMissing)?;
    let header = header.trim();
    let (scheme, encoded) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(WebhookRejection::SignatureMalformed("the Authorization scheme must be Basic"));
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| WebhookRejection::SignatureMalformed("the Basic credentials are not Base64"))?;
    let text = String::from_utf8(decoded)
        .map_err(|_| WebhookRejection::SignatureMalformed("the Basic credentials are not UTF-8"))?;
    let (user, password) = text
        .split_once(':')
        .ok_or(WebhookRejection::SignatureMalformed("the Basic credentials must be user:password"))?;
    // Both comparisons always run (no short circuit on the user name).
    let user_ok = ct_eq(user.as_bytes(), credentials.username.as_bytes());
    let password_ok = ct_eq(password.as_bytes(), credentials.password.expose().as_bytes());
    if user_ok & password_ok { Ok(()) } else { Err(WebhookRejection::Unauthorized) }
}

/// The `Authorization` header value Bandwidth sends with these credentials (tests, fixtures and
/// the sandbox provider).
pub fn authorization(credentials: &BandwidthCredentials) -> String {
    format!("Basic {}", STANDARD.encode(format!("{}:{}", credentials.username, credentials.password.expose())))
}

/// Parses a verified request into its messages and status reports.
pub fn parse(input: &WebhookInput<'_>) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let root = json_body(input.body)?;
    let items: Vec<&Value> = match &root {
        Value::Array(items) => items.iter().collect(),
        // Bandwidth always sends an array; a single event object is accepted all the same.
        Value::Object(_) => vec![&root],
        _ => return Err(invalid("the body must be a JSON array of events")),
    };
    let mut events = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let kind = item.get("type").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "message-received" => {
                if let Some(m) = received(i, item, input)? {
                    events.push(WebhookEvent::Message(m));
                }
            }
            "message-delivered" | "message-failed" => events.push(WebhookEvent::Status(report(i, kind, item, input)?)),
            _ => {}
        }
    }
    Ok(events)
}

fn message_of(i: usize, item: &Value) -> Result<&Value, WebhookRejection> {
    item.get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| WebhookRejection::InvalidPayload(format!("[{i}].message must be an object")))
}

fn received(i: usize, item: &Value, input: &WebhookInput<'_>) -> Result<Option<ParsedMessage>, WebhookRejection> {
    let message = message_of(i, item)?;
    let id = message
        .get("id")
        .and_then(scalar)
        .ok_or_else(|| WebhookRejection::InvalidPayload(format!("[{i}].message.id is required")))?;
    let provider_message_id = message_id(&id, &format!("[{i}].message.id"))?;
    let from = customer(message.get("from").and_then(scalar).as_deref(), &format!("[{i}].message.from"))?;
    let to_value = item.get("to").filter(|v| scalar(v).is_some()).or_else(|| message.get("owner"));
    let to = business_numbers(to_value, &format!("[{i}].to"))?;
    let text = text_of(message.get("text"));
    let mut media = Vec::new();
    if let Some(Value::Array(urls)) = message.get("media") {
        for url in urls.iter().filter_map(scalar) {
            let lower = url.to_ascii_lowercase();
            if lower.ends_with(".smil") {
                continue;
            }
            media.push(media_ref(&url, None, None, &format!("[{i}].message.media[]"))?);
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
        sent_at: timestamp_or(message.get("time").or_else(|| item.get("time")), input.now),
        display_name: None,
    }))
}

fn report(i: usize, kind: &str, item: &Value, input: &WebhookInput<'_>) -> Result<StatusReport, WebhookRejection> {
    let message = message_of(i, item)?;
    let provider_message_id = message
        .get("id")
        .and_then(scalar)
        .ok_or_else(|| WebhookRejection::InvalidPayload(format!("[{i}].message.id is required")))?;
    let status = if kind == "message-delivered" {
        ReportedStatus::Delivered
    } else {
        ReportedStatus::Failed {
            code: item.get("errorCode").and_then(scalar),
            reason: item.get("description").and_then(scalar),
        }
    };
    Ok(StatusReport { provider_message_id, status, at: timestamp_or(item.get("time"), input.now) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::webhook::Headers;
    use crate::webhook::flowroute::tests::{NOW, input, only_message};
    use proptest::prelude::*;

    fn creds() -> BandwidthCredentials {
        BandwidthCredentials {
            application_id: "93de2206-9669-4e07-948d-329f4b722ee2".into(),
            account_id: "9900000".into(),
            username: "api-user".into(),
            password: Secret::new("p@ss:word"),
        }
    }

    /// The documented message-received example (dev.bandwidth.com messaging webhooks), MMS.
    const RECEIVED: &str = r#"[
      {
        "type": "message-received",
        "time": "2016-09-14T18:20:16Z",
        "description": "Incoming message received",
        "to": "+12345678902",
        "message": {
          "id": "14762070468292kw2fuqty55yp2b2",
          "time": "2016-09-14T18:20:16Z",
          "to": ["+12345678902"],
          "from": "+12345678901",
          "text": "Hey, check this out!",
          "applicationId": "93de2206-9669-4e07-948d-329f4b722ee2",
          "media": [
            "https://messaging.bandwidth.com/api/v2/users/9900000/media/14762070468292kw2fuqty55yp2b2/0/bw-picture.jpg",
            "https://messaging.bandwidth.com/api/v2/users/9900000/media/14762070468292kw2fuqty55yp2b2/1/smil.smil"
          ],
          "owner": "+12345678902",
          "direction": "in",
          "segmentCount": 1
        }
      }
    ]"#;

    const DELIVERED_AND_FAILED: &str = r#"[
      {"type": "message-sending", "time": "2016-09-14T18:20:16Z", "description": "MMS is sending", "to": "+12345678902",
       "message": {"id": "1589228074636lm4k2je7j7jklbn2", "owner": "+12345678901", "direction": "out", "to": ["+12345678902"], "from": "+12345678901", "text": "", "media": ["https://example.com/a.jpg"]}},
      {"type": "message-delivered", "time": "2016-09-14T18:20:17Z", "description": "ok", "to": "+12345678902",
       "message": {"id": "1589228074636lm4k2je7j7jklbn2", "owner": "+12345678901", "direction": "out", "to": ["+12345678902"], "from": "+12345678901", "text": "Hello"}},
      {"type": "message-failed", "time": "2016-09-14T18:20:18Z", "description": "rejected-unallocated-to-number", "errorCode": 4721, "to": "+12345678902",
       "message": {"id": "14762070468292kw2fuqty55yp2b3", "owner": "+12345678901", "direction": "out", "to": ["+12345678902"], "from": "+12345678901", "text": "Hello"}}
    ]"#;

    fn verify_with(value: Option<&str>) -> Result<(), WebhookRejection> {
        let headers = match value {
            Some(v) => Headers::from_pairs([("Authorization", v)]),
            None => Headers::default(),
        };
        verify(&creds(), &input(&headers, RECEIVED.as_bytes()))
    }

    #[test]
    fn when_basic_credentials_match_should_verify() {
        let good = authorization(&creds());
        assert_eq!(good, format!("Basic {}", STANDARD.encode("api-user:p@ss:word")));
        assert_eq!(verify_with(Some(&good)), Ok(()));
        // scheme in any case; the password may contain ':' (split on the first one)
        let lower = good.replacen("Basic", "basic", 1);
        assert_eq!(verify_with(Some(&lower)), Ok(()));
        let headers = Headers::from_pairs([("AUTHORIZATION", good.as_str())]);
        assert_eq!(verify(&creds(), &input(&headers, b"[]")), Ok(()));
    }

    #[test]
    fn when_basic_credentials_are_wrong_or_missing_should_refuse() {
        assert_eq!(verify_with(None), Err(WebhookRejection::SignatureMissing));
        let wrong = |u: &str, p: &str| format!("Basic {}", STANDARD.encode(format!("{u}:{p}")));
        assert_eq!(verify_with(Some(&wrong("api-user", "p@ss:wore"))), Err(WebhookRejection::Unauthorized));
        assert_eq!(verify_with(Some(&wrong("api-usex", "p@ss:word"))), Err(WebhookRejection::Unauthorized));
        assert_eq!(verify_with(Some(&wrong("", ""))), Err(WebhookRejection::Unauthorized));
        assert_eq!(verify_with(Some(&wrong("api-user", "p@ss"))), Err(WebhookRejection::Unauthorized));
        for malformed in ["Bearer abc", "Basic !!!", "Basic", &format!("Basic {}", STANDARD.encode("no-colon"))] {
            assert!(
                matches!(verify_with(Some(malformed)), Err(WebhookRejection::SignatureMalformed(_))),
                "{malformed}"
            );
        }
    }

    #[test]
    fn when_a_message_is_received_should_parse_it_without_the_smil() {
        let h = Headers::default();
        let m = only_message(parse(&input(&h, RECEIVED.as_bytes())).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "14762070468292kw2fuqty55yp2b2");
        assert_eq!(m.from.as_str(), "+12345678901");
        assert_eq!(m.to, vec!["+12345678902".to_owned()]);
        assert_eq!(m.text.as_deref(), Some("Hey, check this out!"));
        assert_eq!(m.media.len(), 1);
        assert!(m.media[0].url.ends_with("/0/bw-picture.jpg"));
        assert_eq!(m.sent_at.to_rfc3339(), "2016-09-14T18:20:16.000Z");
    }

    #[test]
    fn when_the_event_has_no_to_should_use_the_owner() {
        let body = RECEIVED.replace(r#""to": "+12345678902","#, "");
        let h = Headers::default();
        let m = only_message(parse(&input(&h, body.as_bytes())).unwrap());
        assert_eq!(m.to, vec!["+12345678902".to_owned()]);
    }

    #[test]
    fn when_status_callbacks_arrive_should_report_them_and_skip_sending() {
        let h = Headers::default();
        let events = parse(&input(&h, DELIVERED_AND_FAILED.as_bytes())).unwrap();
        assert_eq!(
            events,
            vec![
                WebhookEvent::Status(StatusReport {
                    provider_message_id: "1589228074636lm4k2je7j7jklbn2".into(),
                    status: ReportedStatus::Delivered,
                    at: crate::time::Timestamp::parse_rfc3339("2016-09-14T18:20:17Z").unwrap(),
                }),
                WebhookEvent::Status(StatusReport {
                    provider_message_id: "14762070468292kw2fuqty55yp2b3".into(),
                    status: ReportedStatus::Failed {
                        code: Some("4721".into()),
                        reason: Some("rejected-unallocated-to-number".into())
                    },
                    at: crate::time::Timestamp::parse_rfc3339("2016-09-14T18:20:18Z").unwrap(),
                }),
            ]
        );
    }

    #[test]
    fn when_the_body_breaks_the_contract_should_name_the_field() {
        let h = Headers::default();
        let run = |b: &str| parse(&input(&h, b.as_bytes()));
        assert!(matches!(run("[{"), Err(WebhookRejection::MalformedJson(_))));
        assert!(run("3").unwrap_err().to_string().contains("JSON array"));
        assert!(run(r#"[{"type":"message-received"}]"#).unwrap_err().to_string().contains("[0].message"));
        let no_from = RECEIVED.replace(r#""from": "+12345678901","#, "");
        assert!(run(&no_from).unwrap_err().to_string().contains("[0].message.from"));
        let no_id = RECEIVED.replace(r#""id": "14762070468292kw2fuqty55yp2b2","#, "");
        assert!(run(&no_id).unwrap_err().to_string().contains("[0].message.id"));
        assert!(run(r#"[{"type":"something-new"}]"#).unwrap().is_empty());
        assert!(run("[]").unwrap().is_empty());
        let _ = NOW;
    }

    #[test]
    fn sample_event_verifies_and_parses() {
        let (creds, headers, body) = crate::webhook::flowroute::tests::sample(
            crate::channel::Provider::Bandwidth,
            include_str!("../../../../events/webhook-ingest.bandwidth-inbound.json"),
            include_str!("../../../../events/bandwidth.credentials.json"),
        );
        let crate::credentials::Credentials::Bandwidth(keys) = creds else { panic!("not bandwidth") };
        let input = input(&headers, &body);
        assert_eq!(verify(&keys, &input), Ok(()));
        let m = crate::webhook::flowroute::tests::assert_sample_message(parse(&input).unwrap());
        assert_eq!(m.media.len(), 1);
        let mut wrong = keys.clone();
        wrong.password = Secret::new("other");
        assert_eq!(verify(&wrong, &input), Err(WebhookRejection::Unauthorized));
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let h = Headers::default();
            let _ = parse(&input(&h, &body));
        }

        #[test]
        fn verify_never_panics_on_arbitrary_headers(value in ".{0,80}") {
            let h = Headers::from_pairs([("authorization", value.as_str())]);
            let _ = verify(&creds(), &input(&h, b"[]"));
        }
    }
}
