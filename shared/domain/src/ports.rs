//! Ports: the narrow traits through which use cases reach storage, queues, the event bus,
//! providers, time and randomness. Each has a DynamoDB/SQS/EventBridge/HTTP adapter and an
//! in-memory one (`adapters` crate). Methods are `async fn` (static dispatch through generics;
//! handlers never need `Send` futures because batch work runs with `join_all`, not `spawn`).
//!
//! Conditional outcomes (a duplicate, a lost race) are values of the return type, never errors:
//! [`StoreError`] is reserved for the store being unreachable or its data being unreadable.

use std::time::Duration;

use crate::auth::{AuthFailures, TokenGrant};
use crate::channel::{Channel, ChannelStatus, Provider};
use crate::directory::{Extension, MessageQueue};
use crate::events::{DomainEvent, LifecycleEvent};
use crate::groups::{ExtensionGroup, Organization};
use crate::health::ChannelHealth;
use crate::ids::{
    ChannelId, ExtGroupId, ExtensionId, ExtensionNumber, MessageId, OrganizationId, QueueId, Sequence, SessionId,
    WebhookToken,
};
use crate::inbound::{InboundJob, InboundKey, InboundRecord, InboundState};
use crate::message::{FailureReason, Message, OutboundJob, Receipt};
use crate::provider::{ProviderRequest, ProviderResponse};
use crate::session::{Assignment, Audience, ListOwner, Session, SessionKey, TimelineEntry, Transition};
use crate::sla::{OfferKey, OfferRecord, OfferWrite, SlaEvaluation, SlaState, SlaTimer, SlaWindow};
use crate::stats::{Counters, StatsDelta};
use crate::time::Timestamp;
use crate::whatsapp_template::WhatsAppTemplate;

mod campaigns;
mod chat_logs;
pub use campaigns::{CampaignJob, CampaignQueue, CampaignStore, OptOuts};
pub use chat_logs::{ChatLogStore, DownloadLinks, ExportArchive, ExportJobs, ExportQueue, ExportStorage, LogPage};
mod phonebooks;
pub use phonebooks::{PhonebookConflict, Phonebooks};
mod files;
pub use files::FileStore;

/// A dependency failed (the store, a queue, the bus).
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed{}: {source}", if *.retryable { " (retryable)" } else { "" })]
pub struct StoreError {
    /// What was being done, e.g. `"put inbound record"`.
    pub operation: &'static str,
    /// Whether trying again later may succeed (throttling, timeouts, unavailability).
    pub retryable: bool,
    /// The underlying error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// A transient failure.
    pub fn retryable(operation: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { operation, retryable: true, source: source.into() }
    }

    /// A permanent failure (e.g. an item that cannot be decoded).
    pub fn permanent(operation: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self { operation, retryable: false, source: source.into() }
    }
}

/// Time, injected so tests control it.
pub trait Clock {
    /// Now.
    fn now(&self) -> Timestamp;
    /// Resolves at (or just after) `t`; immediately when `t` is past.
    async fn sleep_until(&self, t: Timestamp);
}

/// Randomness for tokens, salts and secrets.
pub trait Random {
    /// `N` random bytes from a cryptographically secure source.
    fn bytes<const N: usize>(&self) -> [u8; N];
}

/// Allocates integer ids.
pub trait Sequences {
    /// The next value of a sequence (1, 2, 3, ...; gaps are possible, repeats are not).
    async fn next_id(&self, sequence: Sequence) -> Result<u64, StoreError>;
}

/// Reads channels.
pub trait ChannelReader {
    /// The channel whose webhook URL is `/{provider}/{token}`.
    async fn channel_by_webhook(&self, provider: Provider, token: &WebhookToken)
    -> Result<Option<Channel>, StoreError>;
    /// A channel by id.
    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>, StoreError>;
    /// Every channel, by id.
    async fn channels(&self) -> Result<Vec<Channel>, StoreError>;
    /// The channel a business number belongs to.
    async fn channel_by_number(&self, number: &str) -> Result<Option<Channel>, StoreError>;
}

/// Why a channel could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelConflict {
    /// A number already belongs to a channel.
    NumberTaken {
        /// The number.
        number: String,
        /// The channel that has it.
        channel_id: ChannelId,
    },
    /// The webhook token is in use (astronomically unlikely; a new one is drawn).
    TokenTaken,
    /// The channel no longer exists (deleted meanwhile).
    Missing,
}

/// Stores channels.
pub trait ChannelWriter {
    /// Stores a new channel and claims its numbers and webhook token, atomically.
    async fn insert_channel(&self, channel: &Channel) -> Result<Result<(), ChannelConflict>, StoreError>;
    /// Replaces stored channel `before` with `after` (same id): releases the numbers and webhook
    /// token it no longer has and claims the new ones, atomically.
    async fn replace_channel(
        &self,
        before: &Channel,
        after: &Channel,
    ) -> Result<Result<(), ChannelConflict>, StoreError>;
    /// Deletes a channel with its webhook and number claims, atomically.
    async fn delete_channel(&self, channel: &Channel) -> Result<(), StoreError>;
}

/// What recording a health check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthWrite {
    /// Recorded; the status it replaced.
    Recorded {
        /// The status before.
        previous: ChannelStatus,
    },
    /// A check that ran later is already recorded (an overlapping run): nothing written.
    Stale,
    /// The channel no longer exists.
    Missing,
}

/// Records channels' health checks.
pub trait ChannelHealthLedger {
    /// Records `health` as checked at `at`, unless a later check is recorded.
    async fn record_health(
        &self,
        channel: ChannelId,
        health: ChannelHealth,
        at: Timestamp,
    ) -> Result<HealthWrite, StoreError>;
}

/// Why an extension could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionConflict {
    /// The number is in use.
    NumberTaken,
}

/// Reads and stores extensions.
pub trait ExtensionDirectory {
    /// Stores a new extension and claims its number, atomically.
    async fn insert_extension(&self, ext: &Extension) -> Result<Result<(), ExtensionConflict>, StoreError>;
    /// By id.
    async fn extension(&self, id: ExtensionId) -> Result<Option<Extension>, StoreError>;
    /// By number.
    async fn extension_by_number(&self, number: &ExtensionNumber) -> Result<Option<Extension>, StoreError>;
    /// Every extension, by id.
    async fn extensions(&self) -> Result<Vec<Extension>, StoreError>;
    /// Replaces an extension (same id), moving its number claim when the number changes.
    async fn replace_extension(
        &self,
        before: &Extension,
        after: &Extension,
    ) -> Result<Result<(), ExtensionConflict>, StoreError>;
    /// Deletes an extension and its number claim.
    async fn delete_extension(&self, ext: &Extension) -> Result<(), StoreError>;
}

/// Reads and stores message queues.
pub trait QueueDirectory {
    /// Stores a new queue and its membership index, atomically.
    async fn insert_queue(&self, queue: &MessageQueue) -> Result<(), StoreError>;
    /// By id.
    async fn queue(&self, id: QueueId) -> Result<Option<MessageQueue>, StoreError>;
    /// Every queue, by id.
    async fn queues(&self) -> Result<Vec<MessageQueue>, StoreError>;
    /// The queues an extension is an agent of.
    async fn queues_of_agent(&self, ext: ExtensionId) -> Result<Vec<QueueId>, StoreError>;
    /// Replaces a queue (same id) and moves its membership index from `before`'s agents to
    /// `after`'s.
    async fn replace_queue(&self, before: &MessageQueue, after: &MessageQueue) -> Result<(), StoreError>;
    /// Deletes a queue and its membership index.
    async fn delete_queue(&self, queue: &MessageQueue) -> Result<(), StoreError>;
}

/// Why an extension group or organization could not be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupingConflict {
    /// Another group (or organization) has the name (case-insensitive).
    NameTaken,
    /// The organization's parent no longer exists.
    ParentMissing,
    /// The group or organization being replaced no longer exists.
    Missing,
}

/// Reads and stores extension groups (`crate::groups`).
pub trait ExtensionGroups {
    /// Stores a new group and claims its name, atomically.
    async fn insert_group(&self, group: &ExtensionGroup) -> Result<Result<(), GroupingConflict>, StoreError>;
    /// By id.
    async fn group(&self, id: ExtGroupId) -> Result<Option<ExtensionGroup>, StoreError>;
    /// Every group, by id.
    async fn groups(&self) -> Result<Vec<ExtensionGroup>, StoreError>;
    /// Replaces a group (same id), moving its name claim when the name changes, atomically.
    async fn replace_group(
        &self,
        before: &ExtensionGroup,
        after: &ExtensionGroup,
    ) -> Result<Result<(), GroupingConflict>, StoreError>;
    /// Deletes a group and its name claim.
    async fn delete_group(&self, group: &ExtensionGroup) -> Result<(), StoreError>;
}

/// Reads and stores organizations (`crate::groups`).
pub trait Organizations {
    /// Stores a new organization and claims its name, atomically, if its parent (when it has
    /// one) still exists.
    async fn insert_organization(&self, org: &Organization) -> Result<Result<(), GroupingConflict>, StoreError>;
    /// By id.
    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>, StoreError>;
    /// Every organization, by id.
    async fn organizations(&self) -> Result<Vec<Organization>, StoreError>;
    /// Replaces an organization (same id), moving its name claim when the name changes, if its
    /// parent (when it has one) still exists, atomically.
    async fn replace_organization(
        &self,
        before: &Organization,
        after: &Organization,
    ) -> Result<Result<(), GroupingConflict>, StoreError>;
    /// Deletes an organization and its name claim.
    async fn delete_organization(&self, org: &Organization) -> Result<(), StoreError>;
}

/// Result of storing an inbound delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxInsert {
    /// Stored now.
    Stored,
    /// The provider sent this message before; here is where that copy is.
    Duplicate(InboundState),
}

/// The inbound inbox: verified deliveries, stored before they are acknowledged.
pub trait Inbox {
    /// Stores a pending record unless one with the same key exists.
    async fn insert_pending(&self, record: &InboundRecord) -> Result<InboxInsert, StoreError>;
    /// A stored record.
    async fn inbound(&self, key: &InboundKey) -> Result<Option<InboundRecord>, StoreError>;
    /// Records that a routed record's events are out (it leaves the outbox).
    async fn mark_events_published(&self, key: &InboundKey) -> Result<(), StoreError>;
    /// Parks a record that cannot be routed (it leaves the outbox; kept for replay).
    async fn mark_unroutable(&self, key: &InboundKey, reason: &str) -> Result<(), StoreError>;
}

/// How an inbound message joins a session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionTarget {
    /// Open a new session (and claim its key) with this timeline entry.
    New {
        /// The session.
        session: Box<Session>,
        /// "Created" entry.
        created: TimelineEntry,
    },
    /// Append to this open session, which must still be assigned as read.
    Existing {
        /// Its id.
        session_id: SessionId,
        /// Its assignment as read (a transfer in between makes the commit look again).
        expected: Assignment,
        /// A queue offer this message starts: the customer's first message in a queued session
        /// that has none (a campaign started it; docs/decisions.md "Message campaigns").
        opens_offer: Option<crate::sla::QueueOffer>,
    },
}

/// Everything routing one inbound message writes, applied atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundCommit {
    /// The inbox record being routed (must still be pending).
    pub inbound: InboundKey,
    /// Where it goes.
    pub target: SessionTarget,
    /// The message it becomes.
    pub message: Message,
    /// The statistic it moves.
    pub stats: StatsDelta,
    /// When the message counts as session activity (our acceptance time).
    pub at: Timestamp,
}

/// What happened to an [`InboundCommit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundCommitOutcome {
    /// Applied.
    Committed,
    /// `New`, but an open session already holds the key: append to that one instead.
    KeyTaken,
    /// `Existing`, but the session closed or moved meanwhile: look again.
    SessionChanged,
    /// The inbox record is no longer pending (another worker routed it).
    AlreadyRouted,
}

/// How an agent's message changes the session's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignmentChange {
    /// The session must still be assigned as read (`expected`).
    Keep {
        /// The assignment the authorization saw.
        expected: Assignment,
    },
    /// Auto-Pickup: the session moves from the queue to the agent, only if still queued there.
    TakeFromQueue {
        /// The queue.
        queue: QueueId,
        /// The agent.
        agent: ExtensionId,
        /// "Picked up" timeline entry.
        entry: TimelineEntry,
        /// Its event.
        event: LifecycleEvent,
    },
    /// A "send directly" campaign message: its carrier session (closed, hidden, no lock) is
    /// created with it.
    StartDetached {
        /// The carrier session.
        session: Box<Session>,
    },
    /// The message starts a new session (claiming its open-session lock).
    Start {
        /// The session.
        session: Box<Session>,
        /// "Started" timeline entry.
        entry: TimelineEntry,
        /// Its event.
        event: LifecycleEvent,
    },
}

/// Everything accepting an agent's message writes, applied atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundCommit {
    /// The message, `queued`, with its outbox due time.
    pub message: Message,
    /// When the outbox should hand it on if the queue message is lost.
    pub outbox_due: Timestamp,
    /// The assignment condition or change.
    pub assignment: AssignmentChange,
    /// The `message.accepted` event (kept in the event outbox until published).
    pub accepted: LifecycleEvent,
    /// The queue offer this reply answers (the first agent reply since the session entered its
    /// queue), written idempotently with the message.
    pub answers: Option<OfferWrite>,
    /// A campaign message: the recipient's ledger entry moves `pending` → `queued` with it, so
    /// the recipient gets this message or none.
    pub recipient: Option<RecipientClaim>,
}

/// A campaign recipient claimed by the message that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientClaim {
    /// The campaign.
    pub campaign: crate::ids::CampaignId,
    /// The recipient.
    pub index: u32,
}

/// What happened to an [`OutboundCommit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundCommitOutcome {
    /// Applied.
    Committed,
    /// The session closed or its assignment changed since it was read.
    SessionChanged,
    /// `Start`, but an open session already holds the key.
    KeyTaken,
    /// The campaign recipient was not pending in that round any more (another worker took it).
    RecipientTaken,
}

/// What happened to a [`Transition`] commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionOutcome {
    /// Applied.
    Committed,
    /// The session changed since it was read (its version moved): read it again and decide again.
    Conflict,
}

/// One of the session lists an operator sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionList {
    /// An owner's Recent (`archived` false) or Archived list.
    Owned {
        /// Whose.
        owner: ListOwner,
        /// Which.
        archived: bool,
    },
    /// The open sessions waiting in a queue.
    Queued(QueueId),
}

/// A change-feed entry: `session_id` changed at `at` in an audience's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRecord {
    /// When (store-side write time of the change).
    pub at: Timestamp,
    /// Which session.
    pub session_id: SessionId,
}

/// Sessions, their messages and timelines.
pub trait SessionStore {
    /// The open session holding `key`, if any.
    async fn open_session_id(&self, key: &SessionKey) -> Result<Option<SessionId>, StoreError>;
    /// A session.
    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError>;
    /// Applies an inbound routing commit.
    async fn commit_inbound(&self, commit: &InboundCommit) -> Result<InboundCommitOutcome, StoreError>;
    /// Applies an agent-message commit.
    async fn commit_outbound(&self, commit: &OutboundCommit) -> Result<OutboundCommitOutcome, StoreError>;
    /// Applies a lifecycle transition if the session is still at `before.version`: the session,
    /// its timeline entry, the event (into the event outbox), the change-feed entries and, when
    /// it closes, the release of its open-session lock, atomically.
    async fn commit_transition(
        &self,
        transition: &Transition,
        event: Option<&LifecycleEvent>,
    ) -> Result<TransitionOutcome, StoreError>;
    /// A list, most recent last message first, with a last message id below `before` when given.
    async fn list_sessions(
        &self,
        list: SessionList,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError>;
    /// Change-feed entries of an audience after `since`, oldest first, at most `limit`.
    async fn changes(
        &self,
        audience: Audience,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError>;
    /// Removes a published event from the event outbox.
    async fn mark_event_published(&self, session: SessionId, event_id: &str) -> Result<(), StoreError>;
    /// Messages of a session, newest first, older than `before` when given.
    async fn messages(
        &self,
        session: SessionId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;
    /// The session's timeline, oldest first.
    async fn timeline(&self, session: SessionId) -> Result<Vec<TimelineEntry>, StoreError>;
}

/// The sessions auto-close looks at (an index over open sessions by channel and last activity).
pub trait InactiveSessions {
    /// Open sessions of `channel` whose last message (either direction) is at or before `cutoff`,
    /// least recently active first, at most `limit`. Reads only those sessions.
    async fn inactive_sessions(
        &self,
        channel: ChannelId,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError>;
}

/// Result of claiming a message for a provider call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendClaim {
    /// Claimed: this worker calls the provider (attempt number inside the message).
    Claimed(Box<Message>),
    /// Sent or failed already: nothing to do.
    AlreadyFinal,
    /// Another worker holds an unexpired lease on it.
    HeldElsewhere,
    /// No such message.
    Missing,
}

/// How a provider call ended, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    /// Accepted by the provider.
    Sent {
        /// Provider's id.
        provider_message_id: String,
    },
    /// Final failure.
    Failed(FailureReason),
    /// Back to `queued` for another attempt; the outbox hands it on at `outbox_due` if the
    /// delayed queue message is lost.
    Retry {
        /// The failure of this attempt.
        last_failure: FailureReason,
        /// Outbox due time.
        outbox_due: Timestamp,
    },
}

/// The outbound ledger: claims and results of provider calls.
pub trait OutboundLedger {
    /// A message.
    async fn message(&self, session: SessionId, msg: MessageId) -> Result<Option<Message>, StoreError>;
    /// Moves a `queued` message (or a `sending` one whose lease ran out) to `sending`, with a
    /// lease until `lease_until` and the attempt count incremented.
    async fn claim_for_send(
        &self,
        session: SessionId,
        msg: MessageId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<SendClaim, StoreError>;
    /// A claim whose holder died during the provider call (its lease ran out): the message is
    /// failed with `reason` instead of being sent again (campaign messages, which must reach
    /// each recipient at most once), and left for the outbox to announce. `false` when it is not
    /// such a claim (any more).
    async fn abandon_expired_claim(
        &self,
        session: SessionId,
        msg: MessageId,
        now: Timestamp,
        reason: &FailureReason,
    ) -> Result<bool, StoreError>;
    /// Gives a claim back without calling the provider (its slot was missed and the next one is
    /// far away): the message returns to `queued` and the attempt does not count.
    async fn release_claim(&self, message: &Message) -> Result<(), StoreError>;
    /// Records the end of the claimed attempt `attempt` and moves the statistic, atomically; a
    /// `Sent` result also links the provider's message id to the message (see [`ReceiptLedger`]).
    /// Returns `false` when the claim was lost meanwhile (nothing written).
    async fn record_delivery(
        &self,
        message: &Message,
        attempt: u32,
        result: &DeliveryResult,
        at: Timestamp,
        stats: Option<&StatsDelta>,
    ) -> Result<bool, StoreError>;
    /// Records that a final message's event is out (it leaves the outbox).
    async fn mark_events_published(&self, session: SessionId, msg: MessageId) -> Result<(), StoreError>;
    /// Moves a queued message's outbox due time (it waits in SQS for a far slot).
    async fn set_outbox_due(&self, session: SessionId, msg: MessageId, due: Timestamp) -> Result<(), StoreError>;
}

/// Where a provider message id leads, and the strongest report recorded under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    /// The message the id belongs to, once the sender has recorded the send (a callback can
    /// arrive before that).
    pub message: Option<(SessionId, MessageId)>,
    /// The strongest report recorded under the id (this one or an earlier, stronger one).
    pub strongest: Receipt,
}

/// Delivery receipts: providers' status reports, matched to our outbound messages by the id the
/// provider returned when it accepted the send. [`OutboundLedger::record_delivery`] links the id
/// to its message; a report recorded before the link waits under the id until the sender reads it.
pub trait ReceiptLedger {
    /// Records a report under `(channel, provider_message_id)` unless a report of equal or
    /// greater rank is there; returns the linked message and the strongest report on record.
    async fn record_receipt(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
        receipt: &Receipt,
    ) -> Result<ReceiptRecord, StoreError>;
    /// The strongest report recorded under a provider id, if any.
    async fn recorded_receipt(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
    ) -> Result<Option<Receipt>, StoreError>;
    /// Puts a receipt on a sent message unless it holds one of equal or greater rank; `true`
    /// when it changed.
    async fn apply_receipt(&self, session: SessionId, msg: MessageId, receipt: &Receipt) -> Result<bool, StoreError>;
}

/// Per-channel send schedule (see [`crate::pacing`]).
pub trait Pacer {
    /// Reserves the channel's next slot: `max(next_slot, now)`; the schedule moves on by
    /// `interval`. Safe under concurrent callers: every caller gets a distinct slot.
    async fn reserve(&self, channel: ChannelId, interval: Duration, now: Timestamp) -> Result<Timestamp, StoreError>;
    /// Background traffic (campaigns): takes the slot at `now` only if the channel is idle (its
    /// next slot is due and it is not paused), so it never books slots ahead of agent replies.
    /// `Err(t)`: busy until `t`.
    async fn reserve_if_idle(
        &self,
        channel: ChannelId,
        interval: Duration,
        now: Timestamp,
    ) -> Result<Result<Timestamp, Timestamp>, StoreError>;
    /// Pushes the schedule back to `until` (provider said "too many requests").
    async fn pause_until(&self, channel: ChannelId, until: Timestamp) -> Result<(), StoreError>;
    /// The end of the channel's current pause, if one was set.
    async fn paused_until(&self, channel: ChannelId) -> Result<Option<Timestamp>, StoreError>;
}

/// The routing work queue.
pub trait InboundQueue {
    /// Enqueues routing of a stored delivery.
    async fn enqueue_inbound(&self, job: &InboundJob) -> Result<(), StoreError>;
}

/// The sending work queue.
pub trait OutboundQueue {
    /// Enqueues a send, visible after `delay_seconds` (≤ 900).
    async fn enqueue_outbound(&self, job: &OutboundJob, delay_seconds: u32) -> Result<(), StoreError>;
}

/// Work stored but possibly not handed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxEntry {
    /// An inbound record not yet routed or not yet announced.
    Inbound {
        /// Its key.
        key: InboundKey,
        /// When it became due.
        due: Timestamp,
    },
    /// An outbound message not yet sent or failed.
    Outbound {
        /// Its job.
        job: OutboundJob,
        /// When it became due.
        due: Timestamp,
    },
    /// A lifecycle event stored with its change but not yet published.
    Event {
        /// The event.
        event: LifecycleEvent,
        /// When it became due.
        due: Timestamp,
    },
}

/// The outbox index over inbox records and outbound messages.
pub trait Outbox {
    /// Entries due at or before `now`, oldest first, at most `limit`.
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Moves an entry's due time to `until` if it is still `entry`'s; `false` if it changed or left.
    async fn postpone(&self, entry: &OutboxEntry, until: Timestamp) -> Result<bool, StoreError>;
    /// Removes a published lifecycle event from the event outbox.
    async fn event_published(&self, session: SessionId, event_id: &str) -> Result<(), StoreError>;
}

/// Publishes domain events.
pub trait EventPublisher {
    /// Publishes all of them (retrying partial failures); an error means some may not be out.
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), StoreError>;
}

/// Executes provider HTTP calls.
pub trait ProviderHttp {
    /// Makes the call; transport failures come back as [`ProviderResponse::NoResponse`].
    async fn execute(&self, request: &ProviderRequest) -> ProviderResponse;
}

/// Stores tokens by hash.
pub trait TokenStore {
    /// Stores a grant under a token hash.
    async fn put_token(&self, token_hash: &str, grant: &TokenGrant) -> Result<(), StoreError>;
    /// The grant of a token hash, if stored.
    async fn token(&self, token_hash: &str) -> Result<Option<TokenGrant>, StoreError>;
    /// Removes a token; `true` if this call removed it (so a refresh token is used once).
    async fn delete_token(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Failed logins recorded for a source address.
    async fn auth_failures(&self, source: &str) -> Result<Option<AuthFailures>, StoreError>;
    /// Records failed logins for a source address (kept until [`crate::auth::AUTH_BLOCK`] after
    /// the last).
    async fn put_auth_failures(&self, source: &str, failures: &AuthFailures) -> Result<(), StoreError>;
    /// Forgets a source address's failures (a successful login).
    async fn clear_auth_failures(&self, source: &str) -> Result<(), StoreError>;
}

/// Result of starting an idempotent request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// First time: do the work, then complete or release.
    Fresh,
    /// Done before: return this response.
    Replay(String),
    /// The key was used for a different request.
    Mismatch,
    /// The first request with this key is still running.
    InProgress,
}

/// Remembers `Idempotency-Key`s and their responses.
pub trait IdempotencyStore {
    /// Claims `scope_key` for a request with `fingerprint` (or reports what happened before).
    async fn start(&self, scope_key: &str, fingerprint: &str, now: Timestamp) -> Result<IdempotencyStart, StoreError>;
    /// Stores the response of a claimed key.
    async fn complete(&self, scope_key: &str, response: &str, now: Timestamp) -> Result<(), StoreError>;
    /// Releases a claimed key whose request failed in a way that may be retried.
    async fn release(&self, scope_key: &str) -> Result<(), StoreError>;
}

/// Reads statistics.
pub trait StatsReader {
    /// Counters of one business number, over the inclusive UTC day range (all time when `None`).
    async fn number_stats(
        &self,
        channel: ChannelId,
        number: &str,
        days: Option<(String, String)>,
    ) -> Result<Counters, StoreError>;
}

/// Queue service level records: offers (written with the session changes, see
/// [`crate::sla::OfferWrite`]), breaches, evaluations and each queue's alarm state.
pub trait SlaLedger {
    /// Offers that entered `queue` in `window`, oldest first.
    async fn offers_entered(&self, queue: QueueId, window: SlaWindow) -> Result<Vec<OfferRecord>, StoreError>;
    /// One offer.
    async fn offer(&self, key: &OfferKey) -> Result<Option<OfferRecord>, StoreError>;
    /// Records the breach if the offer is still waiting (unanswered, not ended, not breached);
    /// `false` if it is not.
    async fn record_breach(&self, key: &OfferKey, at: Timestamp) -> Result<bool, StoreError>;
    /// Marks the breach event as published.
    async fn breach_announced(&self, key: &OfferKey) -> Result<(), StoreError>;
    /// The queue's alarm state (default when never evaluated).
    async fn sla_state(&self, queue: QueueId) -> Result<SlaState, StoreError>;
    /// Stores an evaluation with the state after it, atomically, only if the state is still at
    /// `expected_version` and the window was not stored yet; `false` if another run was first.
    async fn record_evaluation(
        &self,
        evaluation: &SlaEvaluation,
        state: &SlaState,
        expected_version: u64,
    ) -> Result<bool, StoreError>;
    /// Clears the pending notice with this id (delivered).
    async fn clear_pending(&self, queue: QueueId, notice_id: &str) -> Result<(), StoreError>;
    /// The queue's evaluations, newest first, at most `limit`.
    async fn evaluations(&self, queue: QueueId, limit: usize) -> Result<Vec<SlaEvaluation>, StoreError>;
}

/// Sends e-mail (SES).
pub trait Mailer {
    /// Sends one message to `to`. A permanent error (rejected address, unverified sender) will not
    /// succeed when retried.
    async fn send_mail(&self, to: &[String], subject: &str, body: &str) -> Result<(), StoreError>;
}

/// The per-session SLA breach timers (an SQS queue with delivery delays).
pub trait SlaTimers {
    /// Fires `timer` after `delay` (at most [`crate::sla::MAX_TIMER_DELAY`]).
    async fn start_timer(&self, timer: &SlaTimer, delay: std::time::Duration) -> Result<(), StoreError>;
}

/// A synchronised WhatsApp template as stored: our integer id (Yeastar's `id`, stable across
/// syncs for the same Meta template), its channel, the template.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    /// Our id (`id` in `whatsapp_msg_param`).
    pub id: u64,
    /// The WhatsApp channel.
    pub channel_id: ChannelId,
    /// The template.
    pub template: WhatsAppTemplate,
}

/// The outcome of a channel's last template sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateSync {
    /// When it ran.
    pub synced_at: Timestamp,
    /// Templates kept (approved, not catalog, valid, within the cap).
    pub kept: usize,
    /// Skipped: not approved.
    pub not_approved: usize,
    /// Skipped: catalog templates.
    pub catalog: usize,
    /// Skipped: beyond the 250 cap.
    pub over_limit: usize,
    /// Skipped: malformed variables or unsupported components.
    pub invalid: usize,
}

/// Each WhatsApp channel's synchronised templates.
pub trait TemplateStore {
    /// The channel's templates, by id.
    async fn templates(&self, channel: ChannelId) -> Result<Vec<StoredTemplate>, StoreError>;
    /// The channel's last sync, if any.
    async fn template_sync(&self, channel: ChannelId) -> Result<Option<TemplateSync>, StoreError>;
    /// Makes `templates` the channel's whole set and records `sync`: the ones of `previous` (the
    /// set as read before) that are not in it are removed.
    async fn replace_templates(
        &self,
        channel: ChannelId,
        previous: &[StoredTemplate],
        templates: &[StoredTemplate],
        sync: &TemplateSync,
    ) -> Result<(), StoreError>;
}

/// The event-push settings (`webhook/query|update`, one item).
pub trait WebhookSettingsStore {
    /// The settings (`None`: never set; the defaults apply).
    async fn webhook_settings(&self) -> Result<Option<crate::event_push::WebhookSettings>, StoreError>;
    /// Replaces the settings.
    async fn put_webhook_settings(&self, settings: &crate::event_push::WebhookSettings) -> Result<(), StoreError>;
}

/// Event-push deliveries whose retries ran out, kept until redelivered.
pub trait ParkedDeliveries {
    /// Parks a delivery (parking the same id again replaces it).
    async fn park_delivery(&self, parked: &crate::event_push::ParkedDelivery) -> Result<(), StoreError>;
    /// Every parked delivery, most recently parked first.
    async fn parked_deliveries(&self) -> Result<Vec<crate::event_push::ParkedDelivery>, StoreError>;
    /// One parked delivery.
    async fn parked_delivery(&self, id: &str) -> Result<Option<crate::event_push::ParkedDelivery>, StoreError>;
    /// Removes a parked delivery (delivered at last).
    async fn remove_parked_delivery(&self, id: &str) -> Result<(), StoreError>;
}

/// The event-push queue, for retries.
pub trait PushRetries {
    /// Queues `delivery` for another attempt after `delay_seconds`.
    async fn retry_later(&self, delivery: &crate::event_push::Delivery, delay_seconds: u32) -> Result<(), StoreError>;
}
