//! Provider webhooks: what a request looks like to the domain, why one is rejected, and one
//! module per provider scheme (verification and parsing into [`crate::inbound::InboundMessage`]).

pub mod apidaze;
pub mod bandwidth;
pub mod flowroute;
pub mod general;
pub mod meta;
pub mod siptrunk;
pub mod skyetel;
pub mod telnyx;
pub mod twilio;
pub mod voicemeup;

use crate::credentials::Credentials;
use crate::ids::ProviderMessageId;
use crate::inbound::MediaRef;
use crate::phone::CustomerAddress;
use crate::time::Timestamp;

/// A webhook request as every provider module sees it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookInput<'a> {
    /// The URL the provider called, as it saw it (public scheme, host, port, path and query):
    /// Twilio signs it.
    pub public_url: &'a str,
    /// Headers.
    pub headers: &'a Headers,
    /// Raw body bytes, exactly as received.
    pub body: &'a [u8],
    /// Now, from the injected clock (timestamp windows).
    pub now: Timestamp,
}

/// A customer's message as a provider parser produces it, before the business number is matched
/// against the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMessage {
    /// The provider's id of the message (de-duplication key).
    pub provider_message_id: ProviderMessageId,
    /// The customer (E.164, short code, alphanumeric, or a platform user id such as a PSID).
    pub from: CustomerAddress,
    /// The business numbers it was addressed to, as the provider wrote them (normalised to the
    /// form channels store: E.164 with `+`, or the page id).
    pub to: Vec<String>,
    /// Text, if any.
    pub text: Option<String>,
    /// Attachments.
    pub media: Vec<MediaRef>,
    /// When the provider received it.
    pub sent_at: Timestamp,
    /// The customer's display name, where the provider gives one.
    pub display_name: Option<String>,
}

pub use crate::message::ReportedStatus;

/// A delivery report for an outbound message, keyed by the id the provider returned on send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The provider's message id (as captured when the message was sent).
    pub provider_message_id: String,
    /// What happened.
    pub status: ReportedStatus,
    /// When the provider says it happened.
    pub at: Timestamp,
}

/// One thing a webhook request carries (Meta and Bandwidth batch several per request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A customer's message.
    Message(ParsedMessage),
    /// A delivery report for one of our messages.
    Status(StatusReport),
}

/// Request headers with case-insensitive lookup (names are stored lower-cased).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// Builds from name/value pairs in any case.
    pub fn from_pairs<N: AsRef<str>, V: AsRef<str>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        Self(pairs.into_iter().map(|(n, v)| (n.as_ref().to_ascii_lowercase(), v.as_ref().to_owned())).collect())
    }

    /// The first value of a header, by name in any case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Why a webhook request was refused. Every rejection happens before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    /// The body is larger than the configured limit.
    #[error("the body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// No channel has this provider and token (or the channel is disabled).
    #[error("no channel is configured for this webhook URL")]
    UnknownChannel,
    /// The signature header is absent.
    #[error("the signature header is missing")]
    SignatureMissing,
    /// The signature header is not in the required format.
    #[error("the signature header is malformed: {0}")]
    SignatureMalformed(&'static str),
    /// The signature does not match the body.
    #[error("the signature does not match the body")]
    SignatureMismatch,
    /// The body is not JSON.
    #[error("the body is malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON but breaks the provider's contract.
    #[error("the body is invalid: {0}")]
    InvalidPayload(String),
    /// The request's timestamp is outside the allowed window (replay protection).
    #[error("the timestamp is outside the {window_seconds} s window")]
    StaleTimestamp {
        /// Allowed distance from now, either way.
        window_seconds: u64,
    },
    /// HTTP Basic credentials are missing or wrong (providers that authenticate that way).
    #[error("the callback credentials are missing or wrong")]
    Unauthorized,
    /// A verification handshake named the wrong token or mode.
    #[error("the verification handshake was refused")]
    HandshakeRefused,
    /// None of the message's recipient numbers belongs to the channel.
    #[error("the recipient number is not configured on this channel")]
    UnknownBusinessNumber,
}

impl WebhookRejection {
    /// A short stable code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            WebhookRejection::BodyTooLarge { .. } => "body_too_large",
            WebhookRejection::UnknownChannel => "unknown_channel",
            WebhookRejection::SignatureMissing => "signature_missing",
            WebhookRejection::SignatureMalformed(_) => "signature_malformed",
            WebhookRejection::SignatureMismatch => "signature_mismatch",
            WebhookRejection::MalformedJson(_) => "malformed_json",
            WebhookRejection::InvalidPayload(_) => "invalid_payload",
            WebhookRejection::StaleTimestamp { .. } => "stale_timestamp",
            WebhookRejection::Unauthorized => "unauthorized",
            WebhookRejection::HandshakeRefused => "handshake_refused",
            WebhookRejection::UnknownBusinessNumber => "unknown_business_number",
        }
    }
}

/// The URL a provider called: `{base}/api/v1.0/webhook/{provider}/{token}` plus the query string
/// exactly as it arrived. `base` is the deployment's public base URL (scheme, host, and a port
/// only if the provider was given one).
pub fn public_url(base: &str, provider: &str, token: &str, query: Option<&str>) -> String {
    let mut url = format!("{}/api/v1.0/webhook/{provider}/{token}", base.trim_end_matches('/'));
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Verifies a webhook request with the channel's credentials, then parses it. Nothing is parsed
/// (let alone stored) before the request is verified.
pub fn verify_and_parse(
    credentials: &Credentials,
    input: &WebhookInput<'_>,
) -> Result<Vec<WebhookEvent>, WebhookRejection> {
    match credentials {
        Credentials::General { creds, .. } => {
            if let Some(secret) = &creds.api_secret {
                general::verify_signature(secret, input.headers, input.body)?;
            }
            let w = general::parse(input.body)?;
            Ok(vec![WebhookEvent::Message(ParsedMessage {
                provider_message_id: w.provider_message_id,
                from: w.from,
                to: w.to,
                text: w.text,
                media: w.media,
                sent_at: w.received_at,
                display_name: None,
            })])
        }
        Credentials::Apidaze { keys, .. } => {
            apidaze::verify(keys, input)?;
            apidaze::parse(input)
        }
        Credentials::Bandwidth(c) => {
            bandwidth::verify(c, input)?;
            bandwidth::parse(input)
        }
        Credentials::Flowroute(c) => {
            flowroute::verify(c, input)?;
            flowroute::parse(input)
        }
        Credentials::Siptrunk(c) => {
            siptrunk::verify(c, input)?;
            siptrunk::parse(input)
        }
        Credentials::Skyetel(c) => {
            skyetel::verify(c, input)?;
            skyetel::parse(input)
        }
        Credentials::Telnyx(c) => {
            telnyx::verify(c, input)?;
            telnyx::parse(input)
        }
        Credentials::Twilio(c) => {
            twilio::verify(c, input)?;
            twilio::parse(input)
        }
        Credentials::VoiceMeUp(c) => {
            voicemeup::verify(c, input)?;
            voicemeup::parse(input)
        }
        Credentials::WhatsApp(w) => {
            meta::verify(&w.meta, input)?;
            meta::parse(input)
        }
        Credentials::Facebook(f) => {
            meta::verify(&f.meta, input)?;
            meta::parse(input)
        }
    }
}
