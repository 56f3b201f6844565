//! Usage quotas: a number of uses per key, optionally refilled daily or monthly (UTC).

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, Time};

/// How a quota refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Refill {
    /// Never: a fixed number of uses.
    Never,
    /// At 00:00 UTC every day.
    Daily,
    /// At 00:00 UTC on the first of every month.
    Monthly,
}

impl Refill {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Refill::Never => "never",
            Refill::Daily => "daily",
            Refill::Monthly => "monthly",
        }
    }

    /// Parse the stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "never" => Some(Refill::Never),
            "daily" => Some(Refill::Daily),
            "monthly" => Some(Refill::Monthly),
            _ => None,
        }
    }
}

/// The period a use at `now` counts in: `(start, end)` in Unix seconds; `set_at` (when the
/// quota was set) starts the single period of a quota that never refills.
pub fn period(refill: Refill, set_at: i64, now: OffsetDateTime) -> (i64, Option<i64>) {
    let midnight = |date: Date| date.with_time(Time::MIDNIGHT).assume_utc().unix_timestamp();
    let today = now.date();
    match refill {
        Refill::Never => (set_at, None),
        Refill::Daily => {
            let start = midnight(today);
            (start, Some(start + 86_400))
        }
        Refill::Monthly => {
            let first = Date::from_calendar_date(today.year(), today.month(), 1).unwrap_or(today);
            let (year, month) = match today.month() {
                Month::December => (today.year() + 1, Month::January),
                m => (today.year(), m.next()),
            };
            let next = Date::from_calendar_date(year, month, 1).unwrap_or(today);
            (midnight(first), Some(midnight(next)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn periods_start_at_utc_midnight() {
        let now = datetime!(2026-12-31 15:30 UTC);
        assert_eq!(
            period(Refill::Daily, 0, now),
            (
                datetime!(2026-12-31 0:00 UTC).unix_timestamp(),
                Some(datetime!(2027-01-01 0:00 UTC).unix_timestamp())
            )
        );
        assert_eq!(
            period(Refill::Monthly, 0, now),
            (
                datetime!(2026-12-01 0:00 UTC).unix_timestamp(),
                Some(datetime!(2027-01-01 0:00 UTC).unix_timestamp())
            )
        );
        assert_eq!(period(Refill::Never, 42, now), (42, None));
    }
}
