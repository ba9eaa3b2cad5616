//! Use cases of the session lifecycle an agent drives: pick up, transfer, close, archive /
//! unarchive / remove from one's list, the lists themselves and the change feed.
//!
//! Every change is decided by [`Session`]'s state machine on the session as read and written
//! only if the session is still at that version (optimistic concurrency): of twenty agents
//! picking up at once one write lands, the others read again and are told who was faster. The
//! change, its timeline entry, its event (event outbox) and its change-feed entries land in one
//! atomic write; the event is published right after and the outbox catches a failed publish.

use std::time::Duration;

use tracing::{info, warn};

use crate::directory::MessageQueue;
use crate::events::LifecycleEvent;
use crate::ids::{QueueId, SessionId};
use crate::openapi::sessions::SessionListQuery;
use crate::ports::{
    ChangeRecord, Clock, EventPublisher, ExtensionDirectory, QueueDirectory, SessionList, SessionStore, SlaTimers,
    StoreError, TransitionOutcome,
};
use crate::services::sending::publish_lifecycle;
use crate::services::sla::start_offer_timer;
use crate::session::{Actor, Assignment, Audience, Refusal, Session, ViewChange};
use crate::sla::OfferWrite;
use crate::time::Timestamp;

/// Attempts of one operation against a session that keeps changing under it.
const MAX_ATTEMPTS: usize = 6;
/// How far the change feed looks back before its cursor, so a change committed a little after
/// its recorded time is not missed (a change may therefore be reported twice).
pub const CHANGE_FEED_OVERLAP: Duration = Duration::from_secs(2);
/// Change-feed entries read per audience per call.
pub const CHANGE_FEED_LIMIT: usize = 500;
/// Index pages read per list source for one filtered list page.
const MAX_LIST_ROUNDS: usize = 10;

/// The ports session operations use.
pub struct SessionPorts<'a, S, D, E, K, T> {
    /// Sessions.
    pub sessions: &'a S,
    /// Extensions and queues.
    pub directory: &'a D,
    /// The event bus.
    pub events: &'a E,
    /// Time.
    pub clock: &'a K,
    /// The SLA breach timers (a transfer into a queue starts one).
    pub timers: &'a T,
}

/// An operation on one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOperation {
    /// Pick up a queued session.
    PickUp,
    /// Transfer it.
    Transfer(Assignment),
    /// Close it.
    Close,
    /// Archive, unarchive or remove it in the actor's list.
    View(ViewChange),
}

/// Why an operation was not done.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// The state machine refused it.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The transfer target does not exist.
    #[error("the destination does not exist")]
    UnknownDestination,
    /// The session kept changing; nothing was written by this call.
    #[error("the session kept changing; try again")]
    Contention,
    /// A dependency failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

async fn queue_of<D: QueueDirectory>(directory: &D, session: &Session) -> Result<Option<MessageQueue>, StoreError> {
    match session.relevant_queue() {
        Some(q) => directory.queue(q).await,
        None => Ok(None),
    }
}

/// Performs `operation` on session `id` as `actor`; returns the session as it is afterwards.
pub async fn operate<S, D, E, K, T>(
    ports: &SessionPorts<'_, S, D, E, K, T>,
    id: SessionId,
    actor: Actor,
    operation: SessionOperation,
) -> Result<Session, OperationError>
where
    S: SessionStore,
    D: QueueDirectory + ExtensionDirectory,
    E: EventPublisher,
    K: Clock,
    T: SlaTimers,
{
    if let SessionOperation::Transfer(to) = operation {
        let exists = match to {
            Assignment::Extension(e) => ports.directory.extension(e).await?.is_some(),
            Assignment::Queue(q) => ports.directory.queue(q).await?.is_some(),
            Assignment::Api => true,
        };
        if !exists {
            return Err(OperationError::UnknownDestination);
        }
    }
    for _ in 0..MAX_ATTEMPTS {
        let session = ports.sessions.session(id).await?.ok_or(Refusal::NotVisible)?;
        let queue = queue_of(ports.directory, &session).await?;
        let at = ports.clock.now();
        let decided = match operation {
            SessionOperation::PickUp => match actor {
                Actor::Extension(agent) => session.pick_up(agent, queue.as_ref(), at),
                Actor::Api | Actor::Admin => Err(Refusal::NotVisible),
            },
            SessionOperation::Transfer(to) => session.transfer(&actor, queue.as_ref(), to, at),
            SessionOperation::Close => session.close(Some(&actor), queue.as_ref(), at),
            SessionOperation::View(change) => session.change_view(&actor, queue.as_ref(), change, at),
        };
        let transition = match decided {
            Ok(t) => t,
            // Picking up one's own session again is a no-op success.
            Err(Refusal::AlreadyYours) => return Ok(session),
            Err(refusal) => return Err(refusal.into()),
        };
        let event = LifecycleEvent::of_transition(&transition);
        match ports.sessions.commit_transition(&transition, event.as_ref()).await? {
            TransitionOutcome::Committed => {
                info!(session_id = %id, operation = ?operation, actor = ?actor, "session changed");
                for write in crate::sla::transition_writes(&transition) {
                    if let OfferWrite::Start(offer) = write
                        && let Err(error) = start_offer_timer(ports.timers, offer).await
                    {
                        // The event stays in the event outbox; the reconciler starts the timer
                        // when it publishes it.
                        warn!(session_id = %id, error = %error, "could not start the SLA timer; left to the outbox");
                        return Ok(transition.after);
                    }
                }
                publish_lifecycle(ports.sessions, ports.events, event.as_slice()).await;
                return Ok(transition.after);
            }
            TransitionOutcome::Conflict => continue,
        }
    }
    Err(OperationError::Contention)
}

/// A page of a session list.
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    /// Most recent last message first.
    pub sessions: Vec<Session>,
    /// Whether more sessions follow (pass the last one's `last_msg_id` as the cursor).
    pub has_more: bool,
}

fn order_key(s: &Session) -> u64 {
    s.last_message.as_ref().map_or(0, |m| m.msg_id.get())
}

/// One list source read through its filter until `want` sessions match or it is exhausted.
async fn read_source<S: SessionStore>(
    store: &S,
    list: SessionList,
    query: &SessionListQuery,
    want: usize,
) -> Result<(Vec<Session>, bool), StoreError> {
    let mut matched = Vec::new();
    let mut before = query.before;
    let batch = want.max(20);
    for _ in 0..MAX_LIST_ROUNDS {
        let page = store.list_sessions(list, before, batch).await?;
        let exhausted = page.len() < batch;
        before = page.last().and_then(|s| s.last_message.as_ref()).map(|m| m.msg_id);
        matched.extend(page.into_iter().filter(|s| query.matches(s)));
        if matched.len() > want {
            return Ok((matched, true));
        }
        if exhausted || before.is_none() {
            return Ok((matched, false));
        }
    }
    // Stopped reading (filters are sparse): what is beyond is reachable with the cursor.
    Ok((matched, true))
}

/// The sessions an operator sees, filtered as asked: owned ones (Recent and/or Archived) and,
/// for extensions, the open sessions queued in their queues.
pub async fn list_sessions<S: SessionStore>(
    store: &S,
    actor: Actor,
    actor_queues: &[QueueId],
    query: &SessionListQuery,
) -> Result<ListPage, StoreError> {
    let owner = actor.list_owner();
    let mut sources = Vec::new();
    if let Some(owner) = owner
        && query.picked_up != Some(false)
    {
        for archived in [false, true] {
            if query.archived.is_none_or(|a| a == archived) {
                sources.push(SessionList::Owned { owner, archived });
            }
        }
    }
    if matches!(actor, Actor::Extension(_))
        && query.picked_up != Some(true)
        && query.archived != Some(true)
        && query.closed != Some(true)
    {
        sources.extend(actor_queues.iter().map(|q| SessionList::Queued(*q)));
    }
    let mut all = Vec::new();
    let mut more = false;
    for source in sources {
        let (found, has_more) = read_source(store, source, query, query.page_size).await?;
        more |= has_more;
        all.extend(found);
    }
    all.sort_by_key(|s| std::cmp::Reverse((order_key(s), s.id)));
    all.dedup_by_key(|s| s.id);
    if all.len() > query.page_size {
        all.truncate(query.page_size);
        more = true;
    }
    Ok(ListPage { sessions: all, has_more: more })
}

/// What changed in an operator's view since a cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangesPage {
    /// Sessions that changed and are visible now (their current state).
    pub sessions: Vec<Session>,
    /// Sessions that changed and are no longer in the operator's view.
    pub removed: Vec<SessionId>,
    /// Pass back on the next call.
    pub cursor: Timestamp,
}

/// The change feed of an operator (its own sessions and, for extensions, its queues).
pub async fn changes_since<S: SessionStore, K: Clock>(
    store: &S,
    clock: &K,
    actor: Actor,
    actor_queues: &[QueueId],
    cursor: Option<Timestamp>,
) -> Result<ChangesPage, StoreError> {
    let Some(cursor) = cursor else {
        return Ok(ChangesPage { sessions: Vec::new(), removed: Vec::new(), cursor: clock.now() });
    };
    let mut audiences = match actor {
        Actor::Extension(e) => vec![Audience::Extension(e)],
        Actor::Api => vec![Audience::Api],
        Actor::Admin => Vec::new(),
    };
    if matches!(actor, Actor::Extension(_)) {
        audiences.extend(actor_queues.iter().map(|q| Audience::Queue(*q)));
    }
    let since = cursor.minus(CHANGE_FEED_OVERLAP);
    let mut records: Vec<ChangeRecord> = Vec::new();
    for audience in audiences {
        records.extend(store.changes(audience, since, CHANGE_FEED_LIMIT).await?);
    }
    let next = records.iter().map(|r| r.at).max().map_or(cursor, |m| m.max(cursor));
    let mut ids: Vec<SessionId> = records.iter().map(|r| r.session_id).collect();
    ids.sort();
    ids.dedup();
    let mut page = ChangesPage { sessions: Vec::new(), removed: Vec::new(), cursor: next };
    for id in ids {
        match store.session(id).await? {
            Some(s) if in_view(&s, actor, actor_queues) => page.sessions.push(s),
            _ => page.removed.push(id),
        }
    }
    Ok(page)
}

fn in_view(s: &Session, actor: Actor, actor_queues: &[QueueId]) -> bool {
    match s.assignment {
        Assignment::Queue(_) => s.visible_to(&actor, actor_queues),
        _ => s.visible_to(&actor, actor_queues) && !s.view.removed,
    }
}

/// The agents of a queued session's queue (`participants`), when it is queued.
pub async fn participants<D: QueueDirectory + ExtensionDirectory>(
    directory: &D,
    session: &Session,
) -> Result<Vec<crate::directory::Extension>, StoreError> {
    let Assignment::Queue(q) = session.assignment else { return Ok(Vec::new()) };
    if !session.is_open() {
        return Ok(Vec::new());
    }
    let Some(queue) = directory.queue(q).await? else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(queue.members.len());
    for member in &queue.members {
        if let Some(e) = directory.extension(*member).await? {
            out.push(e);
        }
    }
    Ok(out)
}
