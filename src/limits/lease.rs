//! Local allowances leased from a shared Redis bucket, so that a busy bucket costs one round
//! trip per batch of requests instead of one per request.
//!
//! A lease is a number of cells the Redis script has already counted (it moved the bucket's
//! TAT past them, exactly as it does for single requests), held by this node for at most
//! [`LEASE_US`] (one second). The bound that follows, for all nodes together: a bucket never admits more
//! than the GCRA allows over any window stretched by one second, because every cell is paid for
//! in Redis before it is used and used within a second of being paid for. What a lease costs is
//! the other way round: while a node holds cells it does not use, the others may be refused
//! up to that many requests early. That is why leases are small and only for big buckets:
//!
//! - a bucket whose burst is under 64 is never leased: every request asks Redis and the
//!   limit is exact, as before;
//! - otherwise a node holds at most `burst / 32` cells of it, and never more than 16;
//! - the batch starts at one cell and doubles only while leases are used up before they
//!   expire, halving when one expires unused, so a quiet key asks for one cell at a time;
//! - unused cells still ahead of the schedule are given back with the next lease, and so
//!   are cells granted beyond the limit to requests that asked at the same time.

use super::bounded::BoundedMap;
use super::gcra::{self, Decision};
use super::spec::RateSpec;

/// How long leased cells may be used, in microseconds.
pub const LEASE_US: i64 = 1_000_000;

/// The most cells a node holds for one bucket.
pub const MAX_CELLS: u32 = 16;

/// The largest batch a node leases for a bucket of `spec`; 1 means "never lease".
pub fn batch_limit(spec: &RateSpec) -> u32 {
    (spec.burst / 32).clamp(1, MAX_CELLS)
}

struct Lease {
    /// Cells paid for in Redis and not used yet (at most the bucket's batch limit).
    cells: u32,
    /// Cells granted beyond that, to requests that asked at the same time: never used,
    /// given back with the next request to Redis.
    surplus: u32,
    /// When they may no longer be used.
    expires_us: i64,
    /// The batch to ask for next.
    want: u32,
    /// The bucket's TAT in Redis just after this node's last lease.
    tat_us: i64,
}

impl Lease {
    /// Of `unused` cells plus the surplus, those to give back now: only cells still ahead of
    /// the schedule, because once the TAT has passed them the bucket has forgotten them.
    fn give_back(&mut self, unused: u32, spec: &RateSpec, now_us: i64) -> u32 {
        let cells = unused.saturating_add(std::mem::take(&mut self.surplus));
        if cells == 0 || self.tat_us <= now_us {
            return 0;
        }
        let ahead = (self.tat_us - now_us) / spec.interval_us();
        cells.min(u32::try_from(ahead).unwrap_or(u32::MAX))
    }
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Admitted from a lease held here; nothing to ask Redis.
    Local(Decision),
    /// Ask Redis for `want` cells (one of them for this request), giving `back` unused ones.
    Ask {
        /// Cells to lease.
        want: u32,
        /// Unused cells of an expired lease that are still ahead of the schedule.
        back: u32,
    },
}

/// The leases this node holds, bounded like the in-memory buckets.
pub struct Leases {
    leases: BoundedMap<Lease>,
}

impl Leases {
    /// Room for about `capacity` leased buckets; when full, a lease is dropped (its cells
    /// are lost, which only makes the limit stricter).
    pub fn new(capacity: usize) -> Self {
        Self {
            leases: BoundedMap::new(capacity),
        }
    }

    /// Use a held cell for one request in `key`, or say what to ask Redis for.
    pub fn take(&self, key: &str, spec: &RateSpec, now_us: i64) -> Take {
        let limit = batch_limit(spec);
        if limit == 1 {
            return Take::Ask { want: 1, back: 0 };
        }
        let mut shard = self.leases.shard(key);
        let Some(lease) = shard.entries.get_mut(key) else {
            return Take::Ask { want: 1, back: 0 };
        };
        if lease.expires_us > now_us {
            if lease.cells > 0 {
                lease.cells -= 1;
                return Take::Local(gcra::admitted(spec, lease.tat_us, now_us, lease.cells));
            }
            // Used up before it expired: this bucket is busy here, ask for more.
            lease.want = (lease.want * 2).min(limit);
            let back = lease.give_back(0, spec, now_us);
            return Take::Ask {
                want: lease.want,
                back,
            };
        }
        let unused = std::mem::take(&mut lease.cells);
        if unused > 0 {
            lease.want = (lease.want / 2).max(1);
        }
        let back = lease.give_back(unused, spec, now_us);
        Take::Ask {
            want: lease.want.min(limit),
            back,
        }
    }

    /// Whether a held cell could admit one request in `key` now (without using it).
    pub fn holds(&self, key: &str, spec: &RateSpec, now_us: i64) -> bool {
        if batch_limit(spec) == 1 {
            return false;
        }
        self.leases
            .shard(key)
            .entries
            .get(key)
            .is_some_and(|l| l.cells > 0 && l.expires_us > now_us)
    }

    /// Redis granted `granted` cells (≥ 1) and left the bucket's TAT at `tat_us`: one is
    /// this request's, the rest are held. Returns this request's decision.
    pub fn granted(
        &self,
        key: &str,
        spec: &RateSpec,
        now_us: i64,
        granted: u32,
        tat_us: i64,
    ) -> Decision {
        let held = granted.saturating_sub(1);
        if batch_limit(spec) == 1 {
            return gcra::admitted(spec, tat_us, now_us, 0);
        }
        let mut shard = self.leases.shard(key);
        if let Some(lease) = shard.entries.get_mut(key) {
            if lease.cells > 0 && lease.expires_us > now_us {
                // Another request's lease arrived first: pool the cells, but never let
                // any of them outlive the earlier deadline, nor hold more than the batch
                // limit (the rest go back). The later grant has the later TAT.
                let pooled = lease.cells.saturating_add(held);
                lease.cells = pooled.min(batch_limit(spec));
                lease.surplus = lease.surplus.saturating_add(pooled - lease.cells);
                lease.tat_us = lease.tat_us.max(tat_us);
            } else {
                // A fresh lease: its TAT may be below the last one when cells went back.
                lease.cells = held;
                lease.expires_us = now_us + LEASE_US;
                lease.tat_us = tat_us;
            }
            return gcra::admitted(spec, lease.tat_us, now_us, lease.cells);
        }
        let lease = Lease {
            cells: held,
            surplus: 0,
            expires_us: now_us + LEASE_US,
            want: granted.max(1),
            tat_us,
        };
        shard.insert_new(key, lease, now_us, |l| l.expires_us > now_us);
        gcra::admitted(spec, tat_us, now_us, held)
    }

    /// Leased buckets held, for tests and measurements.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether no lease is held.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000_000;

    #[test]
    fn small_buckets_are_never_leased() {
        let leases = Leases::new(100);
        let spec = RateSpec::parse("10/s burst 63").unwrap();
        assert_eq!(batch_limit(&spec), 1);
        for _ in 0..5 {
            assert_eq!(leases.take("k", &spec, NOW), Take::Ask { want: 1, back: 0 });
            leases.granted("k", &spec, NOW, 1, NOW + 100_000);
        }
        assert!(leases.is_empty());
    }

    #[test]
    fn a_busy_bucket_doubles_its_batch_up_to_the_limit_and_a_quiet_one_halves_it() {
        let leases = Leases::new(100);
        let spec = RateSpec::parse("100000/s").unwrap();
        assert_eq!(batch_limit(&spec), MAX_CELLS);
        let mut wants = Vec::new();
        let mut tat = NOW;
        for _ in 0..40 {
            match leases.take("k", &spec, NOW) {
                Take::Local(d) => assert!(d.allowed),
                Take::Ask { want, back } => {
                    assert_eq!(back, 0);
                    wants.push(want);
                    tat += i64::from(want) * spec.interval_us();
                    leases.granted("k", &spec, NOW, want, tat);
                }
            }
        }
        assert_eq!(wants[..6], [1, 2, 4, 8, 16, 16]);
        // One request after expiry with cells unused: half the batch next time.
        assert!(matches!(leases.take("k", &spec, NOW), Take::Local(_)));
        let later = NOW + LEASE_US;
        assert!(matches!(
            leases.take("k", &spec, later),
            Take::Ask { want: 8, back: 0 }
        ));
    }

    #[test]
    fn held_cells_count_in_remaining_and_unused_ones_ahead_of_the_schedule_go_back() {
        let leases = Leases::new(100);
        let spec = RateSpec::parse("3600/hour").unwrap(); // one cell a second
        assert_eq!(batch_limit(&spec), MAX_CELLS);
        // Four cells leased at NOW: the TAT is four seconds ahead, three cells are held.
        let decision = leases.granted("k", &spec, NOW, 4, NOW + 4_000_000);
        assert_eq!(decision.remaining, 3600 - 4 + 3);
        let Take::Local(decision) = leases.take("k", &spec, NOW + 1) else {
            panic!("a held cell is used first");
        };
        assert_eq!(decision.remaining, 3600 - 4 + 2);
        // Expired with two cells unused, both still ahead of the schedule.
        assert_eq!(
            leases.take("k", &spec, NOW + LEASE_US),
            Take::Ask { want: 2, back: 2 }
        );
        // Once the schedule has passed the cells, nothing is given back.
        leases.granted("k", &spec, NOW + LEASE_US, 2, NOW + 6_000_000);
        assert_eq!(
            leases.take("k", &spec, NOW + 7_000_000),
            Take::Ask { want: 1, back: 0 }
        );
    }

    #[test]
    fn grants_that_arrive_together_pool_no_more_than_the_limit_and_give_the_rest_back() {
        let leases = Leases::new(100);
        let spec = RateSpec::parse("3600/hour").unwrap();
        leases.granted("k", &spec, NOW, 16, NOW + 16_000_000);
        // A second request asked at the same time and was granted 16 more.
        let decision = leases.granted("k", &spec, NOW, 16, NOW + 32_000_000);
        assert_eq!(decision.remaining, 3600 - 32 + 16, "16 held, not 30");
        for _ in 0..16 {
            assert!(matches!(leases.take("k", &spec, NOW), Take::Local(_)));
        }
        assert_eq!(
            leases.take("k", &spec, NOW),
            Take::Ask { want: 16, back: 14 },
            "the 14 cells over the limit go back with the next request"
        );
    }

    #[test]
    fn a_full_table_drops_a_lease_instead_of_growing() {
        let leases = Leases::new(32);
        let spec = RateSpec::parse("100000/s").unwrap();
        for i in 0..1000 {
            leases.granted(&format!("k{i}"), &spec, NOW, 2, NOW + 20);
        }
        assert!(leases.len() <= 32, "{}", leases.len());
    }
}
