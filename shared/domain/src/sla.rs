//! Queue service level (decisions.md "SLA"; seed 001 §5): the offers a session makes to message
//! queues, the SLA figure over an evaluation window, the alarm / recovery decision, and the
//! per-session breach timer.
//!
//! An *offer* starts each time a session enters a queue (routed there by a customer's first
//! message, or transferred there). It is *answered* by the first agent reply after that, and it
//! *ends unanswered* when the session closes or is transferred before any reply. Pick-up does not
//! answer: the customer is answered when someone writes to them.
//!
//! The figure for a window counts the offers that entered the queue in it: answered less than
//! `sla_time` after entering is met; answered later, or unanswered for `sla_time` (still waiting
//! or ended after that) is not met; an offer still waiting, or ended, before `sla_time` without an
//! answer is left out ("answered sessions + sessions that waited `sla_time` unanswered"). No
//! counted offer: no figure, no alarm.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ids::{QueueId, SessionId};
use crate::session::{Assignment, Session, Transition};
use crate::time::Timestamp;

/// A session's current offer to a queue (kept on the session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueOffer {
    /// The queue.
    pub queue: QueueId,
    /// When the session entered it.
    pub entered_at: Timestamp,
    /// The first agent reply since, if any.
    pub answered_at: Option<Timestamp>,
}

impl QueueOffer {
    /// An offer starting now.
    pub fn entering(queue: QueueId, at: Timestamp) -> Self {
        Self { queue, entered_at: at, answered_at: None }
    }

    /// Whether no agent has replied yet.
    pub fn is_unanswered(&self) -> bool {
        self.answered_at.is_none()
    }

    /// The stored offer's key parts.
    pub fn key(&self, session: SessionId) -> OfferKey {
        OfferKey { queue: self.queue, entered_at: self.entered_at, session }
    }
}

/// Identifies a stored offer: (queue, when it entered, session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OfferKey {
    /// The queue.
    pub queue: QueueId,
    /// When the session entered it.
    pub entered_at: Timestamp,
    /// The session.
    pub session: SessionId,
}

/// A stored offer: what the figure is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferRecord {
    /// Its key.
    pub key: OfferKey,
    /// The first agent reply.
    pub answered_at: Option<Timestamp>,
    /// When it ended unanswered (closed or transferred away).
    pub left_at: Option<Timestamp>,
    /// When the breach timer found it unanswered past `sla_time`.
    pub breached_at: Option<Timestamp>,
    /// Whether the breach event was published.
    pub breach_announced: bool,
}

impl OfferRecord {
    /// A new, waiting offer.
    pub fn new(key: OfferKey) -> Self {
        Self { key, answered_at: None, left_at: None, breached_at: None, breach_announced: false }
    }
}

/// A change to stored offers, written in the same atomic commit as the session change it follows.
/// Every write is idempotent (the first answer / leave time wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferWrite {
    /// The session entered a queue.
    Start(OfferKey),
    /// The first agent reply.
    Answer {
        /// The offer.
        key: OfferKey,
        /// When.
        at: Timestamp,
    },
    /// Closed or transferred away before any reply.
    Leave {
        /// The offer.
        key: OfferKey,
        /// When.
        at: Timestamp,
    },
}

/// The offer writes of a decided lifecycle change: the unanswered offer the session had ends if
/// the change closes the session or replaces the offer; a new offer starts.
pub fn transition_writes(t: &Transition) -> Vec<OfferWrite> {
    let id = t.after.id;
    let mut writes = Vec::new();
    let before = t.before.offer;
    let after = if t.after.is_open() { t.after.offer } else { None };
    if let Some(old) = before.filter(QueueOffer::is_unanswered)
        && after.map(|a| a.entered_at) != Some(old.entered_at)
    {
        writes.push(OfferWrite::Leave { key: old.key(id), at: t.at });
    }
    if let Some(new) = after
        && before.map(|b| b.entered_at) != Some(new.entered_at)
    {
        writes.push(OfferWrite::Start(new.key(id)));
    }
    writes
}

/// The offer write of a session opened (by a customer's message) into a queue.
pub fn opening_write(session: &Session) -> Option<OfferWrite> {
    session.offer.map(|o| OfferWrite::Start(o.key(session.id)))
}

/// The offer write of an agent's reply to `session` at `at`: the first one answers its offer.
pub fn reply_write(session: &Session, at: Timestamp) -> Option<OfferWrite> {
    session.offer.filter(QueueOffer::is_unanswered).map(|o| OfferWrite::Answer { key: o.key(session.id), at })
}

/// Where the offer that `to` makes stands after a transfer: a queue starts one.
pub fn offer_after_transfer(to: Assignment, at: Timestamp) -> Option<QueueOffer> {
    match to {
        Assignment::Queue(q) => Some(QueueOffer::entering(q, at)),
        Assignment::Extension(_) | Assignment::Api => None,
    }
}

/// How one offer counts in the figure at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferOutcome {
    /// Answered less than `sla_time` after entering.
    Met,
    /// Answered later, or unanswered for `sla_time`.
    NotMet,
    /// Still waiting, or ended, before `sla_time` without an answer: left out.
    Excluded,
}

/// How `offer` counts at `now` with answer deadline `sla_time`.
pub fn outcome(offer: &OfferRecord, sla_time: Duration, now: Timestamp) -> OfferOutcome {
    let due = offer.key.entered_at.plus(sla_time);
    match (offer.answered_at, offer.left_at) {
        (Some(answered), _) if answered < due => OfferOutcome::Met,
        (Some(_), _) => OfferOutcome::NotMet,
        (None, Some(left)) if left >= due => OfferOutcome::NotMet,
        (None, Some(_)) => OfferOutcome::Excluded,
        (None, None) if now >= due => OfferOutcome::NotMet,
        (None, None) => OfferOutcome::Excluded,
    }
}

/// An SLA figure: `met` of `counted` offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaFigure {
    /// Offers answered in time.
    pub met: u32,
    /// Offers counted (met + not met); never 0.
    pub counted: u32,
}

impl SlaFigure {
    /// The percentage, rounded down to two decimals (e.g. 66.66).
    pub fn percent(&self) -> f64 {
        let hundredths = u64::from(self.met) * 10_000 / u64::from(self.counted.max(1));
        // At most 10 000: exact in f64.
        hundredths as f64 / 100.0
    }

    /// Strictly below `threshold` percent (exact, in integers).
    pub fn is_below(&self, threshold_percent: u8) -> bool {
        u64::from(self.met) * 100 < u64::from(threshold_percent) * u64::from(self.counted)
    }
}

/// The figure over `offers` at `now`; `None` when no offer counts.
pub fn figure<'a>(
    offers: impl IntoIterator<Item = &'a OfferRecord>,
    sla_time: Duration,
    now: Timestamp,
) -> Option<SlaFigure> {
    let (mut met, mut counted) = (0u32, 0u32);
    for offer in offers {
        match outcome(offer, sla_time, now) {
            OfferOutcome::Met => {
                met += 1;
                counted += 1;
            }
            OfferOutcome::NotMet => counted += 1,
            OfferOutcome::Excluded => {}
        }
    }
    (counted > 0).then_some(SlaFigure { met, counted })
}

/// A half-open time window `[start, end)` of offer entry times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaWindow {
    /// First instant inside.
    pub start: Timestamp,
    /// First instant after.
    pub end: Timestamp,
}

/// The last complete evaluation window at `now`: windows are `interval` long and aligned to
/// multiples of it since the Unix epoch (every 15 minutes at :00, :15, :30, :45 UTC), so two
/// overlapping runs pick the same window and the second finds it done.
pub fn due_window(interval: Duration, now: Timestamp) -> SlaWindow {
    let step = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX).max(1);
    let end = now.as_micros().div_euclid(step) * step;
    SlaWindow { start: Timestamp::from_micros(end.saturating_sub(step)), end: Timestamp::from_micros(end) }
}

/// The window of the last `interval` up to `now` (the "current" figure an admin reads).
pub fn trailing_window(interval: Duration, now: Timestamp) -> SlaWindow {
    SlaWindow { start: now.minus(interval), end: now }
}

/// An alarm crossing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmChange {
    /// The figure fell below the threshold.
    Raised,
    /// It is back at or above the threshold.
    Recovered,
}

/// Whether a figure crosses the threshold, given whether the alarm is up. Only crossings
/// notify: no storm while the figure stays low, nothing without traffic.
pub fn alarm_change(alarm_up: bool, figure: Option<SlaFigure>, threshold_percent: u8) -> Option<AlarmChange> {
    let figure = figure?;
    match (alarm_up, figure.is_below(threshold_percent)) {
        (false, true) => Some(AlarmChange::Raised),
        (true, false) => Some(AlarmChange::Recovered),
        _ => None,
    }
}

/// One evaluation of one queue's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaEvaluation {
    /// The queue.
    pub queue: QueueId,
    /// The window.
    pub window: SlaWindow,
    /// The figure (`None`: no traffic).
    pub figure: Option<SlaFigure>,
    /// `sla_time` used (s).
    pub sla_time_secs: u32,
    /// Threshold used (%).
    pub threshold_percent: u8,
    /// Whether the alarm is up after it.
    pub alarm_up: bool,
    /// The crossing it caused.
    pub change: Option<AlarmChange>,
    /// When it ran.
    pub evaluated_at: Timestamp,
}

impl SlaEvaluation {
    /// The notice a crossing sends (event + e-mail), with a stable id.
    pub fn notice(&self) -> Option<SlaNotice> {
        let change = self.change?;
        let figure = self.figure?;
        Some(SlaNotice {
            queue: self.queue,
            change,
            figure,
            threshold_percent: self.threshold_percent,
            sla_time_secs: self.sla_time_secs,
            window: self.window,
        })
    }
}

/// A queue's alarm state, between evaluations.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlaState {
    /// Whether the alarm is up.
    pub alarm_up: bool,
    /// The end of the last evaluated window.
    pub last_window_end: Option<Timestamp>,
    /// A notice decided but not yet confirmed delivered (a crash after the decision re-sends
    /// it on the next run).
    pub pending: Option<SlaNotice>,
    /// Bumped by every stored change (the write condition).
    pub version: u64,
}

/// An alarm or recovery to announce: a `queue.sla_below_threshold` / `queue.sla_recovered`
/// event and an e-mail to the managers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaNotice {
    /// The queue.
    pub queue: QueueId,
    /// Raised or recovered.
    pub change: AlarmChange,
    /// The figure that crossed.
    pub figure: SlaFigure,
    /// Threshold (%).
    pub threshold_percent: u8,
    /// `sla_time` (s).
    pub sla_time_secs: u32,
    /// The window evaluated.
    pub window: SlaWindow,
}

impl SlaNotice {
    /// Event detail-type.
    pub fn event_type(&self) -> &'static str {
        match self.change {
            AlarmChange::Raised => "queue.sla_below_threshold",
            AlarmChange::Recovered => "queue.sla_recovered",
        }
    }

    /// Stable id: one per queue and window.
    pub fn event_id(&self) -> String {
        format!("{}:{}:{}", self.event_type(), self.queue, self.window.end.as_micros())
    }

    /// The managers' e-mail: subject and plain-text body.
    pub fn email(&self, queue_name: &str) -> (String, String) {
        let percent = self.figure.percent();
        let subject = match self.change {
            AlarmChange::Raised => {
                format!(
                    "SLA alarm: message queue \"{queue_name}\" at {percent:.2}% (threshold {}%)",
                    self.threshold_percent
                )
            }
            AlarmChange::Recovered => format!("SLA recovered: message queue \"{queue_name}\" at {percent:.2}%"),
        };
        let state = match self.change {
            AlarmChange::Raised => "fell below",
            AlarmChange::Recovered => "is back at or above",
        };
        let body = format!(
            "The service level of message queue \"{queue_name}\" {state} its alarm threshold of {threshold}%.\n\n\
             SLA: {percent:.2}% ({met} of {counted} sessions answered within {sla}s)\n\
             Window: {start} to {end} (UTC)\n",
            threshold = self.threshold_percent,
            met = self.figure.met,
            counted = self.figure.counted,
            sla = self.sla_time_secs,
            start = self.window.start.to_rfc3339(),
            end = self.window.end.to_rfc3339(),
        );
        (subject, body)
    }
}

/// Longest delay one queue message can carry (SQS `DelaySeconds` maximum).
pub const MAX_TIMER_DELAY: Duration = Duration::from_secs(crate::pacing::MAX_QUEUE_DELAY_SECONDS as u64);

/// The per-session breach timer's message: check this offer when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaTimer {
    /// The offer.
    pub offer: OfferKey,
}

/// What a timer firing does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerStep {
    /// Not due yet: send the timer again with this delay (at most [`MAX_TIMER_DELAY`]).
    Wait(Duration),
    /// Due and unanswered: record the breach and announce it.
    Breach,
    /// Breached, but the event may not be out (a failed publish): announce it.
    Announce,
    /// Answered, ended, already breached, or unknown: nothing to do.
    Done,
}

/// Decides a timer firing at `now`.
pub fn timer_step(offer: Option<&OfferRecord>, sla_time: Duration, now: Timestamp) -> TimerStep {
    let Some(offer) = offer else { return TimerStep::Done };
    if offer.breached_at.is_some() {
        return if offer.breach_announced { TimerStep::Done } else { TimerStep::Announce };
    }
    if offer.answered_at.is_some() || offer.left_at.is_some() {
        return TimerStep::Done;
    }
    let due = offer.key.entered_at.plus(sla_time);
    if now < due {
        // Round up to whole seconds so the next firing is not early.
        let wait = due.since(now);
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        TimerStep::Wait(Duration::from_secs(secs).min(MAX_TIMER_DELAY))
    } else {
        TimerStep::Breach
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: u64) -> QueueId {
        QueueId::new(n).unwrap()
    }

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_unix_seconds(1_800_000_000 + secs)
    }

    fn offer(entered: i64, answered: Option<i64>, left: Option<i64>) -> OfferRecord {
        OfferRecord {
            key: OfferKey { queue: q(1), entered_at: t(entered), session: SessionId::new(7).unwrap() },
            answered_at: answered.map(t),
            left_at: left.map(t),
            breached_at: None,
            breach_announced: false,
        }
    }

    const SLA: Duration = Duration::from_secs(60);

    #[test]
    fn when_answered_strictly_before_sla_time_should_count_as_met() {
        assert_eq!(outcome(&offer(0, Some(59), None), SLA, t(1000)), OfferOutcome::Met);
        // The seed's "shorter than" (L1295): exactly sla_time is late.
        assert_eq!(outcome(&offer(0, Some(60), None), SLA, t(1000)), OfferOutcome::NotMet);
    }

    #[test]
    fn when_unanswered_should_count_only_after_waiting_sla_time() {
        assert_eq!(outcome(&offer(0, None, None), SLA, t(59)), OfferOutcome::Excluded);
        assert_eq!(outcome(&offer(0, None, None), SLA, t(60)), OfferOutcome::NotMet);
        assert_eq!(outcome(&offer(0, None, Some(30)), SLA, t(1000)), OfferOutcome::Excluded);
        assert_eq!(outcome(&offer(0, None, Some(90)), SLA, t(1000)), OfferOutcome::NotMet);
    }

    #[test]
    fn when_no_offer_counts_should_give_no_figure() {
        assert_eq!(figure(&[], SLA, t(0)), None);
        assert_eq!(figure(&[offer(0, None, None)], SLA, t(10)), None);
    }

    #[test]
    fn figure_should_be_met_over_counted() {
        let offers = [
            offer(0, Some(10), None),
            offer(0, Some(70), None),
            offer(0, None, None),
            offer(0, Some(5), None),
            offer(0, None, Some(5)),
        ];
        let f = figure(&offers, SLA, t(100)).unwrap();
        assert_eq!(f, SlaFigure { met: 2, counted: 4 });
        assert_eq!(f.percent(), 50.0);
        assert!(f.is_below(80));
        assert!(!f.is_below(50));
        assert_eq!(SlaFigure { met: 2, counted: 3 }.percent(), 66.66);
    }

    #[test]
    fn alarm_should_fire_once_on_the_way_down_and_recover_once_on_the_way_up() {
        let low = Some(SlaFigure { met: 1, counted: 2 });
        let high = Some(SlaFigure { met: 9, counted: 10 });
        assert_eq!(alarm_change(false, low, 80), Some(AlarmChange::Raised));
        assert_eq!(alarm_change(true, low, 80), None);
        assert_eq!(alarm_change(true, None, 80), None);
        assert_eq!(alarm_change(true, high, 80), Some(AlarmChange::Recovered));
        assert_eq!(alarm_change(false, high, 80), None);
        assert_eq!(alarm_change(false, None, 80), None);
        // At the threshold is not below it.
        assert_eq!(alarm_change(false, Some(SlaFigure { met: 4, counted: 5 }), 80), None);
    }

    #[test]
    fn windows_should_align_to_the_interval() {
        let interval = Duration::from_secs(15 * 60);
        let now = Timestamp::from_unix_seconds(1_800_000_000 + 20 * 60 + 7);
        let w = due_window(interval, now);
        assert_eq!(w.end.as_unix_seconds() % 900, 0);
        assert!(w.end <= now && now.since(w.end) < interval);
        assert_eq!(w.end.since(w.start), interval);
        assert_eq!(due_window(interval, now.plus(Duration::from_secs(30))), w);
    }

    #[test]
    fn timer_should_wait_in_hops_of_at_most_fifteen_minutes_then_breach() {
        let o = offer(0, None, None);
        let long = Duration::from_secs(3600);
        assert_eq!(timer_step(Some(&o), long, t(0)), TimerStep::Wait(MAX_TIMER_DELAY));
        assert_eq!(timer_step(Some(&o), long, t(3000)), TimerStep::Wait(Duration::from_secs(600)));
        let almost = Timestamp::from_micros(t(3599).as_micros() + 1);
        assert_eq!(timer_step(Some(&o), long, almost), TimerStep::Wait(Duration::from_secs(1)));
        assert_eq!(timer_step(Some(&o), long, t(3600)), TimerStep::Breach);
        assert_eq!(timer_step(Some(&offer(0, Some(5), None)), long, t(4000)), TimerStep::Done);
        assert_eq!(timer_step(Some(&offer(0, None, Some(5))), long, t(4000)), TimerStep::Done);
        let breached = OfferRecord { breached_at: Some(t(3600)), ..o };
        assert_eq!(timer_step(Some(&breached), long, t(4000)), TimerStep::Announce);
        let announced = OfferRecord { breach_announced: true, ..breached };
        assert_eq!(timer_step(Some(&announced), long, t(4000)), TimerStep::Done);
        assert_eq!(timer_step(None, long, t(4000)), TimerStep::Done);
    }

    #[test]
    fn notice_should_carry_a_stable_id_and_a_readable_email() {
        let e = SlaEvaluation {
            queue: q(3),
            window: SlaWindow { start: t(0), end: t(900) },
            figure: Some(SlaFigure { met: 1, counted: 3 }),
            sla_time_secs: 60,
            threshold_percent: 80,
            alarm_up: true,
            change: Some(AlarmChange::Raised),
            evaluated_at: t(905),
        };
        let n = e.notice().unwrap();
        assert_eq!(n.event_id(), format!("queue.sla_below_threshold:3:{}", t(900).as_micros()));
        let (subject, body) = n.email("Support");
        assert_eq!(subject, "SLA alarm: message queue \"Support\" at 33.33% (threshold 80%)");
        assert!(body.contains("1 of 3 sessions answered within 60s"), "{body}");
        assert_eq!(SlaEvaluation { change: None, ..e }.notice(), None);
    }
}
