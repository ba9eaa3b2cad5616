//! The one normalized inbound message every provider's webhook is parsed into, and the durable
//! record of a verified delivery (the "inbox") that routing works from.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, MessageId, ProviderMessageId, SessionId};
use crate::phone::{BusinessNumber, CustomerAddress};
use crate::time::Timestamp;

/// How long a stored delivery may wait for routing before the outbox hands it on again.
pub const OUTBOX_GRACE: Duration = Duration::from_secs(60);

/// A media attachment referenced by URL (seed 000 L2052-2058).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaRef {
    /// Where the file can be fetched.
    pub url: String,
    /// MIME type, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// SHA-256 of the file, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Size in bytes, when the provider says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// A customer's message as every provider's webhook parser produces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The provider's id of the message: the de-duplication key.
    pub provider_message_id: ProviderMessageId,
    /// The customer.
    pub from: CustomerAddress,
    /// The business number it was sent to (one of the channel's numbers).
    pub to: BusinessNumber,
    /// Text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Attachments, if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<MediaRef>,
    /// When the provider received it.
    pub provider_timestamp: Timestamp,
    /// The customer's display name, when the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// Identity of a stored inbound delivery: the channel and the provider's message id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InboundKey {
    /// Channel the webhook was addressed to.
    pub channel_id: ChannelId,
    /// Provider's message id.
    pub provider_message_id: ProviderMessageId,
}

/// Where a stored inbound delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InboundState {
    /// Stored and acknowledged; not yet in a session.
    Pending,
    /// Appended to a session as a message.
    Routed {
        /// The session it joined or opened.
        session_id: SessionId,
        /// The message it became.
        msg_id: MessageId,
        /// Whether routing it opened the session.
        opened_session: bool,
        /// Whether its domain events have been published.
        events_published: bool,
    },
    /// It could not be routed (its number lost its rule after it was accepted); kept for replay.
    Unroutable,
}

/// A verified inbound delivery as stored before it is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundRecord {
    /// Identity.
    pub key: InboundKey,
    /// The parsed message.
    pub message: InboundMessage,
    /// When we accepted it.
    pub accepted_at: Timestamp,
    /// The verified raw body, kept for audit and replay.
    pub raw_body: String,
    /// Life-cycle state.
    pub state: InboundState,
}

/// A unit of routing work on the inbound queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundJob {
    /// Which stored delivery to route.
    pub key: InboundKey,
}
