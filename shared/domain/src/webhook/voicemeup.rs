//! VoiceMeUp inbound SMS/MMS callbacks ("Enable Callback URL … Incoming SMS/MMS messages will be
//! transmitted to the Callback URL", seed 000 L1279-1293). **UNVERIFIED against VoiceMeUp's own
//! documentation**, which could not be found (searched "VoiceMeUp API sms", "voicemeup callback").
//! The fields read are those of a real VoiceMeUp payload recorded in the RoomKit provider's tests
//! [code roomkit-live/roomkit tests for providers/voicemeup]:
//! `{"sms_log_id","sms_hash","datetime","direction":"inbound","source_number":"14188050723",
//! "destination_number":"14184805945","client_did_id","message","attachment","attachment_size",
//! "attachment_mime_type","datetime_transmission":"2026-01-28 10:29:02",…}`.
//!
//! - id: `sms_hash` (then `sms_log_id`, then the common spellings; made from the body and the
//!   receive second when none is present);
//! - customer `source_number`, business number `destination_number` (digits: `+` added);
//! - text `message`; media `attachment` (older payloads: `attachment_url`) with
//!   `attachment_mime_type` / `attachment_type` and `attachment_size`;
//! - time: VoiceMeUp's `datetime_transmission` has no offset, so the receive time is used unless a
//!   field carries RFC 3339.
//!
//! VoiceMeUp splits an MMS into two callbacks: first the text with an `….mms.html` wrapper (not
//! the customer's file), then the file with an empty `message`. This parser is stateless: the
//! wrapper is dropped, so the first callback becomes a text message and the second a file message
//! (each with its own `sms_hash`). JSON and form-encoded bodies are both accepted; the spellings
//! of [`crate::webhook::flowroute`]'s tolerant reader are accepted too. Records with `direction`
//! outbound are skipped.
//!
//! **Verification: none.** VoiceMeUp does not sign or authenticate callbacks that we know of; the
//! unguessable 32-hex token in the webhook URL (checked before [`verify`] is called) is the only
//! protection (decisions.md "Webhooks in"). [`verify`] accepts every request.

use crate::credentials::KeyPair;
use crate::webhook::flowroute::{FlatSpec, parse_flat};
use crate::webhook::{WebhookEvent, WebhookInput, WebhookRejection};

const SPEC: FlatSpec = FlatSpec {
    id_prefix: "voicemeup",
    id: &["sms_hash", "sms_log_id", "id", "message_id", "uuid", "sms_id"],
    from: &["source_number", "from", "source", "sender", "caller_id_number"],
    to: &["destination_number", "to", "destination", "did", "number"],
    text: &["message", "text", "body", "content"],
    media: &["attachment", "attachment_url", "media", "media_urls", "attachments"],
    media_type: &["attachment_mime_type", "attachment_type", "mime_type", "content_type"],
    media_size: &["attachment_size", "size"],
    time: &["datetime_transmission", "datetime", "timestamp", "received_at", "time"],
    skip_media: is_mms_wrapper,
};

/// VoiceMeUp's MMS metadata wrapper (`….mms.html`, `text/html`): not a file the customer sent.
fn is_mms_wrapper(url: &str, content_type: Option<&str>) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.ends_with(".mms.html")
        || (content_type.is_some_and(|c| c.eq_ignore_ascii_case("text/html")) && lower.contains(".mms."))
}

/// Accepts every request: VoiceMeUp signs nothing that we know of, so the URL token (checked
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

    /// The recorded MMS file callback (RoomKit tests, "Real VoiceMeUp MMS payload format").
    const FILE: &str = r#"{"sms_log_id":"5236238","sms_hash":"ce650cb8-1c2d-a751-d397-31b901ec4efd","datetime":"2026-01-28 10:29:05","date":"2026-01-28","time":"10:29:02","direction":"inbound","source_number":"14188050723","destination_number":"14184805945","client_did_id":"87289","message":"","attachment":"https://clients.voicemeup.com/file/ce650cb8.mms.jpg","attachment_size":"93002","attachment_mime_type":"image/jpeg","status":"enabled","transmission_status":"completed","datetime_transmission":"2026-01-28 10:29:02"}"#;

    /// The first half of a split MMS: the text and the `.mms.html` wrapper.
    const WRAPPER: &str = r#"{"sms_log_id":"5237355","sms_hash":"c3efc8a3-f901-52ac-9868-93f6e89d10f6","datetime":"2026-01-28 13:00:16","direction":"inbound","source_number":"14188050723","destination_number":"14184805945","message":"Look at this photo!","attachment":"https://clients.voicemeup.com/file/c3efc8a3.mms.html","attachment_size":"343","attachment_mime_type":"text/html","datetime_transmission":"2026-01-28 13:00:14"}"#;

    #[test]
    fn when_a_file_arrives_should_parse_the_recorded_payload() {
        let m = only_message(run(FILE).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "ce650cb8-1c2d-a751-d397-31b901ec4efd");
        assert_eq!(m.from.as_str(), "+14188050723");
        assert_eq!(m.to, vec!["+14184805945".to_owned()]);
        assert_eq!(m.text, None);
        assert_eq!(m.media.len(), 1);
        assert_eq!(m.media[0].url, "https://clients.voicemeup.com/file/ce650cb8.mms.jpg");
        assert_eq!(m.media[0].content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(m.media[0].size, Some(93002));
        assert_eq!(m.sent_at, NOW);
    }

    #[test]
    fn when_the_mms_wrapper_arrives_should_keep_the_text_and_drop_the_wrapper() {
        let m = only_message(run(WRAPPER).unwrap());
        assert_eq!(m.text.as_deref(), Some("Look at this photo!"));
        assert!(m.media.is_empty());
        assert_eq!(m.provider_message_id.as_str(), "c3efc8a3-f901-52ac-9868-93f6e89d10f6");
        let empty_wrapper = WRAPPER.replace("Look at this photo!", "");
        assert!(run(&empty_wrapper).unwrap().is_empty());
    }

    #[test]
    fn when_a_plain_sms_or_form_arrives_should_parse_it() {
        let m = only_message(
            run(r#"{"message":"Hello from user","source_number":"+15145551111","destination_number":"+15145552222","direction":"inbound","sms_hash":"hash-abc"}"#)
                .unwrap(),
        );
        assert_eq!(m.provider_message_id.as_str(), "hash-abc");
        assert_eq!(m.text.as_deref(), Some("Hello from user"));
        let form = only_message(
            run("source_number=15145551111&destination_number=15145552222&message=Bonjour&sms_hash=h-2").unwrap(),
        );
        assert_eq!(form.to, vec!["+15145552222".to_owned()]);
        let legacy = only_message(
            run(r#"{"message":"","source_number":"+15145551111","destination_number":"+15145552222","sms_hash":"h-3","attachment_url":"https://cdn.voicemeup.com/img.jpg","attachment_type":"image/jpeg"}"#)
                .unwrap(),
        );
        assert_eq!(legacy.media[0].content_type.as_deref(), Some("image/jpeg"));
    }

    #[test]
    fn when_the_record_is_outbound_should_skip_it() {
        assert!(run(&FILE.replace(r#""direction":"inbound""#, r#""direction":"outbound""#)).unwrap().is_empty());
    }

    #[test]
    fn when_the_body_breaks_the_contract_should_name_the_field() {
        assert!(matches!(run("{"), Err(WebhookRejection::MalformedJson(_))));
        let no_from = FILE.replace(r#""source_number":"14188050723","#, "");
        assert!(run(&no_from).unwrap_err().to_string().contains("source_number is required"));
        let no_to = FILE.replace(r#""destination_number":"14184805945","#, "");
        assert!(run(&no_to).unwrap_err().to_string().contains("destination_number is required"));
        let bad_url = FILE.replace("https://clients.voicemeup.com/file/ce650cb8.mms.jpg", "file.jpg");
        assert!(run(&bad_url).unwrap_err().to_string().contains("attachment"));
    }

    #[test]
    fn verify_accepts_everything() {
        let h = Headers::default();
        let keys = KeyPair { id: "a".into(), secret: crate::secret::Secret::new("b") };
        assert_eq!(verify(&keys, &input(&h, FILE.as_bytes())), Ok(()));
    }

    #[test]
    fn sample_event_verifies_and_parses() {
        let (creds, headers, body) = crate::webhook::flowroute::tests::sample(
            crate::channel::Provider::VoiceMeUp,
            include_str!("../../../../events/webhook-ingest.voicemeup-inbound.json"),
            include_str!("../../../../events/voicemeup.credentials.json"),
        );
        let crate::credentials::Credentials::VoiceMeUp(keys) = creds else { panic!("not voicemeup") };
        let input = input(&headers, &body);
        assert_eq!(verify(&keys, &input), Ok(()));
        let m = crate::webhook::flowroute::tests::assert_sample_message(parse(&input).unwrap());
        assert_eq!(m.provider_message_id.as_str(), "ce650cb8-1c2d-a751-d397-31b901ec4efd");
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let h = Headers::default();
            let _ = parse(&input(&h, &body));
        }
    }
}
