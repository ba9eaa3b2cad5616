//! Per-number message statistics (seed 000 §8): Total = Sent + Failed (outbound), Received
//! (inbound), counted per business number per UTC day and broken down by origin.
//!
//! Every counter moves in the same atomic write that changes the message it counts, so a count is
//! never lost or doubled by retries.

use serde::{Deserialize, Serialize};
use time::{Date, Duration as Days};

use crate::ids::ChannelId;
use crate::message::Origin;
use crate::time::Timestamp;

/// Which counter moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Counter {
    /// An outbound message the provider accepted.
    Sent,
    /// An outbound message that will not be sent.
    Failed,
    /// An inbound message.
    Received,
}

impl Counter {
    /// Attribute name in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::Sent => "sent",
            Counter::Failed => "failed",
            Counter::Received => "received",
        }
    }
}

/// One increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDelta {
    /// Channel.
    pub channel_id: ChannelId,
    /// Business number.
    pub number: String,
    /// When it happened (selects the UTC day bucket).
    pub at: Timestamp,
    /// What produced the message.
    pub origin: Origin,
    /// Which counter.
    pub counter: Counter,
}

/// Counters over a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Outbound accepted by the provider.
    pub sent: u64,
    /// Outbound that failed.
    pub failed: u64,
    /// Inbound.
    pub received: u64,
    /// Of `sent + failed`, from agent replies.
    pub agent: u64,
    /// Of `sent + failed`, from the third-party platform (`sender_type` 9).
    #[serde(default)]
    pub api: u64,
    /// Of `sent + failed`, from message campaigns.
    #[serde(default)]
    pub campaign: u64,
}

impl Counters {
    /// Total = Sent + Failed.
    pub fn total(&self) -> u64 {
        self.sent + self.failed
    }

    /// Adds another period's counters.
    pub fn add(&mut self, other: &Counters) {
        self.sent += other.sent;
        self.failed += other.failed;
        self.received += other.received;
        self.agent += other.agent;
        self.api += other.api;
        self.campaign += other.campaign;
    }

    /// The storage attribute of the origin breakdown counter an outbound message of `origin`
    /// also moves.
    pub fn origin_attribute(origin: Origin) -> Option<&'static str> {
        match origin {
            Origin::Agent => Some("agent"),
            Origin::Api => Some("api"),
            Origin::Campaign => Some("campaign"),
            Origin::Customer => None,
        }
    }
}

/// Yeastar's `time_range` values (yeastar-openapi-messaging.md §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeRange {
    /// Today.
    Today,
    /// Yesterday.
    Yesterday,
    /// The last 7 days including today.
    Last7Days,
    /// The last 30 days including today.
    Last30Days,
    /// Since the first of this month.
    ThisMonth,
    /// Everything.
    All,
}

impl TimeRange {
    /// Parses a wire value.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "today" => Self::Today,
            "yesterday" => Self::Yesterday,
            "last_7_days" => Self::Last7Days,
            "last_30_days" => Self::Last30Days,
            "this_month" => Self::ThisMonth,
            "all" => Self::All,
            _ => return None,
        })
    }

    /// The inclusive UTC day range (`YYYY-MM-DD`) this covers at `now`; `None` for all time.
    pub fn days(self, now: Timestamp) -> Option<(String, String)> {
        let today: Date = now.to_datetime().date();
        let fmt = |d: Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
        let back = |n: i64| today.checked_sub(Days::days(n)).unwrap_or(today);
        match self {
            Self::Today => Some((fmt(today), fmt(today))),
            Self::Yesterday => Some((fmt(back(1)), fmt(back(1)))),
            Self::Last7Days => Some((fmt(back(6)), fmt(today))),
            Self::Last30Days => Some((fmt(back(29)), fmt(today))),
            Self::ThisMonth => Some((fmt(today.replace_day(1).unwrap_or(today)), fmt(today))),
            Self::All => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_time_range_is_resolved_should_give_inclusive_utc_days() {
        let now = Timestamp::parse_rfc3339("2026-11-21T05:36:51Z").unwrap();
        assert_eq!(TimeRange::Today.days(now), Some(("2026-11-21".into(), "2026-11-21".into())));
        assert_eq!(TimeRange::Yesterday.days(now), Some(("2026-11-20".into(), "2026-11-20".into())));
        assert_eq!(TimeRange::Last7Days.days(now), Some(("2026-11-15".into(), "2026-11-21".into())));
        assert_eq!(TimeRange::Last30Days.days(now), Some(("2026-10-23".into(), "2026-11-21".into())));
        assert_eq!(TimeRange::ThisMonth.days(now), Some(("2026-11-01".into(), "2026-11-21".into())));
        assert_eq!(TimeRange::All.days(now), None);
        assert_eq!(TimeRange::parse("last_7_days"), Some(TimeRange::Last7Days));
        assert_eq!(TimeRange::parse("week"), None);
    }

    #[test]
    fn total_is_sent_plus_failed() {
        let c = Counters { sent: 20, failed: 10, received: 8, agent: 30, api: 0, campaign: 0 };
        assert_eq!(c.total(), 30);
    }
}
