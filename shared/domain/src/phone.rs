//! Addresses on SMS-like channels: E.164 numbers, alphanumeric sender ids and short codes.
//!
//! The seeds require E.164 (`[+][country code][phone number]`, seed 000 L273, L2042) for every
//! number a provider or an administrator gives us. Validation is syntactic (ITU-T E.164: `+`,
//! a non-zero first digit, at most 15 digits) on purpose: the seeds' own examples (`+1234567890`,
//! seed 004 L247) are not assigned numbers, and number-plan metadata goes stale faster than
//! providers open new ranges. Business numbers may also be alphanumeric sender ids (seed 001
//! L4487). A customer's address is whatever reaches us: E.164, a short code, or an alphanumeric
//! sender; refusing an odd-looking sender would lose the customer's message.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAddress(pub &'static str);

/// A phone number in E.164 format, e.g. `+14102161183`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// Accepts `+` followed by 2 to 15 digits, the first one non-zero.
    pub fn parse(s: &str) -> Result<Self, InvalidAddress> {
        const MSG: &str =
            "must be an E.164 number: '+', then country code and number, 2 to 15 digits, e.g. +14102161183";
        let digits = s.strip_prefix('+').ok_or(InvalidAddress(MSG))?;
        let ok =
            (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidAddress(MSG)) }
    }

    /// The number text, with its `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for E164 {
    type Error = InvalidAddress;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<E164> for String {
    fn from(value: E164) -> Self {
        value.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An alphanumeric sender id (e.g. `ACME`): 1 to 11 letters, digits or spaces, with at least one
/// letter, as carriers accept them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlphanumericSender(String);

impl AlphanumericSender {
    /// Parses a sender id.
    pub fn parse(s: &str) -> Result<Self, InvalidAddress> {
        const MSG: &str =
            "must be an alphanumeric sender id: 1 to 11 letters, digits or spaces, with at least one letter";
        let ok = (1..=11).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
            && s.bytes().any(|b| b.is_ascii_alphabetic())
            && !s.starts_with(' ')
            && !s.ends_with(' ');
        if ok { Ok(Self(s.to_owned())) } else { Err(InvalidAddress(MSG)) }
    }

    /// The sender id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A number a channel sends from and receives on: an E.164 number or an alphanumeric sender id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum BusinessNumber {
    /// A phone number.
    Phone(E164),
    /// An alphanumeric sender id (send-only in practice; customers cannot reply to it).
    Alphanumeric(AlphanumericSender),
    /// A Facebook page id (the "number" of a Messenger channel, seed 004 L188-190): digits only.
    Page(String),
}

impl BusinessNumber {
    /// Parses `+...` as E.164, 9 to 32 digits as a page id, anything else as an alphanumeric
    /// sender id. Which forms a channel accepts is the channel type's decision.
    pub fn parse(s: &str) -> Result<Self, InvalidAddress> {
        if s.starts_with('+') {
            E164::parse(s).map(Self::Phone)
        } else if is_platform_id(s) {
            Ok(Self::Page(s.to_owned()))
        } else {
            AlphanumericSender::parse(s).map(Self::Alphanumeric).map_err(|_| {
                InvalidAddress(
                    "must be an E.164 number (e.g. +14102161183) or an alphanumeric sender id of 1 to 11 characters",
                )
            })
        }
    }

    /// The text as stored and sent.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(n) => n.as_str(),
            Self::Alphanumeric(a) => a.as_str(),
            Self::Page(p) => p.as_str(),
        }
    }
}

impl TryFrom<String> for BusinessNumber {
    type Error = InvalidAddress;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<BusinessNumber> for String {
    fn from(value: BusinessNumber) -> Self {
        value.as_str().to_owned()
    }
}

impl fmt::Display for BusinessNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The customer's side of a session: where their messages come from and ours go to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerAddress(String);

impl CustomerAddress {
    /// Accepts E.164 numbers, short codes (3 to 8 digits), platform user ids (9 to 32 digits,
    /// e.g. a Messenger PSID) and alphanumeric sender ids.
    pub fn parse(s: &str) -> Result<Self, InvalidAddress> {
        let short_code = (3..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
        if E164::parse(s).is_ok() || short_code || is_platform_id(s) || AlphanumericSender::parse(s).is_ok() {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidAddress(
                "must be an E.164 number (e.g. +8618012121222), a short code or an alphanumeric sender id",
            ))
        }
    }

    /// The address text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A messaging platform's numeric id (a Facebook page id or page-scoped user id): 9 to 32
/// digits, without `+`.
fn is_platform_id(s: &str) -> bool {
    (9..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

impl From<E164> for CustomerAddress {
    fn from(value: E164) -> Self {
        Self(value.0)
    }
}

impl TryFrom<String> for CustomerAddress {
    type Error = InvalidAddress;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CustomerAddress> for String {
    fn from(value: CustomerAddress) -> Self {
        value.0
    }
}

impl fmt::Display for CustomerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn when_number_is_e164_should_be_accepted() {
        for ok in ["+14102161183", "+8618012121222", "+1234567890", "+12"] {
            assert!(E164::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["14102161183", "+0123", "+1", "+1234567890123456", "+1 410 216", "+", "+1-410"] {
            assert!(E164::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn when_business_number_is_not_e164_should_accept_alphanumeric_sender_ids_only() {
        assert!(matches!(BusinessNumber::parse("+14102161183"), Ok(BusinessNumber::Phone(_))));
        assert!(matches!(BusinessNumber::parse("ACME Corp"), Ok(BusinessNumber::Alphanumeric(_))));
        assert!(BusinessNumber::parse("12345").is_err(), "digits only is not an alphanumeric id");
        assert!(BusinessNumber::parse("ThisIsTooLong").is_err());
        assert!(BusinessNumber::parse("+1-800").is_err());
    }

    #[test]
    fn when_customer_writes_from_a_short_code_should_accept_it() {
        assert!(CustomerAddress::parse("12345").is_ok());
        assert!(CustomerAddress::parse("+14102161183").is_ok());
        assert!(CustomerAddress::parse("BANK").is_ok());
        assert!(CustomerAddress::parse("").is_err());
        assert!(CustomerAddress::parse("12").is_err());
        assert!(CustomerAddress::parse("not a number!").is_err());
    }

    proptest! {
        #[test]
        fn e164_round_trips_through_string(digits in "[1-9][0-9]{1,14}") {
            let s = format!("+{digits}");
            let n = E164::parse(&s).unwrap();
            prop_assert_eq!(String::from(n), s);
        }
    }
}
