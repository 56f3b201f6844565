//! Time is injected rather than read from the system inside business logic, so that expiry
//! and time windows can be tested by moving a clock instead of sleeping.

use std::sync::Mutex;
use time::OffsetDateTime;

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync + 'static {
    /// The current time in UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current time as whole Unix seconds, the resolution the store keeps.
    fn unix(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// The current time as Unix microseconds, the resolution of rate limits.
    fn unix_us(&self) -> i64 {
        i64::try_from(self.now().unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    // The two below run on every request: straight from the system time, without the
    // calendar arithmetic an `OffsetDateTime` does and they would throw away.
    fn unix(&self) -> i64 {
        since_epoch().as_secs().try_into().unwrap_or(i64::MAX)
    }

    fn unix_us(&self) -> i64 {
        since_epoch().as_micros().try_into().unwrap_or(i64::MAX)
    }
}

/// The system time since the Unix epoch (zero for a clock set before 1970).
fn since_epoch() -> std::time::Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// A clock that only moves when told to: for tests and simulations.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<OffsetDateTime>,
}

impl ManualClock {
    /// A clock stopped at the current system time.
    pub fn new() -> Self {
        Self::at(OffsetDateTime::now_utc())
    }

    /// A clock stopped at `at`.
    pub fn at(at: OffsetDateTime) -> Self {
        Self {
            now: Mutex::new(at),
        }
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: std::time::Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *now += by;
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
