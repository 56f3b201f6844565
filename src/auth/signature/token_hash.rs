//! Seed 001's scheme: `X-Token-Hash` = hex HMAC-SHA512 of the raw body, keyed by the session
//! token followed by the Unix time in seconds, e.g. `"pcs_…1700000000"`. Accepted when it
//! matches any second within the window, so client and server clocks need not agree exactly.

use hmac::{Hmac, KeyInit, Mac};

/// Largest body this scheme verifies (61 HMACs of it per session tried); larger bodies must
/// use RFC 9421, whose cost does not grow with the clock window.
pub const MAX_BODY: usize = 64 * 1024;
/// Newest live sessions of the key that are tried.
pub const MAX_SESSIONS: usize = 4;
/// Most bytes put through HMAC-SHA512 for one request, every candidate second of every
/// session tried together (~8 ms of one core here): the worst a request can cost.
pub const MAX_WORK_BYTES: usize = 4 * 1024 * 1024;
use sha2::Sha512;
use subtle::ConstantTimeEq;

/// How many sessions a request with a `body_len`-byte body may try within
/// [`MAX_WORK_BYTES`] (always at least the newest one).
pub fn sessions_within_budget(body_len: usize, window: i64) -> usize {
    let candidates = usize::try_from(2 * window.max(0) + 1).unwrap_or(usize::MAX);
    // A block of HMAC framing per candidate, on top of the body.
    let per_session = candidates.saturating_mul(body_len.saturating_add(256));
    (MAX_WORK_BYTES / per_session.max(1)).clamp(1, MAX_SESSIONS)
}

/// Whether `presented` (hex, any case) is the hash of `body` under `session` for some second
/// in `now ± window`. Seconds are tried from `now` outwards, so a client whose clock agrees
/// with ours costs one HMAC; each candidate is compared in constant time. Stopping at a match
/// tells the client only what the 200 tells it anyway.
pub fn matches(session: &str, body: &[u8], presented: &str, now: i64, window: i64) -> bool {
    let Ok(presented) = hex::decode(presented.trim()) else {
        return false;
    };
    if presented.len() != 64 {
        return false;
    }
    let candidate = |second: i64| {
        let key = format!("{session}{second}");
        let Ok(mut mac) = <Hmac<Sha512> as KeyInit>::new_from_slice(key.as_bytes()) else {
            return false;
        };
        mac.update(body);
        bool::from(mac.finalize().into_bytes().as_slice().ct_eq(&presented))
    };
    (0..=window.max(0))
        .any(|offset| candidate(now - offset) || (offset != 0 && candidate(now + offset)))
}

/// The hash a seed-001 client sends (for tests and the README).
pub fn compute(session: &str, body: &[u8], second: i64) -> String {
    let key = format!("{session}{second}");
    let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_within_the_window_matches_and_outside_it_does_not() {
        let hash = compute("pcs_abc", b"{}", 1000);
        assert!(matches("pcs_abc", b"{}", &hash, 1000, 30));
        assert!(matches("pcs_abc", b"{}", &hash.to_uppercase(), 1030, 30));
        assert!(!matches("pcs_abc", b"{}", &hash, 1031, 30));
        assert!(!matches("pcs_abc", b"{ }", &hash, 1000, 30));
        assert!(!matches("pcs_abd", b"{}", &hash, 1000, 30));
        assert!(!matches("pcs_abc", b"{}", "zz", 1000, 30));
        assert!(matches("pcs_abc", b"{}", &hash, 970, 30));
        assert!(!matches("pcs_abc", b"{}", &hash[..64], 1000, 30));
    }

    /// Made by PHP 8.2.36 (Debian's php-cli), as seed 001's client does it:
    /// `php -r 'echo hash_hmac("sha512", "{\"action\":\"ping\",\"n\":1}",
    /// "pcs_0123456789abcdef_" . str_repeat("ab", 32) . "1700000000");'`
    const FROM_PHP: &str = "5e5e9b30c210210a653a07b4a14d87a796b3eaa6e5dd930b0b4e1950068b5e4cf4dec96b6bd55a63e2574e79a57f349a8405957a9de64c016f241aeca69004af";

    #[test]
    fn a_hash_made_by_phps_hash_hmac_is_accepted() {
        let session = format!("pcs_0123456789abcdef_{}", "ab".repeat(32));
        let body = br#"{"action":"ping","n":1}"#;
        assert!(matches(&session, body, FROM_PHP, 1_700_000_000, 0));
        assert!(matches(&session, body, FROM_PHP, 1_700_000_029, 30));
        assert!(!matches(&session, body, FROM_PHP, 1_700_000_031, 30));
        assert_eq!(compute(&session, body, 1_700_000_000), FROM_PHP);
    }

    #[test]
    fn a_large_body_may_try_fewer_sessions() {
        assert_eq!(sessions_within_budget(0, 30), MAX_SESSIONS);
        assert_eq!(sessions_within_budget(1024, 30), MAX_SESSIONS);
        assert_eq!(sessions_within_budget(MAX_BODY, 30), 1);
        assert_eq!(sessions_within_budget(MAX_BODY, 3600), 1, "never zero");
    }
}
