//! Brute-force protection (seed 001's "login brute force prevention"): failed logins and
//! failed key checks are counted per client address and per username. Past a threshold the
//! client is locked out for a while, doubling with each further lockout up to a ceiling.
//!
//! A username lockout does not apply from an address that recently logged in successfully as
//! that user, so an attacker hammering a username from elsewhere cannot lock the real user
//! out. IPv6 clients are counted per /64, since one host usually owns a whole /64. Both
//! tables are bounded: when one is full, stale entries are swept, then an unlocked entry
//! (from a bounded sample) is evicted; a live lockout never is, so a flood of new addresses
//! cannot free one — if the sample holds only lockouts, the newcomer is not tracked.
//! Escalation decays: a lockout that ended more than a window ago is forgotten.

use crate::clock::Clock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lockout policy.
#[derive(Debug, Clone, Copy)]
pub struct LockoutPolicy {
    /// Failures within `window` that trigger a lockout.
    pub threshold: u32,
    /// Failures are forgotten this long after the first one.
    pub window: Duration,
    /// First lockout length; each further one doubles.
    pub base: Duration,
    /// Longest lockout.
    pub max: Duration,
    /// Entries per table at most.
    pub capacity: usize,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    failures: u32,
    window_start_ms: i64,
    locked_until_ms: i64,
    lockouts: u32,
    /// Addresses that logged in successfully as this user (usernames only; at most 8).
    trusted: Vec<IpAddr>,
}

/// Failure counters.
pub struct Lockout {
    policy: LockoutPolicy,
    clock: Arc<dyn Clock>,
    addresses: Mutex<HashMap<IpAddr, Entry>>,
    usernames: Mutex<HashMap<String, Entry>>,
    last_sweep_ms: Mutex<i64>,
}

fn now_ms(clock: &dyn Clock) -> i64 {
    (clock.now().unix_timestamp_nanos() / 1_000_000) as i64
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Lockout {
    /// Counters under `policy`.
    pub fn new(policy: LockoutPolicy, clock: Arc<dyn Clock>) -> Self {
        Self {
            policy,
            clock,
            addresses: Mutex::new(HashMap::new()),
            usernames: Mutex::new(HashMap::new()),
            last_sweep_ms: Mutex::new(0),
        }
    }

    /// `Err(retry_after)` if `address` (or `username`, from an address it does not trust) is
    /// locked out now.
    pub fn check(&self, address: IpAddr, username: Option<&str>) -> Result<(), Duration> {
        let address = group(address);
        let now = now_ms(&*self.clock);
        let remaining =
            |entry: &Entry| (entry.locked_until_ms > now).then(|| entry.locked_until_ms - now);
        if let Some(ms) = lock(&self.addresses).get(&address).and_then(remaining) {
            return Err(retry_after(ms));
        }
        if let Some(name) = username {
            let users = lock(&self.usernames);
            if let Some(entry) = users.get(name)
                && !entry.trusted.contains(&address)
                && let Some(ms) = remaining(entry)
            {
                return Err(retry_after(ms));
            }
        }
        Ok(())
    }

    /// Count a failure.
    pub fn failure(&self, address: IpAddr, username: Option<&str>) {
        let address = group(address);
        let now = now_ms(&*self.clock);
        self.bump(&self.addresses, address, now);
        if let Some(name) = username {
            self.bump(&self.usernames, name.to_owned(), now);
        }
    }

    /// A success makes the address trusted for the username and clears that username's count.
    /// The address's own count is kept: logging in to one's own account must not reset the
    /// budget for guessing someone else's.
    pub fn success(&self, address: IpAddr, username: Option<&str>) {
        let address = group(address);
        if let Some(name) = username {
            let mut users = lock(&self.usernames);
            if let Some(entry) = users.get_mut(name) {
                entry.failures = 0;
                if !entry.trusted.contains(&address) {
                    if entry.trusted.len() >= 8 {
                        entry.trusted.remove(0);
                    }
                    entry.trusted.push(address);
                }
            } else {
                drop(users);
                self.insert(
                    &self.usernames,
                    name.to_owned(),
                    Entry {
                        trusted: vec![address],
                        ..Entry::default()
                    },
                    now_ms(&*self.clock),
                );
            }
        }
    }

    fn bump<K: std::hash::Hash + Eq + Clone>(
        &self,
        table: &Mutex<HashMap<K, Entry>>,
        key: K,
        now: i64,
    ) {
        let window = self.policy.window.as_millis() as i64;
        let mut map = lock(table);
        let Some(entry) = map.get_mut(&key) else {
            drop(map);
            let entry = Entry {
                failures: 1,
                window_start_ms: now,
                ..Entry::default()
            };
            self.insert(table, key, entry, now);
            return;
        };
        if now - entry.window_start_ms > window && entry.locked_until_ms <= now {
            entry.failures = 0;
            entry.window_start_ms = now;
            if now - entry.locked_until_ms > window {
                entry.lockouts = 0;
            }
        }
        entry.failures += 1;
        if entry.failures >= self.policy.threshold {
            entry.lockouts = entry.lockouts.saturating_add(1);
            let factor = 1u32 << (entry.lockouts - 1).min(20);
            let length = self.policy.base.saturating_mul(factor).min(self.policy.max);
            entry.locked_until_ms = now + length.as_millis() as i64;
            entry.failures = 0;
            entry.window_start_ms = now;
        }
    }

    fn insert<K: std::hash::Hash + Eq + Clone>(
        &self,
        table: &Mutex<HashMap<K, Entry>>,
        key: K,
        entry: Entry,
        now: i64,
    ) {
        let mut map = lock(table);
        if map.len() >= self.policy.capacity && !map.contains_key(&key) {
            // Sweep stale entries at most once a second, so a flood cannot make every insert
            // scan the table; otherwise evict an arbitrary entry (HashMap order is random).
            let mut last_sweep = lock(&self.last_sweep_ms);
            if now - *last_sweep >= 1000 {
                *last_sweep = now;
                let window = self.policy.window.as_millis() as i64;
                map.retain(|_, e| {
                    e.locked_until_ms > now
                        || now - e.window_start_ms <= window
                        || !e.trusted.is_empty()
                });
            }
            if map.len() >= self.policy.capacity {
                // Never a live lockout: a flood of new addresses must not free one. The
                // search is bounded, so a table full of lockouts costs each insert little;
                // then the newcomer is not tracked (it is still held to its rate limit).
                let victim = map
                    .iter()
                    .take(EVICTION_SAMPLE)
                    .find(|(_, e)| e.locked_until_ms <= now)
                    .map(|(k, _)| k.clone());
                match victim {
                    Some(victim) => {
                        map.remove(&victim);
                    }
                    None => return,
                }
            }
        }
        map.insert(key, entry);
    }

    /// Entries held (addresses, usernames), for tests and metrics.
    pub fn sizes(&self) -> (usize, usize) {
        (lock(&self.addresses).len(), lock(&self.usernames).len())
    }
}

/// The unit counted: an IPv4 address, or an IPv6 /64 (see [`crate::net::client_group`]).
pub use crate::net::client_group as group;

/// Entries looked at for one that may be evicted, when a table is full.
const EVICTION_SAMPLE: usize = 64;

fn retry_after(ms: i64) -> Duration {
    // Round up to whole seconds, as Retry-After carries seconds.
    Duration::from_secs(((ms + 999) / 1000).max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            threshold: 3,
            window: Duration::from_secs(600),
            base: Duration::from_secs(10),
            max: Duration::from_secs(60),
            capacity: 100,
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn lockout_grows_with_repeated_failures_and_recovers() {
        let clock = Arc::new(ManualClock::new());
        let lockout = Lockout::new(policy(), clock.clone());
        for _ in 0..3 {
            assert!(lockout.check(A, None).is_ok());
            lockout.failure(A, None);
        }
        assert_eq!(lockout.check(A, None), Err(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(10));
        assert!(lockout.check(A, None).is_ok());
        for _ in 0..3 {
            lockout.failure(A, None);
        }
        assert_eq!(lockout.check(A, None), Err(Duration::from_secs(20)));
        clock.advance(Duration::from_secs(20));
        for _ in 0..9 {
            lockout.failure(A, None);
        }
        assert_eq!(
            lockout.check(A, None),
            Err(Duration::from_secs(60)),
            "capped at max"
        );
    }

    #[test]
    fn an_attack_on_a_username_does_not_lock_out_its_trusted_address() {
        let clock = Arc::new(ManualClock::new());
        let lockout = Lockout::new(policy(), clock);
        lockout.success(A, Some("alice"));
        for _ in 0..3 {
            lockout.failure(B, Some("alice"));
        }
        assert!(lockout.check(B, Some("alice")).is_err());
        assert!(lockout.check(A, Some("alice")).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        let clock = Arc::new(ManualClock::new());
        let lockout = Lockout::new(policy(), clock);
        for i in 1..=3u16 {
            let ip: IpAddr = format!("2001:db8::{i:x}").parse().unwrap();
            lockout.failure(ip, None);
        }
        assert!(
            lockout
                .check("2001:db8::ffff".parse().unwrap(), None)
                .is_err()
        );
        assert!(
            lockout
                .check("2001:db8:0:1::1".parse().unwrap(), None)
                .is_ok()
        );
    }

    #[test]
    fn logging_in_does_not_reset_the_address_budget() {
        let clock = Arc::new(ManualClock::new());
        let lockout = Lockout::new(policy(), clock);
        lockout.failure(A, Some("bob"));
        lockout.failure(A, Some("bob"));
        lockout.success(A, Some("mallory"));
        lockout.failure(A, Some("bob"));
        assert!(lockout.check(A, None).is_err());
    }

    /// The defaults: 5 failures in 15 min, 30 s doubling to at most 1 h.
    fn defaults() -> LockoutPolicy {
        let auth = crate::config::AuthSettings::default();
        LockoutPolicy {
            threshold: auth.lockout_threshold,
            window: auth.lockout_window,
            base: auth.lockout_base,
            max: auth.lockout_max,
            capacity: 1000,
        }
    }

    fn lock_out(lockout: &Lockout, address: IpAddr) {
        for _ in 0..5 {
            lockout.failure(address, None);
        }
    }

    #[test]
    fn failures_count_within_15_minutes_of_the_first() {
        let clock = Arc::new(ManualClock::new());
        let lockout = Lockout::new(defaults(), clock.clone());
        for _ in 0..4 {
            lockout.failure(A, None);
        }
        clock.advance(Duration::from_secs(14 * 60));
        lockout.failure(A, None);
        assert_eq!(lockout.check(A, None), Err(Duration::from_secs(30)));

        for _ in 0..4 {
            lockout.failure(B, None);
        }
        clock.advance(Duration::from_secs(15 * 60 + 1));
        lockout.failure(B, None);
        assert!(
            lockout.check(B, None).is_ok(),
            "four failures over 15 minutes ago are forgotten"
        );
    }

    #[test]
    fn repeated_lockouts_double_up_to_one_hour() {
        let clock = Arc::new(ManualClock::new());
        let lockout = Lockout::new(defaults(), clock.clone());
        let mut lengths = Vec::new();
        for _ in 0..10 {
            lock_out(&lockout, A);
            let wait = lockout.check(A, None).unwrap_err();
            lengths.push(wait.as_secs());
            clock.advance(wait);
            assert!(lockout.check(A, None).is_ok(), "the lockout ends on time");
        }
        assert_eq!(
            lengths,
            [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
        );
    }

    #[test]
    fn repeated_lockouts_are_forgotten_a_window_after_the_last_one() {
        let clock = Arc::new(ManualClock::new());
        let lockout = Lockout::new(defaults(), clock.clone());
        lock_out(&lockout, A);
        clock.advance(Duration::from_secs(30));
        lock_out(&lockout, A);
        assert_eq!(lockout.check(A, None), Err(Duration::from_secs(60)));
        // Still remembered 15 minutes after the lockout ended...
        clock.advance(Duration::from_secs(60 + 15 * 60));
        lock_out(&lockout, A);
        assert_eq!(lockout.check(A, None), Err(Duration::from_secs(120)));
        // ...forgotten once more than a window has passed since.
        clock.advance(Duration::from_secs(120 + 15 * 60 + 1));
        lock_out(&lockout, A);
        assert_eq!(lockout.check(A, None), Err(Duration::from_secs(30)));
    }

    #[test]
    fn a_flood_of_new_addresses_does_not_evict_a_live_lockout() {
        let clock = Arc::new(ManualClock::new());
        // A table of two, both locked out: any eviction would free a lockout.
        let lockout = Lockout::new(
            LockoutPolicy {
                capacity: 2,
                ..defaults()
            },
            clock.clone(),
        );
        lock_out(&lockout, A);
        lock_out(&lockout, B);
        assert!(lockout.check(A, None).is_err());
        // 10,000 addresses, one failure each, within the 30 s of the lockout.
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            lockout.failure(ip, None);
            clock.advance(Duration::from_millis(1));
        }
        assert!(
            lockout.check(A, None).is_err() && lockout.check(B, None).is_err(),
            "still locked out after 10,000 other addresses came and went"
        );
        assert!(lockout.sizes().0 <= 2);
    }

    #[test]
    fn a_flood_of_distinct_addresses_stays_within_capacity() {
        let clock = Arc::new(ManualClock::new());
        let lockout = Lockout::new(policy(), clock);
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(i));
            lockout.failure(ip, Some(&format!("user{i}")));
        }
        let (addresses, usernames) = lockout.sizes();
        assert!(
            addresses <= 100 && usernames <= 100,
            "{addresses} {usernames}"
        );
    }
}
