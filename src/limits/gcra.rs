//! The Generic Cell Rate Algorithm: one number per bucket, the theoretical arrival time
//! (TAT) of the next request at the sustained rate. A request at `now` is allowed when the
//! TAT is no more than the burst tolerance ahead of `now`. An entry whose TAT is in the past
//! is the same as no entry, so idle buckets can be dropped without losing anything.
//! The Redis script in `redis.rs` is this same function in Lua.

use super::spec::RateSpec;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// Requests that could still be made right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again (the `t` of the RateLimit header).
    pub reset_secs: u64,
    /// When refused: seconds until one request would be allowed.
    pub retry_after_secs: u64,
}

fn ceil_secs(us: i64) -> u64 {
    u64::try_from((us.max(0) + 999_999) / 1_000_000).unwrap_or(0)
}

/// Check one request at `now_us` against a bucket whose TAT is `tat_us`. Returns the
/// decision and the TAT to store (unchanged when refused).
pub fn check(spec: &RateSpec, tat_us: Option<i64>, now_us: i64) -> (Decision, i64) {
    let interval = spec.interval_us();
    let tolerance = spec.tolerance_us();
    let tat = tat_us.unwrap_or(now_us).max(now_us);
    if tat - now_us > tolerance {
        let decision = Decision {
            allowed: false,
            remaining: 0,
            reset_secs: ceil_secs(tat - now_us),
            retry_after_secs: ceil_secs(tat - now_us - tolerance).max(1),
        };
        return (decision, tat);
    }
    let new_tat = tat + interval;
    (admitted(spec, new_tat, now_us, 0), new_tat)
}

/// The decision for a request allowed at `now_us` that left the bucket's TAT at `tat_us`,
/// with `held` more requests already paid for and held back locally (cells leased from
/// Redis, see `lease.rs`): they are part of what could still be made right now.
pub fn admitted(spec: &RateSpec, tat_us: i64, now_us: i64, held: u32) -> Decision {
    let interval = spec.interval_us();
    let headroom = spec.tolerance_us() - (tat_us - now_us) + interval;
    let remaining = u32::try_from((headroom / interval).max(0)).unwrap_or(u32::MAX);
    Decision {
        allowed: true,
        remaining: remaining.saturating_add(held),
        reset_secs: ceil_secs(tat_us - now_us),
        retry_after_secs: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_burst_is_allowed_then_the_sustained_rate() {
        let spec = RateSpec::parse("10/s burst 3").unwrap();
        let mut tat = None;
        let mut now = 1_000_000_000;
        for expected_remaining in [2, 1, 0] {
            let (d, t) = check(&spec, tat, now);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            tat = Some(t);
        }
        let (d, _) = check(&spec, tat, now);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_secs, 1);
        now += 100_000; // one interval later, one more request fits
        let (d, t) = check(&spec, tat, now);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
        let (d, _) = check(&spec, Some(t), now);
        assert!(!d.allowed);
    }

    #[test]
    fn an_idle_bucket_is_full_again() {
        let spec = RateSpec::parse("60/min").unwrap();
        let (d, _) = check(&spec, Some(0), 10_000_000_000);
        assert!(d.allowed);
        assert_eq!(d.remaining, 59);
    }
}
