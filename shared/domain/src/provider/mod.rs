//! Outbound provider calls as data: the request the domain builds, the response an HTTP adapter
//! brings back, and the classification of that response into accepted / retry later / failed.
//! Keeping the call as data makes every provider contract testable without a network.

pub mod general;

use std::time::Duration;

use crate::message::FailureReason;
use crate::secret::Secret;
use crate::webhook::Headers;

/// HTTP method of a provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    /// GET.
    Get,
    /// POST.
    Post,
}

/// How the call authenticates.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
}

/// A provider call to make.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderRequest {
    /// Method.
    pub method: HttpMethod,
    /// Full URL including any query string.
    pub url: String,
    /// Authentication.
    pub auth: RequestAuth,
    /// Body and its content type.
    pub body: Option<(String, Vec<u8>)>,
    /// Give up waiting after this long.
    pub timeout: Duration,
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderResponse {
    /// An HTTP response.
    Http {
        /// Status code.
        status: u16,
        /// Response headers.
        headers: Headers,
        /// Response body.
        body: Vec<u8>,
    },
    /// No HTTP response: connection refused, DNS failure, TLS failure, timeout.
    NoResponse {
        /// What happened, for the failure detail.
        reason: String,
    },
}

/// The meaning of a send response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider took the message.
    Accepted {
        /// The provider's message id.
        provider_message_id: String,
    },
    /// A transient failure: try again later (same reason if the attempts run out).
    RetryLater {
        /// Why, as it will be recorded if no retry is left.
        reason: FailureReason,
        /// The provider asked for this wait (Retry-After), if it did.
        after: Option<Duration>,
        /// The provider said "too many requests": the channel's schedule moves back.
        rate_limited: bool,
    },
    /// A permanent failure.
    Failed(FailureReason),
}

/// An outbound message as a provider sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundContent<'a> {
    /// The business number sending.
    pub from: &'a str,
    /// The customer.
    pub to: &'a str,
    /// Text.
    pub text: Option<&'a str>,
    /// Media URLs.
    pub media_urls: Vec<&'a str>,
}

/// Parses an HTTP `Retry-After` value given in seconds (the HTTP-date form is ignored).
pub fn retry_after(headers: &Headers) -> Option<Duration> {
    headers.get("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}
