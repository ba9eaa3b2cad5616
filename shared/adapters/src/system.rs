//! The real clock (tokio sleeps) and the operating system's random source.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use domain::ports::{Clock, Random};
use domain::time::Timestamp;

/// Wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let micros = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0);
        Timestamp::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    async fn sleep_until(&self, t: Timestamp) {
        let wait = t.since(self.now());
        if wait > Duration::ZERO {
            tokio::time::sleep(wait).await;
        }
    }
}

/// The OS CSPRNG (`getrandom`).
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn bytes<const N: usize>(&self) -> [u8; N] {
        let mut buf = [0u8; N];
        // getrandom only fails when the OS has no entropy source at all; a Lambda sandbox always
        // has one. Falling back to a thread RNG seeded from the OS keeps us panic-free.
        if getrandom::fill(&mut buf).is_err() {
            rand::fill(&mut buf[..]);
        }
        buf
    }
}
