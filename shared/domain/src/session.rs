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
use crate::sla::QueueOffer;
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
    /// Handed to the third-party platform (Yeastar destination type `api`).
    Api,
}

impl From<Destination> for Assignment {
    fn from(d: Destination) -> Self {
        match d {
            Destination::Extension(e) => Assignment::Extension(e),
            Destination::Queue(q) => Assignment::Queue(q),
            Destination::Api => Assignment::Api,
        }
    }
}

impl Assignment {
    /// The owner whose list holds the session, when it has one (queued sessions have none).
    pub fn owner(self) -> Option<ListOwner> {
        match self {
            Assignment::Extension(e) => Some(ListOwner::Extension(e)),
            Assignment::Api => Some(ListOwner::Api),
            Assignment::Queue(_) => None,
        }
    }

    /// Who follows changes of a session placed here.
    pub fn audience(self) -> Audience {
        match self {
            Assignment::Extension(e) => Audience::Extension(e),
            Assignment::Queue(q) => Audience::Queue(q),
            Assignment::Api => Audience::Api,
        }
    }
}

/// Whose personal list a session is in: its owner's (current, or last when closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListOwner {
    /// An extension.
    Extension(ExtensionId),
    /// The third-party platform.
    Api,
}

/// A group that follows session changes (the change feed's partitions): an owner, or the agents
/// of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Audience {
    /// One extension's own sessions.
    Extension(ExtensionId),
    /// The sessions queued in a message queue.
    Queue(QueueId),
    /// The third-party platform's sessions.
    Api,
}

/// Who performs an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Actor {
    /// An extension (an agent's own token, or an API client acting as it).
    Extension(ExtensionId),
    /// The third-party platform (Yeastar operator type 9).
    Api,
    /// An API client acting as the administrator (transfer and close without an operator).
    Admin,
}

impl Actor {
    fn owns(self, a: Assignment) -> bool {
        matches!((self, a), (Actor::Extension(x), Assignment::Extension(y)) if x == y)
            || matches!((self, a), (Actor::Api, Assignment::Api))
    }

    /// Whose list this actor works in (the administrator has none).
    pub fn list_owner(self) -> Option<ListOwner> {
        match self {
            Actor::Extension(e) => Some(ListOwner::Extension(e)),
            Actor::Api => Some(ListOwner::Api),
            Actor::Admin => None,
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
    /// An agent's first message (`message/send` without a session).
    Agent,
    /// The third-party platform's first message.
    Api,
    /// A message campaign in "create a session" mode (the agent's Campaign Group).
    Campaign,
    /// A message campaign in "send directly" mode: the message's carrier only. It is in no list,
    /// no queue and no chat log, holds no open-session lock and is closed from the start.
    CampaignDirect,
}

impl SessionOrigin {
    /// Whether sessions of this origin are hidden carriers (in no list, index or chat log).
    pub fn is_hidden(self) -> bool {
        matches!(self, SessionOrigin::CampaignDirect)
    }

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionOrigin::Inbound => "inbound",
            SessionOrigin::Agent => "agent",
            SessionOrigin::Api => "api",
            SessionOrigin::Campaign => "campaign",
            SessionOrigin::CampaignDirect => "campaign_direct",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "inbound" => Some(SessionOrigin::Inbound),
            "agent" => Some(SessionOrigin::Agent),
            "api" => Some(SessionOrigin::Api),
            "campaign" => Some(SessionOrigin::Campaign),
            "campaign_direct" => Some(SessionOrigin::CampaignDirect),
            _ => None,
        }
    }
}

/// The owner's view of the session in their own list (decisions.md: per-agent list flags).
/// The flags belong to the current (or last) owner; a new owner starts with a clean view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListView {
    /// In the Archived list rather than Recent.
    pub archived: bool,
    /// Removed from the owner's lists (`message_session/delete`).
    pub removed: bool,
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
    /// Queue, owner or platform.
    pub assignment: Assignment,
    /// The queue it waited in most recently (kept after pick-up, so the queue's agents who lost
    /// the race are told so instead of "not found").
    pub last_queue: Option<QueueId>,
    /// How it began.
    pub origin: SessionOrigin,
    /// When it opened.
    pub created_at: Timestamp,
    /// The last message in either direction (auto-close measures inactivity from this).
    pub last_activity_at: Timestamp,
    /// The last message, for lists.
    pub last_message: Option<LastMessage>,
    /// When the customer last wrote (Meta's 24-hour customer-service window counts from it).
    pub last_customer_message_at: Option<Timestamp>,
    /// The customer's display name, when a provider gave one.
    pub customer_name: Option<String>,
    /// Inbound messages since an agent last replied.
    pub unread: u32,
    /// The owner's list flags.
    pub view: ListView,
    /// Its current offer to a queue, for the queue's service level (decisions.md "SLA").
    pub offer: Option<QueueOffer>,
    /// Bumped by every stored change; lifecycle changes are written only if it is unchanged.
    pub version: u64,
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
        let created_at = first.at;
        Self {
            id,
            key,
            provider,
            channel_type: provider.channel_type(),
            status: SessionStatus::Open,
            assignment: destination.into(),
            last_queue: match destination {
                Destination::Queue(q) => Some(q),
                Destination::Extension(_) | Destination::Api => None,
            },
            origin: SessionOrigin::Inbound,
            created_at: first.at,
            last_activity_at: first.at,
            last_customer_message_at: Some(first.at),
            last_message: Some(first),
            customer_name,
            unread: 1,
            view: ListView::default(),
            offer: match destination {
                Destination::Queue(q) => Some(QueueOffer::entering(q, created_at)),
                Destination::Extension(_) | Destination::Api => None,
            },
            version: 1,
        }
    }

    /// A session started by an agent's (or the platform's) first message; it belongs to them.
    pub fn start_by(id: SessionId, key: SessionKey, provider: Provider, by: Actor, first: LastMessage) -> Option<Self> {
        let (assignment, origin) = match by {
            Actor::Extension(e) => (Assignment::Extension(e), SessionOrigin::Agent),
            Actor::Api => (Assignment::Api, SessionOrigin::Api),
            Actor::Admin => return None,
        };
        Some(Self {
            id,
            key,
            provider,
            channel_type: provider.channel_type(),
            status: SessionStatus::Open,
            assignment,
            last_queue: None,
            origin,
            created_at: first.at,
            last_activity_at: first.at,
            last_message: Some(first),
            last_customer_message_at: None,
            customer_name: None,
            unread: 0,
            view: ListView::default(),
            offer: None,
            version: 1,
        })
    }

    /// Whether messages may still flow.
    pub fn is_open(&self) -> bool {
        matches!(self.status, SessionStatus::Open)
    }

    /// The list the session is shown in: its owner's Recent (`false`) or Archived (`true`)
    /// list; `None` when queued or removed by its owner.
    pub fn list_slot(&self) -> Option<(ListOwner, bool)> {
        let owner = self.assignment.owner()?;
        (!self.view.removed).then_some((owner, self.view.archived))
    }

    /// Whether `actor` may read this session: its owner (also after close), an agent of its
    /// queue while queued, the administrator. `actor_queues` are the extension's queues.
    pub fn visible_to(&self, actor: &Actor, actor_queues: &[QueueId]) -> bool {
        match (actor, self.assignment) {
            (Actor::Admin, _) => true,
            (_, Assignment::Queue(q)) => {
                matches!(actor, Actor::Extension(_)) && self.is_open() && actor_queues.contains(&q)
            }
            (actor, a) => actor.owns(a),
        }
    }

    fn queue_agent(&self, actor: &Actor, queue: Option<&MessageQueue>) -> Option<AssignmentMode> {
        let (Assignment::Queue(q), Actor::Extension(e)) = (self.assignment, actor) else { return None };
        let queue = queue.filter(|x| x.id == q)?;
        queue.has_agent(*e).then_some(queue.assignment_mode)
    }

    /// Whether `agent` is an agent of the queue the session last waited in, while it is open and
    /// owned by someone else (it lost a race for it).
    fn lost_to_someone_else(&self, actor: &Actor, queue: Option<&MessageQueue>) -> bool {
        let Actor::Extension(agent) = actor else { return false };
        self.is_open()
            && !matches!(self.assignment, Assignment::Queue(_))
            && !actor.owns(self.assignment)
            && self.last_queue.is_some_and(|q| queue.is_some_and(|x| x.id == q && x.has_agent(*agent)))
    }

    /// Visibility from the queue object (for checks that have the session's queue at hand).
    fn check_visible(&self, actor: &Actor, queue: Option<&MessageQueue>) -> Result<(), Refusal> {
        let visible = match actor {
            Actor::Admin => true,
            _ if actor.owns(self.assignment) => true,
            _ => self.is_open() && self.queue_agent(actor, queue).is_some(),
        };
        if visible { Ok(()) } else { Err(Refusal::NotVisible) }
    }

    /// Decides whether `actor` may reply now, and what the reply does to the assignment.
    /// `queue` must be the session's queue when it is queued.
    pub fn authorize_reply(&self, actor: &Actor, queue: Option<&MessageQueue>) -> Result<ReplyEffect, Refusal> {
        if self.lost_to_someone_else(actor, queue) {
            return Err(Refusal::Taken { owner: self.assignment });
        }
        self.check_visible(actor, queue)?;
        if !self.is_open() {
            return Err(Refusal::Closed);
        }
        if actor.owns(self.assignment) {
            return Ok(ReplyEffect::Unchanged);
        }
        match (self.queue_agent(actor, queue), self.assignment, actor) {
            (Some(AssignmentMode::Manual | AssignmentMode::None), _, _) => Ok(ReplyEffect::Unchanged),
            (Some(AssignmentMode::Auto), Assignment::Queue(queue), Actor::Extension(agent)) => {
                Ok(ReplyEffect::TakesOwnership { queue, agent: *agent })
            }
            // The administrator reads everything but replies only by acting as someone.
            _ => Err(Refusal::NotVisible),
        }
    }

    /// The next version (lifecycle changes are not activity: auto-close ignores them).
    fn next(&self) -> Session {
        let mut next = self.clone();
        next.version = self.version + 1;
        next
    }

    /// The queue whose object the checks need: the current one, or the last one.
    pub fn relevant_queue(&self) -> Option<QueueId> {
        match self.assignment {
            Assignment::Queue(q) => Some(q),
            _ => self.last_queue,
        }
    }

    /// Pick up a queued session (Manual or Auto-Pickup queues): it becomes the agent's alone.
    /// `queue` is [`Session::relevant_queue`]'s.
    pub fn pick_up(
        &self,
        agent: ExtensionId,
        queue: Option<&MessageQueue>,
        at: Timestamp,
    ) -> Result<Transition, Refusal> {
        let actor = Actor::Extension(agent);
        if self.lost_to_someone_else(&actor, queue) {
            return Err(Refusal::AlreadyPickedUp { owner: self.assignment });
        }
        self.check_visible(&actor, queue)?;
        if !self.is_open() {
            return Err(Refusal::Closed);
        }
        let from_queue = match self.assignment {
            Assignment::Queue(q) => q,
            _ => return Err(Refusal::AlreadyYours),
        };
        if self.queue_agent(&actor, queue) == Some(AssignmentMode::None) {
            return Err(Refusal::PickupDisabled);
        }
        let mut after = self.next();
        after.assignment = Assignment::Extension(agent);
        after.view = ListView::default();
        Ok(Transition::new(self, after, at, Operation::PickedUp { by: agent, from_queue, automatic: false }))
    }

    /// Transfer to an extension, a queue (queued there again) or the third-party platform.
    /// Allowed to the owner, the administrator, and any agent of a shared-inbox (Disable Pickup)
    /// queue; agents of Manual/Auto queues pick the session up first.
    pub fn transfer(
        &self,
        actor: &Actor,
        queue: Option<&MessageQueue>,
        to: Assignment,
        at: Timestamp,
    ) -> Result<Transition, Refusal> {
        self.check_visible(actor, queue)?;
        if !self.is_open() {
            return Err(Refusal::Closed);
        }
        let allowed = matches!(actor, Actor::Admin)
            || actor.owns(self.assignment)
            || self.queue_agent(actor, queue) == Some(AssignmentMode::None);
        if !allowed {
            return Err(Refusal::PickUpFirst);
        }
        if to == self.assignment {
            return Err(Refusal::SameDestination);
        }
        let mut after = self.next();
        after.assignment = to;
        if let Assignment::Queue(q) = to {
            after.last_queue = Some(q);
        }
        after.offer = crate::sla::offer_after_transfer(to, at);
        after.view = ListView::default();
        Ok(Transition::new(self, after, at, Operation::Transferred { by: *actor, from: self.assignment, to }))
    }

    /// Close: the owner, any agent of the queue while queued, the administrator, or the
    /// system (`actor` `None`: auto-close). The owner finds it in their Archived list.
    pub fn close(
        &self,
        actor: Option<&Actor>,
        queue: Option<&MessageQueue>,
        at: Timestamp,
    ) -> Result<Transition, Refusal> {
        if let Some(actor) = actor {
            self.check_visible(actor, queue)?;
        }
        if !self.is_open() {
            return Err(Refusal::Closed);
        }
        let mut after = self.next();
        after.status = SessionStatus::Closed { at };
        after.view.archived = true;
        Ok(Transition::new(self, after, at, Operation::Closed { by: actor.copied() }))
    }

    /// Archive, unarchive or remove the session in its owner's list (only the owner's).
    pub fn change_view(
        &self,
        actor: &Actor,
        queue: Option<&MessageQueue>,
        change: ViewChange,
        at: Timestamp,
    ) -> Result<Transition, Refusal> {
        let owner = self.assignment.owner();
        if owner.is_none() || owner != actor.list_owner() {
            // Only someone who may see the session learns that it is not theirs to file.
            self.check_visible(actor, queue)?;
            return Err(Refusal::NotInYourList);
        }
        let mut after = self.next();
        match change {
            ViewChange::Archive => after.view.archived = true,
            ViewChange::Unarchive => after.view = ListView { archived: false, removed: false },
            ViewChange::Remove => after.view.removed = true,
        }
        Ok(Transition { before: self.clone(), after, at, entry: None, view_change: Some((*actor, change)) })
    }
}

/// A per-owner list change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViewChange {
    /// Recent → Archived.
    Archive,
    /// Archived (or removed) → Recent.
    Unarchive,
    /// Hidden from the owner's lists until the next message.
    Remove,
}

impl ViewChange {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewChange::Archive => "archive",
            ViewChange::Unarchive => "unarchive",
            ViewChange::Remove => "remove",
        }
    }
}

/// A decided lifecycle change: the session as read, as it will be, and what to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// As read (its `version` is the write condition).
    pub before: Session,
    /// As it will be stored (`version` + 1).
    pub after: Session,
    /// When.
    pub at: Timestamp,
    /// The timeline entry (pick up, transfer, close).
    pub entry: Option<TimelineEntry>,
    /// The list change (archive, unarchive, remove) and who made it.
    pub view_change: Option<(Actor, ViewChange)>,
}

impl Transition {
    fn new(before: &Session, after: Session, at: Timestamp, operation: Operation) -> Self {
        let entry = TimelineEntry { session_id: before.id, at, operation };
        Self { before: before.clone(), after, at, entry: Some(entry), view_change: None }
    }

    /// Whether it closes the session (the open-session lock goes with it).
    pub fn closes(&self) -> bool {
        self.before.is_open() && !self.after.is_open()
    }

    /// The change-feed audiences that must hear of it (before and after, deduplicated).
    pub fn audiences(&self) -> Vec<Audience> {
        let mut v = vec![self.before.assignment.audience()];
        let after = self.after.assignment.audience();
        if !v.contains(&after) {
            v.push(after);
        }
        v
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
        /// The agent.
        agent: ExtensionId,
    },
}

/// Why a session operation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The actor may not see the session (also used when it does not exist, so existence is
    /// not revealed).
    #[error("the session does not exist or is not handled by this operator")]
    NotVisible,
    /// The session is closed.
    #[error("the session is closed; it can no longer be changed or sent in")]
    Closed,
    /// Someone else took the queued session first.
    #[error("the session was already picked up by someone else")]
    AlreadyPickedUp {
        /// Where it is now.
        owner: Assignment,
    },
    /// Someone else took the queued session (Auto-Pickup: their reply came first).
    #[error("the session was taken by another agent")]
    Taken {
        /// Where it is now.
        owner: Assignment,
    },
    /// The actor already owns it.
    #[error("the session is already yours")]
    AlreadyYours,
    /// Disable-Pickup queues are shared inboxes.
    #[error("sessions of this queue cannot be picked up (its chat assignment mode is Disable Pickup)")]
    PickupDisabled,
    /// Manual/Auto queue sessions must be picked up before being transferred.
    #[error("pick the session up before transferring it")]
    PickUpFirst,
    /// The session is already where the transfer would put it.
    #[error("the session is already at this destination")]
    SameDestination,
    /// Archive/unarchive/remove concern only the owner's own list.
    #[error("the session is not in this operator's list")]
    NotInYourList,
    /// WhatsApp: the customer last wrote more than 24 hours ago; only a template may be sent.
    #[error("the customer last wrote more than 24 hours ago: WhatsApp accepts only a message template now")]
    TemplateRequired,
    /// Messenger: the customer last wrote more than 7 days ago (the human_agent tag's limit).
    #[error("the customer last wrote more than 7 days ago: Messenger accepts no reply now")]
    MessagingWindowClosed,
}

impl Refusal {
    /// Machine-readable reason (the API's `reason` field).
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotVisible => "not_found",
            Refusal::Closed => "closed",
            Refusal::AlreadyPickedUp { .. } => "already_picked_up",
            Refusal::Taken { .. } => "taken",
            Refusal::AlreadyYours => "already_yours",
            Refusal::PickupDisabled => "pickup_disabled",
            Refusal::PickUpFirst => "pick_up_first",
            Refusal::SameDestination => "same_destination",
            Refusal::NotInYourList => "not_in_your_list",
            Refusal::TemplateRequired => "template_required",
            Refusal::MessagingWindowClosed => "messaging_window_closed",
        }
    }
}

/// Meta's customer-service window: 24 hours after the customer's last message (seed 001
/// L9057 WhatsApp, L8113-8124 Messenger).
pub const CUSTOMER_SERVICE_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// Messenger's `human_agent` tag: replies up to 7 days after the customer's last message.
pub const HUMAN_AGENT_WINDOW: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// How a free-form reply may go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyWindow {
    /// As a normal reply.
    Open,
    /// Messenger, 24 h to 7 days: as `MESSAGE_TAG` / `HUMAN_AGENT`.
    HumanAgentTag,
}

/// Decides whether a free-form reply may go out now on a session of `channel_type` whose
/// customer last wrote at `last_customer_message_at` (SMS has no window).
pub fn reply_window(
    channel_type: ChannelType,
    last_customer_message_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<ReplyWindow, Refusal> {
    let age = last_customer_message_at.map(|at| now.since(at));
    match channel_type {
        ChannelType::Sms => Ok(ReplyWindow::Open),
        ChannelType::WhatsApp => match age {
            Some(age) if age <= CUSTOMER_SERVICE_WINDOW => Ok(ReplyWindow::Open),
            _ => Err(Refusal::TemplateRequired),
        },
        ChannelType::Facebook => match age {
            Some(age) if age <= CUSTOMER_SERVICE_WINDOW => Ok(ReplyWindow::Open),
            Some(age) if age <= HUMAN_AGENT_WINDOW => Ok(ReplyWindow::HumanAgentTag),
            _ => Err(Refusal::MessagingWindowClosed),
        },
    }
}

/// An operation recorded on a session's timeline (seed 000 L2655, seed 001 L9678: create,
/// transfer, pick up, close).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case")]
pub enum Operation {
    /// The session was created by a customer's message and routed.
    Created {
        /// Where it was placed.
        assignment: Assignment,
        /// The message that opened it.
        by_message: MessageId,
    },
    /// An agent (or the platform) started the session with a first message.
    Started {
        /// Who.
        by: Actor,
        /// The first message.
        by_message: MessageId,
    },
    /// An agent took a queued session (Pick Up, or by replying first in an Auto-Pickup queue).
    PickedUp {
        /// The agent.
        by: ExtensionId,
        /// The queue it left.
        from_queue: QueueId,
        /// By replying first (Auto-Pickup) rather than with Pick Up.
        #[serde(default)]
        automatic: bool,
    },
    /// Moved to another extension, a queue or the platform.
    Transferred {
        /// Who.
        by: Actor,
        /// Where it was.
        from: Assignment,
        /// Where it went.
        to: Assignment,
    },
    /// Closed; `by` is `None` for an automatic close.
    Closed {
        /// Who, or nobody (auto-close).
        by: Option<Actor>,
    },
    /// A message campaign started the session and assigned it.
    CampaignStarted {
        /// The campaign.
        campaign: crate::ids::CampaignId,
        /// Where it was placed.
        assignment: Assignment,
        /// The campaign's message.
        by_message: MessageId,
    },
}

impl Operation {
    /// Wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Created { .. } => "created",
            Operation::Started { .. } => "started",
            Operation::PickedUp { .. } => "picked_up",
            Operation::Transferred { .. } => "transferred",
            Operation::Closed { .. } => "closed",
            Operation::CampaignStarted { .. } => "campaign_started",
        }
    }
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

    fn qid() -> QueueId {
        QueueId::new(9).unwrap()
    }

    fn queue(mode: AssignmentMode, members: &[u64]) -> MessageQueue {
        MessageQueue {
            id: qid(),
            name: "Support".into(),
            assignment_mode: mode,
            members: members.iter().map(|m| ext(*m)).collect(),
            sla: Default::default(),
            managers: Vec::new(),
            created_at: Timestamp::from_millis(0),
        }
    }

    fn session(assignment: Assignment) -> Session {
        let mut s = Session::open_from_inbound(
            SessionId::new(1).unwrap(),
            SessionKey {
                channel_id: ChannelId::new(1).unwrap(),
                business_number: BusinessNumber::parse("+14102161183").unwrap(),
                customer: CustomerAddress::parse("+8618012121222").unwrap(),
            },
            Provider::General,
            Destination::Queue(qid()),
            LastMessage::new(MessageId::new(1).unwrap(), Some("hi"), true, Timestamp::from_millis(5)),
            None,
        );
        s.assignment = assignment;
        s
    }

    fn closed(mut s: Session) -> Session {
        s.status = SessionStatus::Closed { at: Timestamp::from_millis(9) };
        s
    }

    const AT: Timestamp = Timestamp::from_millis(100);

    #[test]
    fn when_owner_replies_should_be_allowed_and_others_refused() {
        let s = session(Assignment::Extension(ext(1)));
        assert_eq!(s.authorize_reply(&Actor::Extension(ext(1)), None), Ok(ReplyEffect::Unchanged));
        assert_eq!(s.authorize_reply(&Actor::Extension(ext(2)), None), Err(Refusal::NotVisible));
        assert_eq!(s.authorize_reply(&Actor::Api, None), Err(Refusal::NotVisible));
        assert_eq!(s.authorize_reply(&Actor::Admin, None), Err(Refusal::NotVisible));
        let api = session(Assignment::Api);
        assert_eq!(api.authorize_reply(&Actor::Api, None), Ok(ReplyEffect::Unchanged));
        assert_eq!(api.authorize_reply(&Actor::Extension(ext(1)), None), Err(Refusal::NotVisible));
    }

    #[test]
    fn when_session_is_queued_should_follow_the_queue_mode() {
        let s = session(Assignment::Queue(qid()));
        let a1 = Actor::Extension(ext(1));
        let a2 = Actor::Extension(ext(2));
        assert_eq!(s.authorize_reply(&a1, Some(&queue(AssignmentMode::Manual, &[1, 2]))), Ok(ReplyEffect::Unchanged));
        assert_eq!(s.authorize_reply(&a2, Some(&queue(AssignmentMode::None, &[1, 2]))), Ok(ReplyEffect::Unchanged));
        assert_eq!(
            s.authorize_reply(&a2, Some(&queue(AssignmentMode::Auto, &[1, 2]))),
            Ok(ReplyEffect::TakesOwnership { queue: qid(), agent: ext(2) })
        );
        assert_eq!(
            s.authorize_reply(&Actor::Extension(ext(3)), Some(&queue(AssignmentMode::Manual, &[1, 2]))),
            Err(Refusal::NotVisible)
        );
        assert_eq!(s.authorize_reply(&a1, None), Err(Refusal::NotVisible));
    }

    #[test]
    fn when_session_is_closed_should_refuse_every_reply_and_change_but_stay_readable_by_its_owner() {
        let s = closed(session(Assignment::Extension(ext(1))));
        let owner = Actor::Extension(ext(1));
        assert_eq!(s.authorize_reply(&owner, None), Err(Refusal::Closed));
        assert_eq!(s.close(Some(&owner), None, AT).unwrap_err(), Refusal::Closed);
        assert_eq!(s.transfer(&owner, None, Assignment::Api, AT).unwrap_err(), Refusal::Closed);
        assert!(s.visible_to(&owner, &[]));
        // the owner still files it
        assert!(s.change_view(&owner, None, ViewChange::Remove, AT).is_ok());
        let q = closed(session(Assignment::Queue(qid())));
        assert_eq!(
            q.pick_up(ext(1), Some(&queue(AssignmentMode::Manual, &[1])), AT).unwrap_err(),
            Refusal::NotVisible,
            "a closed queued session leaves the queue's view"
        );
    }

    #[test]
    fn when_listing_should_show_queued_sessions_to_queue_agents_only_while_open() {
        let mut s = session(Assignment::Queue(qid()));
        assert!(s.visible_to(&Actor::Extension(ext(5)), &[qid()]));
        assert!(!s.visible_to(&Actor::Extension(ext(5)), &[]));
        assert!(!s.visible_to(&Actor::Api, &[qid()]));
        assert!(s.visible_to(&Actor::Admin, &[]));
        s.status = SessionStatus::Closed { at: Timestamp::from_millis(9) };
        assert!(!s.visible_to(&Actor::Extension(ext(5)), &[qid()]));
        let owned = session(Assignment::Extension(ext(1)));
        assert!(owned.visible_to(&Actor::Extension(ext(1)), &[]));
        assert!(!owned.visible_to(&Actor::Extension(ext(2)), &[qid()]));
    }

    #[test]
    fn pick_up_transitions_and_refusals() {
        let q = Assignment::Queue(qid());
        let manual = queue(AssignmentMode::Manual, &[1, 2]);
        let auto = queue(AssignmentMode::Auto, &[1, 2]);
        let none = queue(AssignmentMode::None, &[1, 2]);
        for mode in [&manual, &auto] {
            let t = session(q).pick_up(ext(1), Some(mode), AT).unwrap();
            assert_eq!(t.after.assignment, Assignment::Extension(ext(1)));
            assert_eq!(t.after.version, t.before.version + 1);
            assert_eq!(
                t.entry.clone().unwrap().operation,
                Operation::PickedUp { by: ext(1), from_queue: qid(), automatic: false }
            );
            assert_eq!(t.audiences(), vec![Audience::Queue(qid()), Audience::Extension(ext(1))]);
        }
        assert_eq!(session(q).pick_up(ext(1), Some(&none), AT).unwrap_err(), Refusal::PickupDisabled);
        assert_eq!(session(q).pick_up(ext(3), Some(&manual), AT).unwrap_err(), Refusal::NotVisible);
        let mut taken = session(Assignment::Extension(ext(2)));
        taken.last_queue = Some(qid());
        // the queue's agents who lost the race are told so; anyone else learns nothing
        assert_eq!(
            taken.pick_up(ext(1), Some(&manual), AT).unwrap_err(),
            Refusal::AlreadyPickedUp { owner: Assignment::Extension(ext(2)) }
        );
        assert_eq!(
            taken.authorize_reply(&Actor::Extension(ext(1)), Some(&auto)).unwrap_err(),
            Refusal::Taken { owner: Assignment::Extension(ext(2)) }
        );
        assert_eq!(taken.pick_up(ext(3), Some(&manual), AT).unwrap_err(), Refusal::NotVisible);
        assert_eq!(taken.pick_up(ext(2), Some(&manual), AT).unwrap_err(), Refusal::AlreadyYours);
        assert_eq!(closed(session(q)).pick_up(ext(1), Some(&manual), AT).unwrap_err(), Refusal::NotVisible);
    }

    #[test]
    fn transfer_transitions_and_refusals() {
        let owner = Actor::Extension(ext(1));
        let s = session(Assignment::Extension(ext(1)));
        for to in [Assignment::Extension(ext(2)), Assignment::Queue(qid()), Assignment::Api] {
            let t = s.transfer(&owner, None, to, AT).unwrap();
            assert_eq!(t.after.assignment, to);
            assert!(t.after.is_open());
            assert_eq!(
                t.entry.clone().unwrap().operation,
                Operation::Transferred { by: owner, from: s.assignment, to }
            );
            assert!(t.audiences().contains(&Audience::Extension(ext(1))), "the transferrer hears it left");
        }
        assert_eq!(s.transfer(&owner, None, s.assignment, AT).unwrap_err(), Refusal::SameDestination);
        assert_eq!(s.transfer(&Actor::Extension(ext(2)), None, Assignment::Api, AT).unwrap_err(), Refusal::NotVisible);
        assert!(s.transfer(&Actor::Admin, None, Assignment::Api, AT).is_ok());
        let api = session(Assignment::Api);
        assert!(api.transfer(&Actor::Api, None, Assignment::Extension(ext(1)), AT).is_ok());

        let queued = session(Assignment::Queue(qid()));
        let a1 = Actor::Extension(ext(1));
        for mode in [AssignmentMode::Manual, AssignmentMode::Auto] {
            assert_eq!(
                queued.transfer(&a1, Some(&queue(mode, &[1])), Assignment::Api, AT).unwrap_err(),
                Refusal::PickUpFirst
            );
        }
        assert!(queued.transfer(&a1, Some(&queue(AssignmentMode::None, &[1])), Assignment::Api, AT).is_ok());
    }

    #[test]
    fn close_transitions_and_refusals() {
        let s = session(Assignment::Extension(ext(1)));
        let t = s.close(Some(&Actor::Extension(ext(1))), None, AT).unwrap();
        assert!(t.closes());
        assert!(t.after.view.archived, "closing files the session in the owner's Archived list");
        assert_eq!(t.after.list_slot(), Some((ListOwner::Extension(ext(1)), true)));
        assert_eq!(s.close(Some(&Actor::Extension(ext(2))), None, AT).unwrap_err(), Refusal::NotVisible);
        assert!(s.close(Some(&Actor::Admin), None, AT).is_ok());
        let auto = s.close(None, None, AT).unwrap();
        assert_eq!(auto.entry.unwrap().operation, Operation::Closed { by: None });

        let queued = session(Assignment::Queue(qid()));
        for mode in [AssignmentMode::Manual, AssignmentMode::Auto, AssignmentMode::None] {
            assert!(queued.close(Some(&Actor::Extension(ext(2))), Some(&queue(mode, &[2])), AT).is_ok());
        }
        assert_eq!(
            queued.close(Some(&Actor::Extension(ext(3))), Some(&queue(AssignmentMode::Manual, &[2])), AT).unwrap_err(),
            Refusal::NotVisible
        );
    }

    #[test]
    fn meta_channels_reply_only_inside_their_windows() {
        let now = Timestamp::from_millis(1_800_000_000_000);
        let ago = |h: u64| Some(Timestamp::from_millis(1_800_000_000_000 - i64::try_from(h * 3_600_000).unwrap()));
        assert_eq!(reply_window(ChannelType::Sms, None, now), Ok(ReplyWindow::Open));
        assert_eq!(reply_window(ChannelType::WhatsApp, ago(24), now), Ok(ReplyWindow::Open));
        assert_eq!(reply_window(ChannelType::WhatsApp, ago(25), now), Err(Refusal::TemplateRequired));
        assert_eq!(reply_window(ChannelType::WhatsApp, None, now), Err(Refusal::TemplateRequired));
        assert_eq!(reply_window(ChannelType::Facebook, ago(23), now), Ok(ReplyWindow::Open));
        assert_eq!(reply_window(ChannelType::Facebook, ago(25), now), Ok(ReplyWindow::HumanAgentTag));
        assert_eq!(reply_window(ChannelType::Facebook, ago(7 * 24), now), Ok(ReplyWindow::HumanAgentTag));
        assert_eq!(reply_window(ChannelType::Facebook, ago(7 * 24 + 1), now), Err(Refusal::MessagingWindowClosed));
    }

    #[test]
    fn view_changes_belong_to_the_owner_only() {
        let owner = Actor::Extension(ext(1));
        let s = session(Assignment::Extension(ext(1)));
        let t = s.change_view(&owner, None, ViewChange::Archive, AT).unwrap();
        assert!(t.entry.is_none(), "list flags are not timeline operations");
        assert_eq!(t.audiences(), vec![Audience::Extension(ext(1))]);
        let archived = t.after;
        assert_eq!(archived.list_slot(), Some((ListOwner::Extension(ext(1)), true)));
        let removed = archived.change_view(&owner, None, ViewChange::Remove, AT).unwrap().after;
        assert_eq!(removed.list_slot(), None);
        let back = removed.change_view(&owner, None, ViewChange::Unarchive, AT).unwrap().after;
        assert_eq!(back.list_slot(), Some((ListOwner::Extension(ext(1)), false)));
        assert_eq!(
            s.change_view(&Actor::Extension(ext(2)), None, ViewChange::Archive, AT).unwrap_err(),
            Refusal::NotVisible
        );
        // a queued session: its agents may see it but it is in no one's list; anyone else may not see it
        let queued = session(Assignment::Queue(qid()));
        let its_queue = queue(AssignmentMode::Manual, &[1]);
        assert_eq!(
            queued.change_view(&owner, Some(&its_queue), ViewChange::Archive, AT).unwrap_err(),
            Refusal::NotInYourList
        );
        assert_eq!(
            queued.change_view(&Actor::Extension(ext(2)), Some(&its_queue), ViewChange::Archive, AT).unwrap_err(),
            Refusal::NotVisible
        );
        assert_eq!(queued.change_view(&owner, None, ViewChange::Remove, AT).unwrap_err(), Refusal::NotVisible);
        assert_eq!(s.change_view(&Actor::Admin, None, ViewChange::Archive, AT).unwrap_err(), Refusal::NotInYourList);
        // a new owner starts with a clean view
        let t = archived.transfer(&owner, None, Assignment::Extension(ext(2)), AT).unwrap();
        assert_eq!(t.after.list_slot(), Some((ListOwner::Extension(ext(2)), false)));
    }

    #[test]
    fn started_sessions_belong_to_who_started_them() {
        let key = session(Assignment::Api).key;
        let first = LastMessage::new(MessageId::new(3).unwrap(), Some("hello"), false, AT);
        let s = Session::start_by(
            SessionId::new(2).unwrap(),
            key.clone(),
            Provider::General,
            Actor::Extension(ext(4)),
            first.clone(),
        )
        .unwrap();
        assert_eq!((s.assignment, s.origin, s.unread), (Assignment::Extension(ext(4)), SessionOrigin::Agent, 0));
        let api =
            Session::start_by(SessionId::new(2).unwrap(), key.clone(), Provider::General, Actor::Api, first.clone())
                .unwrap();
        assert_eq!((api.assignment, api.origin), (Assignment::Api, SessionOrigin::Api));
        assert!(Session::start_by(SessionId::new(2).unwrap(), key, Provider::General, Actor::Admin, first).is_none());
    }

    #[test]
    fn when_preview_is_built_should_keep_200_characters() {
        let long = "é".repeat(500);
        let lm = LastMessage::new(MessageId::new(1).unwrap(), Some(&long), false, Timestamp::from_millis(0));
        assert_eq!(lm.preview.chars().count(), 200);
    }
}
