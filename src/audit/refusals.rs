//! Repeated refusals, aggregated. A client that is refused again and again (a wrong key in a
//! loop, a scanner, a flood) would otherwise add a record per attempt to a chain that is never
//! pruned. Here the first refusal of its kind from one client address in a window is recorded
//! in full; the repeats within the window are counted, and when the window ends one summary
//! record carries the count, the window and the first record's fields. The evidence survives
//! (what, from where, how often), and a flood costs at most two records per kind, reason and
//! address per window.
//!
//! "Its kind" is the event kind, the client's address group (an IPv6 /64 as one), the
//! `reason` field and, for an authenticated actor, its key id. The table is bounded: when it
//! is full, finished windows are summarised and dropped; if it is still full, a refusal is
//! recorded in full rather than lost (each address is held to its rate limit anyway).

use super::event::AuditEvent;
use crate::net::client_group;
use crate::store::AuditDraft;
use serde_json::Value;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TallyKey {
    kind: String,
    client: Option<IpAddr>,
    reason: Option<String>,
    actor: Option<String>,
    /// What the event was about, when it names something (the key a verification checked).
    subject: Option<String>,
}

#[derive(Debug)]
struct Tally {
    opened_ms: i64,
    last_ms: i64,
    repeated: u64,
    /// The sum of the repeats' `cost` field, where events carry one (key verifications spend
    /// quota: the summary says how much in all, not the first one's cost again).
    repeated_cost: i64,
    first: AuditDraft,
}

impl Tally {
    fn summary(&self) -> Option<AuditDraft> {
        if self.repeated == 0 {
            return None;
        }
        let mut draft = self.first.clone();
        draft.message = if draft.outcome == super::Outcome::Success.as_str() {
            "repeated, counted".to_owned()
        } else {
            "repeated refusals, counted".to_owned()
        };
        draft
            .extra
            .insert("repeated".to_owned(), self.repeated.into());
        if self.first.extra.get("cost").is_some() {
            draft
                .extra
                .insert("cost".to_owned(), self.repeated_cost.into());
        }
        draft
            .extra
            .insert("window_start".to_owned(), rfc3339_ms(self.opened_ms));
        draft
            .extra
            .insert("last_at".to_owned(), rfc3339_ms(self.last_ms));
        Some(draft)
    }
}

/// An event's `cost` field, 0 when it has none.
fn cost_of(event: &AuditEvent) -> i64 {
    event
        .draft
        .extra
        .get("cost")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

fn rfc3339_ms(ms: i64) -> Value {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// What to do with a refusal.
#[derive(Debug)]
pub struct Admission {
    /// Record the event in full (else it was counted).
    pub record: bool,
    /// Summaries of finished windows, to record first.
    pub summaries: Vec<AuditDraft>,
}

/// Decides which refusals are recorded in full and counts the rest.
#[derive(Debug)]
pub struct RefusalGate {
    window_ms: i64,
    capacity: usize,
    tallies: Mutex<HashMap<TallyKey, Tally>>,
}

impl RefusalGate {
    /// Aggregate within `window` (zero: record every refusal), tracking at most `capacity`
    /// kinds of refusal at once.
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            capacity,
            tallies: Mutex::new(HashMap::new()),
        }
    }

    fn key(event: &AuditEvent) -> TallyKey {
        let draft = &event.draft;
        TallyKey {
            kind: draft.kind.clone(),
            client: event.client_ip.map(client_group),
            reason: draft
                .extra
                .get("reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            actor: draft.owner_id.as_ref().and(draft.key_id.clone()),
            subject: draft
                .extra
                .get("subject")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }
    }

    /// Decide for `event`, stamped at `now_ms`.
    pub fn admit(&self, event: &AuditEvent, now_ms: i64) -> Admission {
        if self.window_ms == 0 {
            return Admission {
                record: true,
                summaries: Vec::new(),
            };
        }
        let key = Self::key(event);
        let mut tallies = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        let mut summaries = Vec::new();
        if let Some(tally) = tallies.get_mut(&key) {
            if now_ms - tally.opened_ms < self.window_ms {
                tally.repeated += 1;
                tally.repeated_cost += cost_of(event);
                tally.last_ms = now_ms;
                return Admission {
                    record: false,
                    summaries,
                };
            }
            summaries.extend(tally.summary());
            *tally = Tally {
                opened_ms: now_ms,
                last_ms: now_ms,
                repeated: 0,
                repeated_cost: 0,
                first: event.draft.clone(),
            };
            return Admission {
                record: true,
                summaries,
            };
        }
        if tallies.len() >= self.capacity {
            summaries.extend(self.take_finished(&mut tallies, now_ms));
        }
        if tallies.len() < self.capacity {
            tallies.insert(
                key,
                Tally {
                    opened_ms: now_ms,
                    last_ms: now_ms,
                    repeated: 0,
                    repeated_cost: 0,
                    first: event.draft.clone(),
                },
            );
        }
        Admission {
            record: true,
            summaries,
        }
    }

    fn take_finished(
        &self,
        tallies: &mut HashMap<TallyKey, Tally>,
        now_ms: i64,
    ) -> Vec<AuditDraft> {
        let mut summaries = Vec::new();
        tallies.retain(|_, tally| {
            let finished = now_ms - tally.opened_ms >= self.window_ms;
            if finished {
                summaries.extend(tally.summary());
            }
            !finished
        });
        summaries
    }

    /// Summaries of the windows that have ended by `now_ms` (their tallies are dropped).
    pub fn finished(&self, now_ms: i64) -> Vec<AuditDraft> {
        let mut tallies = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        self.take_finished(&mut tallies, now_ms)
    }

    /// Summaries of every window, finished or not (at shutdown: nothing counted is lost).
    pub fn drain(&self) -> Vec<AuditDraft> {
        let mut tallies = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        tallies.drain().filter_map(|(_, t)| t.summary()).collect()
    }

    /// Kinds of refusal being counted (for tests).
    pub fn tracked(&self) -> usize {
        self.tallies.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Outcome;

    fn refusal(ip: &str, reason: &str) -> AuditEvent {
        AuditEvent::new("auth.failure", Outcome::Failure, "request refused")
            .client(Some(ip.parse().unwrap()))
            .with("reason", reason)
    }

    #[test]
    fn repeats_within_a_window_become_one_summary_with_a_count() {
        let gate = RefusalGate::new(Duration::from_secs(60), 100);
        assert!(gate.admit(&refusal("10.0.0.1", "unknown_key"), 0).record);
        for at in 1..=99 {
            assert!(
                !gate
                    .admit(&refusal("10.0.0.1", "unknown_key"), at * 100)
                    .record
            );
        }
        assert!(gate.finished(59_999).is_empty());
        let summaries = gate.finished(60_000);
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].extra["repeated"], 99);
        assert_eq!(summaries[0].extra["reason"], "unknown_key");
        assert_eq!(summaries[0].client.as_deref(), Some("10.0.0.1"));
        assert_eq!(gate.tracked(), 0);
    }

    #[test]
    fn other_addresses_and_reasons_are_recorded_in_full() {
        let gate = RefusalGate::new(Duration::from_secs(60), 100);
        assert!(gate.admit(&refusal("10.0.0.1", "unknown_key"), 0).record);
        assert!(gate.admit(&refusal("10.0.0.2", "unknown_key"), 0).record);
        assert!(gate.admit(&refusal("10.0.0.1", "malformed"), 0).record);
        // One IPv6 /64 is one client.
        assert!(gate.admit(&refusal("2001:db8::1", "malformed"), 0).record);
        assert!(!gate.admit(&refusal("2001:db8::2", "malformed"), 0).record);
    }

    #[test]
    fn a_new_window_records_in_full_and_hands_over_the_old_count() {
        let gate = RefusalGate::new(Duration::from_secs(60), 100);
        gate.admit(&refusal("10.0.0.1", "x"), 0);
        gate.admit(&refusal("10.0.0.1", "x"), 10);
        let next = gate.admit(&refusal("10.0.0.1", "x"), 60_000);
        assert!(next.record);
        assert_eq!(next.summaries.len(), 1);
        assert_eq!(next.summaries[0].extra["repeated"], 1);
        assert!(
            gate.drain().is_empty(),
            "nothing repeated in the new window"
        );
    }

    #[test]
    fn a_full_table_still_records_and_stays_bounded() {
        let gate = RefusalGate::new(Duration::from_secs(60), 10);
        for i in 0..1000u32 {
            let ip = std::net::Ipv4Addr::from(i).to_string();
            assert!(gate.admit(&refusal(&ip, "x"), 0).record);
        }
        assert_eq!(gate.tracked(), 10);
    }

    #[test]
    fn a_zero_window_records_everything() {
        let gate = RefusalGate::new(Duration::ZERO, 10);
        for _ in 0..5 {
            assert!(gate.admit(&refusal("10.0.0.1", "x"), 0).record);
        }
    }
}
