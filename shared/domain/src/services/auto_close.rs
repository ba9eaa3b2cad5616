//! Use case: close sessions nobody has written in for the channel's `session_expired_time`
//! (decisions.md "Auto-close"; seed 001 §3.4). Run by a scheduled job every minute.
//!
//! For each channel with `auto_close_session`, the store is asked only for the open sessions whose
//! last message is older than the cutoff (an index ordered by last activity), so a run reads on
//! the order of the sessions due, not of the sessions open. Each one is closed through the same
//! versioned transition an agent's close uses, with no actor (an automatic close on the
//! timeline, `session.closed` with `automatic: true`). A message that lands between the read and
//! the close bumps the session's version: the close is decided again on the fresh session, which
//! is no longer due, so an active session is never closed and no message is lost. Two runs that
//! overlap race on the same conditional write: one closes, the other finds it closed.

use std::time::Duration;

use tracing::{info, warn};

use crate::channel::Channel;
use crate::events::LifecycleEvent;
use crate::ports::{
    ChannelReader, Clock, EventPublisher, InactiveSessions, SessionStore, StoreError, TransitionOutcome,
};
use crate::services::sending::publish_lifecycle;
use crate::session::Session;
use crate::time::Timestamp;

/// Sessions read per page.
pub const PAGE_SIZE: usize = 100;
/// Pages per channel per run: what is left waits for the next run (one minute later).
pub const MAX_PAGES_PER_CHANNEL: usize = 20;
/// Times one session's close is decided again after a concurrent change.
const MAX_ATTEMPTS: usize = 3;

/// The ports auto-close uses.
pub struct AutoClosePorts<'a, C, I, S, E, K> {
    /// Channels (their auto-close settings).
    pub channels: &'a C,
    /// The inactivity index.
    pub inactive: &'a I,
    /// Sessions (closing them).
    pub sessions: &'a S,
    /// The event bus.
    pub events: &'a E,
    /// Time.
    pub clock: &'a K,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutoCloseReport {
    /// Channels with auto-close on.
    pub channels: usize,
    /// Sessions the store returned as due.
    pub examined: usize,
    /// Sessions closed by this run.
    pub closed: usize,
    /// Sessions that were due when read but not when closed (a message arrived, someone closed
    /// them first).
    pub kept: usize,
}

/// The inactivity cutoff of a channel at `now`: sessions whose last message is at or before it
/// are due; `None` when the channel does not close sessions automatically.
pub fn cutoff(channel: &Channel, now: Timestamp) -> Option<Timestamp> {
    channel
        .auto_close_session
        .then(|| now.minus(Duration::from_secs(u64::from(channel.session_expired_days.days()) * 86_400)))
}

/// Whether `session` is due at `cutoff`.
pub fn is_due(session: &Session, cutoff: Timestamp) -> bool {
    session.is_open() && session.last_activity_at <= cutoff
}

/// Runs one pass over every channel.
pub async fn close_inactive<C, I, S, E, K>(
    ports: &AutoClosePorts<'_, C, I, S, E, K>,
) -> Result<AutoCloseReport, StoreError>
where
    C: ChannelReader,
    I: InactiveSessions,
    S: SessionStore,
    E: EventPublisher,
    K: Clock,
{
    let mut report = AutoCloseReport::default();
    for channel in ports.channels.channels().await? {
        let Some(cutoff) = cutoff(&channel, ports.clock.now()) else { continue };
        report.channels += 1;
        for _ in 0..MAX_PAGES_PER_CHANNEL {
            let due = ports.inactive.inactive_sessions(channel.id, cutoff, PAGE_SIZE).await?;
            report.examined += due.len();
            let mut progressed = false;
            for session in &due {
                if close_one(ports, session.clone(), cutoff).await? {
                    report.closed += 1;
                    progressed = true;
                } else {
                    report.kept += 1;
                }
            }
            if due.len() < PAGE_SIZE || !progressed {
                break;
            }
        }
    }
    if report.closed > 0 || report.kept > 0 {
        info!(
            channels = report.channels,
            examined = report.examined,
            closed = report.closed,
            kept = report.kept,
            "auto-close run"
        );
    }
    Ok(report)
}

/// Closes one session if it is still due; `false` when it no longer is.
async fn close_one<C, I, S, E, K>(
    ports: &AutoClosePorts<'_, C, I, S, E, K>,
    mut session: Session,
    cutoff: Timestamp,
) -> Result<bool, StoreError>
where
    S: SessionStore,
    E: EventPublisher,
    K: Clock,
{
    for _ in 0..MAX_ATTEMPTS {
        if !is_due(&session, cutoff) {
            return Ok(false);
        }
        let Ok(transition) = session.close(None, None, ports.clock.now()) else { return Ok(false) };
        let event = LifecycleEvent::of_transition(&transition);
        let outcome = match ports.sessions.commit_transition(&transition, event.as_ref()).await {
            Ok(outcome) => outcome,
            // one session the store cannot close must not stop the others; retryable failures
            // fail the run (the schedule retries it)
            Err(error) if !error.retryable => {
                warn!(session_id = %session.id, error = %error, "could not close the session; left open");
                return Ok(false);
            }
            Err(error) => return Err(error),
        };
        match outcome {
            TransitionOutcome::Committed => {
                info!(session_id = %session.id, channel_id = %session.key.channel_id, "session closed for inactivity");
                publish_lifecycle(ports.sessions, ports.events, event.as_slice()).await;
                return Ok(true);
            }
            TransitionOutcome::Conflict => match ports.sessions.session(session.id).await? {
                Some(fresh) => session = fresh,
                None => return Ok(false),
            },
        }
    }
    warn!(session_id = %session.id, "auto-close kept losing to concurrent changes; the next run tries again");
    Ok(false)
}
