//! The API key string.
//!
//! `pcl_<id>_<secret><checksum>`, for example `pcl_3k9x0m2q7d1a_…` (67 characters):
//!
//! * `pcl_` — a fixed prefix, so people and secret scanners recognise a Portcullis key;
//! * `<id>` — 12 characters of `[0-9a-z]`: the key's public id, safe to log and show;
//! * `<secret>` — 44 base62 characters from the OS CSPRNG (≈ 262 bits);
//! * `<checksum>` — 6 base62 characters of the CRC-32 of everything before it, so a mistyped
//!   or truncated key is refused before any lookup, and a scanner can tell a real key from
//!   random text without asking us.
//!
//! Base62 keeps the key one "word" (a double-click selects it whole). Only the SHA-256 of the
//! whole string is stored. Any other string is a *legacy* key: it can only match the keys
//! given in environment variables (seed 000's deployment style) or, when it is at least
//! [`MIN_IMPORTED_LEN`] characters, a key imported by its hash from another system.

use crate::secret::SecretString;
use sha2::{Digest, Sha256};

/// The prefix of every key Portcullis issues.
pub const PREFIX: &str = "pcl_";
const ID_LEN: usize = 12;
const SECRET_LEN: usize = 44;
const CHECKSUM_LEN: usize = 6;
/// Length of an issued key string.
pub const KEY_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;
/// Longest legacy key accepted for comparison; longer input is refused unread.
pub const MAX_LEGACY_LEN: usize = 256;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Why a presented key was refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    /// Has our prefix but not our shape (wrong length or characters).
    #[error("malformed key")]
    Malformed,
    /// Has our shape but the checksum does not match: mistyped or truncated.
    #[error("key checksum mismatch")]
    BadChecksum,
    /// Empty, too long, or not visible ASCII.
    #[error("unusable key text")]
    Unusable,
}

/// A presented key, classified without any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParsedKey<'a> {
    /// One of ours, with its public id.
    Issued {
        /// Public key id.
        id: &'a str,
    },
    /// Anything else of sane length: only environment keys can match it.
    Legacy,
}

/// A freshly generated key: the public id and the full secret string.
#[derive(Debug)]
pub struct GeneratedKey {
    /// Public id.
    pub id: String,
    /// The full key; shown once, then dropped (and zeroized).
    pub token: SecretString,
}

/// Uniformly random characters from `alphabet`, by rejection sampling OS randomness.
fn random_chars(alphabet: &[u8], count: usize) -> Result<String, getrandom::Error> {
    // Reject bytes at or above the largest multiple of the alphabet size, to avoid modulo bias.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(count);
    let mut buf = zeroize::Zeroizing::new([0u8; 64]);
    while out.len() < count {
        getrandom::fill(&mut buf[..])?;
        for &byte in buf.iter() {
            if usize::from(byte) < limit && out.len() < count {
                out.push(char::from(alphabet[usize::from(byte) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

fn checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out
}

/// A base-36 character (`BASE36`), by range rather than by searching the alphabet: this runs
/// on every presented key.
fn is_base36(b: u8) -> bool {
    b.is_ascii_digit() || b.is_ascii_lowercase()
}

/// A fresh public id, for a key whose string we did not make (an imported key).
pub fn random_id() -> Result<String, getrandom::Error> {
    random_chars(BASE36, ID_LEN)
}

/// The shortest key another system may have issued that we accept on import: seed 000's
/// keys are 64 hex characters; anything shorter than 32 is too weak to carry over.
pub const MIN_IMPORTED_LEN: usize = 32;

/// Make a new key from the OS CSPRNG.
pub fn generate() -> Result<GeneratedKey, getrandom::Error> {
    let id = random_chars(BASE36, ID_LEN)?;
    let secret = zeroize::Zeroizing::new(random_chars(BASE62, SECRET_LEN)?);
    let mut token = String::with_capacity(KEY_LEN);
    token.push_str(PREFIX);
    token.push_str(&id);
    token.push('_');
    token.push_str(&secret);
    let sum = checksum(&token);
    token.extend(sum.iter().map(|&b| char::from(b)));
    Ok(GeneratedKey {
        id,
        token: SecretString::new(token),
    })
}

/// A 64-hex-character random key (256 bits), the format of seed 000's `auth.py`.
pub fn generate_hex64() -> Result<SecretString, getrandom::Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..])?;
    Ok(SecretString::new(hex::encode(&bytes[..])))
}

/// Classify a presented key. Cheap and allocation-free: runs before any lookup.
pub fn parse(token: &str) -> Result<ParsedKey<'_>, KeyFormatError> {
    if token.is_empty()
        || token.len() > MAX_LEGACY_LEN
        || !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(KeyFormatError::Unusable);
    }
    let Some(rest) = token.strip_prefix(PREFIX) else {
        return Ok(ParsedKey::Legacy);
    };
    if token.len() != KEY_LEN || rest.as_bytes().get(ID_LEN) != Some(&b'_') {
        return Err(KeyFormatError::Malformed);
    }
    let (id, tail) = rest.split_at(ID_LEN);
    let tail = &tail[1..];
    if !id.bytes().all(is_base36) || !tail.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyFormatError::Malformed);
    }
    let (body, sum) = token.split_at(KEY_LEN - CHECKSUM_LEN);
    // The checksum is public information (anyone can compute it), so a plain comparison is fine.
    if checksum(body) != sum.as_bytes() {
        return Err(KeyFormatError::BadChecksum);
    }
    Ok(ParsedKey::Issued { id })
}

/// The public part of a presented key, safe to log: `pcl_<id>` whenever the text has our
/// prefix followed by a well-formed id (even if the rest is mistyped, which is exactly when an
/// operator wants to know which key was meant); nothing otherwise.
pub fn public_prefix(token: &str) -> Option<String> {
    let id = token.strip_prefix(PREFIX)?.get(..ID_LEN)?;
    id.bytes().all(is_base36).then(|| format!("{PREFIX}{id}"))
}

/// SHA-256 of the whole key string: the only form in which a key is stored.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_the_documented_shape_and_parse_back() {
        let key = generate().unwrap();
        let token = key.token.expose();
        assert_eq!(token.len(), KEY_LEN);
        assert!(token.starts_with("pcl_"));
        assert_eq!(parse(token), Ok(ParsedKey::Issued { id: &key.id }));
        assert_eq!(public_prefix(token), Some(format!("pcl_{}", key.id)));
        assert_eq!(public_prefix(&token[..20]), Some(format!("pcl_{}", key.id)));
        assert_eq!(public_prefix("pcl_<script>alert"), None);
        assert_eq!(public_prefix("0123456789abcdef"), None);
    }

    #[test]
    fn two_generated_keys_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.token.expose(), b.token.expose());
    }

    #[test]
    fn a_single_changed_character_fails_the_checksum() {
        let key = generate().unwrap();
        let token = key.token.expose();
        let mut bytes = token.as_bytes().to_vec();
        let at = PREFIX.len() + ID_LEN + 5;
        bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        assert_eq!(parse(&typo), Err(KeyFormatError::BadChecksum));
    }

    #[test]
    fn a_truncated_key_is_malformed() {
        let key = generate().unwrap();
        let token = key.token.expose();
        assert_eq!(
            parse(&token[..token.len() - 1]),
            Err(KeyFormatError::Malformed)
        );
    }

    #[test]
    fn foreign_and_hostile_strings_are_classified_without_panicking() {
        assert_eq!(parse("0123abcd"), Ok(ParsedKey::Legacy));
        assert_eq!(parse(""), Err(KeyFormatError::Unusable));
        assert_eq!(parse("has space"), Err(KeyFormatError::Unusable));
        assert_eq!(parse(&"a".repeat(300)), Err(KeyFormatError::Unusable));
        assert_eq!(parse("pcl_é"), Err(KeyFormatError::Unusable));
        assert_eq!(parse("pcl_short"), Err(KeyFormatError::Malformed));
        let weird = format!("pcl_{}", "_".repeat(KEY_LEN - 4));
        assert_eq!(parse(&weird), Err(KeyFormatError::Malformed));
    }

    #[test]
    fn hex64_keys_are_64_lowercase_hex_characters() {
        let key = generate_hex64().unwrap();
        assert_eq!(key.expose().len(), 64);
        assert!(
            key.expose()
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
    }

    #[test]
    fn the_stored_hash_is_sha256_of_the_whole_string() {
        assert_eq!(
            hex::encode(hash("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
