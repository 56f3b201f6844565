//! Message ids and what is derived from them.
//!
//! An id is a UUID4 whose 122 random bits come straight from the OS CSPRNG: it is the only
//! secret a reader holds, so it is never stored. The store keys a row by a domain-separated
//! SHA-256 of the id and encrypts the body under a second, independent derivation, so a copy
//! of the database (or of Redis) yields neither the URLs nor the messages.

use sha2::{Digest, Sha256};
use uuid::Uuid;
use zeroize::Zeroizing;

const LOOKUP_DOMAIN: &[u8] = b"portcullis/message/lookup/v1\0";
const KEY_DOMAIN: &[u8] = b"portcullis/message/key/v1\0";

/// A message id: a random (version 4) UUID. A bearer secret, so no `PartialEq`: nothing
/// compares ids; rows are found by a hash of the id.
#[derive(Clone, Copy)]
pub struct MessageId(Uuid);

impl MessageId {
    /// A fresh id from the OS random source.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(Self(uuid::Builder::from_random_bytes(bytes).into_uuid()))
    }

    /// Parse the canonical form we hand out (36 characters, lowercase, hyphenated, version 4,
    /// RFC 4122 variant). Anything else is no id: other spellings of the same UUID are not
    /// accepted, so every URL names a message in exactly one way.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 36 {
            return None;
        }
        let uuid = Uuid::try_parse(text).ok()?;
        let canonical = uuid.hyphenated().encode_lower(&mut Uuid::encode_buffer()) == text;
        (canonical
            && uuid.get_version() == Some(uuid::Version::Random)
            && uuid.get_variant() == uuid::Variant::RFC4122)
            .then_some(Self(uuid))
    }

    /// The store's key for this message (hex), which reveals nothing of the id.
    pub fn lookup(&self) -> String {
        hex::encode(self.derive(LOOKUP_DOMAIN))
    }

    /// The key the body is encrypted under.
    pub fn body_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.derive(KEY_DOMAIN))
    }

    fn derive(&self, domain: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(domain);
        hasher.update(self.0.as_bytes());
        hasher.finalize().into()
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The id is a bearer secret: it never goes to a log through `Debug`.
impl std::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageId(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_version_4_and_parse_back() {
        let id = MessageId::generate().unwrap();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(
            MessageId::parse(&text).map(|p| p.lookup()),
            Some(id.lookup())
        );
        assert_ne!(MessageId::generate().unwrap().to_string(), text);
    }

    #[test]
    fn only_the_canonical_spelling_parses() {
        let id = MessageId::generate().unwrap().to_string();
        assert!(MessageId::parse(&id.to_uppercase()).is_none());
        assert!(MessageId::parse(&id.replace('-', "")).is_none());
        assert!(MessageId::parse(&format!("{{{id}}}")).is_none());
        assert!(MessageId::parse(&format!("urn:uuid:{id}")).is_none());
        // Version 1 and the nil UUID are well-formed UUIDs, but not ids we issue.
        assert!(MessageId::parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8").is_none());
        assert!(MessageId::parse("00000000-0000-0000-0000-000000000000").is_none());
        assert!(MessageId::parse("../../etc/passwd").is_none());
        assert!(MessageId::parse("").is_none());
    }

    #[test]
    fn lookup_and_key_are_independent_and_hide_the_id() {
        let id = MessageId::generate().unwrap();
        let lookup = id.lookup();
        assert_eq!(lookup.len(), 64);
        assert_ne!(hex::decode(&lookup).unwrap(), id.body_key().to_vec());
        assert!(!lookup.contains(&id.to_string().replace('-', "")));
        assert_eq!(format!("{id:?}"), "MessageId(***)");
    }
}
