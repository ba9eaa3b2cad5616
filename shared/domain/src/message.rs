//! Messages in sessions, their delivery state machine, and why a send failed.
//!
//! Outbound: `queued` → `sending` → `sent` | `failed` (decisions.md "Sending"); a transient
//! failure returns the message to `queued` with its attempt count until the attempts run out.
//! A final state is never downgraded. Failure reasons carry the seed's exact prompt text
//! (seed 000 L1964-1976) and Yeastar's `send_error` code (yeastar-openapi-messaging.md §5.3).

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, ExtensionId, ExtensionNumber, MessageId, SessionId};
use crate::inbound::MediaRef;
use crate::phone::CustomerAddress;
use crate::time::Timestamp;

/// Which way a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// To the customer.
    Outbound,
}

/// Who wrote a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Sender {
    /// The customer.
    Customer {
        /// Their address.
        address: CustomerAddress,
    },
    /// An agent.
    Extension {
        /// Extension id.
        id: ExtensionId,
        /// Extension number.
        number: ExtensionNumber,
    },
    /// The third-party platform (Yeastar sender type 9).
    Api,
}

/// What produced an outbound message (statistics are broken down by origin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// A customer (inbound messages).
    Customer,
    /// An agent reply through the API.
    Agent,
    /// The third-party platform (sender type 9).
    Api,
}

impl Origin {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Customer => "customer",
            Origin::Agent => "agent",
            Origin::Api => "api",
        }
    }
}

/// Yeastar's `send_error` classes used in message records and event 30032.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendErrorCode {
    /// Authentication failed.
    AuthFail,
    /// No HTTP response (network, DNS, timeout).
    RequestFail,
    /// Sending failed.
    SendFail,
    /// The provider answered 404.
    ResourceNotFound,
    /// Too many requests.
    TooManyRequest,
    /// Third-party service unavailable.
    ServiceUnavailable,
    /// Invalid parameter.
    InvalidParam,
    /// Invalid phone number.
    InvalidPhoneNumber,
    /// Unsupported media type (Yeastar's spelling).
    UnsupportMediaType,
    /// File size over the provider's limit.
    ExceedsSizeLimit,
}

impl SendErrorCode {
    /// Wire name (Yeastar `send_error`).
    pub fn as_str(self) -> &'static str {
        match self {
            SendErrorCode::AuthFail => "auth_fail",
            SendErrorCode::RequestFail => "request_fail",
            SendErrorCode::SendFail => "send_fail",
            SendErrorCode::ResourceNotFound => "resource_not_found",
            SendErrorCode::TooManyRequest => "too_many_request",
            SendErrorCode::ServiceUnavailable => "service_unavailable",
            SendErrorCode::InvalidParam => "invalid_param",
            SendErrorCode::InvalidPhoneNumber => "invalid_phone_number",
            SendErrorCode::UnsupportMediaType => "unsupport_media_type",
            SendErrorCode::ExceedsSizeLimit => "exceeds_size_limit",
        }
    }
}

/// The seed's error prompts (seed 000 L1964-1976), exactly as the Linkus client shows them.
pub mod prompts {
    /// No `data.id`, HTTP 404, other provider errors, network failures.
    pub const FAILED_TO_SEND: &str = "Failed to send";
    /// HTTP 401, codes 10004 / 10005.
    pub const AUTHENTICATION_FAILED: &str = "Authentication Failed";
    /// HTTP 403, code 10007.
    pub const SERVICE_UNAVAILABLE: &str = "Recipient Platform Service Unavailable";
    /// Code 10001.
    pub const INVALID_PHONE_NUMBER: &str = "Invalid Phone Number";
    /// Code 10002.
    pub const INVALID_PARAMETER: &str = "Invalid Parameter";
    /// Code 10003.
    pub const UNSUPPORTED_MEDIA: &str =
        "This type of message is not supported due to the restriction of the recipient platform.";
    /// Code 10006.
    pub const TOO_FREQUENT: &str = "Too frequent operations. Please try again later.";
    /// Code 10008.
    pub const FILE_TOO_LARGE: &str = "The file size exceeds the limit of the recipient's platform.";
}

/// Why a send failed: the seed's prompt, Yeastar's class, and what the provider said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReason {
    /// Yeastar `send_error`.
    pub code: SendErrorCode,
    /// The seed's prompt text.
    pub prompt: String,
    /// The provider's error code (`errors[0].code`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_code: Option<String>,
    /// The provider's error text (`title: detail`) or the HTTP/network situation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Delivery state of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// An inbound message (nothing to deliver).
    Received,
    /// Waiting for its send slot (also between retries).
    Queued,
    /// A sender holds it and is calling the provider.
    Sending,
    /// The provider accepted it.
    Sent {
        /// The provider's message id.
        provider_message_id: String,
        /// When.
        at: Timestamp,
    },
    /// It will not be sent.
    Failed {
        /// Why.
        reason: FailureReason,
        /// When.
        at: Timestamp,
    },
}

impl DeliveryState {
    /// Whether no further transition is allowed.
    pub fn is_final(&self) -> bool {
        matches!(self, DeliveryState::Received | DeliveryState::Sent { .. } | DeliveryState::Failed { .. })
    }

    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            DeliveryState::Received => "received",
            DeliveryState::Queued => "queued",
            DeliveryState::Sending => "sending",
            DeliveryState::Sent { .. } => "sent",
            DeliveryState::Failed { .. } => "failed",
        }
    }

    /// Yeastar `delivery_status`: 0 sending, 1 sent, 2 failed (inbound messages count as 1).
    pub fn yeastar_status(&self) -> u8 {
        match self {
            DeliveryState::Queued | DeliveryState::Sending => 0,
            DeliveryState::Received | DeliveryState::Sent { .. } => 1,
            DeliveryState::Failed { .. } => 2,
        }
    }
}

/// A message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its session.
    pub session_id: SessionId,
    /// Id.
    pub msg_id: MessageId,
    /// The channel it travels on.
    pub channel_id: ChannelId,
    /// Direction.
    pub direction: Direction,
    /// Author.
    pub sender: Sender,
    /// What produced it.
    pub origin: Origin,
    /// Text.
    pub text: Option<String>,
    /// Attachments.
    pub media: Vec<MediaRef>,
    /// When it was received (inbound) or accepted for sending (outbound).
    pub created_at: Timestamp,
    /// Delivery state.
    pub delivery: DeliveryState,
    /// Provider calls made so far.
    pub attempts: u32,
    /// The inbound provider id (inbound messages).
    pub provider_message_id: Option<String>,
    /// Outbound messages in a final state: whether the `message.sent` / `message.failed` event
    /// is out (until then the message stays in the outbox).
    pub events_published: bool,
}

/// Longest text accepted for an outbound SMS (providers split it into segments; Telnyx and
/// Twilio accept up to 1600 characters).
pub const MAX_SMS_TEXT_CHARS: usize = 1600;

/// A unit of sending work on the outbound queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundJob {
    /// Session of the message.
    pub session_id: SessionId,
    /// The message.
    pub msg_id: MessageId,
    /// Its channel (for pacing).
    pub channel_id: ChannelId,
    /// The send slot already reserved for it, if any (µs since epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Timestamp>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn when_state_is_final_should_say_so_and_map_to_yeastar_status() {
        assert!(!DeliveryState::Queued.is_final());
        assert!(!DeliveryState::Sending.is_final());
        let sent = DeliveryState::Sent { provider_message_id: "x".into(), at: Timestamp::from_millis(1) };
        assert!(sent.is_final());
        assert_eq!(sent.yeastar_status(), 1);
        assert_eq!(DeliveryState::Queued.yeastar_status(), 0);
        let failed = DeliveryState::Failed {
            reason: FailureReason {
                code: SendErrorCode::AuthFail,
                prompt: prompts::AUTHENTICATION_FAILED.into(),
                provider_code: None,
                detail: None,
            },
            at: Timestamp::from_millis(1),
        };
        assert_eq!(failed.yeastar_status(), 2);
        assert_eq!(failed.name(), "failed");
    }

    #[test]
    fn outbound_job_round_trips_through_json() {
        let job = OutboundJob {
            session_id: SessionId::new(3).unwrap(),
            msg_id: MessageId::new(4).unwrap(),
            channel_id: ChannelId::new(5).unwrap(),
            slot: Some(Timestamp::from_micros(1_700_000_000_123_456)),
        };
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(json, r#"{"session_id":3,"msg_id":4,"channel_id":5,"slot":1700000000123456}"#);
        assert_eq!(serde_json::from_str::<OutboundJob>(&json).unwrap(), job);
    }
}
