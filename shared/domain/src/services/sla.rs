//! Use cases of queue service level (decisions.md "SLA"): the scheduled evaluation (run every
//! minute; each queue evaluated once per window of its own interval), the per-session breach
//! timer, and the administrator's view.
//!
//! Evaluation is idempotent when runs overlap or repeat: windows are aligned, the evaluation and
//! the alarm state after it are stored in one conditional write, and a crossing's notice is stored
//! with the state as *pending* and cleared only once its event is published and its e-mail sent, so
//! a crash in between sends it on the next run (the event carries the same id). Cost: one query
//! of the queue's offers that entered in the window, per queue and window.

use std::time::Duration;

use tracing::{info, warn};

use crate::directory::{MessageQueue, QueueManager};
use crate::events::DomainEvent;
use crate::ports::{
    Clock, EventPublisher, ExtensionDirectory, Mailer, QueueDirectory, SlaLedger, SlaTimers, StoreError,
};
use crate::sla::{
    self, AlarmChange, OfferKey, SlaEvaluation, SlaFigure, SlaNotice, SlaState, SlaTimer, SlaWindow, TimerStep,
};
use crate::time::Timestamp;

/// The ports evaluation uses.
pub struct SlaPorts<'a, D, L, E, M, K> {
    /// Queues and the managers' extensions.
    pub directory: &'a D,
    /// Offers, evaluations, alarm state.
    pub ledger: &'a L,
    /// The event bus.
    pub events: &'a E,
    /// E-mail.
    pub mailer: &'a M,
    /// Time.
    pub clock: &'a K,
}

/// What one evaluation run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvaluationReport {
    /// Queues looked at.
    pub queues: usize,
    /// Windows evaluated and stored.
    pub evaluated: usize,
    /// Alarms and recoveries announced (including pending ones from an earlier run).
    pub notices: usize,
    /// Queues whose current window another run had stored first.
    pub lost_races: usize,
}

/// Evaluates every queue whose window is due.
pub async fn evaluate_all<D, L, E, M, K>(ports: &SlaPorts<'_, D, L, E, M, K>) -> Result<EvaluationReport, StoreError>
where
    D: QueueDirectory + ExtensionDirectory,
    L: SlaLedger,
    E: EventPublisher,
    M: Mailer,
    K: Clock,
{
    let now = ports.clock.now();
    let queues = ports.directory.queues().await?;
    let mut report = EvaluationReport { queues: queues.len(), ..EvaluationReport::default() };
    let mut first_error = None;
    for queue in &queues {
        // One queue's failure does not hold up the others; the run reports it (and is retried).
        if let Err(error) = evaluate_queue(ports, queue, now, &mut report).await {
            warn!(queue_id = %queue.id, error = %error, "SLA evaluation failed");
            first_error.get_or_insert(error);
        }
    }
    info!(
        queues = report.queues,
        evaluated = report.evaluated,
        notices = report.notices,
        lost_races = report.lost_races,
        "SLA evaluated"
    );
    match first_error {
        Some(error) => Err(error),
        None => Ok(report),
    }
}

async fn evaluate_queue<D, L, E, M, K>(
    ports: &SlaPorts<'_, D, L, E, M, K>,
    queue: &MessageQueue,
    now: Timestamp,
    report: &mut EvaluationReport,
) -> Result<(), StoreError>
where
    D: ExtensionDirectory,
    L: SlaLedger,
    E: EventPublisher,
    M: Mailer,
{
    let state = ports.ledger.sla_state(queue.id).await?;
    if let Some(pending) = &state.pending {
        deliver(ports, queue, pending).await?;
        report.notices += 1;
    }
    let window = sla::due_window(queue.sla.evaluation_interval(), now);
    if state.last_window_end.is_some_and(|end| end >= window.end) {
        return Ok(());
    }
    let offers = ports.ledger.offers_entered(queue.id, window).await?;
    let figure = sla::figure(&offers, queue.sla.sla_time(), now);
    let change = sla::alarm_change(state.alarm_up, figure, queue.sla.alarm_threshold_percent);
    let alarm_up = match change {
        Some(AlarmChange::Raised) => true,
        Some(AlarmChange::Recovered) => false,
        None => state.alarm_up,
    };
    let evaluation = SlaEvaluation {
        queue: queue.id,
        window,
        figure,
        sla_time_secs: queue.sla.sla_time_secs,
        threshold_percent: queue.sla.alarm_threshold_percent,
        alarm_up,
        change,
        evaluated_at: now,
    };
    let next = SlaState {
        alarm_up,
        last_window_end: Some(window.end),
        pending: evaluation.notice(),
        version: state.version + 1,
    };
    if !ports.ledger.record_evaluation(&evaluation, &next, state.version).await? {
        report.lost_races += 1;
        return Ok(());
    }
    report.evaluated += 1;
    info!(queue_id = %queue.id, window_end = %window.end, offers = offers.len(), sla = ?figure.map(|f| f.percent()), alarm_up, "SLA window evaluated");
    if let Some(notice) = &next.pending {
        deliver(ports, queue, notice).await?;
        report.notices += 1;
    }
    Ok(())
}

/// Publishes the notice's event, mails the managers, then clears it.
async fn deliver<D, L, E, M, K>(
    ports: &SlaPorts<'_, D, L, E, M, K>,
    queue: &MessageQueue,
    notice: &SlaNotice,
) -> Result<(), StoreError>
where
    D: ExtensionDirectory,
    L: SlaLedger,
    E: EventPublisher,
    M: Mailer,
{
    ports.events.publish(&[DomainEvent::QueueSla { notice: *notice, at: notice.window.end }]).await?;
    let recipients = manager_addresses(ports.directory, queue).await?;
    if recipients.is_empty() {
        warn!(queue_id = %queue.id, "SLA notice has no manager with an e-mail address to tell");
    } else {
        let (subject, body) = notice.email(&queue.name);
        match ports.mailer.send_mail(&recipients, &subject, &body).await {
            Ok(()) => {
                info!(queue_id = %queue.id, recipients = recipients.len(), event_id = notice.event_id(), "SLA notice mailed")
            }
            // Retrying cannot fix a rejected address or an unverified sender: the event is out.
            Err(error) if !error.retryable => {
                warn!(queue_id = %queue.id, error = %error, "SLA notice e-mail refused; the event was published")
            }
            Err(error) => return Err(error),
        }
    }
    ports.ledger.clear_pending(queue.id, &notice.event_id()).await
}

/// The managers' addresses: listed e-mails, and the e-mail of each listed extension that has one.
pub async fn manager_addresses<D: ExtensionDirectory>(
    directory: &D,
    queue: &MessageQueue,
) -> Result<Vec<String>, StoreError> {
    let mut addresses: Vec<String> = Vec::new();
    for manager in &queue.managers {
        let address = match manager {
            QueueManager::Email(e) => Some(e.clone()),
            QueueManager::Extension(id) => match directory.extension(*id).await? {
                Some(ext) if !ext.email_addr.is_empty() => Some(ext.email_addr),
                Some(_) | None => {
                    warn!(queue_id = %queue.id, extension_id = %id, "queue manager has no e-mail address");
                    None
                }
            },
        };
        if let Some(a) = address
            && !addresses.iter().any(|x| x.eq_ignore_ascii_case(&a))
        {
            addresses.push(a);
        }
    }
    Ok(addresses)
}

/// Starts the breach timer of an offer that just began. The first firing looks the queue's
/// `sla_time` up and waits the rest in hops of at most 15 minutes.
pub async fn start_offer_timer<T: SlaTimers>(timers: &T, offer: OfferKey) -> Result<(), StoreError> {
    timers.start_timer(&SlaTimer { offer }, Duration::ZERO).await
}

/// The ports the breach timer uses.
pub struct TimerPorts<'a, Q, L, E, T, K> {
    /// Queues (`sla_time`).
    pub queues: &'a Q,
    /// Offers.
    pub ledger: &'a L,
    /// The event bus.
    pub events: &'a E,
    /// The timer queue (to wait further).
    pub timers: &'a T,
    /// Time.
    pub clock: &'a K,
}

/// What a timer firing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerOutcome {
    /// Not due: sent again with this delay.
    Rearmed(Duration),
    /// Breached now (or its event re-announced).
    Breached,
    /// Nothing to do (answered, ended, already announced, or the queue is gone).
    Done,
}

/// Handles one timer firing. Redelivery is harmless: the breach is recorded once, and its event
/// (stable id) is published until it is marked published.
pub async fn fire_timer<Q, L, E, T, K>(
    ports: &TimerPorts<'_, Q, L, E, T, K>,
    timer: &SlaTimer,
) -> Result<TimerOutcome, StoreError>
where
    Q: QueueDirectory,
    L: SlaLedger,
    E: EventPublisher,
    T: SlaTimers,
    K: Clock,
{
    let key = timer.offer;
    let Some(queue) = ports.queues.queue(key.queue).await? else { return Ok(TimerOutcome::Done) };
    let offer = ports.ledger.offer(&key).await?;
    let now = ports.clock.now();
    let breached_at = match sla::timer_step(offer.as_ref(), queue.sla.sla_time(), now) {
        TimerStep::Done => return Ok(TimerOutcome::Done),
        TimerStep::Wait(delay) => {
            ports.timers.start_timer(timer, delay).await?;
            return Ok(TimerOutcome::Rearmed(delay));
        }
        TimerStep::Breach => {
            if !ports.ledger.record_breach(&key, now).await? {
                // Answered or ended between the read and the write.
                return Ok(TimerOutcome::Done);
            }
            now
        }
        TimerStep::Announce => offer.and_then(|o| o.breached_at).unwrap_or(now),
    };
    let event = DomainEvent::SessionSlaBreached { offer: key, sla_time_secs: queue.sla.sla_time_secs, at: breached_at };
    ports.events.publish(&[event]).await?;
    ports.ledger.breach_announced(&key).await?;
    info!(session_id = %key.session, queue_id = %key.queue, "session passed its queue's SLA time unanswered");
    Ok(TimerOutcome::Breached)
}

/// A queue's service level as the administrator reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaReport {
    /// The figure over the last evaluation interval up to now (`None`: no traffic).
    pub current: Option<SlaFigure>,
    /// Its window.
    pub current_window: SlaWindow,
    /// Alarm state.
    pub state: SlaState,
    /// Stored evaluations, newest first.
    pub history: Vec<SlaEvaluation>,
}

/// Reads a queue's current figure, alarm state and the last `limit` evaluations.
pub async fn queue_report<L: SlaLedger>(
    ledger: &L,
    queue: &MessageQueue,
    now: Timestamp,
    limit: usize,
) -> Result<SlaReport, StoreError> {
    let current_window = sla::trailing_window(queue.sla.evaluation_interval(), now);
    let offers = ledger.offers_entered(queue.id, current_window).await?;
    Ok(SlaReport {
        current: sla::figure(&offers, queue.sla.sla_time(), now),
        current_window,
        state: ledger.sla_state(queue.id).await?,
        history: ledger.evaluations(queue.id, limit).await?,
    })
}
