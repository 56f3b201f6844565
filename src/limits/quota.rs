//! Usage quotas: a number of uses per key, optionally refilled daily or monthly (UTC).

use super::Limiter;
use crate::store::KeyQuota;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::{Date, Month, OffsetDateTime, Time};

/// How a quota refills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// A counted use of a key's quota: what the key's cached record should now say, so that the
/// count survives in the store when it is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaUse {
    /// When the quota was set (identifies the quota the count belongs to).
    pub set_at: i64,
    /// Start of the period counted in, Unix seconds.
    pub period_start: i64,
    /// Uses counted in that period, this one included.
    pub used: i64,
}

/// Why a quota did not admit a use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaRefusal {
    /// Used up until `resets_at` (Unix seconds), or for good when it never refills.
    Exhausted {
        /// When the next period starts.
        resets_at: Option<i64>,
        /// The count as it stands (the limit, or less when a cost of several did not fit).
        usage: QuotaUse,
    },
    /// The shared counter could not be reached and the policy is fail-closed.
    Unavailable,
}

/// Count `cost` uses of `quota` for key `key_id` at `now` (a request costs 1; a
/// verification may say otherwise, and 0 only looks). `Ok(None)` when the quota's refill is
/// not one we know (nothing is counted).
pub async fn consume(
    limiter: &Limiter,
    key_id: &str,
    quota: &KeyQuota,
    cost: i64,
    now: OffsetDateTime,
) -> Result<Option<QuotaUse>, QuotaRefusal> {
    let Some(refill) = Refill::parse(&quota.refill) else {
        return Ok(None);
    };
    let (start, end) = period(refill, quota.set_at, now);
    let used = if quota.period_start == Some(start) {
        quota.used
    } else {
        0
    };
    // The quota's set time is part of the name: a quota set anew starts a fresh count.
    let counter = format!("quota:{key_id}:{}:{start}", quota.set_at);
    // Kept a day past the period's end (a never-refilling quota: 400 days), so a counter
    // outlives any clock difference between nodes.
    let until_end = end.unwrap_or(now.unix_timestamp() + 400 * 86_400) - now.unix_timestamp();
    let ttl = Duration::from_secs(u64::try_from(until_end).unwrap_or(0) + 86_400);
    let usage = |used| QuotaUse {
        set_at: quota.set_at,
        period_start: start,
        used,
    };
    match limiter
        .consume_quota(&counter, quota.limit, used, cost, ttl)
        .await
    {
        Ok(count) if count.granted => Ok(Some(usage(quota.limit - count.remaining))),
        Ok(count) => Err(QuotaRefusal::Exhausted {
            resets_at: end,
            usage: usage(quota.limit - count.remaining),
        }),
        Err(_) => Err(QuotaRefusal::Unavailable),
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
