//! Outbound provider calls as data: the request the domain builds, the response an HTTP adapter
//! brings back, and the classification of that response into accepted / retry later / failed.
//! Keeping the call as data makes every provider contract testable without a network.

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

use std::time::Duration;

use crate::credentials::Credentials;
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
    /// `Authorization: Basic base64(user:password)`.
    Basic {
        /// User (account SID, access key, ...).
        user: String,
        /// Password (auth token, secret key, ...).
        password: Secret,
    },
    /// Credentials travel in the URL or body (providers that want them there).
    None,
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
    /// Extra headers (e.g. `Accept`), besides `Authorization` and `Content-Type`.
    pub headers: Vec<(String, String)>,
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
    /// Messenger only: the customer's last message is 24 h to 7 days old, so the reply goes
    /// out as `MESSAGE_TAG` / `HUMAN_AGENT` (seed 001 L8113-8124).
    pub human_agent_tag: bool,
    /// Where the provider should post this message's status callbacks (the channel's webhook
    /// URL), for providers that take it per message: Twilio `StatusCallback`, Telnyx
    /// `webhook_url`, Flowroute `dlr_callback`. Others report to the URL configured on their
    /// side (docs/providers.md).
    pub status_callback: Option<&'a str>,
    /// WhatsApp only: the Cloud API `template` object of a template message (sent as
    /// `"type":"template"` instead of the text). Other providers ignore it.
    pub template: Option<&'a serde_json::Value>,
}

/// Base URLs of the providers' REST APIs. The defaults are the real ones; a deployment (or a
/// test) may point any of them elsewhere. No trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEndpoints {
    /// `https://api.twilio.com`.
    pub twilio: String,
    /// `https://api.telnyx.com`.
    pub telnyx: String,
    /// `https://messaging.bandwidth.com`.
    pub bandwidth: String,
    /// `https://api.flowroute.com`.
    pub flowroute: String,
    /// Meta Graph API with its version, `https://graph.facebook.com/v21.0`.
    pub graph: String,
    /// `https://api.apidaze.io`.
    pub apidaze: String,
    /// `https://messaging.siptrunk.com`.
    pub siptrunk: String,
    /// `https://sms.skyetel.com` (Skyetel's SMS API; `api.skyetel.com` is its account API).
    pub skyetel: String,
    /// VoiceMeUp's API.
    pub voicemeup: String,
}

impl Default for ProviderEndpoints {
    fn default() -> Self {
        Self {
            twilio: "https://api.twilio.com".into(),
            telnyx: "https://api.telnyx.com".into(),
            bandwidth: "https://messaging.bandwidth.com".into(),
            flowroute: "https://api.flowroute.com".into(),
            graph: "https://graph.facebook.com/v21.0".into(),
            apidaze: "https://api.apidaze.io".into(),
            siptrunk: "https://messaging.siptrunk.com".into(),
            skyetel: "https://sms.skyetel.com".into(),
            voicemeup: "https://clients.voicemeup.com".into(),
        }
    }
}

impl ProviderEndpoints {
    /// The real APIs, or all at `base` when one is configured (blank counts as none).
    pub fn configured(base: Option<&str>) -> Self {
        base.filter(|b| !b.trim().is_empty()).map_or_else(Self::default, Self::all_at)
    }

    /// Defaults with every base URL replaced by `base` (a local test server serving them all).
    pub fn all_at(base: &str) -> Self {
        let b = base.trim_end_matches('/').to_owned();
        Self {
            twilio: b.clone(),
            telnyx: b.clone(),
            bandwidth: b.clone(),
            flowroute: b.clone(),
            graph: format!("{b}/v21.0"),
            apidaze: b.clone(),
            siptrunk: b.clone(),
            skyetel: b.clone(),
            voicemeup: b,
        }
    }
}

/// Parses an HTTP `Retry-After` value given in seconds (the HTTP-date form is ignored).
pub fn retry_after(headers: &Headers) -> Option<Duration> {
    headers.get("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
}

/// The send call for `content` on a channel with `credentials`.
pub fn send_request(
    credentials: &Credentials,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    match credentials {
        Credentials::General { creds, .. } => general::send_request(creds, content),
        Credentials::Apidaze { keys, accompanying_text } => {
            apidaze::send_request(keys, accompanying_text, endpoints, content)
        }
        Credentials::Bandwidth(c) => bandwidth::send_request(c, endpoints, content),
        Credentials::Flowroute(c) => flowroute::send_request(c, endpoints, content),
        Credentials::Siptrunk(c) => siptrunk::send_request(c, endpoints, content),
        Credentials::Skyetel(c) => skyetel::send_request(c, endpoints, content),
        Credentials::Telnyx(c) => telnyx::send_request(c, endpoints, content),
        Credentials::Twilio(c) => twilio::send_request(c, endpoints, content),
        Credentials::VoiceMeUp(c) => voicemeup::send_request(c, endpoints, content),
        Credentials::WhatsApp(c) => meta::whatsapp_send_request(c, endpoints, content),
        Credentials::Facebook(c) => meta::messenger_send_request(c, endpoints, content),
    }
}

/// What a send response of `provider` means.
pub fn classify_send(provider: crate::channel::Provider, response: &ProviderResponse) -> SendOutcome {
    use crate::channel::Provider as P;
    match provider {
        P::General | P::Athena | P::Ixica | P::Vetta | P::VoipMs => general::classify_send(response),
        P::Apidaze => apidaze::classify_send(response),
        P::Bandwidth => bandwidth::classify_send(response),
        P::Flowroute => flowroute::classify_send(response),
        P::Siptrunk => siptrunk::classify_send(response),
        P::Skyetel => skyetel::classify_send(response),
        P::Telnyx => telnyx::classify_send(response),
        P::Twilio => twilio::classify_send(response),
        P::VoiceMeUp => voicemeup::classify_send(response),
        P::WhatsApp | P::Facebook => meta::classify_send(response),
    }
}

/// A failure reason with the seed's prompt and, when the provider gave them, its code and words.
pub(crate) fn reason(
    code: crate::message::SendErrorCode,
    prompt: &str,
    provider_code: Option<String>,
    detail: Option<String>,
) -> FailureReason {
    FailureReason { code, prompt: prompt.to_owned(), provider_code, detail }
}

/// No HTTP response (connection refused, DNS, TLS, timeout): try again later.
pub(crate) fn no_response(why: &str) -> SendOutcome {
    SendOutcome::RetryLater {
        reason: reason(
            crate::message::SendErrorCode::RequestFail,
            crate::message::prompts::FAILED_TO_SEND,
            None,
            Some(why.to_owned()),
        ),
        after: None,
        rate_limited: false,
    }
}

/// Percent-encodes a path segment: everything but RFC 3986 unreserved characters (stored ids are
/// plain; this only guards against a stray `/`, `?` or space in a stored value).
pub(crate) fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.trim().bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
