//! In-memory implementations of every port, for fast handler and use-case tests. They keep the
//! DynamoDB adapter's semantics (conditions, claims, sparse outbox) so a test against them means
//! the same thing; system tests run the real adapters against the emulator.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use domain::auth::{AuthFailures, TokenGrant};
use domain::channel::{Channel, ChannelStatus, Provider};
use domain::directory::{Extension, MessageQueue};
use domain::events::{DomainEvent, LifecycleEvent};
use domain::health::ChannelHealth;
use domain::ids::{ChannelId, ExtensionId, ExtensionNumber, MessageId, QueueId, Sequence, SessionId, WebhookToken};
use domain::inbound::{self, InboundJob, InboundKey, InboundRecord, InboundState};
use domain::message::{DeliveryState, FailureReason, Message, Origin, OutboundJob, Receipt};
use domain::ports::{
    AssignmentChange, ChangeRecord, ChannelConflict, ChannelHealthLedger, ChannelReader, ChannelWriter, Clock,
    DeliveryResult, EventPublisher, ExtensionConflict, ExtensionDirectory, HealthWrite, IdempotencyStart,
    IdempotencyStore, InactiveSessions, InboundCommit, InboundCommitOutcome, InboundQueue, Inbox, InboxInsert, Mailer,
    OutboundCommit, OutboundCommitOutcome, OutboundLedger, OutboundQueue, Outbox, OutboxEntry, Pacer, ProviderHttp,
    QueueDirectory, Random, ReceiptLedger, ReceiptRecord, SendClaim, Sequences, SessionList, SessionStore,
    SessionTarget, SlaLedger, SlaTimers, StatsReader, StoreError, StoredTemplate, TemplateStore, TemplateSync,
    TokenStore, TransitionOutcome,
};
use domain::provider::{ProviderRequest, ProviderResponse};
use domain::services::idempotency::IN_PROGRESS_LEASE;
use domain::session::{
    Assignment, Audience, LastMessage, ListView, Session, SessionKey, SessionStatus, TimelineEntry, Transition,
};
use domain::sla::{OfferKey, OfferRecord, OfferWrite, SlaEvaluation, SlaState, SlaTimer, SlaWindow};
use domain::stats::{Counters, StatsDelta};
use domain::time::Timestamp;
use domain::webhook::Headers;

mod campaigns;
mod chat_log;
mod files;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Clone)]
struct StoredMessage {
    message: Message,
    lease_until: Option<Timestamp>,
    outbox_due: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct StoredInbound {
    record: InboundRecord,
    outbox_due: Option<Timestamp>,
}

mod groups;
mod phonebook;

/// A provider message id's linked message and strongest receipt.
type ProviderMessageLink = (Option<(SessionId, MessageId)>, Option<Receipt>);

#[derive(Debug, Default)]
struct State {
    sequences: HashMap<&'static str, u64>,
    channels: BTreeMap<ChannelId, Channel>,
    webhook_claims: HashMap<(Provider, String), ChannelId>,
    number_claims: HashMap<String, ChannelId>,
    extensions: BTreeMap<ExtensionId, Extension>,
    extension_numbers: HashMap<String, ExtensionId>,
    queues: BTreeMap<QueueId, MessageQueue>,
    memberships: HashMap<ExtensionId, BTreeSet<QueueId>>,
    ext_groups: BTreeMap<domain::ids::ExtGroupId, domain::groups::ExtensionGroup>,
    organizations: BTreeMap<domain::ids::OrganizationId, domain::groups::Organization>,
    /// Phonebooks (`memory/phonebook.rs`).
    phonebooks: BTreeMap<domain::ids::PhonebookId, domain::phonebook::Phonebook>,
    inbox: HashMap<InboundKey, StoredInbound>,
    locks: HashMap<SessionKey, SessionId>,
    sessions: BTreeMap<SessionId, Session>,
    messages: BTreeMap<(SessionId, MessageId), StoredMessage>,
    provider_messages: HashMap<(ChannelId, String), ProviderMessageLink>,
    timeline: Vec<TimelineEntry>,
    /// Change feed: (audience, at, session).
    changes: Vec<(Audience, Timestamp, SessionId)>,
    /// Event outbox: event id → (event, due).
    events: BTreeMap<String, (LifecycleEvent, Timestamp)>,
    pacers: HashMap<ChannelId, (Timestamp, Option<Timestamp>)>,
    stats: HashMap<(ChannelId, String, String), Counters>,
    tokens: HashMap<String, TokenGrant>,
    auth_failures: HashMap<String, AuthFailures>,
    idempotency: HashMap<String, (String, Option<String>, Timestamp)>,
    offers: BTreeMap<(QueueId, Timestamp, SessionId), OfferRecord>,
    templates: BTreeMap<(ChannelId, u64), StoredTemplate>,
    webhook_settings: Option<domain::event_push::WebhookSettings>,
    parked_deliveries: BTreeMap<String, domain::event_push::ParkedDelivery>,
    template_syncs: HashMap<ChannelId, TemplateSync>,
    sla_states: HashMap<QueueId, SlaState>,
    evaluations: BTreeMap<(QueueId, Timestamp), SlaEvaluation>,
    /// Campaigns, their ledgers, locks, opt-outs (`memory/campaigns.rs`).
    campaigns: campaigns::CampaignState,
    /// Chat-log export jobs (`memory/chat_log.rs`).
    exports: BTreeMap<String, domain::chat_log::ExportJob>,
    /// Uploaded files: record and bytes (`memory/files.rs`).
    files: BTreeMap<domain::files::FileId, (domain::files::StoredFile, Vec<u8>)>,
}

/// Every store port in memory.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored inbound records (tests assert "nothing stored").
    pub fn inbound_count(&self) -> usize {
        lock(&self.state).inbox.len()
    }

    /// Number of sessions.
    pub fn session_count(&self) -> usize {
        lock(&self.state).sessions.len()
    }

    /// Every message, by (session, id).
    pub fn all_messages(&self) -> Vec<Message> {
        lock(&self.state).messages.values().map(|m| m.message.clone()).collect()
    }

    /// Where the outbox has an outbound message due, if anywhere.
    pub fn outbound_due(&self, session: SessionId, msg: MessageId) -> Option<Timestamp> {
        lock(&self.state).messages.get(&(session, msg)).and_then(|m| m.outbox_due)
    }
}

fn stats_add(state: &mut State, delta: &StatsDelta) {
    for bucket in [delta.at.utc_day(), "ALL".to_owned()] {
        let c = state.stats.entry((delta.channel_id, delta.number.clone(), bucket)).or_default();
        match delta.counter {
            domain::stats::Counter::Sent => c.sent += 1,
            domain::stats::Counter::Failed => c.failed += 1,
            domain::stats::Counter::Received => c.received += 1,
        }
        match delta.origin {
            Origin::Agent => c.agent += 1,
            Origin::Api => c.api += 1,
            Origin::Campaign => c.campaign += 1,
            Origin::Customer => {}
        }
    }
}

/// The event outbox's grace before the reconciler publishes (as the DynamoDB adapter).
const EVENT_GRACE: Duration = Duration::from_secs(60);

fn stash_event(state: &mut State, event: &LifecycleEvent, at: Timestamp) {
    state.events.insert(event.event_id(), (event.clone(), at.plus(EVENT_GRACE)));
}

fn offer_slot(key: &OfferKey) -> (QueueId, Timestamp, SessionId) {
    (key.queue, key.entered_at, key.session)
}

/// Applies an offer write as the DynamoDB adapter's idempotent upserts do.
fn apply_offer(state: &mut State, write: &OfferWrite) {
    let key = match write {
        OfferWrite::Start(key) | OfferWrite::Answer { key, .. } | OfferWrite::Leave { key, .. } => key,
    };
    let offer = state.offers.entry(offer_slot(key)).or_insert_with(|| OfferRecord::new(*key));
    match write {
        OfferWrite::Start(_) => {}
        OfferWrite::Answer { at, .. } => {
            offer.answered_at.get_or_insert(*at);
        }
        OfferWrite::Leave { at, .. } => {
            offer.left_at.get_or_insert(*at);
        }
    }
}

/// A message in either direction brings an owned session back to its owner's Recent list.
fn back_to_recent(session: &mut Session) {
    if session.assignment.owner().is_some() {
        session.view = ListView::default();
    }
}

impl InMemoryStore {
    /// Lifecycle events still in the event outbox (not yet published).
    pub fn unpublished_events(&self) -> Vec<LifecycleEvent> {
        lock(&self.state).events.values().map(|(e, _)| e.clone()).collect()
    }

    /// Leaves an event in the event outbox as a request that crashed after its change would.
    pub fn leave_unpublished(&self, event: &LifecycleEvent, at: Timestamp) {
        stash_event(&mut lock(&self.state), event, at);
    }
}

impl Sequences for InMemoryStore {
    async fn next_id(&self, sequence: Sequence) -> Result<u64, StoreError> {
        let mut s = lock(&self.state);
        let v = s.sequences.entry(sequence.name()).or_insert(0);
        *v += 1;
        Ok(*v)
    }
}

impl ChannelReader for InMemoryStore {
    async fn channel_by_webhook(
        &self,
        provider: Provider,
        token: &WebhookToken,
    ) -> Result<Option<Channel>, StoreError> {
        let s = lock(&self.state);
        Ok(s.webhook_claims.get(&(provider, token.as_str().to_owned())).and_then(|id| s.channels.get(id)).cloned())
    }

    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>, StoreError> {
        Ok(lock(&self.state).channels.get(&id).cloned())
    }

    async fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        Ok(lock(&self.state).channels.values().cloned().collect())
    }

    async fn channel_by_number(&self, number: &str) -> Result<Option<Channel>, StoreError> {
        let s = lock(&self.state);
        Ok(s.number_claims.get(number).and_then(|id| s.channels.get(id)).cloned())
    }
}

impl ChannelWriter for InMemoryStore {
    async fn insert_channel(&self, channel: &Channel) -> Result<Result<(), ChannelConflict>, StoreError> {
        let mut s = lock(&self.state);
        if s.webhook_claims.contains_key(&(channel.provider(), channel.webhook_token.as_str().to_owned())) {
            return Ok(Err(ChannelConflict::TokenTaken));
        }
        for rule in &channel.numbers {
            if let Some(holder) = s.number_claims.get(rule.number.as_str()) {
                return Ok(Err(ChannelConflict::NumberTaken {
                    number: rule.number.as_str().to_owned(),
                    channel_id: *holder,
                }));
            }
        }
        s.webhook_claims.insert((channel.provider(), channel.webhook_token.as_str().to_owned()), channel.id);
        for rule in &channel.numbers {
            s.number_claims.insert(rule.number.as_str().to_owned(), channel.id);
        }
        s.channels.insert(channel.id, channel.clone());
        Ok(Ok(()))
    }

    async fn replace_channel(
        &self,
        before: &Channel,
        after: &Channel,
    ) -> Result<Result<(), ChannelConflict>, StoreError> {
        let mut s = lock(&self.state);
        if !s.channels.contains_key(&before.id) {
            return Ok(Err(ChannelConflict::Missing));
        }
        let new_token = (after.provider(), after.webhook_token.as_str().to_owned());
        if new_token.1 != before.webhook_token.as_str() && s.webhook_claims.contains_key(&new_token) {
            return Ok(Err(ChannelConflict::TokenTaken));
        }
        for rule in &after.numbers {
            if let Some(holder) = s.number_claims.get(rule.number.as_str())
                && *holder != before.id
            {
                return Ok(Err(ChannelConflict::NumberTaken {
                    number: rule.number.as_str().to_owned(),
                    channel_id: *holder,
                }));
            }
        }
        s.webhook_claims.remove(&(before.provider(), before.webhook_token.as_str().to_owned()));
        s.webhook_claims.insert(new_token, after.id);
        for rule in &before.numbers {
            s.number_claims.remove(rule.number.as_str());
        }
        for rule in &after.numbers {
            s.number_claims.insert(rule.number.as_str().to_owned(), after.id);
        }
        s.channels.insert(after.id, after.clone());
        Ok(Ok(()))
    }

    async fn delete_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        s.webhook_claims.remove(&(channel.provider(), channel.webhook_token.as_str().to_owned()));
        for rule in &channel.numbers {
            if s.number_claims.get(rule.number.as_str()) == Some(&channel.id) {
                s.number_claims.remove(rule.number.as_str());
            }
        }
        s.channels.remove(&channel.id);
        Ok(())
    }
}

impl ChannelHealthLedger for InMemoryStore {
    async fn record_health(
        &self,
        channel: ChannelId,
        health: ChannelHealth,
        at: Timestamp,
    ) -> Result<HealthWrite, StoreError> {
        let mut s = lock(&self.state);
        let Some(stored) = s.channels.get_mut(&channel) else { return Ok(HealthWrite::Missing) };
        if matches!(stored.status, ChannelStatus::Checked { at: last, .. } if last >= at) {
            return Ok(HealthWrite::Stale);
        }
        let previous = stored.status;
        stored.status = ChannelStatus::Checked { health, at };
        Ok(HealthWrite::Recorded { previous })
    }
}

impl ExtensionDirectory for InMemoryStore {
    async fn insert_extension(&self, ext: &Extension) -> Result<Result<(), ExtensionConflict>, StoreError> {
        let mut s = lock(&self.state);
        if s.extension_numbers.contains_key(ext.number.as_str()) {
            return Ok(Err(ExtensionConflict::NumberTaken));
        }
        s.extension_numbers.insert(ext.number.as_str().to_owned(), ext.id);
        s.extensions.insert(ext.id, ext.clone());
        Ok(Ok(()))
    }

    async fn extension(&self, id: ExtensionId) -> Result<Option<Extension>, StoreError> {
        Ok(lock(&self.state).extensions.get(&id).cloned())
    }

    async fn extension_by_number(&self, number: &ExtensionNumber) -> Result<Option<Extension>, StoreError> {
        let s = lock(&self.state);
        Ok(s.extension_numbers.get(number.as_str()).and_then(|id| s.extensions.get(id)).cloned())
    }

    async fn extensions(&self) -> Result<Vec<Extension>, StoreError> {
        Ok(lock(&self.state).extensions.values().cloned().collect())
    }

    async fn replace_extension(
        &self,
        before: &Extension,
        after: &Extension,
    ) -> Result<Result<(), ExtensionConflict>, StoreError> {
        let mut s = lock(&self.state);
        if before.number != after.number {
            if s.extension_numbers.contains_key(after.number.as_str()) {
                return Ok(Err(ExtensionConflict::NumberTaken));
            }
            s.extension_numbers.remove(before.number.as_str());
            s.extension_numbers.insert(after.number.as_str().to_owned(), after.id);
        }
        s.extensions.insert(after.id, after.clone());
        Ok(Ok(()))
    }

    async fn delete_extension(&self, ext: &Extension) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        s.extensions.remove(&ext.id);
        if s.extension_numbers.get(ext.number.as_str()) == Some(&ext.id) {
            s.extension_numbers.remove(ext.number.as_str());
        }
        Ok(())
    }
}

impl QueueDirectory for InMemoryStore {
    async fn insert_queue(&self, queue: &MessageQueue) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        for m in &queue.members {
            s.memberships.entry(*m).or_default().insert(queue.id);
        }
        s.queues.insert(queue.id, queue.clone());
        Ok(())
    }

    async fn queue(&self, id: QueueId) -> Result<Option<MessageQueue>, StoreError> {
        Ok(lock(&self.state).queues.get(&id).cloned())
    }

    async fn queues(&self) -> Result<Vec<MessageQueue>, StoreError> {
        Ok(lock(&self.state).queues.values().cloned().collect())
    }

    async fn queues_of_agent(&self, ext: ExtensionId) -> Result<Vec<QueueId>, StoreError> {
        Ok(lock(&self.state).memberships.get(&ext).map(|q| q.iter().copied().collect()).unwrap_or_default())
    }

    async fn replace_queue(&self, before: &MessageQueue, after: &MessageQueue) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if !s.queues.contains_key(&after.id) {
            return Err(StoreError::permanent("replace queue", "the queue does not exist"));
        }
        for m in &before.members {
            if let Some(set) = s.memberships.get_mut(m) {
                set.remove(&before.id);
            }
        }
        for m in &after.members {
            s.memberships.entry(*m).or_default().insert(after.id);
        }
        s.queues.insert(after.id, after.clone());
        Ok(())
    }

    async fn delete_queue(&self, queue: &MessageQueue) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        for m in &queue.members {
            if let Some(set) = s.memberships.get_mut(m) {
                set.remove(&queue.id);
            }
        }
        s.queues.remove(&queue.id);
        Ok(())
    }
}

impl Inbox for InMemoryStore {
    async fn insert_pending(&self, record: &InboundRecord) -> Result<InboxInsert, StoreError> {
        let mut s = lock(&self.state);
        if let Some(existing) = s.inbox.get(&record.key) {
            return Ok(InboxInsert::Duplicate(existing.record.state));
        }
        let due = record.accepted_at.plus(inbound::OUTBOX_GRACE);
        s.inbox.insert(record.key.clone(), StoredInbound { record: record.clone(), outbox_due: Some(due) });
        Ok(InboxInsert::Stored)
    }

    async fn inbound(&self, key: &InboundKey) -> Result<Option<InboundRecord>, StoreError> {
        Ok(lock(&self.state).inbox.get(key).map(|i| i.record.clone()))
    }

    async fn mark_events_published(&self, key: &InboundKey) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if let Some(i) = s.inbox.get_mut(key)
            && let InboundState::Routed { events_published, .. } = &mut i.record.state
        {
            *events_published = true;
            i.outbox_due = None;
        }
        Ok(())
    }

    async fn mark_unroutable(&self, key: &InboundKey, _reason: &str) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if let Some(i) = s.inbox.get_mut(key)
            && i.record.state == InboundState::Pending
        {
            i.record.state = InboundState::Unroutable;
            i.outbox_due = None;
        }
        Ok(())
    }
}

impl SessionStore for InMemoryStore {
    async fn open_session_id(&self, key: &SessionKey) -> Result<Option<SessionId>, StoreError> {
        Ok(lock(&self.state).locks.get(key).copied())
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.state).sessions.get(&id).cloned())
    }

    async fn commit_inbound(&self, commit: &InboundCommit) -> Result<InboundCommitOutcome, StoreError> {
        let mut s = lock(&self.state);
        match s.inbox.get(&commit.inbound) {
            Some(i) if i.record.state == InboundState::Pending => {}
            _ => return Ok(InboundCommitOutcome::AlreadyRouted),
        }
        let msg = &commit.message;
        let opened = match &commit.target {
            SessionTarget::New { session, created } => {
                if s.locks.contains_key(&session.key) || s.sessions.contains_key(&session.id) {
                    return Ok(InboundCommitOutcome::KeyTaken);
                }
                s.locks.insert(session.key.clone(), session.id);
                s.sessions.insert(session.id, (**session).clone());
                s.timeline.push(created.clone());
                if let Some(start) = domain::sla::opening_write(session) {
                    apply_offer(&mut s, &start);
                }
                s.changes.push((session.assignment.audience(), commit.at, session.id));
                true
            }
            SessionTarget::Existing { session_id, expected, opens_offer } => {
                let Some(session) = s.sessions.get_mut(session_id).filter(|x| x.is_open() && x.assignment == *expected)
                else {
                    return Ok(InboundCommitOutcome::SessionChanged);
                };
                session.last_activity_at = commit.at;
                session.last_message = Some(LastMessage::new(msg.msg_id, msg.text.as_deref(), true, commit.at));
                session.last_customer_message_at = Some(commit.at);
                session.unread += 1;
                session.version += 1;
                if let Some(offer) = opens_offer {
                    session.offer = Some(*offer);
                }
                back_to_recent(session);
                s.changes.push((expected.audience(), commit.at, *session_id));
                if let Some(offer) = opens_offer {
                    apply_offer(&mut s, &OfferWrite::Start(offer.key(*session_id)));
                }
                false
            }
        };
        s.messages.insert(
            (msg.session_id, msg.msg_id),
            StoredMessage { message: msg.clone(), lease_until: None, outbox_due: None },
        );
        stats_add(&mut s, &commit.stats);
        if let Some(i) = s.inbox.get_mut(&commit.inbound) {
            i.record.state = InboundState::Routed {
                session_id: msg.session_id,
                msg_id: msg.msg_id,
                opened_session: opened,
                events_published: false,
            };
        }
        Ok(InboundCommitOutcome::Committed)
    }

    async fn commit_outbound(&self, commit: &OutboundCommit) -> Result<OutboundCommitOutcome, StoreError> {
        let mut s = lock(&self.state);
        let msg = &commit.message;
        let at = msg.created_at;
        let mut audiences = Vec::new();
        if let Some(claim) = &commit.recipient
            && !campaigns::claimable(&s.campaigns, claim)
        {
            return Ok(OutboundCommitOutcome::RecipientTaken);
        }
        match &commit.assignment {
            AssignmentChange::StartDetached { session } => {
                if s.sessions.contains_key(&session.id) {
                    return Ok(OutboundCommitOutcome::KeyTaken);
                }
                s.sessions.insert(session.id, (**session).clone());
            }
            AssignmentChange::Start { session, entry, event } => {
                if s.locks.contains_key(&session.key) || s.sessions.contains_key(&session.id) {
                    return Ok(OutboundCommitOutcome::KeyTaken);
                }
                s.locks.insert(session.key.clone(), session.id);
                s.sessions.insert(session.id, (**session).clone());
                s.timeline.push(entry.clone());
                stash_event(&mut s, event, at);
                audiences.push(session.assignment.audience());
            }
            change => {
                let Some(session) = s.sessions.get_mut(&msg.session_id).filter(|x| x.is_open()) else {
                    return Ok(OutboundCommitOutcome::SessionChanged);
                };
                match change {
                    AssignmentChange::Keep { expected } if session.assignment == *expected => {
                        audiences.push(expected.audience());
                    }
                    AssignmentChange::TakeFromQueue { queue, agent, .. }
                        if session.assignment == Assignment::Queue(*queue) =>
                    {
                        session.assignment = Assignment::Extension(*agent);
                        audiences.push(Audience::Queue(*queue));
                        audiences.push(Audience::Extension(*agent));
                    }
                    _ => return Ok(OutboundCommitOutcome::SessionChanged),
                }
                session.last_activity_at = at;
                session.last_message = Some(LastMessage::new(msg.msg_id, msg.text.as_deref(), false, at));
                session.unread = 0;
                session.version += 1;
                if let (Some(OfferWrite::Answer { at: answered, .. }), Some(offer)) =
                    (&commit.answers, &mut session.offer)
                {
                    offer.answered_at.get_or_insert(*answered);
                }
                back_to_recent(session);
                if let AssignmentChange::TakeFromQueue { entry, event, .. } = change {
                    s.timeline.push(entry.clone());
                    stash_event(&mut s, event, at);
                }
            }
        }
        for audience in audiences {
            s.changes.push((audience, at, msg.session_id));
        }
        stash_event(&mut s, &commit.accepted, at);
        if let Some(answer) = &commit.answers {
            apply_offer(&mut s, answer);
        }
        if let Some(claim) = &commit.recipient {
            campaigns::mark_queued(&mut s.campaigns, claim, msg.session_id, msg.msg_id);
        }
        s.messages.insert(
            (msg.session_id, msg.msg_id),
            StoredMessage { message: msg.clone(), lease_until: None, outbox_due: Some(commit.outbox_due) },
        );
        Ok(OutboundCommitOutcome::Committed)
    }

    async fn commit_transition(
        &self,
        transition: &Transition,
        event: Option<&LifecycleEvent>,
    ) -> Result<TransitionOutcome, StoreError> {
        let mut s = lock(&self.state);
        let after = &transition.after;
        match s.sessions.get(&after.id) {
            Some(current) if current.version == transition.before.version => {}
            _ => return Ok(TransitionOutcome::Conflict),
        }
        s.sessions.insert(after.id, after.clone());
        if transition.closes() && s.locks.get(&after.key) == Some(&after.id) {
            s.locks.remove(&after.key);
        }
        if let Some(entry) = &transition.entry {
            s.timeline.push(entry.clone());
        }
        if let Some(event) = event {
            stash_event(&mut s, event, transition.at);
        }
        for audience in transition.audiences() {
            s.changes.push((audience, transition.at, after.id));
        }
        for write in domain::sla::transition_writes(transition) {
            apply_offer(&mut s, &write);
        }
        Ok(TransitionOutcome::Committed)
    }

    async fn list_sessions(
        &self,
        list: SessionList,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let s = lock(&self.state);
        let last = |x: &Session| x.last_message.as_ref().map_or(0, |m| m.msg_id.get());
        let mut found: Vec<Session> = s
            .sessions
            .values()
            .filter(|x| match list {
                SessionList::Owned { owner, archived } => x.list_slot() == Some((owner, archived)),
                SessionList::Queued(q) => x.is_open() && x.assignment == Assignment::Queue(q),
            })
            .filter(|x| before.is_none_or(|b| last(x) < b.get()))
            .cloned()
            .collect();
        found.sort_by_key(|x| std::cmp::Reverse(last(x)));
        found.truncate(limit);
        Ok(found)
    }

    async fn changes(
        &self,
        audience: Audience,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let s = lock(&self.state);
        let mut found: Vec<ChangeRecord> = s
            .changes
            .iter()
            .filter(|(a, at, _)| *a == audience && *at > since)
            .map(|(_, at, session_id)| ChangeRecord { at: *at, session_id: *session_id })
            .collect();
        found.sort_by_key(|r| (r.at, r.session_id));
        found.truncate(limit);
        Ok(found)
    }

    async fn mark_event_published(&self, _session: SessionId, event_id: &str) -> Result<(), StoreError> {
        lock(&self.state).events.remove(event_id);
        Ok(())
    }

    async fn messages(
        &self,
        session: SessionId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let s = lock(&self.state);
        let mut list: Vec<Message> = s
            .messages
            .values()
            .filter(|m| m.message.session_id == session && before.is_none_or(|b| m.message.msg_id < b))
            .map(|m| m.message.clone())
            .collect();
        list.sort_by_key(|m| std::cmp::Reverse(m.msg_id));
        list.truncate(limit);
        Ok(list)
    }

    async fn timeline(&self, session: SessionId) -> Result<Vec<TimelineEntry>, StoreError> {
        let s = lock(&self.state);
        let mut list: Vec<TimelineEntry> = s.timeline.iter().filter(|e| e.session_id == session).cloned().collect();
        list.sort_by_key(|e| e.at);
        Ok(list)
    }
}

impl OutboundLedger for InMemoryStore {
    async fn message(&self, session: SessionId, msg: MessageId) -> Result<Option<Message>, StoreError> {
        Ok(lock(&self.state).messages.get(&(session, msg)).map(|m| m.message.clone()))
    }

    async fn claim_for_send(
        &self,
        session: SessionId,
        msg: MessageId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<SendClaim, StoreError> {
        let mut s = lock(&self.state);
        let Some(stored) = s.messages.get_mut(&(session, msg)) else {
            return Ok(SendClaim::Missing);
        };
        let claimable = match stored.message.delivery {
            DeliveryState::Queued => true,
            DeliveryState::Sending => {
                stored.lease_until.is_some_and(|l| l < now) && stored.message.origin != Origin::Campaign
            }
            _ => return Ok(SendClaim::AlreadyFinal),
        };
        if !claimable {
            return Ok(SendClaim::HeldElsewhere);
        }
        stored.message.delivery = DeliveryState::Sending;
        stored.message.attempts += 1;
        stored.lease_until = Some(lease_until);
        stored.outbox_due = Some(lease_until);
        Ok(SendClaim::Claimed(Box::new(stored.message.clone())))
    }

    async fn abandon_expired_claim(
        &self,
        session: SessionId,
        msg: MessageId,
        now: Timestamp,
        reason: &FailureReason,
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(stored) = s.messages.get_mut(&(session, msg)) else { return Ok(false) };
        if stored.message.delivery != DeliveryState::Sending || stored.lease_until.is_none_or(|l| l >= now) {
            return Ok(false);
        }
        stored.message.delivery = DeliveryState::Failed { reason: reason.clone(), at: now };
        stored.message.events_published = false;
        stored.lease_until = None;
        stored.outbox_due = Some(now);
        Ok(true)
    }

    async fn release_claim(&self, message: &Message) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if let Some(stored) = s.messages.get_mut(&(message.session_id, message.msg_id))
            && stored.message.delivery == DeliveryState::Sending
            && stored.message.attempts == message.attempts
        {
            stored.message.delivery = DeliveryState::Queued;
            stored.message.attempts -= 1;
            stored.lease_until = None;
        }
        Ok(())
    }

    async fn record_delivery(
        &self,
        message: &Message,
        attempt: u32,
        result: &DeliveryResult,
        at: Timestamp,
        stats: Option<&StatsDelta>,
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(stored) = s.messages.get_mut(&(message.session_id, message.msg_id)) else {
            return Ok(false);
        };
        if stored.message.delivery != DeliveryState::Sending || stored.message.attempts != attempt {
            return Ok(false);
        }
        stored.lease_until = None;
        match result {
            DeliveryResult::Sent { provider_message_id } => {
                stored.message.delivery = DeliveryState::Sent { provider_message_id: provider_message_id.clone(), at };
                stored.message.events_published = false;
                s.provider_messages.entry((message.channel_id, provider_message_id.clone())).or_default().0 =
                    Some((message.session_id, message.msg_id));
            }
            DeliveryResult::Failed(reason) => {
                stored.message.delivery = DeliveryState::Failed { reason: reason.clone(), at };
                stored.message.events_published = false;
            }
            DeliveryResult::Retry { outbox_due, .. } => {
                stored.message.delivery = DeliveryState::Queued;
                stored.outbox_due = Some(*outbox_due);
            }
        }
        if let Some(delta) = stats {
            stats_add(&mut s, delta);
        }
        Ok(true)
    }

    async fn mark_events_published(&self, session: SessionId, msg: MessageId) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if let Some(stored) = s.messages.get_mut(&(session, msg))
            && stored.message.delivery.is_final()
        {
            stored.message.events_published = true;
            stored.outbox_due = None;
        }
        Ok(())
    }

    async fn set_outbox_due(&self, session: SessionId, msg: MessageId, due: Timestamp) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if let Some(stored) = s.messages.get_mut(&(session, msg))
            && stored.message.delivery == DeliveryState::Queued
        {
            stored.outbox_due = Some(due);
        }
        Ok(())
    }
}

impl InactiveSessions for InMemoryStore {
    async fn inactive_sessions(
        &self,
        channel: ChannelId,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let s = lock(&self.state);
        let mut due: Vec<Session> = s
            .sessions
            .values()
            .filter(|x| x.key.channel_id == channel && x.is_open() && x.last_activity_at <= cutoff)
            .cloned()
            .collect();
        due.sort_by_key(|x| x.last_activity_at);
        due.truncate(limit);
        Ok(due)
    }
}

impl ReceiptLedger for InMemoryStore {
    async fn record_receipt(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
        receipt: &Receipt,
    ) -> Result<ReceiptRecord, StoreError> {
        let mut s = lock(&self.state);
        let entry = s.provider_messages.entry((channel, provider_message_id.to_owned())).or_default();
        if receipt.supersedes(entry.1.as_ref()) {
            entry.1 = Some(receipt.clone());
        }
        let strongest = entry.1.clone().unwrap_or_else(|| receipt.clone());
        Ok(ReceiptRecord { message: entry.0, strongest })
    }

    async fn recorded_receipt(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
    ) -> Result<Option<Receipt>, StoreError> {
        Ok(lock(&self.state)
            .provider_messages
            .get(&(channel, provider_message_id.to_owned()))
            .and_then(|e| e.1.clone()))
    }

    async fn apply_receipt(&self, session: SessionId, msg: MessageId, receipt: &Receipt) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        match s.messages.get_mut(&(session, msg)) {
            Some(stored)
                if matches!(stored.message.delivery, DeliveryState::Sent { .. })
                    && receipt.supersedes(stored.message.receipt.as_ref()) =>
            {
                stored.message.receipt = Some(receipt.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

impl Pacer for InMemoryStore {
    async fn reserve(&self, channel: ChannelId, interval: Duration, now: Timestamp) -> Result<Timestamp, StoreError> {
        let mut s = lock(&self.state);
        let entry = s.pacers.entry(channel).or_insert((now, None));
        let slot = entry.0.max(now);
        entry.0 = slot.plus(interval);
        Ok(slot)
    }

    async fn reserve_if_idle(
        &self,
        channel: ChannelId,
        interval: Duration,
        now: Timestamp,
    ) -> Result<Result<Timestamp, Timestamp>, StoreError> {
        let mut s = lock(&self.state);
        let entry = s.pacers.entry(channel).or_insert((now, None));
        if entry.0 > now {
            return Ok(Err(entry.0));
        }
        entry.0 = now.plus(interval);
        Ok(Ok(now))
    }

    async fn pause_until(&self, channel: ChannelId, until: Timestamp) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        let entry = s.pacers.entry(channel).or_insert((until, None));
        entry.0 = entry.0.max(until);
        entry.1 = Some(entry.1.map_or(until, |p| p.max(until)));
        Ok(())
    }

    async fn paused_until(&self, channel: ChannelId) -> Result<Option<Timestamp>, StoreError> {
        Ok(lock(&self.state).pacers.get(&channel).and_then(|p| p.1))
    }
}

impl Outbox for InMemoryStore {
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let s = lock(&self.state);
        let mut entries: Vec<OutboxEntry> = s
            .inbox
            .values()
            .filter_map(|i| {
                i.outbox_due.filter(|d| *d <= now).map(|due| OutboxEntry::Inbound { key: i.record.key.clone(), due })
            })
            .chain(s.messages.values().filter_map(|m| {
                m.outbox_due.filter(|d| *d <= now).map(|due| OutboxEntry::Outbound {
                    job: OutboundJob {
                        session_id: m.message.session_id,
                        msg_id: m.message.msg_id,
                        channel_id: m.message.channel_id,
                        slot: None,
                    },
                    due,
                })
            }))
            .chain(
                s.events
                    .values()
                    .filter(|(_, due)| *due <= now)
                    .map(|(event, due)| OutboxEntry::Event { event: event.clone(), due: *due }),
            )
            .collect();
        entries.sort_by_key(|e| match e {
            OutboxEntry::Inbound { due, .. } | OutboxEntry::Outbound { due, .. } | OutboxEntry::Event { due, .. } => {
                *due
            }
        });
        entries.truncate(limit);
        Ok(entries)
    }

    async fn postpone(&self, entry: &OutboxEntry, until: Timestamp) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let slot = match entry {
            OutboxEntry::Inbound { key, due } => s.inbox.get_mut(key).map(|i| (&mut i.outbox_due, *due)),
            OutboxEntry::Outbound { job, due } => {
                s.messages.get_mut(&(job.session_id, job.msg_id)).map(|m| (&mut m.outbox_due, *due))
            }
            OutboxEntry::Event { event, due } => {
                return Ok(match s.events.get_mut(&event.event_id()) {
                    Some((_, current)) if *current == *due => {
                        *current = until;
                        true
                    }
                    _ => false,
                });
            }
        };
        match slot {
            Some((current, due)) if *current == Some(due) => {
                *current = Some(until);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn event_published(&self, session: SessionId, event_id: &str) -> Result<(), StoreError> {
        self.mark_event_published(session, event_id).await
    }
}

impl StatsReader for InMemoryStore {
    async fn number_stats(
        &self,
        channel: ChannelId,
        number: &str,
        days: Option<(String, String)>,
    ) -> Result<Counters, StoreError> {
        let s = lock(&self.state);
        let mut total = Counters::default();
        for ((c, n, bucket), counters) in &s.stats {
            let in_range = match &days {
                None => bucket == "ALL",
                Some((from, to)) => bucket != "ALL" && bucket >= from && bucket <= to,
            };
            if *c == channel && n == number && in_range {
                total.add(counters);
            }
        }
        Ok(total)
    }
}

impl TokenStore for InMemoryStore {
    async fn put_token(&self, token_hash: &str, grant: &TokenGrant) -> Result<(), StoreError> {
        lock(&self.state).tokens.insert(token_hash.to_owned(), grant.clone());
        Ok(())
    }

    async fn token(&self, token_hash: &str) -> Result<Option<TokenGrant>, StoreError> {
        Ok(lock(&self.state).tokens.get(token_hash).cloned())
    }

    async fn delete_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        Ok(lock(&self.state).tokens.remove(token_hash).is_some())
    }

    async fn auth_failures(&self, source: &str) -> Result<Option<AuthFailures>, StoreError> {
        Ok(lock(&self.state).auth_failures.get(source).copied())
    }

    async fn put_auth_failures(&self, source: &str, failures: &AuthFailures) -> Result<(), StoreError> {
        lock(&self.state).auth_failures.insert(source.to_owned(), *failures);
        Ok(())
    }

    async fn clear_auth_failures(&self, source: &str) -> Result<(), StoreError> {
        lock(&self.state).auth_failures.remove(source);
        Ok(())
    }
}

impl IdempotencyStore for InMemoryStore {
    async fn start(&self, scope_key: &str, fingerprint: &str, now: Timestamp) -> Result<IdempotencyStart, StoreError> {
        let mut s = lock(&self.state);
        match s.idempotency.get(scope_key) {
            None => {}
            Some((fp, _, _)) if fp != fingerprint => return Ok(IdempotencyStart::Mismatch),
            Some((_, Some(response), _)) => return Ok(IdempotencyStart::Replay(response.clone())),
            Some((_, None, lease)) if *lease >= now => return Ok(IdempotencyStart::InProgress),
            Some(_) => {}
        }
        s.idempotency.insert(scope_key.to_owned(), (fingerprint.to_owned(), None, now.plus(IN_PROGRESS_LEASE)));
        Ok(IdempotencyStart::Fresh)
    }

    async fn complete(&self, scope_key: &str, response: &str, _now: Timestamp) -> Result<(), StoreError> {
        if let Some(entry) = lock(&self.state).idempotency.get_mut(scope_key) {
            entry.1 = Some(response.to_owned());
        }
        Ok(())
    }

    async fn release(&self, scope_key: &str) -> Result<(), StoreError> {
        lock(&self.state).idempotency.remove(scope_key);
        Ok(())
    }
}

impl InMemoryStore {
    /// Every stored offer of a queue, by entry time (tests).
    pub fn offers_of(&self, queue: QueueId) -> Vec<OfferRecord> {
        lock(&self.state).offers.values().filter(|o| o.key.queue == queue).copied().collect()
    }

    /// Stores an offer as it would stand after its session's commits (tests of the evaluation).
    pub fn put_offer(&self, offer: OfferRecord) {
        lock(&self.state).offers.insert(offer_slot(&offer.key), offer);
    }
}

impl SlaLedger for InMemoryStore {
    async fn offers_entered(&self, queue: QueueId, window: SlaWindow) -> Result<Vec<OfferRecord>, StoreError> {
        Ok(lock(&self.state)
            .offers
            .values()
            .filter(|o| o.key.queue == queue && o.key.entered_at >= window.start && o.key.entered_at < window.end)
            .copied()
            .collect())
    }

    async fn offer(&self, key: &OfferKey) -> Result<Option<OfferRecord>, StoreError> {
        Ok(lock(&self.state).offers.get(&offer_slot(key)).copied())
    }

    async fn record_breach(&self, key: &OfferKey, at: Timestamp) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        match s.offers.get_mut(&offer_slot(key)) {
            Some(o) if o.answered_at.is_none() && o.left_at.is_none() && o.breached_at.is_none() => {
                o.breached_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn breach_announced(&self, key: &OfferKey) -> Result<(), StoreError> {
        if let Some(o) = lock(&self.state).offers.get_mut(&offer_slot(key)) {
            o.breach_announced = true;
        }
        Ok(())
    }

    async fn sla_state(&self, queue: QueueId) -> Result<SlaState, StoreError> {
        Ok(lock(&self.state).sla_states.get(&queue).cloned().unwrap_or_default())
    }

    async fn record_evaluation(
        &self,
        evaluation: &SlaEvaluation,
        state: &SlaState,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let current = s.sla_states.get(&evaluation.queue).map_or(0, |st| st.version);
        let slot = (evaluation.queue, evaluation.window.end);
        if current != expected_version || s.evaluations.contains_key(&slot) {
            return Ok(false);
        }
        s.sla_states.insert(evaluation.queue, state.clone());
        s.evaluations.insert(slot, *evaluation);
        Ok(true)
    }

    async fn clear_pending(&self, queue: QueueId, notice_id: &str) -> Result<(), StoreError> {
        if let Some(st) = lock(&self.state).sla_states.get_mut(&queue)
            && st.pending.as_ref().is_some_and(|p| p.event_id() == notice_id)
        {
            st.pending = None;
            st.version += 1;
        }
        Ok(())
    }

    async fn evaluations(&self, queue: QueueId, limit: usize) -> Result<Vec<SlaEvaluation>, StoreError> {
        Ok(lock(&self.state)
            .evaluations
            .range((queue, Timestamp::from_micros(i64::MIN))..=(queue, Timestamp::from_micros(i64::MAX)))
            .rev()
            .take(limit)
            .map(|(_, e)| *e)
            .collect())
    }
}

impl domain::ports::WebhookSettingsStore for InMemoryStore {
    async fn webhook_settings(&self) -> Result<Option<domain::event_push::WebhookSettings>, StoreError> {
        Ok(lock(&self.state).webhook_settings.clone())
    }

    async fn put_webhook_settings(&self, settings: &domain::event_push::WebhookSettings) -> Result<(), StoreError> {
        lock(&self.state).webhook_settings = Some(settings.clone());
        Ok(())
    }
}

impl domain::ports::ParkedDeliveries for InMemoryStore {
    async fn park_delivery(&self, parked: &domain::event_push::ParkedDelivery) -> Result<(), StoreError> {
        lock(&self.state).parked_deliveries.insert(parked.id.clone(), parked.clone());
        Ok(())
    }

    async fn parked_deliveries(&self) -> Result<Vec<domain::event_push::ParkedDelivery>, StoreError> {
        let mut list: Vec<_> = lock(&self.state).parked_deliveries.values().cloned().collect();
        list.sort_by(|a, b| b.parked_at.cmp(&a.parked_at).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }

    async fn parked_delivery(&self, id: &str) -> Result<Option<domain::event_push::ParkedDelivery>, StoreError> {
        Ok(lock(&self.state).parked_deliveries.get(id).cloned())
    }

    async fn remove_parked_delivery(&self, id: &str) -> Result<(), StoreError> {
        lock(&self.state).parked_deliveries.remove(id);
        Ok(())
    }
}

/// Records event-push retries (with their delays); can be made to fail.
#[derive(Debug, Default)]
pub struct InMemoryPushRetries {
    queued: Mutex<Vec<(domain::event_push::Delivery, u32)>>,
    failing: Mutex<bool>,
}

impl InMemoryPushRetries {
    /// Nothing queued.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every enqueue fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    /// Takes the retries queued so far.
    pub fn take(&self) -> Vec<(domain::event_push::Delivery, u32)> {
        std::mem::take(&mut *lock(&self.queued))
    }
}

impl domain::ports::PushRetries for InMemoryPushRetries {
    async fn retry_later(&self, delivery: &domain::event_push::Delivery, delay_seconds: u32) -> Result<(), StoreError> {
        if *lock(&self.failing) {
            return Err(StoreError::retryable("queue event-push retry", "queue unavailable (test)"));
        }
        lock(&self.queued).push((delivery.clone(), delay_seconds));
        Ok(())
    }
}

impl TemplateStore for InMemoryStore {
    async fn templates(&self, channel: ChannelId) -> Result<Vec<StoredTemplate>, StoreError> {
        Ok(lock(&self.state).templates.values().filter(|t| t.channel_id == channel).cloned().collect())
    }

    async fn template_sync(&self, channel: ChannelId) -> Result<Option<TemplateSync>, StoreError> {
        Ok(lock(&self.state).template_syncs.get(&channel).copied())
    }

    async fn replace_templates(
        &self,
        channel: ChannelId,
        previous: &[StoredTemplate],
        templates: &[StoredTemplate],
        sync: &TemplateSync,
    ) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        for gone in previous.iter().filter(|p| !templates.iter().any(|t| t.id == p.id)) {
            s.templates.remove(&(channel, gone.id));
        }
        for t in templates {
            s.templates.insert((channel, t.id), t.clone());
        }
        s.template_syncs.insert(channel, *sync);
        Ok(())
    }
}

/// Records sent mail; can be made to fail (retryably or for good).
#[derive(Debug, Default)]
pub struct InMemoryMailer {
    sent: Mutex<Vec<(Vec<String>, String, String)>>,
    failing: Mutex<Option<bool>>,
}

impl InMemoryMailer {
    /// No mail yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every send fail: `Some(true)` retryably, `Some(false)` for good; `None` succeeds.
    pub fn set_failing(&self, failing: Option<bool>) {
        *lock(&self.failing) = failing;
    }

    /// (to, subject, body) of every message sent.
    pub fn sent(&self) -> Vec<(Vec<String>, String, String)> {
        lock(&self.sent).clone()
    }
}

impl Mailer for InMemoryMailer {
    async fn send_mail(&self, to: &[String], subject: &str, body: &str) -> Result<(), StoreError> {
        match *lock(&self.failing) {
            Some(true) => return Err(StoreError::retryable("send e-mail", "mail unavailable (test)")),
            Some(false) => return Err(StoreError::permanent("send e-mail", "address rejected (test)")),
            None => {}
        }
        lock(&self.sent).push((to.to_vec(), subject.to_owned(), body.to_owned()));
        Ok(())
    }
}

// ---------------------------------------------------------------- queues, bus, provider, clock

/// Records queued jobs; can be made to fail like an unavailable SQS.
#[derive(Debug, Default)]
pub struct InMemoryQueues {
    inbound: Mutex<Vec<InboundJob>>,
    outbound: Mutex<Vec<(OutboundJob, u32)>>,
    timers: Mutex<Vec<(SlaTimer, Duration)>>,
    campaign: Mutex<Vec<(domain::ports::CampaignJob, u32)>>,
    failing: Mutex<bool>,
}

impl InMemoryQueues {
    /// Empty queues.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every enqueue fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    /// Takes the inbound jobs queued so far.
    pub fn take_inbound(&self) -> Vec<InboundJob> {
        std::mem::take(&mut *lock(&self.inbound))
    }

    /// Takes the outbound jobs (with their delays) queued so far.
    pub fn take_outbound(&self) -> Vec<(OutboundJob, u32)> {
        std::mem::take(&mut *lock(&self.outbound))
    }

    /// Takes the campaign jobs (with their delays) queued so far.
    pub fn take_campaign(&self) -> Vec<(domain::ports::CampaignJob, u32)> {
        std::mem::take(&mut *lock(&self.campaign))
    }

    /// Takes the SLA timers (with their delays) started so far.
    pub fn take_timers(&self) -> Vec<(SlaTimer, Duration)> {
        std::mem::take(&mut *lock(&self.timers))
    }

    fn check(&self) -> Result<(), StoreError> {
        if *lock(&self.failing) { Err(StoreError::retryable("enqueue", "queue unavailable (test)")) } else { Ok(()) }
    }
}

impl InboundQueue for InMemoryQueues {
    async fn enqueue_inbound(&self, job: &InboundJob) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.inbound).push(job.clone());
        Ok(())
    }
}

impl SlaTimers for InMemoryQueues {
    async fn start_timer(&self, timer: &SlaTimer, delay: Duration) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.timers).push((*timer, delay));
        Ok(())
    }
}

impl domain::ports::CampaignQueue for InMemoryQueues {
    async fn enqueue_campaign(&self, job: &domain::ports::CampaignJob, delay_seconds: u32) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.campaign).push((*job, delay_seconds));
        Ok(())
    }
}

impl OutboundQueue for InMemoryQueues {
    async fn enqueue_outbound(&self, job: &OutboundJob, delay_seconds: u32) -> Result<(), StoreError> {
        self.check()?;
        lock(&self.outbound).push((job.clone(), delay_seconds));
        Ok(())
    }
}

/// Records published events; can be made to fail.
#[derive(Debug, Default)]
pub struct InMemoryEvents {
    events: Mutex<Vec<DomainEvent>>,
    failing: Mutex<bool>,
}

impl InMemoryEvents {
    /// No events yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every publish fail (or succeed again).
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    /// The events published so far.
    pub fn published(&self) -> Vec<DomainEvent> {
        lock(&self.events).clone()
    }
}

impl EventPublisher for InMemoryEvents {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), StoreError> {
        if *lock(&self.failing) {
            return Err(StoreError::retryable("publish events", "bus unavailable (test)"));
        }
        lock(&self.events).extend_from_slice(events);
        Ok(())
    }
}

/// A provider that answers from a script (then accepts everything) and records every call.
#[derive(Debug, Default)]
pub struct ScriptedProvider {
    script: Mutex<VecDeque<ProviderResponse>>,
    calls: Mutex<Vec<ProviderRequest>>,
}

impl ScriptedProvider {
    /// Accepts everything until scripted otherwise.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next calls get these answers, in order.
    pub fn script(&self, responses: impl IntoIterator<Item = ProviderResponse>) {
        lock(&self.script).extend(responses);
    }

    /// Every call made so far.
    pub fn calls(&self) -> Vec<ProviderRequest> {
        lock(&self.calls).clone()
    }
}

impl ProviderHttp for ScriptedProvider {
    async fn execute(&self, request: &ProviderRequest) -> ProviderResponse {
        let n = {
            let mut calls = lock(&self.calls);
            calls.push(request.clone());
            calls.len()
        };
        lock(&self.script).pop_front().unwrap_or_else(|| ProviderResponse::Http {
            status: 200,
            headers: Headers::default(),
            body: format!(r#"{{"data":{{"id":"provider-msg-{n}"}}}}"#).into_bytes(),
        })
    }
}

/// A clock that only moves when told to (or when someone sleeps until later).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
    tick: Duration,
}

impl ManualClock {
    /// Starts at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self { now: Mutex::new(start), tick: Duration::ZERO }
    }

    /// Starts at `start`; every reading of the time moves it on by `tick` afterwards, as if
    /// each step between two readings (a store round trip) took that long.
    pub fn ticking(start: Timestamp, tick: Duration) -> Self {
        Self { now: Mutex::new(start), tick }
    }

    /// Moves time forward.
    pub fn advance(&self, d: Duration) {
        let mut now = lock(&self.now);
        *now = now.plus(d);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let mut now = lock(&self.now);
        let read = *now;
        *now = read.plus(self.tick);
        read
    }

    async fn sleep_until(&self, t: Timestamp) {
        let mut now = lock(&self.now);
        if t > *now {
            *now = t;
        }
    }
}

/// Deterministic "randomness": a counter spread over the bytes.
#[derive(Debug, Default)]
pub struct CountingRandom {
    counter: Mutex<u64>,
}

impl Random for CountingRandom {
    fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut c = lock(&self.counter);
        *c += 1;
        let seed = c.to_le_bytes();
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = seed[i % 8].wrapping_add(u8::try_from(i % 200).unwrap_or(0)).wrapping_mul(7) % 200;
        }
        out
    }
}

/// Marks a closed session (tests of the closed-session rules).
pub fn close_session_for_test(store: &InMemoryStore, id: SessionId, at: Timestamp) {
    let mut s = lock(&store.state);
    if let Some(session) = s.sessions.get_mut(&id) {
        session.status = SessionStatus::Closed { at };
        let key = session.key.clone();
        s.locks.remove(&key);
    }
}

/// Takes a session's queue offer away, as a campaign-started session has none (tests of the
/// offer its customer's first reply opens).
pub fn clear_offer_for_test(store: &InMemoryStore, id: SessionId) {
    if let Some(session) = lock(&store.state).sessions.get_mut(&id) {
        session.offer = None;
    }
}

/// Builders of the domain values handler tests need over and over.
pub mod fixtures {
    use domain::channel::{
        Channel, ChannelStatus, Credentials, Destination, GeneralCredentials, NumberRule, Provider, ProviderUrl,
        SendRate, SessionTimeoutDays, UrlPolicy, WebhookUrlType,
    };
    use domain::ids::{ChannelId, ProviderMessageId, WebhookToken};
    use domain::inbound::{InboundKey, InboundMessage, InboundRecord, InboundState};
    use domain::phone::{BusinessNumber, CustomerAddress};
    use domain::secret::Secret;
    use domain::time::Timestamp;

    /// The webhook token of [`general_channel`].
    pub const WEBHOOK_TOKEN: &str = "429ced149ff9437695be795aff38407b";

    /// A WhatsApp channel named "WhatsApp": phone number id `106540352242922`, business account
    /// `102290129340398`, access token `EAAJB-system-user`, with the given number rules.
    pub fn whatsapp_channel(id: u64, numbers: &[(&str, Destination)]) -> Channel {
        let mut channel = general_channel(id, 80, None, numbers);
        channel.name = "WhatsApp".into();
        channel.credentials = Credentials::WhatsApp(domain::credentials::WhatsAppCredentials {
            meta: domain::credentials::MetaCredentials {
                access_token: Secret::new("EAAJB-system-user"),
                app_secret: Secret::new("app-secret"),
                verify_token: Secret::new("qm3rprg52wzk1ah"),
            },
            phone_number_id: "106540352242922".into(),
            business_account_id: "102290129340398".into(),
        });
        channel
    }

    /// A General channel with id `id` on `https://sp.example.com/sendmessage`, API key
    /// `sandbox-api-key`, the given webhook secret, send rate and number rules.
    ///
    /// # Panics
    /// On an invalid id, rate or number (a bug in the test).
    #[allow(clippy::expect_used)]
    pub fn general_channel(id: u64, rate: u16, secret: Option<&str>, numbers: &[(&str, Destination)]) -> Channel {
        Channel {
            id: ChannelId::new(id).expect("channel id"),
            name: "General SMS".into(),
            credentials: Credentials::General {
                flavor: Provider::General,
                creds: GeneralCredentials {
                    api_key: Secret::new("sandbox-api-key"),
                    api_secret: secret.map(Secret::new),
                    verify_url: None,
                    send_url: ProviderUrl::parse("https://sp.example.com/sendmessage", UrlPolicy::HttpsOnly)
                        .expect("url"),
                },
            },
            webhook_token: WebhookToken::parse(WEBHOOK_TOKEN).expect("token"),
            webhook_url_type: WebhookUrlType::Nat,
            send_rate: SendRate::new(rate).expect("rate"),
            auto_close_session: false,
            session_expired_days: SessionTimeoutDays::DEFAULT,
            numbers: numbers
                .iter()
                .map(|(n, d)| NumberRule {
                    number: BusinessNumber::parse(n).expect("number"),
                    destination: *d,
                    members: vec![],
                })
                .collect(),
            status: ChannelStatus::NotChecked,
            enabled: true,
            created_at: Timestamp::from_millis(0),
        }
    }

    /// A pending inbound record on channel 1: `from` texted `text` to `to` at `at`.
    ///
    /// # Panics
    /// On an invalid id or number (a bug in the test).
    #[allow(clippy::expect_used)]
    pub fn pending_inbound(provider_id: &str, from: &str, to: &str, text: &str, at: Timestamp) -> InboundRecord {
        let key = InboundKey {
            channel_id: ChannelId::new(1).expect("channel id"),
            provider_message_id: ProviderMessageId::parse(provider_id).expect("provider id"),
        };
        InboundRecord {
            message: InboundMessage {
                provider_message_id: key.provider_message_id.clone(),
                from: CustomerAddress::parse(from).expect("from"),
                to: BusinessNumber::parse(to).expect("to"),
                text: Some(text.to_owned()),
                media: vec![],
                provider_timestamp: at,
                display_name: None,
            },
            key,
            accepted_at: at,
            raw_body: "{}".into(),
            state: InboundState::Pending,
        }
    }
}
