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
    /// The PBX itself (auto-replies, greetings, notices; Yeastar's non-user `msg_type`s). Such
    /// messages cannot be deleted from the chat logs (seed 000 L2665-2668).
    System,
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
    /// A message campaign (`message_campaign/*`).
    Campaign,
}

impl Origin {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Customer => "customer",
            Origin::Agent => "agent",
            Origin::Api => "api",
            Origin::Campaign => "campaign",
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

/// What a provider's status callback says about one of our outbound messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ReportedStatus {
    /// The provider handed it on (not final; never recorded as a receipt).
    Sent,
    /// Delivered to the handset / user.
    Delivered,
    /// Read by the user (Meta).
    Read,
    /// The carrier could not deliver it.
    Undelivered {
        /// Provider error code, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// Provider reason, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The provider failed it after accepting it.
    Failed {
        /// Provider error code, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        /// Provider reason, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl ReportedStatus {
    /// Stable name.
    pub fn name(&self) -> &'static str {
        match self {
            ReportedStatus::Sent => "sent",
            ReportedStatus::Delivered => "delivered",
            ReportedStatus::Read => "read",
            ReportedStatus::Undelivered { .. } => "undelivered",
            ReportedStatus::Failed { .. } => "failed",
        }
    }

    /// How strong the evidence is; a receipt only ever gives way to a strictly stronger one, so a
    /// late or repeated callback never downgrades what is recorded. `sent` is 0 (not a receipt);
    /// a carrier's failure outranks "delivered" (it is the later word on the same hop); "read"
    /// outranks everything, because a message the customer read was delivered.
    pub fn rank(&self) -> u8 {
        match self {
            ReportedStatus::Sent => 0,
            ReportedStatus::Delivered => 1,
            ReportedStatus::Undelivered { .. } | ReportedStatus::Failed { .. } => 2,
            ReportedStatus::Read => 3,
        }
    }

    /// Whether the customer did not get the message.
    pub fn is_failure(&self) -> bool {
        self.failure().is_some()
    }

    /// An undelivered or failed report's provider code and reason.
    pub fn failure(&self) -> Option<(Option<&str>, Option<&str>)> {
        match self {
            ReportedStatus::Undelivered { code, reason } | ReportedStatus::Failed { code, reason } => {
                Some((code.as_deref(), reason.as_deref()))
            }
            _ => None,
        }
    }
}

/// The strongest delivery report recorded for a sent message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// What the provider reported.
    #[serde(flatten)]
    pub status: ReportedStatus,
    /// When the provider says it happened.
    pub at: Timestamp,
}

impl Receipt {
    /// Whether this receipt should replace `current` (only a strictly stronger one does; `sent`
    /// never does).
    pub fn supersedes(&self, current: Option<&Receipt>) -> bool {
        let rank = self.status.rank();
        rank > 0 && current.is_none_or(|c| rank > c.status.rank())
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
    /// Sent messages: the strongest delivery report the provider sent back, if any.
    pub receipt: Option<Receipt>,
    /// A WhatsApp template message: the Cloud API `template` object to send (`name`,
    /// `language`, filled `components`); `text` then holds its preview. `None` for normal
    /// messages.
    pub template: Option<serde_json::Value>,
}

impl Message {
    /// Yeastar `delivery_status` (0 sending, 1 sent, 2 failed): a sent message the carrier
    /// reported undelivered or failed counts as failed.
    pub fn yeastar_status(&self) -> u8 {
        match (&self.delivery, &self.receipt) {
            (DeliveryState::Sent { .. }, Some(r)) if r.status.is_failure() => 2,
            (delivery, _) => delivery.yeastar_status(),
        }
    }
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

    fn receipt(status: ReportedStatus) -> Receipt {
        Receipt { status, at: Timestamp::from_millis(1) }
    }

    #[test]
    fn a_receipt_only_gives_way_to_a_strictly_stronger_one() {
        let delivered = receipt(ReportedStatus::Delivered);
        let read = receipt(ReportedStatus::Read);
        let failed = receipt(ReportedStatus::Failed { code: None, reason: None });
        let undelivered = receipt(ReportedStatus::Undelivered { code: Some("30003".into()), reason: None });
        assert!(!receipt(ReportedStatus::Sent).supersedes(None), "sent is not a receipt");
        assert!(delivered.supersedes(None));
        assert!(read.supersedes(Some(&delivered)));
        assert!(failed.supersedes(Some(&delivered)));
        assert!(read.supersedes(Some(&failed)), "read proves delivery");
        assert!(!delivered.supersedes(Some(&read)));
        assert!(!delivered.supersedes(Some(&delivered)), "a repeat changes nothing");
        assert!(!undelivered.supersedes(Some(&failed)));
        assert!(!failed.supersedes(Some(&read)));
    }

    #[test]
    fn a_sent_message_the_carrier_failed_counts_as_failed_for_yeastar() {
        let mut m = Message {
            session_id: SessionId::new(1).unwrap(),
            msg_id: MessageId::new(2).unwrap(),
            channel_id: ChannelId::new(3).unwrap(),
            direction: Direction::Outbound,
            sender: Sender::Api,
            origin: Origin::Api,
            text: Some("hi".into()),
            media: Vec::new(),
            created_at: Timestamp::from_millis(1),
            delivery: DeliveryState::Sent { provider_message_id: "x".into(), at: Timestamp::from_millis(2) },
            attempts: 1,
            provider_message_id: None,
            events_published: true,
            receipt: None,
            template: None,
        };
        assert_eq!(m.yeastar_status(), 1);
        m.receipt = Some(receipt(ReportedStatus::Delivered));
        assert_eq!(m.yeastar_status(), 1);
        m.receipt = Some(receipt(ReportedStatus::Undelivered { code: None, reason: None }));
        assert_eq!(m.yeastar_status(), 2);
    }

    #[test]
    fn a_receipt_round_trips_through_json_with_its_status_inline() {
        let r = Receipt {
            status: ReportedStatus::Failed { code: Some("131026".into()), reason: Some("undeliverable".into()) },
            at: Timestamp::from_millis(5),
        };
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "failed", "code": "131026", "reason": "undeliverable", "at": 5000})
        );
        assert_eq!(serde_json::from_value::<Receipt>(json).unwrap(), r);
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
