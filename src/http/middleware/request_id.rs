//! Every response carries an `X-Request-Id`. A well-formed id from the client (or a proxy in
//! front) is kept so that logs can be correlated across hops; anything else is replaced by a
//! fresh one, so a hostile value never reaches our logs.
//!
//! A fresh id is a per-process counter encrypted with AES-128 under a key drawn once at
//! start, shown as a UUID. It used to be a UUID v4 from `getrandom`: a system call on every
//! request, visible in the profile. Encrypting a counter keeps what mattered about random
//! ids — distinct values (a block cipher is a permutation; the six UUID version bits it
//! overwrites leave 122, so a repeat is as unlikely as between v4 ids) and nothing learned
//! from them (a plain counter would tell a client how busy the server is) — for one
//! AES block, in user space.

use aes_gcm::aes::Aes128;
use aes_gcm::aes::cipher::{BlockCipherEncrypt, KeyInit};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The header name.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, as a request extension for handlers and spans; it carries the id also
/// as a ready header value, so echoing it costs no validation or copy per response.
#[derive(Debug, Clone)]
pub struct RequestId(pub String, HeaderValue);

impl RequestId {
    /// The id as a header value, ready to send.
    pub fn value(&self) -> &HeaderValue {
        &self.1
    }
}

fn acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The per-process generator: the cipher under a random key, and the counter it encrypts.
struct Generator {
    cipher: Aes128,
    counter: AtomicU64,
}

static GENERATOR: LazyLock<Generator> = LazyLock::new(|| {
    let mut key = [0u8; 16];
    // Without the operating system's randomness nothing in this server can be trusted (keys,
    // sessions and tokens use it too); stopping here is the honest answer.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut key).expect("the operating system's random number generator failed");
    Generator {
        cipher: Aes128::new(&key.into()),
        counter: AtomicU64::new(0),
    }
});

/// A fresh id (see the module documentation).
pub fn fresh() -> String {
    let generator = &*GENERATOR;
    let n = generator.counter.fetch_add(1, Ordering::Relaxed);
    let mut block = [0u8; 16];
    block[..8].copy_from_slice(&n.to_le_bytes());
    let mut block = block.into();
    generator.cipher.encrypt_block(&mut block);
    let bytes: [u8; 16] = block.into();
    let mut text = uuid::Uuid::encode_buffer();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut text)
        .to_owned()
}

/// The id of a request: the client's when it is acceptable, else a fresh one.
pub fn assign(headers: &HeaderMap) -> RequestId {
    if let Some(value) = headers.get(&X_REQUEST_ID)
        && let Ok(id) = value.to_str()
        && acceptable(id)
    {
        return RequestId(id.to_owned(), value.clone());
    }
    let id = fresh();
    // A fresh id is hex and hyphens: always a valid header value.
    let value = HeaderValue::from_str(&id).unwrap_or_else(|_| HeaderValue::from_static("-"));
    RequestId(id, value)
}

/// Echo the id on the response.
pub fn echo(id: &RequestId, response: &mut Response) {
    response
        .headers_mut()
        .insert(X_REQUEST_ID.clone(), id.value().clone());
}

#[cfg(test)]
mod tests {
    use super::{acceptable, fresh};
    use std::collections::HashSet;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(acceptable("abc-123_x.y"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("<script>"));
        assert!(!acceptable(&"a".repeat(65)));
    }

    #[test]
    fn fresh_ids_are_distinct_v4_uuids_without_a_visible_sequence() {
        let ids: Vec<String> = (0..10_000).map(|_| fresh()).collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        for id in &ids {
            let parsed = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert!(acceptable(id));
        }
        // Consecutive ids share no prefix the way a counter's would.
        let shared = ids
            .windows(2)
            .filter(|pair| pair[0][..8] == pair[1][..8])
            .count();
        assert!(
            shared < 3,
            "{shared} consecutive ids share their first 8 characters"
        );
    }
}
