//! SIPTRUNK inbound webhooks. **UNVERIFIED**: SIPTRUNK publishes no webhook reference that could
//! be found (searched: "siptrunk.com sms api", "SIPTRUNK messaging API webhook"). The format read
//! is the one the FreePBX SMS Connector module handles in production [code
//! simontelephonics/smsconnector providers/provider-Siptrunk.php]: Flowroute's JSON:API —
//! `{"data":{"type":"message","message_id"|"id":…,"attributes":{"from","to","body",…}},"included":[{"attributes":{"url","file_name",…}}]}`
//! — parsed by [`crate::webhook::flowroute`]'s JSON:API reader (id from `data.id`, else
//! `data.message_id`, else `data.attributes.message_id`; numbers with or without `+`; delivery
//! receipts `type: delivery_receipt` reported like Flowroute's). A body without `data` is read
//! tolerantly as a flat message (`from`/`to`/`body`|`text`, `id`|`message_id`).
//!
//! **Verification: none.** SIPTRUNK is not known to sign or authenticate its callbacks; the
//! unguessable 32-hex token in the webhook URL (checked before [`verify`] is called) is the only
//! protection (decisions.md "Webhooks in"). [`verify`] accepts every request.

use crate::credentials::KeyPair;
use crate::webhook::flowroute::{FlatSpec, json_body, parse_flat, parse_jsonapi};
use crate::webhook::{WebhookEvent, WebhookInput, WebhookRejection};

const SPEC: FlatSpec = FlatSpec::common("siptrunk");

/// Accepts every request: SIPTRUNK signs nothing, so the URL token (checked before this is
/// called) is the only protection.
pub fn verify(_credentials: &KeyPair, _input: &WebhookInput<'_>) -> Result<(), WebhookRejection> {
    Ok(())
}

/// Parses a verified request into its messages and status reports.
pub fn parse(input: &WebhookInput<'_>) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    let first = input.body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        let root = json_body(input.body)?;
        if root.get("data").is_some() {
            return parse_jsonapi(&root, input.now);
        }
    }
    parse_flat(input, &SPEC)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::webhook::flowroute::tests::{MMS, NOW, input, only_message};
    use crate::webhook::{Headers, ReportedStatus, StatusReport};
    use proptest::prelude::*;

    fn run(body: &str) -> Result<Vec<WebhookEvent>, WebhookRejection> {
        let h = Headers::default();
        parse(&input(&h, body.as_bytes()))
    }

    /// The shape the FreePBX module reads: `data.message_id`, `+` numbers, media in `included`.
    const INBOUND: &str = r#"{"data":{"type":"message","message_id":"3c1f1b0e-5b0c-4d0e-9c1a-2f4c5d6e7f80","attributes":{"from":"+14105550100","to":"+14102161183","body":"Is my order ready?","is_mms":true},"id":null},"included":[{"type":"media","attributes":{"url":"https://media.siptrunk.example/f/IMG_1.jpg","file_name":"IMG_1.jpg","mime_type":"image/jpeg"}}]}"#;

    #[test]
    fn when_a_message_arrives_should_parse_the_jsonapi_form() {
        let m = only_message(run(INBOUND).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "3c1f1b0e-5b0c-4d0e-9c1a-2f4c5d6e7f80");
        assert_eq!(m.from.as_str(), "+14105550100");
        assert_eq!(m.to, vec!["+14102161183".to_owned()]);
        assert_eq!(m.text.as_deref(), Some("Is my order ready?"));
        assert_eq!(m.media[0].url, "https://media.siptrunk.example/f/IMG_1.jpg");
        assert_eq!(m.sent_at, NOW);
        // Flowroute's own example parses the same way (numbers without '+').
        assert_eq!(only_message(run(MMS).unwrap()).to, vec!["+18553569768".to_owned()]);
    }

    #[test]
    fn when_a_flat_message_arrives_should_parse_it_tolerantly() {
        let m =
            only_message(run(r#"{"From":"14105550100","To":"14102161183","text":"hi","message_id":"m-9"}"#).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "m-9");
        assert_eq!(m.from.as_str(), "+14105550100");
        assert_eq!(m.to, vec!["+14102161183".to_owned()]);
        let form = only_message(run("from=%2B14105550100&to=14102161183&body=form+text").unwrap());
        assert_eq!(form.text.as_deref(), Some("form text"));
        assert!(form.provider_message_id.as_str().starts_with("siptrunk-"));
    }

    #[test]
    fn when_a_receipt_or_unknown_event_arrives_should_report_or_skip() {
        let dlr = r#"{"data":{"type":"delivery_receipt","id":"mdr2-1","attributes":{"status":"delivered","timestamp":"2026-01-01T00:00:00Z"}}}"#;
        let events = run(dlr).unwrap();
        assert!(matches!(
            events.as_slice(),
            [WebhookEvent::Status(StatusReport { status: ReportedStatus::Delivered, .. })]
        ));
        assert!(run(r#"{"data":{"type":"ping","attributes":{}}}"#).unwrap().is_empty());
        assert!(run(r#"{"event":"status","direction":"outbound","from":"1","to":"2","text":"x"}"#).unwrap().is_empty());
    }

    #[test]
    fn when_the_body_breaks_the_contract_should_name_the_field() {
        assert!(matches!(run("{oops"), Err(WebhookRejection::MalformedJson(_))));
        assert!(run("").unwrap_err().to_string().contains("empty"));
        let no_from = INBOUND.replace(r#""from":"+14105550100","#, "");
        assert!(run(&no_from).unwrap_err().to_string().contains("data.attributes.from"));
        assert!(run(r#"{"from":"+14105550100","text":"hi"}"#).unwrap_err().to_string().contains("to is required"));
    }

    #[test]
    fn verify_accepts_everything() {
        let h = Headers::default();
        let keys = KeyPair { id: "a".into(), secret: crate::secret::Secret::new("b") };
        assert_eq!(verify(&keys, &input(&h, b"")), Ok(()));
    }

    #[test]
    fn sample_event_verifies_and_parses() {
        let (creds, headers, body) = crate::webhook::flowroute::tests::sample(
            crate::channel::Provider::Siptrunk,
            include_str!("../../../../events/webhook-ingest.siptrunk-inbound.json"),
            include_str!("../../../../events/siptrunk.credentials.json"),
        );
        let crate::credentials::Credentials::Siptrunk(keys) = creds else { panic!("not siptrunk") };
        let input = input(&headers, &body);
        assert_eq!(verify(&keys, &input), Ok(()));
        let m = crate::webhook::flowroute::tests::assert_sample_message(parse(&input).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "3c1f1b0e-5b0c-4d0e-9c1a-2f4c5d6e7f80");
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let h = Headers::default();
            let _ = parse(&input(&h, &body));
        }
    }
}
