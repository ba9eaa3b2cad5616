//! Points in time and durations as the domain uses them.
//!
//! A [`Timestamp`] is microseconds since the Unix epoch (UTC): precise enough for send-rate slots
//! (a 100 msg/s channel spaces calls ~10 ms apart), cheap to store as a DynamoDB number, and
//! convertible to the Unix seconds Yeastar's API returns and to RFC 3339 for events.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// From milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis.saturating_mul(1000))
    }

    /// From whole seconds since the epoch.
    pub const fn from_unix_seconds(seconds: i64) -> Self {
        Self(seconds.saturating_mul(1_000_000))
    }

    /// From a calendar date-time (sub-microsecond precision is dropped).
    pub fn from_datetime(dt: OffsetDateTime) -> Self {
        let micros = dt.unix_timestamp_nanos() / 1000;
        Self(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// Parses RFC 3339 / ISO 8601 with offset, e.g. `2019-12-09T20:16:07.588+08:00`.
    pub fn parse_rfc3339(s: &str) -> Result<Self, time::error::Parse> {
        OffsetDateTime::parse(s, &Rfc3339).map(Self::from_datetime)
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (floor).
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Whole seconds since the epoch (floor): Yeastar's `send_time` / `receive_time`.
    pub const fn as_unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// As a UTC date-time.
    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-21T05:36:51.123Z`.
    pub fn to_rfc3339(self) -> String {
        let dt = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.millisecond()
        )
    }

    /// The UTC calendar day, `YYYY-MM-DD` (statistics buckets).
    pub fn utc_day(self) -> String {
        let dt = self.to_datetime();
        format!("{:04}-{:02}-{:02}", dt.year(), u8::from(dt.month()), dt.day())
    }

    /// This instant plus a duration (saturating).
    pub fn plus(self, d: Duration) -> Self {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(micros))
    }

    /// This instant minus a duration (saturating).
    pub fn minus(self, d: Duration) -> Self {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(micros))
    }

    /// Time from `earlier` to `self`; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        let micros = self.0.saturating_sub(earlier.0);
        Duration::from_micros(u64::try_from(micros).unwrap_or(0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn when_seed_received_at_is_parsed_should_keep_offset_and_milliseconds() {
        // seed 000 L2049: 2019-12-09T20:16:07.588+08:00
        let t = Timestamp::parse_rfc3339("2019-12-09T20:16:07.588+08:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2019-12-09T12:16:07.588Z");
        assert_eq!(t.as_unix_seconds(), 1_575_893_767);
        assert_eq!(t.utc_day(), "2019-12-09");
    }

    #[test]
    fn when_arithmetic_crosses_bounds_should_saturate() {
        let t = Timestamp::from_millis(1_000);
        assert_eq!(t.plus(Duration::from_millis(500)).as_millis(), 1_500);
        assert_eq!(t.minus(Duration::from_millis(500)).as_millis(), 500);
        assert_eq!(Timestamp::from_millis(1).since(t), Duration::ZERO);
        assert_eq!(t.since(Timestamp::from_millis(1)), Duration::from_millis(999));
    }

    #[test]
    fn when_instant_is_before_epoch_should_floor_seconds() {
        assert_eq!(Timestamp::from_micros(-1).as_unix_seconds(), -1);
        assert_eq!(Timestamp::from_micros(-1).as_millis(), -1);
    }
}
