//! Apidaze inbound SMS webhooks. **UNVERIFIED**: Apidaze's inbound messaging webhook format could
//! not be found (searched docs/pages/code for "Apidaze inbound SMS webhook payload fields",
//! "apidaze sms/send response MMS inbound"; Apidaze's SDKs [apidaze/sdk-node, sdk-python] only
//! send). The seed says only to "configure messaging webhook for the phone number using the PBX's
//! webhook URL" (seed 001 L4573).
//!
//! The parser is therefore tolerant, reading JSON (object, array of objects, or `{"data":{…}}`) or
//! form fields with the usual spellings, matched case-insensitively: sender `from` / `source` /
//! `caller_id_number` / `source_number` / …, business number `to` / `destination` /
//! `destination_number` / `number` / …, text `text` / `body` / `message` / …, id `id` /
//! `message_id` / `uuid` / … (made from the body and the receive second when absent), media
//! `media` / `media_urls` / `attachment` / …, time `timestamp` / `time` / … (the receive time
//! when absent or without an offset). Numbers come as digits with the country code (Apidaze's own
//! format, e.g. `14125423968`): a `+` is added. Records marked outbound and records without a
//! sender or content are skipped.
//!
//! **Verification: none.** Apidaze is not known to sign or authenticate its webhooks; the
//! unguessable 32-hex token in the webhook URL (checked before [`verify`] is called) is the only
//! protection (decisions.md "Webhooks in"). [`verify`] accepts every request.

use crate::credentials::KeyPair;
use crate::webhook::flowroute::{FlatSpec, parse_flat};
use crate::webhook::{WebhookEvent, WebhookInput, WebhookRejection};

const SPEC: FlatSpec = FlatSpec::common("apidaze");

/// Accepts every request: Apidaze signs nothing that we know of, so the URL token (checked
/// before this is called) is the only protection.
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

    #[test]
    fn when_a_json_message_arrives_should_parse_it() {
        let m = only_message(
            run(r#"{"from":"14125423968","to":"14125423969","body":"Hello world!","uuid":"0d2f3a70-1111-4c1e-9a5e-7b8d5c9e0f12"}"#).unwrap(),
        );
        assert_eq!(m.provider_message_id.as_str(), "0d2f3a70-1111-4c1e-9a5e-7b8d5c9e0f12");
        assert_eq!(m.from.as_str(), "+14125423968");
        assert_eq!(m.to, vec!["+14125423969".to_owned()]);
        assert_eq!(m.text.as_deref(), Some("Hello world!"));
        assert_eq!(m.sent_at, NOW);
    }

    #[test]
    fn when_other_spellings_arrive_should_parse_them() {
        let form = only_message(
            run("caller_id_number=33612345678&destination_number=33198765432&text=Bonjour&id=77").unwrap(),
        );
        assert_eq!(form.from.as_str(), "+33612345678");
        assert_eq!(form.to, vec!["+33198765432".to_owned()]);
        assert_eq!(form.provider_message_id.as_str(), "77");
        let nested =
            only_message(run(r#"{"data":{"From":"+14125423968","To":["+14125423969"],"Text":"hey"}}"#).unwrap());
        assert_eq!(nested.text.as_deref(), Some("hey"));
        assert!(nested.provider_message_id.as_str().starts_with("apidaze-"));
        let batch = run(r#"[{"from":"14125423968","to":"14125423969","text":"a"},{"from":"14125423968","to":"14125423969","text":"b"}]"#).unwrap();
        assert_eq!(batch.len(), 2);
    }

    #[test]
    fn when_the_record_is_not_a_customer_message_should_skip_it() {
        assert!(
            run(r#"{"from":"14125423968","to":"14125423969","text":"a","direction":"outbound"}"#).unwrap().is_empty()
        );
        assert!(run(r#"{"event":"heartbeat"}"#).unwrap().is_empty());
    }

    #[test]
    fn when_the_body_breaks_the_contract_should_name_the_field() {
        assert!(matches!(run("[1,"), Err(WebhookRejection::MalformedJson(_))));
        assert!(run(r#"{"to":"14125423969","text":"hi"}"#).unwrap_err().to_string().contains("from is required"));
        assert!(run(r#"{"from":"14125423968","text":"hi"}"#).unwrap_err().to_string().contains("to is required"));
        assert!(
            run(&format!(r#"{{"from":"14125423968","to":"14125423969","text":"hi","id":"{}"}}"#, "x".repeat(256)))
                .unwrap_err()
                .to_string()
                .contains("255")
        );
    }

    #[test]
    fn verify_accepts_everything() {
        let h = Headers::default();
        let keys = KeyPair { id: "a".into(), secret: crate::secret::Secret::new("b") };
        assert_eq!(verify(&keys, &input(&h, b"{}")), Ok(()));
    }

    #[test]
    fn sample_event_verifies_and_parses() {
        let (creds, headers, body) = crate::webhook::flowroute::tests::sample(
            crate::channel::Provider::Apidaze,
            include_str!("../../../../events/webhook-ingest.apidaze-inbound.json"),
            include_str!("../../../../events/apidaze.credentials.json"),
        );
        let crate::credentials::Credentials::Apidaze { keys, .. } = creds else { panic!("not apidaze") };
        let input = input(&headers, &body);
        assert_eq!(verify(&keys, &input), Ok(()));
        let m = crate::webhook::flowroute::tests::assert_sample_message(parse(&input).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "0d2f3a70-6c1e-4c1e-9a5e-7b8d5c9e0f12");
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let h = Headers::default();
            let _ = parse(&input(&h, &body));
        }
    }
}
