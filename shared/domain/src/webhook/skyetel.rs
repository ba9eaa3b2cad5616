//! Skyetel inbound SMS/MMS callbacks.
//!
//! Confirmed [DOC support.skyetel.com/hc/en-us/articles/360040711454-SMS-MMS-Overview]: with the
//! number's SMS option "Callback URL (POST or GET)", "messages are sent to your provided callback
//! URL with a JSON body that matches the fields required for sending an SMS or MMS … You can
//! expect at least `to`, `from`, and `text` fields" — i.e. `{"from":"1555…","to":"1555…","text":"…","media":["https://…"]?}`
//! with 11-digit numbers without `+`. The FreePBX SMS Connector reads exactly those four fields
//! [code simontelephonics/smsconnector providers/provider-Skyetel.php].
//!
//! **UNVERIFIED**: everything beyond those fields. No message id is documented: an `id` /
//! `message_id` / `uuid` is used when present, otherwise one is made from the body and the receive
//! second (see [`crate::webhook::flowroute`] `synthetic_id`). No timestamp is documented
//! (`timestamp`/`time`/… are read when present, else the receive time). Parsing is tolerant
//! (JSON or form fields, `from`/`From`/`source`, `to`/`To`/`destination`, `text`/`body`/`message`,
//! `media` as URLs or objects). Skyetel sends no delivery reports that we know of; records marked
//! outbound are skipped. Only the POST variant is supported (the webhook route is POST).
//!
//! **Verification: none.** Skyetel does not sign or authenticate callbacks; the unguessable
//! 32-hex token in the webhook URL (checked before [`verify`] is called) is the only protection
//! (decisions.md "Webhooks in"). [`verify`] accepts every request.

use crate::credentials::KeyPair;
use crate::webhook::flowroute::{FlatSpec, parse_flat};
use crate::webhook::{WebhookEvent, WebhookInput, WebhookRejection};

const SPEC: FlatSpec = FlatSpec::common("skyetel");

/// Accepts every request: Skyetel signs nothing, so the URL token (checked before this is
/// called) is the only protection.
pub fn verify(_credentials: &KeyPair, _input: &WebhookInput<'_>) -> Result<(), WebhookRejection> {
    Ok(())
}

/// Parses a verified request into its messages.
pub fn parse(input: &WebhookInput<'_>) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    parse_flat(input, &SPEC)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::webhook::Headers;
    use crate::webhook::flowroute::tests::{NOW, input, only_message};
    use proptest::prelude::*;

    fn run(body: &str) -> Result<Vec<WebhookEvent>, WebhookRejection> {
        let h = Headers::default();
        parse(&input(&h, body.as_bytes()))
    }

    /// The documented sending body shape, as Skyetel forwards an inbound MMS.
    const MMS: &str = r#"{"to": "15558004321", "from": "15558001234", "text": "ARRR! THE SHIP BE SINKING!", "media": ["https://media.giphy.com/media/3o6Zt481isNVuQI1l6/giphy.gif"]}"#;

    #[test]
    fn when_the_documented_fields_arrive_should_parse_them() {
        let m = only_message(run(MMS).unwrap());
        assert_eq!(m.from.as_str(), "+15558001234");
        assert_eq!(m.to, vec!["+15558004321".to_owned()]);
        assert_eq!(m.text.as_deref(), Some("ARRR! THE SHIP BE SINKING!"));
        assert_eq!(m.media.len(), 1);
        assert_eq!(m.sent_at, NOW);
        assert!(m.provider_message_id.as_str().starts_with("skyetel-"));
        // the same body redelivered in the same second gets the same id
        assert_eq!(only_message(run(MMS).unwrap()).provider_message_id, m.provider_message_id);
    }

    #[test]
    fn when_other_spellings_arrive_should_parse_them_too() {
        let m = only_message(
            run(r#"{"From":"+15558001234","To":"+15558004321","body":"hi","id":"abc-1","timestamp":"2026-01-02T03:04:05Z","media":[{"url":"https://x.example/a.png","content_type":"image/png"}]}"#)
                .unwrap(),
        );
        assert_eq!(m.provider_message_id.as_str(), "abc-1");
        assert_eq!(m.text.as_deref(), Some("hi"));
        assert_eq!(m.media[0].content_type.as_deref(), Some("image/png"));
        assert_eq!(m.sent_at.to_rfc3339(), "2026-01-02T03:04:05.000Z");
        let form = only_message(run("to=15558004321&from=15558001234&text=Hello+there").unwrap());
        assert_eq!(form.text.as_deref(), Some("Hello there"));
        let short_code = only_message(run(r#"{"to":"15558004321","from":"72345","text":"STOP"}"#).unwrap());
        assert_eq!(short_code.from.as_str(), "72345");
    }

    #[test]
    fn when_the_record_is_not_a_customer_message_should_skip_it() {
        assert!(
            run(r#"{"to":"15558004321","from":"15558001234","text":"x","direction":"outbound"}"#).unwrap().is_empty()
        );
        assert!(run(r#"{"status":"delivered","id":"1"}"#).unwrap().is_empty());
        assert!(run(r#"{"to":"15558004321","from":"15558001234","text":""}"#).unwrap().is_empty());
    }

    #[test]
    fn when_the_body_breaks_the_contract_should_name_the_field() {
        assert!(matches!(run("{nope"), Err(WebhookRejection::MalformedJson(_))));
        assert!(run(r#"{"to":"15558004321","text":"hi"}"#).unwrap_err().to_string().contains("from is required"));
        assert!(run(r#"{"from":"15558001234","text":"hi"}"#).unwrap_err().to_string().contains("to is required"));
        assert!(run(r#"{"to":"1","from":"+","text":"hi"}"#).unwrap_err().to_string().contains("from"));
        assert!(
            run(r#"{"to":"15558004321","from":"15558001234","media":["not a url"]}"#)
                .unwrap_err()
                .to_string()
                .contains("media")
        );
        assert!(run("   ").unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn verify_accepts_everything() {
        let h = Headers::default();
        let keys = KeyPair { id: "a".into(), secret: crate::secret::Secret::new("b") };
        assert_eq!(verify(&keys, &input(&h, MMS.as_bytes())), Ok(()));
    }

    #[test]
    fn sample_event_verifies_and_parses() {
        let (creds, headers, body) = crate::webhook::flowroute::tests::sample(
            crate::channel::Provider::Skyetel,
            include_str!("../../../../events/webhook-ingest.skyetel-inbound.json"),
            include_str!("../../../../events/skyetel.credentials.json"),
        );
        let crate::credentials::Credentials::Skyetel(keys) = creds else { panic!("not skyetel") };
        let input = input(&headers, &body);
        assert_eq!(verify(&keys, &input), Ok(()));
        let m = crate::webhook::flowroute::tests::assert_sample_message(parse(&input).unwrap());
        assert!(m.provider_message_id.as_str().starts_with("skyetel-"));
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let h = Headers::default();
            let _ = parse(&input(&h, &body));
        }
    }
}
