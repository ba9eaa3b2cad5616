//! Use case: hand on stored work whose queue message was lost (scheduled every minute).
//!
//! Inbox records and outbound messages carry an outbox due time while they are unfinished
//! (stored, waiting for a slot, claimed by a sender, or final but not yet announced). The
//! reconciler reads only the entries that are due (an index query, never a scan), puts each back
//! on its queue and then postpones it conditionally (so the next runs leave it alone for a while).
//! Routing and delivery are idempotent, so a spurious hand-on costs one no-op invocation.
//! Lifecycle events stored with their change (the event outbox) are published here when the
//! request that made the change could not publish them.

use std::time::Duration;

use tracing::{info, warn};

use crate::events::DomainEvent;
use crate::events::LifecycleEvent;
use crate::inbound::InboundJob;
use crate::message::OutboundJob;
use crate::ports::{Clock, EventPublisher, InboundQueue, OutboundQueue, Outbox, OutboxEntry, SlaTimers, StoreError};
use crate::services::sla::start_offer_timer;
use crate::session::Assignment;
use crate::sla::OfferKey;

/// How long a handed-on entry waits before it is considered again.
pub const RETRY_AFTER: Duration = Duration::from_secs(300);
/// Entries handled per run at most (the next run takes the rest).
pub const BATCH_LIMIT: usize = 500;

/// The ports the reconciler uses.
pub struct OutboxPorts<'a, X, I, O, E, K, T> {
    /// The outbox index.
    pub outbox: &'a X,
    /// The routing queue.
    pub inbound: &'a I,
    /// The sending queue.
    pub outbound: &'a O,
    /// The event bus (lifecycle events left in the event outbox).
    pub events: &'a E,
    /// Time.
    pub clock: &'a K,
    /// The SLA breach timers (a transfer into a queue whose event was left here starts one).
    pub timers: &'a T,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Entries found due.
    pub due: usize,
    /// Entries handed on.
    pub handed_on: usize,
    /// Entries whose due time another run (or the worker itself) had already moved.
    pub skipped: usize,
}

/// Runs the reconciler once.
pub async fn reconcile<X, I, O, E, K, T>(
    ports: &OutboxPorts<'_, X, I, O, E, K, T>,
) -> Result<ReconcileReport, StoreError>
where
    X: Outbox,
    I: InboundQueue,
    O: OutboundQueue,
    E: EventPublisher,
    K: Clock,
    T: SlaTimers,
{
    let now = ports.clock.now();
    let entries = ports.outbox.due(now, BATCH_LIMIT).await?;
    let mut report = ReconcileReport { due: entries.len(), ..ReconcileReport::default() };
    for entry in &entries {
        // Hand on first, then postpone: if the queue is down the entry stays due for the retried
        // run; if two runs overlap, both may hand it on, which routing and delivery absorb.
        match entry {
            OutboxEntry::Inbound { key, due } => {
                warn!(channel_id = %key.channel_id, provider_message_id = key.provider_message_id.as_str(), due = %due, "handing on an unrouted inbound message");
                ports.inbound.enqueue_inbound(&InboundJob { key: key.clone() }).await?;
            }
            OutboxEntry::Outbound { job, due } => {
                warn!(session_id = %job.session_id, msg_id = %job.msg_id, due = %due, "handing on an unsent outbound message");
                ports.outbound.enqueue_outbound(&OutboundJob { slot: None, ..job.clone() }, 0).await?;
            }
            OutboxEntry::Event { event, due } => {
                // Publish, then clear: an overlapping run may publish it twice (same event id).
                warn!(event_id = event.event_id(), due = %due, "publishing a lifecycle event left in the outbox");
                if let LifecycleEvent::Transferred { session_id, to: Assignment::Queue(queue), at, .. } = event {
                    // The request that made the transfer may have failed to start its timer
                    // (it publishes only after starting it); a second timer is harmless.
                    let offer = OfferKey { queue: *queue, entered_at: *at, session: *session_id };
                    start_offer_timer(ports.timers, offer).await?;
                }
                ports.events.publish(&[DomainEvent::Lifecycle(event.clone())]).await?;
                ports.outbox.event_published(event.session_id(), &event.event_id()).await?;
                report.handed_on += 1;
                continue;
            }
        }
        report.handed_on += 1;
        if !ports.outbox.postpone(entry, now.plus(RETRY_AFTER)).await? {
            report.skipped += 1;
        }
    }
    info!(due = report.due, handed_on = report.handed_on, skipped = report.skipped, "outbox reconciled");
    Ok(report)
}
