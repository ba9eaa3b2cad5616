//! Send-rate pacing: how outbound messages get their send slots so that a provider never sees
//! more than `send_rate` calls from one channel in any one-second window (decisions.md "Sending").
//!
//! # The scheme
//! Each channel has one schedule, `next_slot`, in the store. A sender reserves the next slot
//! atomically (many senders may reserve at once); consecutive slots are [`slot_interval`] apart.
//! A message then waits for its slot: in SQS with `DelaySeconds` while the slot is far away
//! (at most 900 s per wait; longer waits are re-delayed), and in the sender for the last moment
//! ([`MAX_INLINE_WAIT`]). It is sent only inside `[slot, slot + LATE_TOLERANCE]`; a message that
//! arrives later than that gives its slot up and reserves a new one, so lateness never bunches
//! calls together.
//!
//! # Why it holds in every sliding window
//! `n = send_rate`. Any `n + 1` consecutive slots span `n * interval ≥ 1 s + WINDOW_GUARD`.
//! Each call happens at most `LATE_TOLERANCE` after its slot (and never before it), so `n + 1`
//! calls span at least `1 s + WINDOW_GUARD - LATE_TOLERANCE ≥ 1 s`, and no half-open one-second
//! window can hold all of them. The remaining `WINDOW_GUARD - LATE_TOLERANCE` (70 ms) absorbs
//! jitter in network latency between us and the provider. The price is a rate ~9% under
//! `send_rate` (the guard is a fixed 100 ms per second of schedule).
//!
//! The message is claimed and its session read *before* the wait, so between the slot and the
//! provider call there is no I/O but the call itself.
//!
//! A provider's "too many requests" pushes the schedule back: `next_slot` moves to the pause end,
//! and messages holding earlier slots notice the pause before sending and re-reserve.

use std::time::Duration;

use crate::channel::SendRate;
use crate::time::Timestamp;

/// Extra span added to every `send_rate + 1` consecutive slots.
pub const WINDOW_GUARD: Duration = Duration::from_millis(100);
/// How late after its slot a message may still be sent.
pub const LATE_TOLERANCE: Duration = Duration::from_millis(30);
/// Longest a sender waits in-process for a slot; farther slots wait in SQS.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(2);
/// Longest SQS `DelaySeconds`.
pub const MAX_QUEUE_DELAY_SECONDS: u32 = 900;

/// Time between consecutive slots of a channel.
pub fn slot_interval(rate: SendRate) -> Duration {
    let window_micros = 1_000_000u64 + u64::try_from(WINDOW_GUARD.as_micros()).unwrap_or(0);
    let per_second = u64::from(rate.per_second()).max(1);
    Duration::from_micros(window_micros.div_ceil(per_second))
}

/// What a sender does with a message given its slot (if any) and the channel's pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDecision {
    /// Reserve a (new) slot first: none yet, missed, or inside a pause.
    Reserve,
    /// Wait in-process until the slot, then send.
    SendAt(Timestamp),
    /// Put the message back on the queue with this delay, keeping its slot.
    Requeue {
        /// `DelaySeconds`.
        delay_seconds: u32,
    },
}

/// Decides the next step for a message.
pub fn decide(slot: Option<Timestamp>, paused_until: Option<Timestamp>, now: Timestamp) -> SlotDecision {
    let Some(slot) = slot else {
        return SlotDecision::Reserve;
    };
    if paused_until.is_some_and(|p| slot < p) {
        return SlotDecision::Reserve;
    }
    if now > slot.plus(LATE_TOLERANCE) {
        return SlotDecision::Reserve;
    }
    let wait = slot.since(now);
    if wait <= MAX_INLINE_WAIT {
        return SlotDecision::SendAt(slot);
    }
    SlotDecision::Requeue { delay_seconds: queue_delay_for(wait) }
}

/// Longest lead a sender asks for when reserving again after missing a slot.
pub const MAX_RESERVATION_LEAD: Duration = Duration::from_secs(1);

/// How far ahead of now a sender reserves its next slot after missing one by `late`: twice the
/// larger of the lateness and the previous lead, capped. The time between reserving a slot and
/// calling the provider (store round trips) is what made it late; reserving "now" again would
/// miss again for as long as the store is that slow, so the lead grows until the slot is far
/// enough away to be met.
pub fn reservation_lead(previous: Duration, late: Duration) -> Duration {
    previous.max(late).saturating_mul(2).min(MAX_RESERVATION_LEAD)
}

/// The `DelaySeconds` for a message whose slot is `wait` away: arrive about a second early (the
/// sender waits the rest in-process), and never more than SQS allows (longer waits come back
/// and are re-delayed).
pub fn queue_delay_for(wait: Duration) -> u32 {
    let seconds = wait.as_secs().saturating_sub(1);
    u32::try_from(seconds).unwrap_or(u32::MAX).min(MAX_QUEUE_DELAY_SECONDS)
}

/// The delay before retry `attempt` (1-based count of failed calls so far): `base * 2^(attempt-1)`,
/// capped at the SQS maximum, and at least what the provider asked for.
pub fn retry_delay(base: Duration, attempt: u32, provider_asked: Option<Duration>) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    let backoff = base.saturating_mul(1u32 << exp);
    let delay = provider_asked.map_or(backoff, |asked| asked.max(backoff));
    delay.min(Duration::from_secs(u64::from(MAX_QUEUE_DELAY_SECONDS)))
}

/// Checks a sequence of call times against a rate: the largest number of calls in any half-open
/// one-second window. Used by tests and benchmarks to verify the guarantee.
pub fn max_calls_in_any_second(call_times: &[Timestamp]) -> usize {
    let mut sorted: Vec<i64> = call_times.iter().map(|t| t.as_micros()).collect();
    sorted.sort_unstable();
    let mut best = 0;
    let mut start = 0;
    for end in 0..sorted.len() {
        while sorted[end] - sorted[start] >= 1_000_000 {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rate(n: u16) -> SendRate {
        SendRate::new(n).unwrap()
    }

    #[test]
    fn when_rate_is_known_should_space_slots_with_the_guard() {
        assert_eq!(slot_interval(rate(1)), Duration::from_millis(1100));
        assert_eq!(slot_interval(rate(5)), Duration::from_millis(220));
        assert_eq!(slot_interval(rate(100)), Duration::from_micros(11_000));
        assert_eq!(slot_interval(rate(3)), Duration::from_micros(366_667));
    }

    #[test]
    fn when_a_slot_is_missed_should_reserve_further_ahead_each_time_up_to_a_cap() {
        let ms = Duration::from_millis;
        assert_eq!(reservation_lead(Duration::ZERO, ms(45)), ms(90));
        assert_eq!(reservation_lead(ms(90), ms(40)), ms(180), "missing again doubles the lead");
        assert_eq!(reservation_lead(ms(180), ms(400)), ms(800));
        assert_eq!(reservation_lead(ms(800), ms(50)), MAX_RESERVATION_LEAD);
    }

    #[test]
    fn when_deciding_should_reserve_wait_or_requeue() {
        let now = Timestamp::from_millis(1_000_000);
        assert_eq!(decide(None, None, now), SlotDecision::Reserve);
        let soon = now.plus(Duration::from_millis(300));
        assert_eq!(decide(Some(soon), None, now), SlotDecision::SendAt(soon));
        let slightly_late = now.minus(Duration::from_millis(25));
        assert_eq!(decide(Some(slightly_late), None, now), SlotDecision::SendAt(slightly_late));
        let too_late = now.minus(Duration::from_millis(31));
        assert_eq!(decide(Some(too_late), None, now), SlotDecision::Reserve);
        let far = now.plus(Duration::from_secs(60));
        assert_eq!(decide(Some(far), None, now), SlotDecision::Requeue { delay_seconds: 59 });
        let very_far = now.plus(Duration::from_secs(5000));
        assert_eq!(decide(Some(very_far), None, now), SlotDecision::Requeue { delay_seconds: 900 });
        // a pause that covers the slot forces a new reservation
        assert_eq!(decide(Some(soon), Some(now.plus(Duration::from_secs(5))), now), SlotDecision::Reserve);
        assert_eq!(decide(Some(soon), Some(now), now), SlotDecision::SendAt(soon));
    }

    #[test]
    fn when_retrying_should_back_off_exponentially_and_honour_retry_after() {
        let base = Duration::from_secs(2);
        assert_eq!(retry_delay(base, 1, None), Duration::from_secs(2));
        assert_eq!(retry_delay(base, 3, None), Duration::from_secs(8));
        assert_eq!(retry_delay(base, 3, Some(Duration::from_secs(30))), Duration::from_secs(30));
        assert_eq!(retry_delay(base, 40, None), Duration::from_secs(900));
    }

    #[test]
    fn when_counting_windows_should_use_half_open_seconds() {
        let t = |ms| Timestamp::from_millis(ms);
        assert_eq!(max_calls_in_any_second(&[]), 0);
        assert_eq!(max_calls_in_any_second(&[t(0), t(999), t(1000)]), 2);
        assert_eq!(max_calls_in_any_second(&[t(0), t(200), t(400), t(600), t(800), t(999)]), 6);
    }

    proptest! {
        /// The guarantee itself: slots from the schedule, each call late by up to the tolerance,
        /// never put more than `rate` calls in any one-second window.
        #[test]
        fn calls_within_tolerance_of_their_slots_never_exceed_the_rate(
            per_second in 1u16..=100,
            lateness in proptest::collection::vec(0u64..=30_000, 1..400),
        ) {
            let interval = slot_interval(rate(per_second));
            let start = Timestamp::from_millis(1_700_000_000_000);
            let calls: Vec<Timestamp> = lateness
                .iter()
                .enumerate()
                .map(|(i, late)| {
                    let slot = start.plus(interval.saturating_mul(u32::try_from(i).unwrap()));
                    slot.plus(Duration::from_micros(*late))
                })
                .collect();
            prop_assert!(max_calls_in_any_second(&calls) <= usize::from(per_second));
        }
    }
}
