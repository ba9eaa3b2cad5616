//! Domain events: versioned facts with stable ids, published on EventBridge (source
//! [`EVENT_SOURCE`], detail-type = [`DomainEvent::event_type`]). docs/events.md lists them.
//!
//! An event's id is derived from the fact it records (`message.sent:42`), so a retried publish
//! carries the same id and consumers de-duplicate on it.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::health::ChannelHealth;
use crate::ids::{ChannelId, MessageId, SessionId};
use crate::inbound::InboundMessage;
use crate::message::{FailureReason, Receipt};
use crate::session::{Actor, Assignment, Session, Transition, ViewChange};
use crate::sla::{OfferKey, SlaNotice};
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
    /// A session's lifecycle changed, or an agent's message was accepted (stored with the change
    /// in the event outbox, published after it).
    Lifecycle(LifecycleEvent),
    /// The provider reported what became of a sent message (delivered, read, undelivered,
    /// failed): the strongest report so far.
    MessageReceipt {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
        /// Channel.
        channel_id: ChannelId,
        /// The provider's id.
        provider_message_id: String,
        /// The report.
        receipt: Receipt,
    },
    /// A channel's health check found a different status than the last one (or its first).
    ChannelHealthChanged {
        /// Channel.
        channel_id: ChannelId,
        /// The status before (`None`: never checked).
        previous: Option<ChannelHealth>,
        /// The status now.
        current: ChannelHealth,
        /// When the check ran.
        at: Timestamp,
    },
    /// A queue's service level crossed its alarm threshold (down: alarm; up: recovery).
    QueueSla {
        /// The crossing.
        notice: SlaNotice,
        /// When it was evaluated.
        at: Timestamp,
    },
    /// A queued session passed its queue's `sla_time` without an agent reply.
    SessionSlaBreached {
        /// The offer.
        offer: OfferKey,
        /// The `sla_time` it passed (s).
        sla_time_secs: u32,
        /// When the breach was recorded.
        at: Timestamp,
    },
    /// A message campaign finished a round: completed (every recipient has an outcome) or
    /// stopped by a fault.
    CampaignFinished {
        /// The campaign.
        campaign_id: crate::ids::CampaignId,
        /// Its name.
        name: String,
        /// `completed` or `stop`.
        status: crate::campaign::CampaignStatus,
        /// The round (1, then one more per retry).
        run: u32,
        /// Recipients.
        total: u64,
        /// Sent.
        sent: u64,
        /// Failed.
        failed: u64,
        /// Skipped (opted out).
        opted_out: u64,
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

/// Lifecycle facts: serialisable, because they wait in the store's event outbox (written in the
/// same transaction as the change) until they are published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// A queued session was taken by an agent (Pick Up, or Auto-Pickup's first reply).
    PickedUp {
        /// Session.
        session_id: SessionId,
        /// Channel.
        channel_id: ChannelId,
        /// Session version after the change (makes the id unique).
        version: u64,
        /// The agent.
        by: Actor,
        /// The queue it left.
        from: Assignment,
        /// By replying first.
        automatic: bool,
        /// When.
        at: Timestamp,
    },
    /// A session moved to another extension, queue or the platform.
    Transferred {
        /// Session.
        session_id: SessionId,
        /// Channel.
        channel_id: ChannelId,
        /// Version after.
        version: u64,
        /// Who.
        by: Actor,
        /// From.
        from: Assignment,
        /// To.
        to: Assignment,
        /// When.
        at: Timestamp,
    },
    /// A session closed (`by` `None`: automatically).
    Closed {
        /// Session.
        session_id: SessionId,
        /// Channel.
        channel_id: ChannelId,
        /// Version after.
        version: u64,
        /// Who.
        by: Option<Actor>,
        /// Where it was.
        assignment: Assignment,
        /// When.
        at: Timestamp,
    },
    /// The owner archived, unarchived or removed the session in their list.
    ViewChanged {
        /// Session.
        session_id: SessionId,
        /// Channel.
        channel_id: ChannelId,
        /// Version after.
        version: u64,
        /// The owner.
        by: Actor,
        /// What.
        change: ViewChange,
        /// When.
        at: Timestamp,
    },
    /// A session was started by an agent's or the platform's first message.
    Started {
        /// Session.
        session_id: SessionId,
        /// Channel.
        channel_id: ChannelId,
        /// Who.
        by: Actor,
        /// Business number.
        business_number: String,
        /// Customer.
        customer: String,
        /// When.
        at: Timestamp,
    },
    /// An agent's (or the platform's) message was stored for sending.
    MessageAccepted {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
        /// Channel.
        channel_id: ChannelId,
        /// Who.
        by: Actor,
        /// The text.
        text: Option<String>,
        /// Where the session is after the message (Auto-Pickup may have moved it).
        assignment: Assignment,
        /// When.
        at: Timestamp,
    },
}

impl LifecycleEvent {
    /// The events of a decided transition.
    pub fn of_transition(t: &Transition) -> Option<Self> {
        use crate::session::Operation;
        let (session_id, channel_id, version, at) = (t.after.id, t.after.key.channel_id, t.after.version, t.at);
        if let Some((by, change)) = t.view_change {
            return Some(LifecycleEvent::ViewChanged { session_id, channel_id, version, by, change, at });
        }
        match t.entry.as_ref()?.operation {
            Operation::PickedUp { by, automatic, .. } => Some(LifecycleEvent::PickedUp {
                session_id,
                channel_id,
                version,
                by: Actor::Extension(by),
                from: t.before.assignment,
                automatic,
                at,
            }),
            Operation::Transferred { by, from, to } => {
                Some(LifecycleEvent::Transferred { session_id, channel_id, version, by, from, to, at })
            }
            Operation::Closed { by } => Some(LifecycleEvent::Closed {
                session_id,
                channel_id,
                version,
                by,
                assignment: t.before.assignment,
                at,
            }),
            Operation::Created { .. } | Operation::Started { .. } | Operation::CampaignStarted { .. } => None,
        }
    }

    /// EventBridge detail-type.
    pub fn event_type(&self) -> &'static str {
        match self {
            LifecycleEvent::PickedUp { .. } => "session.picked_up",
            LifecycleEvent::Transferred { .. } => "session.transferred",
            LifecycleEvent::Closed { .. } => "session.closed",
            LifecycleEvent::ViewChanged { .. } => "session.view_changed",
            LifecycleEvent::Started { .. } => "session.started",
            LifecycleEvent::MessageAccepted { .. } => "message.accepted",
        }
    }

    /// Stable id.
    pub fn event_id(&self) -> String {
        match self {
            LifecycleEvent::PickedUp { session_id, version, .. }
            | LifecycleEvent::Transferred { session_id, version, .. }
            | LifecycleEvent::Closed { session_id, version, .. }
            | LifecycleEvent::ViewChanged { session_id, version, .. } => {
                format!("{}:{session_id}:{version}", self.event_type())
            }
            LifecycleEvent::Started { session_id, .. } => format!("session.started:{session_id}"),
            LifecycleEvent::MessageAccepted { msg_id, .. } => format!("message.accepted:{msg_id}"),
        }
    }

    /// The session.
    pub fn session_id(&self) -> SessionId {
        match self {
            LifecycleEvent::PickedUp { session_id, .. }
            | LifecycleEvent::Transferred { session_id, .. }
            | LifecycleEvent::Closed { session_id, .. }
            | LifecycleEvent::ViewChanged { session_id, .. }
            | LifecycleEvent::Started { session_id, .. }
            | LifecycleEvent::MessageAccepted { session_id, .. } => *session_id,
        }
    }

    fn at(&self) -> Timestamp {
        match self {
            LifecycleEvent::PickedUp { at, .. }
            | LifecycleEvent::Transferred { at, .. }
            | LifecycleEvent::Closed { at, .. }
            | LifecycleEvent::ViewChanged { at, .. }
            | LifecycleEvent::Started { at, .. }
            | LifecycleEvent::MessageAccepted { at, .. } => *at,
        }
    }

    fn data(&self) -> Value {
        match self {
            LifecycleEvent::PickedUp { session_id, channel_id, by, from, automatic, .. } => json!({
                "session_id": session_id, "channel_id": channel_id, "by": by, "from": from, "automatic": automatic}),
            LifecycleEvent::Transferred { session_id, channel_id, by, from, to, .. } => json!({
                "session_id": session_id, "channel_id": channel_id, "by": by, "from": from, "to": to}),
            LifecycleEvent::Closed { session_id, channel_id, by, assignment, .. } => json!({
                "session_id": session_id, "channel_id": channel_id, "by": by, "automatic": by.is_none(),
                "assignment": assignment}),
            LifecycleEvent::ViewChanged { session_id, channel_id, by, change, .. } => json!({
                "session_id": session_id, "channel_id": channel_id, "by": by, "change": change}),
            LifecycleEvent::Started { session_id, channel_id, by, business_number, customer, .. } => json!({
                "session_id": session_id, "channel_id": channel_id, "by": by,
                "business_number": business_number, "customer": customer}),
            LifecycleEvent::MessageAccepted { session_id, msg_id, channel_id, by, text, assignment, .. } => json!({
                "session_id": session_id, "msg_id": msg_id, "channel_id": channel_id, "by": by, "text": text,
                "assignment": assignment}),
        }
    }
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
            DomainEvent::MessageReceipt { .. } => "message.receipt",
            DomainEvent::ChannelHealthChanged { .. } => "channel.health_changed",
            DomainEvent::QueueSla { notice, .. } => notice.event_type(),
            DomainEvent::SessionSlaBreached { .. } => "session.sla_breached",
            DomainEvent::CampaignFinished { status: crate::campaign::CampaignStatus::Stop, .. } => "campaign.stopped",
            DomainEvent::CampaignFinished { .. } => "campaign.completed",
            DomainEvent::Lifecycle(e) => e.event_type(),
        }
    }

    /// Stable id: the same fact always gets the same id.
    pub fn event_id(&self) -> String {
        match self {
            DomainEvent::SessionCreated { session } => format!("session.created:{}", session.id),
            DomainEvent::MessageReceived { msg_id, .. }
            | DomainEvent::MessageSent { msg_id, .. }
            | DomainEvent::MessageFailed { msg_id, .. } => format!("{}:{msg_id}", self.event_type()),
            DomainEvent::MessageReceipt { msg_id, receipt, .. } => {
                format!("message.receipt:{msg_id}:{}", receipt.status.name())
            }
            DomainEvent::ChannelHealthChanged { channel_id, at, .. } => {
                format!("channel.health_changed:{channel_id}:{}", at.as_micros())
            }
            DomainEvent::QueueSla { notice, .. } => notice.event_id(),
            DomainEvent::SessionSlaBreached { offer, .. } => {
                format!("session.sla_breached:{}:{}:{}", offer.session, offer.queue, offer.entered_at.as_micros())
            }
            DomainEvent::CampaignFinished { campaign_id, run, .. } => {
                format!("{}:{campaign_id}:{run}", self.event_type())
            }
            DomainEvent::Lifecycle(e) => e.event_id(),
        }
    }

    /// When the fact happened.
    pub fn occurred_at(&self) -> Timestamp {
        match self {
            DomainEvent::SessionCreated { session } => session.created_at,
            DomainEvent::MessageReceived { message, .. } => message.provider_timestamp,
            DomainEvent::MessageSent { at, .. } | DomainEvent::MessageFailed { at, .. } => *at,
            DomainEvent::MessageReceipt { receipt, .. } => receipt.at,
            DomainEvent::ChannelHealthChanged { at, .. }
            | DomainEvent::QueueSla { at, .. }
            | DomainEvent::SessionSlaBreached { at, .. }
            | DomainEvent::CampaignFinished { at, .. } => *at,
            DomainEvent::Lifecycle(e) => e.at(),
        }
    }

    /// Session and message ids, for log correlation (channel events have neither).
    pub fn ids(&self) -> (Option<SessionId>, Option<MessageId>) {
        match self {
            DomainEvent::SessionCreated { session } => (Some(session.id), None),
            DomainEvent::MessageReceived { session_id, msg_id, .. }
            | DomainEvent::MessageSent { session_id, msg_id, .. }
            | DomainEvent::MessageFailed { session_id, msg_id, .. }
            | DomainEvent::MessageReceipt { session_id, msg_id, .. } => (Some(*session_id), Some(*msg_id)),
            DomainEvent::Lifecycle(LifecycleEvent::MessageAccepted { session_id, msg_id, .. }) => {
                (Some(*session_id), Some(*msg_id))
            }
            DomainEvent::Lifecycle(e) => (Some(e.session_id()), None),
            DomainEvent::SessionSlaBreached { offer, .. } => (Some(offer.session), None),
            DomainEvent::ChannelHealthChanged { .. }
            | DomainEvent::QueueSla { .. }
            | DomainEvent::CampaignFinished { .. } => (None, None),
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
            DomainEvent::MessageReceipt { session_id, msg_id, channel_id, provider_message_id, receipt } => {
                let (code, reason) = receipt.status.failure().unwrap_or((None, None));
                json!({
                    "session_id": session_id,
                    "msg_id": msg_id,
                    "channel_id": channel_id,
                    "provider_message_id": provider_message_id,
                    "status": receipt.status.name(),
                    "provider_code": code,
                    "reason": reason,
                })
            }
            DomainEvent::CampaignFinished { campaign_id, name, status, run, total, sent, failed, opted_out, at } => {
                json!({
                    "campaign_id": campaign_id,
                    "name": name,
                    "status": status.as_str(),
                    "run": run,
                    "total": total,
                    "sent": sent,
                    "failed": failed,
                    "opted_out": opted_out,
                    "finished_at": at.to_rfc3339(),
                })
            }
            DomainEvent::ChannelHealthChanged { channel_id, previous, current, at } => json!({
                "channel_id": channel_id,
                "previous": previous.map(ChannelHealth::as_str),
                "status": current.as_str(),
                "label": current.label(),
                "checked_at": at.to_rfc3339(),
            }),
            DomainEvent::QueueSla { notice, .. } => json!({
                "queue_id": notice.queue,
                "sla": notice.figure.percent(),
                "answered_in_time": notice.figure.met,
                "counted": notice.figure.counted,
                "alarm_threshold": notice.threshold_percent,
                "sla_time": notice.sla_time_secs,
                "window_start": notice.window.start.to_rfc3339(),
                "window_end": notice.window.end.to_rfc3339(),
            }),
            DomainEvent::SessionSlaBreached { offer, sla_time_secs, .. } => json!({
                "session_id": offer.session,
                "queue_id": offer.queue,
                "entered_queue_at": offer.entered_at.to_rfc3339(),
                "sla_time": sla_time_secs,
            }),
            DomainEvent::Lifecycle(e) => e.data(),
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
