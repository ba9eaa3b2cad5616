//! Sessions: one conversation with one customer on one business number of one channel, its
//! state machine and its operation timeline (decisions.md "Sessions").
//!
//! A session is open or closed; an open one is either queued (in a message queue, no owner) or
//! assigned (one extension owns it). At most one open session exists per [`SessionKey`]; the
//! store enforces that with a conditional write on an "open session" lock item. Closed sessions
//! never reopen: the customer's next message starts a new one.

use serde::{Deserialize, Serialize};

use crate::channel::{ChannelType, Destination, Provider};
use crate::directory::{AssignmentMode, MessageQueue};
use crate::ids::{ChannelId, ExtensionId, MessageId, QueueId, SessionId};
use crate::phone::{BusinessNumber, CustomerAddress};
use crate::time::Timestamp;

/// The identity of a conversation: (channel, business number, customer).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionKey {
    /// The channel.
    pub channel_id: ChannelId,
    /// The business number the customer talks to.
    pub business_number: BusinessNumber,
    /// The customer.
    pub customer: CustomerAddress,
}

/// Who handles an open session, or handled it before it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Assignment {
    /// Waiting in a message queue with no owner.
    Queue(QueueId),
    /// Owned by one extension.
    Extension(ExtensionId),
}

impl From<Destination> for Assignment {
    fn from(d: Destination) -> Self {
        match d {
            Destination::Extension(e) => Assignment::Extension(e),
            Destination::Queue(q) => Assignment::Queue(q),
        }
    }
}

/// Open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum SessionStatus {
    /// Messages may flow.
    Open,
    /// Read-only; no more sending.
    Closed {
        /// When it closed.
        at: Timestamp,
    },
}

/// How a session began.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionOrigin {
    /// A customer's inbound message.
    Inbound,
}

/// The latest message of a session, for lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastMessage {
    /// Its id.
    pub msg_id: MessageId,
    /// Up to 200 characters of its text (empty for media-only messages).
    pub preview: String,
    /// Whether the customer sent it.
    pub inbound: bool,
    /// When.
    pub at: Timestamp,
}

impl LastMessage {
    /// Characters of text kept in a preview.
    pub const PREVIEW_CHARS: usize = 200;

    /// Builds a preview of `text`.
    pub fn new(msg_id: MessageId, text: Option<&str>, inbound: bool, at: Timestamp) -> Self {
        let preview = text.map(|t| t.chars().take(Self::PREVIEW_CHARS).collect()).unwrap_or_default();
        Self { msg_id, preview, inbound, at }
    }
}

/// A session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Id.
    pub id: SessionId,
    /// (channel, business number, customer).
    pub key: SessionKey,
    /// The channel's provider when the session opened.
    pub provider: Provider,
    /// The channel's type.
    pub channel_type: ChannelType,
    /// Open or closed.
    pub status: SessionStatus,
    /// Queue or owner.
    pub assignment: Assignment,
    /// How it began.
    pub origin: SessionOrigin,
    /// When it opened.
    pub created_at: Timestamp,
    /// The last message in either direction (auto-close measures inactivity from this).
    pub last_activity_at: Timestamp,
    /// The last message, for lists.
    pub last_message: Option<LastMessage>,
    /// The customer's display name, when a provider gave one.
    pub customer_name: Option<String>,
    /// Inbound messages since an agent last replied.
    pub unread: u32,
}

impl Session {
    /// A session opened by a customer's first message, placed where the number's rule says.
    pub fn open_from_inbound(
        id: SessionId,
        key: SessionKey,
        provider: Provider,
        destination: Destination,
        first: LastMessage,
        customer_name: Option<String>,
    ) -> Self {
        Self {
            id,
            key,
            provider,
            channel_type: provider.channel_type(),
            status: SessionStatus::Open,
            assignment: destination.into(),
            origin: SessionOrigin::Inbound,
            created_at: first.at,
            last_activity_at: first.at,
            last_message: Some(first),
            customer_name,
            unread: 1,
        }
    }

    /// Whether messages may still flow.
    pub fn is_open(&self) -> bool {
        matches!(self.status, SessionStatus::Open)
    }

    /// Decides whether `agent` may reply now, and what the reply does to the assignment.
    /// `queue` must be the session's queue when it is queued.
    pub fn authorize_reply(
        &self,
        agent: ExtensionId,
        queue: Option<&MessageQueue>,
    ) -> Result<ReplyEffect, ReplyRefusal> {
        if !self.is_open() {
            return Err(ReplyRefusal::Closed);
        }
        match self.assignment {
            Assignment::Extension(owner) if owner == agent => Ok(ReplyEffect::Unchanged),
            Assignment::Extension(_) => Err(ReplyRefusal::NotYours),
            Assignment::Queue(queue_id) => {
                let queue = queue.filter(|q| q.id == queue_id).ok_or(ReplyRefusal::NotYours)?;
                if !queue.has_agent(agent) {
                    return Err(ReplyRefusal::NotYours);
                }
                match queue.assignment_mode {
                    AssignmentMode::Manual | AssignmentMode::None => Ok(ReplyEffect::Unchanged),
                    AssignmentMode::Auto => Ok(ReplyEffect::TakesOwnership { queue: queue_id }),
                }
            }
        }
    }

    /// Whether `agent` may read this session: its owner, or an agent of its queue while queued.
    pub fn visible_to(&self, agent: ExtensionId, agent_queues: &[QueueId]) -> bool {
        match self.assignment {
            Assignment::Extension(owner) => owner == agent,
            Assignment::Queue(q) => self.is_open() && agent_queues.contains(&q),
        }
    }
}

/// What an allowed reply does to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyEffect {
    /// Nothing changes (owner replying; manual or shared-inbox queue).
    Unchanged,
    /// The reply takes the queued session for the replying agent (Auto-Pickup), atomically:
    /// the store refuses it if someone else took the session first.
    TakesOwnership {
        /// The queue it leaves.
        queue: QueueId,
    },
}

/// Why a reply is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyRefusal {
    /// The session is closed.
    #[error("the session is closed; no more messages can be sent in it")]
    Closed,
    /// The agent neither owns the session nor is an agent of its queue (also used when the
    /// session does not exist, so existence is not revealed).
    #[error("the session does not exist or is not handled by this extension")]
    NotYours,
}

/// An operation recorded on a session's timeline (seed 000 L2655: create, transfer, pick up, close).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
pub enum Operation {
    /// The session was created and routed.
    Created {
        /// Where it was placed.
        assignment: Assignment,
        /// The message that opened it.
        by_message: MessageId,
    },
    /// An agent took a queued session by replying first (Auto-Pickup).
    PickedUp {
        /// The agent.
        by: ExtensionId,
        /// The queue it left.
        from_queue: QueueId,
    },
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// The session.
    pub session_id: SessionId,
    /// When.
    pub at: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub operation: Operation,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ext(n: u64) -> ExtensionId {
        ExtensionId::new(n).unwrap()
    }

    fn queue(mode: AssignmentMode, members: &[u64]) -> MessageQueue {
        MessageQueue {
            id: QueueId::new(9).unwrap(),
            name: "Support".into(),
            assignment_mode: mode,
            members: members.iter().map(|m| ext(*m)).collect(),
            created_at: Timestamp::from_millis(0),
        }
    }

    fn session(assignment: Assignment) -> Session {
        Session::open_from_inbound(
            SessionId::new(1).unwrap(),
            SessionKey {
                channel_id: ChannelId::new(1).unwrap(),
                business_number: BusinessNumber::parse("+14102161183").unwrap(),
                customer: CustomerAddress::parse("+8618012121222").unwrap(),
            },
            Provider::General,
            match assignment {
                Assignment::Extension(e) => Destination::Extension(e),
                Assignment::Queue(q) => Destination::Queue(q),
            },
            LastMessage::new(MessageId::new(1).unwrap(), Some("hi"), true, Timestamp::from_millis(5)),
            None,
        )
    }

    #[test]
    fn when_owner_replies_should_be_allowed_and_others_refused() {
        let s = session(Assignment::Extension(ext(1)));
        assert_eq!(s.authorize_reply(ext(1), None), Ok(ReplyEffect::Unchanged));
        assert_eq!(s.authorize_reply(ext(2), None), Err(ReplyRefusal::NotYours));
    }

    #[test]
    fn when_session_is_queued_should_follow_the_queue_mode() {
        let s = session(Assignment::Queue(QueueId::new(9).unwrap()));
        let manual = queue(AssignmentMode::Manual, &[1, 2]);
        let auto = queue(AssignmentMode::Auto, &[1, 2]);
        let shared = queue(AssignmentMode::None, &[1, 2]);
        assert_eq!(s.authorize_reply(ext(1), Some(&manual)), Ok(ReplyEffect::Unchanged));
        assert_eq!(s.authorize_reply(ext(2), Some(&shared)), Ok(ReplyEffect::Unchanged));
        assert_eq!(
            s.authorize_reply(ext(2), Some(&auto)),
            Ok(ReplyEffect::TakesOwnership { queue: QueueId::new(9).unwrap() })
        );
        assert_eq!(s.authorize_reply(ext(3), Some(&manual)), Err(ReplyRefusal::NotYours));
        assert_eq!(s.authorize_reply(ext(1), None), Err(ReplyRefusal::NotYours));
    }

    #[test]
    fn when_session_is_closed_should_refuse_every_reply() {
        let mut s = session(Assignment::Extension(ext(1)));
        s.status = SessionStatus::Closed { at: Timestamp::from_millis(9) };
        assert_eq!(s.authorize_reply(ext(1), None), Err(ReplyRefusal::Closed));
    }

    #[test]
    fn when_listing_should_show_queued_sessions_to_queue_agents_only_while_open() {
        let q = QueueId::new(9).unwrap();
        let mut s = session(Assignment::Queue(q));
        assert!(s.visible_to(ext(5), &[q]));
        assert!(!s.visible_to(ext(5), &[]));
        s.status = SessionStatus::Closed { at: Timestamp::from_millis(9) };
        assert!(!s.visible_to(ext(5), &[q]));
        let owned = session(Assignment::Extension(ext(1)));
        assert!(owned.visible_to(ext(1), &[]));
        assert!(!owned.visible_to(ext(2), &[q]));
    }

    #[test]
    fn when_preview_is_built_should_keep_200_characters() {
        let long = "é".repeat(500);
        let lm = LastMessage::new(MessageId::new(1).unwrap(), Some(&long), false, Timestamp::from_millis(0));
        assert_eq!(lm.preview.chars().count(), 200);
    }
}
