//! Message channels: one provider account, its credentials, its numbers and their routing rules.
//!
//! Field names and limits follow seed 004 (`message_channel/create`) and seed 000 §2.7/§3; the
//! ranges the seeds leave open are decided in docs/decisions.md (send rate 1..=100 msg/s,
//! session timeout 1..=365 days).

use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::credentials::{Credentials, GeneralCredentials};
use crate::health::ChannelHealth;
use crate::ids::{ChannelId, ExtGroupId, ExtensionId, OrganizationId, QueueId, WebhookToken};
use crate::phone::BusinessNumber;
use crate::time::Timestamp;

/// Channel type (Yeastar `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    /// SMS/MMS through an SMS provider.
    Sms,
    /// WhatsApp Cloud API.
    WhatsApp,
    /// Facebook Messenger.
    Facebook,
}

impl ChannelType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Sms => "sms",
            ChannelType::WhatsApp => "whatsapp",
            ChannelType::Facebook => "facebook",
        }
    }
}

/// The provider behind a channel (Yeastar `channel`); it decides the webhook scheme and the send
/// API. The URL slug of the webhook is [`Provider::slug`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Any provider implementing Yeastar's "General SMS API" contract (seed 000 L1557-2306).
    General,
    /// athena: configured like General (seed 004 L46-52).
    Athena,
    /// IXICA: configured like General.
    Ixica,
    /// Vetta: configured like General.
    Vetta,
    /// VoIP.ms: configured like General (seed 000 L1407-1555, slug `voipms`).
    #[serde(rename = "voipms")]
    VoipMs,
    /// Apidaze.
    Apidaze,
    /// Bandwidth Messaging v2.
    Bandwidth,
    /// Flowroute Messaging v2.1.
    Flowroute,
    /// SIPTRUNK.
    Siptrunk,
    /// Skyetel.
    Skyetel,
    /// Telnyx Messaging v2.
    Telnyx,
    /// Twilio Programmable Messaging.
    Twilio,
    /// VoiceMeUp.
    #[serde(rename = "voicemeup")]
    VoiceMeUp,
    /// WhatsApp Cloud API.
    #[serde(rename = "whatsapp")]
    WhatsApp,
    /// Facebook Messenger.
    Facebook,
}

impl Provider {
    /// Every provider this build supports.
    pub const ALL: &'static [Provider] = &[
        Provider::General,
        Provider::Athena,
        Provider::Ixica,
        Provider::Vetta,
        Provider::VoipMs,
        Provider::Apidaze,
        Provider::Bandwidth,
        Provider::Flowroute,
        Provider::Siptrunk,
        Provider::Skyetel,
        Provider::Telnyx,
        Provider::Twilio,
        Provider::VoiceMeUp,
        Provider::WhatsApp,
        Provider::Facebook,
    ];

    /// Wire name and webhook URL slug.
    pub fn slug(self) -> &'static str {
        match self {
            Provider::General => "general",
            Provider::Athena => "athena",
            Provider::Ixica => "ixica",
            Provider::Vetta => "vetta",
            Provider::VoipMs => "voipms",
            Provider::Apidaze => "apidaze",
            Provider::Bandwidth => "bandwidth",
            Provider::Flowroute => "flowroute",
            Provider::Siptrunk => "siptrunk",
            Provider::Skyetel => "skyetel",
            Provider::Telnyx => "telnyx",
            Provider::Twilio => "twilio",
            Provider::VoiceMeUp => "voicemeup",
            Provider::WhatsApp => "whatsapp",
            Provider::Facebook => "facebook",
        }
    }

    /// Parses a wire name / slug.
    pub fn from_slug(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.slug() == s)
    }

    /// The channel type this provider belongs to.
    pub fn channel_type(self) -> ChannelType {
        match self {
            Provider::WhatsApp => ChannelType::WhatsApp,
            Provider::Facebook => ChannelType::Facebook,
            _ => ChannelType::Sms,
        }
    }

    /// Whether the provider speaks Yeastar's General SMS API contract.
    pub fn is_general_contract(self) -> bool {
        matches!(self, Provider::General | Provider::Athena | Provider::Ixica | Provider::Vetta | Provider::VoipMs)
    }

    /// The send rate the platform fixes for this provider (seed 001 L7257-7267: Facebook 40/s;
    /// L8703-8713: WhatsApp 80/s); SMS channels take the administrator's `send_rate`.
    pub fn fixed_send_rate(self) -> Option<SendRate> {
        match self {
            Provider::WhatsApp => Some(SendRate(80)),
            Provider::Facebook => Some(SendRate(40)),
            _ => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// A provider API address (`api_send_url`, `api_verify_url`). The seeds require `https://`
/// (seed 004 L80); plain `http://` is accepted only where the deployment allows it (the local
/// stack's sandbox provider), see [`UrlPolicy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderUrl(url::Url);

/// Which URL schemes provider addresses may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    /// Only `https://` (every deployment reachable from the Internet).
    HttpsOnly,
    /// `https://` or `http://` (a closed local stack).
    AllowHttp,
}

impl ProviderUrl {
    /// Parses an absolute URL allowed by `policy`, with a host and without credentials.
    pub fn parse(s: &str, policy: UrlPolicy) -> Result<Self, &'static str> {
        let url =
            url::Url::parse(s.trim()).map_err(|_| "must be an absolute URL such as https://api.example.com/send")?;
        match (url.scheme(), policy) {
            ("https", _) | ("http", UrlPolicy::AllowHttp) => {}
            _ => return Err("must start with https://"),
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must name a host");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not embed credentials");
        }
        Ok(Self(url))
    }

    /// Rebuilds a stored URL without re-checking the scheme policy (it was checked on input).
    pub fn from_stored(s: &str) -> Result<Self, &'static str> {
        Self::parse(s, UrlPolicy::AllowHttp)
    }

    /// The URL.
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// Messages per second the channel may send (Yeastar `send_rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct SendRate(u16);

impl SendRate {
    /// Lowest rate.
    pub const MIN: u16 = 1;
    /// Highest rate for SMS channels.
    pub const MAX: u16 = 100;
    /// Rate when the administrator gives none: one message per second, the common limit of a
    /// long-code number.
    pub const DEFAULT: SendRate = SendRate(1);

    /// Accepts 1..=100.
    pub fn new(per_second: u16) -> Result<Self, &'static str> {
        if (Self::MIN..=Self::MAX).contains(&per_second) {
            Ok(Self(per_second))
        } else {
            Err("must be between 1 and 100 messages per second")
        }
    }

    /// Messages per second.
    pub fn per_second(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for SendRate {
    type Error = &'static str;
    fn try_from(value: u16) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SendRate> for u16 {
    fn from(value: SendRate) -> Self {
        value.0
    }
}

/// Inactivity, in days, after which an open session is closed automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct SessionTimeoutDays(u16);

impl SessionTimeoutDays {
    /// Default when auto-close is enabled without a value (the seeds' example value, seed 000 L1039).
    pub const DEFAULT: SessionTimeoutDays = SessionTimeoutDays(1);

    /// Accepts 1..=365.
    pub fn new(days: u16) -> Result<Self, &'static str> {
        if (1..=365).contains(&days) { Ok(Self(days)) } else { Err("must be between 1 and 365 days") }
    }

    /// Days.
    pub fn days(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for SessionTimeoutDays {
    type Error = &'static str;
    fn try_from(value: u16) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SessionTimeoutDays> for u16 {
    fn from(value: SessionTimeoutDays) -> Self {
        value.0
    }
}

/// Where new sessions on a number go (seed 000 L279-280).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Destination {
    /// Straight to one agent.
    Extension(ExtensionId),
    /// Into a message queue, visible to its agents until picked up.
    Queue(QueueId),
    /// To the third-party platform (Yeastar destination type `api`): its sessions, reported to it
    /// as event 30031 (docs/api.md "Event push").
    Api,
}

/// Who may start sessions from a number (seed 004 `members`); groups and organizations are
/// resolved when a session is started (`crate::groups::member_allows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Member {
    /// One extension.
    Extension(ExtensionId),
    /// Every extension of an extension group (all of them for `sel_all_ext`).
    #[serde(rename = "ext_group")]
    ExtGroup(ExtGroupId),
    /// Every extension of an organization, sub-organizations included.
    Organization(OrganizationId),
}

/// A number of the channel with its routing rule (seed 004 `Msg_Routing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRule {
    /// The business number (DID) or alphanumeric sender id.
    pub number: BusinessNumber,
    /// Where new inbound sessions go.
    pub destination: Destination,
    /// Who may start sessions from this number.
    pub members: Vec<Member>,
}

/// The `webhook_url_type` the administrator chose (`fqdn` / `nat`); both resolve to this
/// deployment's public base URL and are kept for API compatibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookUrlType {
    /// Yeastar FQDN.
    Fqdn,
    /// NAT-mapped public domain.
    Nat,
}

impl WebhookUrlType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookUrlType::Fqdn => "fqdn",
            WebhookUrlType::Nat => "nat",
        }
    }
}

/// A channel's connection status (seed 000 L1747-1751): its last health check (`crate::health`), or
/// none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    /// Not checked yet (new, or its credentials changed).
    NotChecked,
    /// The last check's result and when it ran.
    Checked {
        /// What the check found.
        health: ChannelHealth,
        /// When.
        at: Timestamp,
    },
}

impl ChannelStatus {
    /// The last check's result, if any.
    pub fn health(self) -> Option<ChannelHealth> {
        match self {
            ChannelStatus::NotChecked => None,
            ChannelStatus::Checked { health, .. } => Some(health),
        }
    }
}

/// A configured channel.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Id.
    pub id: ChannelId,
    /// Display name (≤ 127 characters).
    pub name: String,
    /// Provider credentials (which also say which provider).
    pub credentials: Credentials,
    /// The secret path segment of the webhook URL.
    pub webhook_token: WebhookToken,
    /// `fqdn` / `nat`.
    pub webhook_url_type: WebhookUrlType,
    /// Messages per second.
    pub send_rate: SendRate,
    /// Whether sessions close after `session_expired_days` without a message.
    pub auto_close_session: bool,
    /// Inactivity, in days, before an open session closes (when `auto_close_session`).
    pub session_expired_days: SessionTimeoutDays,
    /// Numbers and their routing rules.
    pub numbers: Vec<NumberRule>,
    /// Connectivity status.
    pub status: ChannelStatus,
    /// Whether inbound webhooks are accepted.
    pub enabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Channel {
    /// The provider.
    pub fn provider(&self) -> Provider {
        self.credentials.provider()
    }

    /// The channel type.
    pub fn channel_type(&self) -> ChannelType {
        self.provider().channel_type()
    }

    /// The routing rule of one of this channel's numbers.
    pub fn rule_for(&self, number: &str) -> Option<&NumberRule> {
        self.numbers.iter().find(|r| r.number.as_str() == number)
    }

    /// The public webhook URL providers must call, under `base_url` (no trailing slash).
    pub fn webhook_url(&self, base_url: &str) -> String {
        format!(
            "{}/api/v1.0/webhook/{}/{}",
            base_url.trim_end_matches('/'),
            self.provider().slug(),
            self.webhook_token.as_str()
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn when_provider_url_is_plain_http_should_need_the_allow_http_policy() {
        assert!(ProviderUrl::parse("https://api.example.com/send", UrlPolicy::HttpsOnly).is_ok());
        assert_eq!(
            ProviderUrl::parse("http://127.0.0.1:3100/sendmessage", UrlPolicy::HttpsOnly),
            Err("must start with https://")
        );
        assert!(ProviderUrl::parse("http://127.0.0.1:3100/sendmessage", UrlPolicy::AllowHttp).is_ok());
        assert!(ProviderUrl::parse("ftp://example.com/x", UrlPolicy::AllowHttp).is_err());
        assert!(ProviderUrl::parse("https://user:pw@example.com/x", UrlPolicy::HttpsOnly).is_err());
        assert!(ProviderUrl::parse("/relative", UrlPolicy::HttpsOnly).is_err());
    }

    #[test]
    fn when_send_rate_or_timeout_is_out_of_range_should_be_refused() {
        assert!(SendRate::new(0).is_err());
        assert!(SendRate::new(101).is_err());
        assert_eq!(SendRate::new(100).unwrap().per_second(), 100);
        assert!(SessionTimeoutDays::new(0).is_err());
        assert!(SessionTimeoutDays::new(366).is_err());
        assert_eq!(SessionTimeoutDays::new(365).unwrap().days(), 365);
    }

    #[test]
    fn when_webhook_url_is_built_should_follow_the_seed_shape() {
        let token = WebhookToken::parse("429ced149ff9437695be795aff38407b").unwrap();
        let channel = Channel {
            id: ChannelId::new(1).unwrap(),
            name: "General SMS Channel".into(),
            credentials: Credentials::General {
                flavor: Provider::General,
                creds: GeneralCredentials {
                    api_key: crate::secret::Secret::new("k"),
                    api_secret: None,
                    verify_url: None,
                    send_url: ProviderUrl::parse("https://sp.example.com/sendmessage", UrlPolicy::HttpsOnly).unwrap(),
                },
            },
            webhook_token: token,
            webhook_url_type: WebhookUrlType::Nat,
            send_rate: SendRate::DEFAULT,
            auto_close_session: false,
            session_expired_days: SessionTimeoutDays::DEFAULT,
            numbers: vec![],
            status: ChannelStatus::NotChecked,
            enabled: true,
            created_at: Timestamp::from_millis(0),
        };
        // seed 000 L2012-2014
        assert_eq!(
            channel.webhook_url("https://docs.example.yeastarcloud.com/"),
            "https://docs.example.yeastarcloud.com/api/v1.0/webhook/general/429ced149ff9437695be795aff38407b"
        );
    }
}
