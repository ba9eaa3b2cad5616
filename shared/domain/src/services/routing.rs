//! Use case: route a stored inbound message into a session.
//!
//! Finds the open session for (channel, business number, customer) or opens one where the
//! number's rule says (an extension or a message queue), and appends the message, moving the
//! number's Received counter and the inbox record to `routed` in the same atomic commit. Two
//! workers routing messages of the same new customer at once race on the store's open-session
//! lock: one creates the session, the other appends to it. Events are published after the
//! commit and the record is then marked announced; a crash in between republishes the same
//! events (same ids) on the next delivery.

use tracing::{info, warn};

use crate::events::DomainEvent;
use crate::ids::{MessageId, SessionId};
use crate::inbound::{InboundJob, InboundRecord, InboundState};
use crate::message::{DeliveryState, Direction, Message, Origin, Sender};
use crate::ports::{
    ChannelReader, EventPublisher, InboundCommit, InboundCommitOutcome, Inbox, Sequences, SessionStore, SessionTarget,
    SlaTimers, StoreError,
};
use crate::session::{LastMessage, Operation, Session, SessionKey, TimelineEntry};
use crate::stats::{Counter, StatsDelta};

/// How many times a lost race is retried within one delivery before giving up (retryable).
const MAX_RACE_RETRIES: usize = 8;

/// The ports routing uses.
pub struct RoutingPorts<'a, C, I, S, N, E, T> {
    /// Channels and their number rules.
    pub channels: &'a C,
    /// The inbox.
    pub inbox: &'a I,
    /// Sessions.
    pub sessions: &'a S,
    /// Id sequences.
    pub sequences: &'a N,
    /// The event bus.
    pub events: &'a E,
    /// The SLA breach timers (a session opened in a queue starts one).
    pub timers: &'a T,
}

/// What routing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The message is in a session and announced.
    Routed {
        /// The session.
        session_id: SessionId,
        /// The message.
        msg_id: MessageId,
        /// Whether the message opened the session.
        opened_session: bool,
    },
    /// Nothing left to do (routed and announced before, or parked).
    AlreadyDone,
    /// The record cannot be routed; it is parked for replay.
    Unroutable(&'static str),
    /// No such record (nothing to do).
    Missing,
}

/// Why routing must be retried.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    /// A dependency failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Lost the open-session race too many times in a row.
    #[error("too much contention on session {0:?}")]
    Contention(SessionKey),
}

impl RouteError {
    /// Whether a later retry may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            RouteError::Store(e) => e.retryable,
            RouteError::Contention(_) => true,
        }
    }
}

/// Runs the use case for one queued job.
pub async fn route_inbound<C, I, S, N, E, T>(
    ports: &RoutingPorts<'_, C, I, S, N, E, T>,
    job: &InboundJob,
) -> Result<RouteOutcome, RouteError>
where
    C: ChannelReader,
    I: Inbox,
    S: SessionStore,
    N: Sequences,
    E: EventPublisher,
    T: SlaTimers,
{
    let Some(record) = ports.inbox.inbound(&job.key).await? else {
        warn!(channel_id = %job.key.channel_id, provider_message_id = job.key.provider_message_id.as_str(), "inbound record not found");
        return Ok(RouteOutcome::Missing);
    };
    match record.state {
        InboundState::Unroutable | InboundState::Routed { events_published: true, .. } => Ok(RouteOutcome::AlreadyDone),
        InboundState::Routed { session_id, msg_id, opened_session, events_published: false } => {
            announce(ports, &record, session_id, msg_id, opened_session).await
        }
        InboundState::Pending => route_pending(ports, &record).await,
    }
}

async fn route_pending<C, I, S, N, E, T>(
    ports: &RoutingPorts<'_, C, I, S, N, E, T>,
    record: &InboundRecord,
) -> Result<RouteOutcome, RouteError>
where
    C: ChannelReader,
    I: Inbox,
    S: SessionStore,
    N: Sequences,
    E: EventPublisher,
    T: SlaTimers,
{
    let inbound = &record.message;
    let (provider, destination) = match ports.channels.channel(record.key.channel_id).await? {
        None => return park(ports, record, "the channel no longer exists").await,
        Some(channel) => match channel.rule_for(inbound.to.as_str()) {
            None => return park(ports, record, "the number is no longer configured on the channel").await,
            Some(rule) => (channel.provider(), rule.destination),
        },
    };
    let key = SessionKey {
        channel_id: record.key.channel_id,
        business_number: inbound.to.clone(),
        customer: inbound.from.clone(),
    };
    let msg_id = super::next_message_id(ports.sequences).await?;
    let mut new_session_id: Option<SessionId> = None;

    for _ in 0..MAX_RACE_RETRIES {
        let existing = match ports.sessions.open_session_id(&key).await? {
            Some(id) => ports.sessions.session(id).await?.filter(Session::is_open),
            None => None,
        };
        let (session_id, target) = match existing {
            Some(open) => {
                // A queued session without an offer (a campaign's) starts waiting for an agent now.
                let opens_offer = match (open.assignment, open.offer) {
                    (crate::session::Assignment::Queue(q), None) => {
                        Some(crate::sla::QueueOffer::entering(q, record.accepted_at))
                    }
                    _ => None,
                };
                (open.id, SessionTarget::Existing { session_id: open.id, expected: open.assignment, opens_offer })
            }
            None => {
                let id = super::reserved_session_id(ports.sequences, &mut new_session_id).await?;
                let first = LastMessage::new(msg_id, inbound.text.as_deref(), true, record.accepted_at);
                let session = Session::open_from_inbound(
                    id,
                    key.clone(),
                    provider,
                    destination,
                    first,
                    inbound.display_name.clone(),
                );
                let created = TimelineEntry {
                    session_id: id,
                    at: record.accepted_at,
                    operation: Operation::Created { assignment: session.assignment, by_message: msg_id },
                };
                (id, SessionTarget::New { session: Box::new(session), created })
            }
        };
        let opened_session = matches!(target, SessionTarget::New { .. });
        let commit = InboundCommit {
            inbound: record.key.clone(),
            target,
            message: Message {
                session_id,
                msg_id,
                channel_id: record.key.channel_id,
                direction: Direction::Inbound,
                sender: Sender::Customer { address: inbound.from.clone() },
                origin: Origin::Customer,
                text: inbound.text.clone(),
                media: inbound.media.clone(),
                created_at: inbound.provider_timestamp,
                delivery: DeliveryState::Received,
                attempts: 0,
                provider_message_id: Some(inbound.provider_message_id.as_str().to_owned()),
                events_published: true,
                receipt: None,
                template: None,
            },
            stats: StatsDelta {
                channel_id: record.key.channel_id,
                number: inbound.to.as_str().to_owned(),
                at: record.accepted_at,
                origin: Origin::Customer,
                counter: Counter::Received,
            },
            at: record.accepted_at,
        };
        match ports.sessions.commit_inbound(&commit).await? {
            InboundCommitOutcome::Committed => {
                info!(session_id = %session_id, msg_id = %msg_id, channel_id = %record.key.channel_id, opened_session, "inbound message routed");
                return announce(ports, record, session_id, msg_id, opened_session).await;
            }
            InboundCommitOutcome::AlreadyRouted => return Ok(RouteOutcome::AlreadyDone),
            InboundCommitOutcome::KeyTaken | InboundCommitOutcome::SessionChanged => continue,
        }
    }
    Err(RouteError::Contention(key))
}

async fn announce<C, I, S, N, E, T>(
    ports: &RoutingPorts<'_, C, I, S, N, E, T>,
    record: &InboundRecord,
    session_id: SessionId,
    msg_id: MessageId,
    opened_session: bool,
) -> Result<RouteOutcome, RouteError>
where
    I: Inbox,
    S: SessionStore,
    E: EventPublisher,
    T: SlaTimers,
{
    let session = ports
        .sessions
        .session(session_id)
        .await?
        .ok_or_else(|| StoreError::permanent("read routed session", format!("session {session_id} is missing")))?;
    let mut events = Vec::with_capacity(2);
    let assignment = session.assignment;
    // An offer this message opened (a new queued session, or a campaign session's first reply).
    if let Some(offer) = session.offer.filter(|o| o.entered_at == record.accepted_at && o.is_unanswered()) {
        // Before the record is marked announced: a failure here is retried with the delivery.
        crate::services::sla::start_offer_timer(ports.timers, offer.key(session.id)).await?;
    }
    if opened_session {
        events.push(DomainEvent::SessionCreated { session: Box::new(session) });
    }
    events.push(DomainEvent::MessageReceived {
        session_id,
        msg_id,
        channel_id: record.key.channel_id,
        assignment,
        message: Box::new(record.message.clone()),
    });
    ports.events.publish(&events).await?;
    ports.inbox.mark_events_published(&record.key).await?;
    Ok(RouteOutcome::Routed { session_id, msg_id, opened_session })
}

async fn park<C, I, S, N, E, T>(
    ports: &RoutingPorts<'_, C, I, S, N, E, T>,
    record: &InboundRecord,
    reason: &'static str,
) -> Result<RouteOutcome, RouteError>
where
    I: Inbox,
{
    warn!(channel_id = %record.key.channel_id, provider_message_id = record.key.provider_message_id.as_str(), reason, "inbound message parked as unroutable");
    ports.inbox.mark_unroutable(&record.key, reason).await?;
    Ok(RouteOutcome::Unroutable(reason))
}
