//! Seed 001's scheme: `X-Token-Hash` = hex HMAC-SHA512 of the raw body, keyed by the session
//! token followed by the Unix time in seconds, e.g. `"pcs_…1700000000"`. Accepted when it
//! matches any second within the window, so client and server clocks need not agree exactly.

use hmac::{Hmac, KeyInit, Mac};

/// Largest body this scheme verifies (61 HMACs of it per session tried); larger bodies must
/// use RFC 9421, whose cost does not grow with the clock window.
pub const MAX_BODY: usize = 64 * 1024;
/// Newest live sessions of the key that are tried.
pub const MAX_SESSIONS: usize = 4;
use sha2::Sha512;
use subtle::ConstantTimeEq;

/// Whether `presented` (hex, any case) is the hash of `body` under `session` for some second
/// in `now ± window`. Every candidate is compared in constant time.
pub fn matches(session: &str, body: &[u8], presented: &str, now: i64, window: i64) -> bool {
    let Ok(presented) = hex::decode(presented.trim()) else {
        return false;
    };
    let mut found = subtle::Choice::from(0u8);
    for second in (now - window)..=(now + window) {
        let key = format!("{session}{second}");
        let Ok(mut mac) = <Hmac<Sha512> as KeyInit>::new_from_slice(key.as_bytes()) else {
            return false;
        };
        mac.update(body);
        found |= mac.finalize().into_bytes().as_slice().ct_eq(&presented);
    }
    found.into()
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
    }
}
