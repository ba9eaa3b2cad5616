//! Provider webhooks: what a request looks like to the domain, why one is rejected, and one
//! module per provider scheme (verification and parsing into [`crate::inbound::InboundMessage`]).

pub mod general;

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
            WebhookRejection::UnknownBusinessNumber => "unknown_business_number",
        }
    }
}
