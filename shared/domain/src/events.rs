//! Domain events: versioned facts with stable ids, published on EventBridge (source
//! [`EVENT_SOURCE`], detail-type = [`DomainEvent::event_type`]). docs/events.md lists them.
//!
//! An event's id is derived from the fact it records (`message.sent:42`), so a retried publish
//! carries the same id and consumers de-duplicate on it.

use serde::Serialize;
use serde_json::{Value, json};

use crate::ids::{ChannelId, MessageId, SessionId};
use crate::inbound::InboundMessage;
use crate::message::FailureReason;
use crate::session::{Assignment, Session};
use crate::time::Timestamp;

/// EventBridge `Source` of every event we publish.
pub const EVENT_SOURCE: &str = "switchboard";
/// Schema version of every event's `detail`.
pub const EVENT_VERSION: u32 = 1;

/// A fact worth telling the world.
#[derive(Debug, Clone, PartialEq)]
pub enum DomainEvent {
    /// A session was created by a customer's message and routed.
    SessionCreated {
        /// The session as created.
        session: Box<Session>,
    },
    /// A customer's message was added to a session.
    MessageReceived {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
        /// Channel.
        channel_id: ChannelId,
        /// Where the session is.
        assignment: Assignment,
        /// The message.
        message: Box<InboundMessage>,
    },
    /// The provider accepted an outbound message.
    MessageSent {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
        /// Channel.
        channel_id: ChannelId,
        /// The provider's id.
        provider_message_id: String,
        /// When.
        at: Timestamp,
    },
    /// An outbound message will not be sent.
    MessageFailed {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
        /// Channel.
        channel_id: ChannelId,
        /// Why.
        reason: FailureReason,
        /// When.
        at: Timestamp,
    },
}

/// The JSON `detail` of an event, with its envelope fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventDetail {
    /// Stable id.
    pub event_id: String,
    /// Same as the EventBridge detail-type.
    pub event_type: &'static str,
    /// Schema version.
    pub version: u32,
    /// When the fact happened (RFC 3339).
    pub occurred_at: String,
    /// The fact.
    pub data: Value,
}

impl DomainEvent {
    /// EventBridge detail-type.
    pub fn event_type(&self) -> &'static str {
        match self {
            DomainEvent::SessionCreated { .. } => "session.created",
            DomainEvent::MessageReceived { .. } => "message.received",
            DomainEvent::MessageSent { .. } => "message.sent",
            DomainEvent::MessageFailed { .. } => "message.failed",
        }
    }

    /// Stable id: the same fact always gets the same id.
    pub fn event_id(&self) -> String {
        match self {
            DomainEvent::SessionCreated { session } => format!("session.created:{}", session.id),
            DomainEvent::MessageReceived { msg_id, .. }
            | DomainEvent::MessageSent { msg_id, .. }
            | DomainEvent::MessageFailed { msg_id, .. } => format!("{}:{msg_id}", self.event_type()),
        }
    }

    /// When the fact happened.
    pub fn occurred_at(&self) -> Timestamp {
        match self {
            DomainEvent::SessionCreated { session } => session.created_at,
            DomainEvent::MessageReceived { message, .. } => message.provider_timestamp,
            DomainEvent::MessageSent { at, .. } | DomainEvent::MessageFailed { at, .. } => *at,
        }
    }

    /// Session and message ids, for log correlation.
    pub fn ids(&self) -> (SessionId, Option<MessageId>) {
        match self {
            DomainEvent::SessionCreated { session } => (session.id, None),
            DomainEvent::MessageReceived { session_id, msg_id, .. }
            | DomainEvent::MessageSent { session_id, msg_id, .. }
            | DomainEvent::MessageFailed { session_id, msg_id, .. } => (*session_id, Some(*msg_id)),
        }
    }

    /// The `detail` document.
    pub fn detail(&self) -> EventDetail {
        let data = match self {
            DomainEvent::SessionCreated { session } => json!({
                "session_id": session.id,
                "channel_id": session.key.channel_id,
                "channel_type": session.channel_type,
                "provider": session.provider,
                "business_number": session.key.business_number,
                "customer": session.key.customer,
                "assignment": session.assignment,
                "created_at": session.created_at.to_rfc3339(),
            }),
            DomainEvent::MessageReceived { session_id, msg_id, channel_id, assignment, message } => json!({
                "session_id": session_id,
                "msg_id": msg_id,
                "channel_id": channel_id,
                "assignment": assignment,
                "from": message.from,
                "to": message.to,
                "text": message.text,
                "media": message.media,
                "provider_message_id": message.provider_message_id,
                "provider_timestamp": message.provider_timestamp.to_rfc3339(),
            }),
            DomainEvent::MessageSent { session_id, msg_id, channel_id, provider_message_id, .. } => json!({
                "session_id": session_id,
                "msg_id": msg_id,
                "channel_id": channel_id,
                "provider_message_id": provider_message_id,
            }),
            DomainEvent::MessageFailed { session_id, msg_id, channel_id, reason, .. } => json!({
                "session_id": session_id,
                "msg_id": msg_id,
                "channel_id": channel_id,
                "send_error": reason.code,
                "prompt": reason.prompt,
                "provider_code": reason.provider_code,
                "detail": reason.detail,
            }),
        };
        EventDetail {
            event_id: self.event_id(),
            event_type: self.event_type(),
            version: EVENT_VERSION,
            occurred_at: self.occurred_at().to_rfc3339(),
            data,
        }
    }
}
