//! Identifiers: validated newtypes for every id the system hands out or receives.
//!
//! Yeastar's OpenAPI uses integer ids for channels, sessions, messages, extensions and queues, so
//! ours are `u64` newtypes allocated from per-kind sequences. Tokens and provider ids are strings
//! checked on construction; nothing else in the domain accepts a bare `String` where one of these
//! is meant.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string or number was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct InvalidId {
    /// Which kind of identifier was being parsed.
    pub what: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

macro_rules! integer_id {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            /// Wraps a positive id; zero is never allocated and is refused.
            pub fn new(value: u64) -> Result<Self, InvalidId> {
                if value == 0 {
                    return Err(InvalidId { what: $label, reason: "must be a positive integer" });
                }
                Ok(Self(value))
            }

            /// The integer as it appears on the wire.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let value: u64 = s
                    .trim()
                    .parse()
                    .map_err(|_| InvalidId { what: $label, reason: "must be a positive integer" })?;
                Self::new(value)
            }
        }
    };
}

integer_id!(
    /// A message channel (one provider account with its numbers).
    ChannelId,
    "channel id"
);
integer_id!(
    /// A messaging session (one conversation with one customer on one business number).
    SessionId,
    "session id"
);
integer_id!(
    /// A message, inbound or outbound; unique across sessions.
    MessageId,
    "message id"
);
integer_id!(
    /// An extension (an agent) in the directory.
    ExtensionId,
    "extension id"
);
integer_id!(
    /// A message queue.
    QueueId,
    "queue id"
);
integer_id!(
    /// An extension group (`extensiongroup/*`).
    ExtGroupId,
    "extension group id"
);
integer_id!(
    /// An organization (a department in the organization tree, `organization/*`).
    OrganizationId,
    "organization id"
);
integer_id!(
    /// A message campaign (`message_campaign/*`).
    CampaignId,
    "campaign id"
);
integer_id!(
    /// A phonebook (`phonebook/*`): named contacts whose numbers campaigns can send to.
    PhonebookId,
    "phonebook id"
);

/// The kinds of ids allocated from sequences; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sequence {
    /// [`ChannelId`]s.
    Channel,
    /// [`ExtensionId`]s.
    Extension,
    /// [`QueueId`]s.
    Queue,
    /// [`SessionId`]s.
    Session,
    /// [`MessageId`]s.
    Message,
    /// WhatsApp template ids (ours, per synchronised template).
    Template,
    /// [`ExtGroupId`]s.
    ExtGroup,
    /// [`OrganizationId`]s.
    Organization,
    /// [`CampaignId`]s.
    Campaign,
    /// [`PhonebookId`]s.
    Phonebook,
}

impl Sequence {
    /// Stable name used in storage keys.
    pub fn name(self) -> &'static str {
        match self {
            Sequence::Channel => "channel",
            Sequence::Extension => "extension",
            Sequence::Queue => "queue",
            Sequence::Session => "session",
            Sequence::Template => "template",
            Sequence::Message => "message",
            Sequence::ExtGroup => "ext_group",
            Sequence::Organization => "organization",
            Sequence::Campaign => "campaign",
            Sequence::Phonebook => "phonebook",
        }
    }
}

/// The secret path segment that identifies a channel's webhook: 32 lowercase hex characters
/// (128 random bits), as in the seed's example URLs (seed 000 L2012-2014).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookToken(String);

impl WebhookToken {
    /// Length of a token in characters.
    pub const LEN: usize = 32;

    /// Parses a token received in a URL; anything but 32 lowercase hex characters is refused.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId { what: "webhook token", reason: "must be 32 lowercase hex characters" })
        }
    }

    /// Builds a token from 16 random bytes.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(hex::encode(bytes))
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebhookToken {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<WebhookToken> for String {
    fn from(value: WebhookToken) -> Self {
        value.0
    }
}

/// A provider's id for a message (General API `data.payload.id`, at most 255 characters, seed 000
/// L2041). Used as the de-duplication key of inbound deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProviderMessageId(String);

impl ProviderMessageId {
    /// Longest id accepted.
    pub const MAX_LEN: usize = 255;

    /// Accepts 1..=255 characters with no control characters.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        const WHAT: &str = "provider message id";
        if s.is_empty() {
            return Err(InvalidId { what: WHAT, reason: "must not be empty" });
        }
        if s.chars().count() > Self::MAX_LEN {
            return Err(InvalidId { what: WHAT, reason: "must not exceed 255 characters" });
        }
        if s.chars().any(char::is_control) {
            return Err(InvalidId { what: WHAT, reason: "must not contain control characters" });
        }
        Ok(Self(s.to_owned()))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ProviderMessageId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ProviderMessageId> for String {
    fn from(value: ProviderMessageId) -> Self {
        value.0
    }
}

/// An extension number such as `1000` (what agents log in with and what `sender_no` carries).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExtensionNumber(String);

impl ExtensionNumber {
    /// 1 to 18 digits, as PBX extension numbers are.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let s = s.trim();
        if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidId { what: "extension number", reason: "must be 1 to 18 digits" });
        }
        Ok(Self(s.to_owned()))
    }

    /// The number text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ExtensionNumber {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExtensionNumber> for String {
    fn from(value: ExtensionNumber) -> Self {
        value.0
    }
}

impl fmt::Display for ExtensionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client-chosen `Idempotency-Key` header value: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a header value.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId { what: "Idempotency-Key", reason: "must be 1 to 255 visible ASCII characters" })
        }
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn when_integer_id_is_zero_should_be_refused() {
        assert!(SessionId::new(0).is_err());
        assert_eq!(SessionId::new(7).unwrap().get(), 7);
        assert_eq!("42".parse::<ChannelId>().unwrap().get(), 42);
        assert!("-1".parse::<ChannelId>().is_err());
        assert!("abc".parse::<ChannelId>().is_err());
    }

    #[test]
    fn when_webhook_token_is_not_lowercase_hex_should_be_refused() {
        assert!(WebhookToken::parse("429ced149ff9437695be795aff38407b").is_ok());
        assert!(WebhookToken::parse("429CED149FF9437695BE795AFF38407B").is_err());
        assert!(WebhookToken::parse("429ced149ff9437695be795aff38407").is_err());
        assert!(WebhookToken::parse("429ced149ff9437695be795aff38407g").is_err());
        assert!(WebhookToken::parse("../../etc/passwd").is_err());
    }

    #[test]
    fn when_provider_message_id_exceeds_255_characters_should_be_refused() {
        assert!(ProviderMessageId::parse(&"a".repeat(255)).is_ok());
        assert!(ProviderMessageId::parse(&"a".repeat(256)).is_err());
        assert!(ProviderMessageId::parse("").is_err());
        assert!(ProviderMessageId::parse("a\nb").is_err());
        // counted in characters, not bytes
        assert!(ProviderMessageId::parse(&"é".repeat(255)).is_ok());
    }

    proptest! {
        #[test]
        fn random_bytes_always_make_a_parseable_token(bytes in proptest::array::uniform16(any::<u8>())) {
            let token = WebhookToken::from_random_bytes(bytes);
            prop_assert_eq!(WebhookToken::parse(token.as_str()), Ok(token.clone()));
        }

        #[test]
        fn extension_numbers_are_digits_only(s in "\\PC{0,20}") {
            let parsed = ExtensionNumber::parse(&s);
            let trimmed = s.trim();
            let expect_ok = !trimmed.is_empty() && trimmed.len() <= 18 && trimmed.bytes().all(|b| b.is_ascii_digit());
            prop_assert_eq!(parsed.is_ok(), expect_ok);
        }
    }
}
