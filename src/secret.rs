//! Secret material is held in types that zeroize their memory when dropped and whose `Debug`
//! and `Display` print `***`, so that a stray `{:?}` in a log line cannot leak a key.

use std::fmt;
use zeroize::Zeroizing;

/// A secret string: an API key in plaintext, shown to its owner exactly once.
#[derive(Clone)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wrap a string that must never be printed.
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The plaintext, for the single place that must hand it out (creation output) or hash it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Read from configuration as a plain string.
impl<'de> serde::Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(SecretString::new)
    }
}

/// Serialized only as `***`: settings are serialized for defaults and diagnostics, never to
/// hand a secret on.
impl serde::Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("***")
    }
}

/// A 32-byte key (session derivation, audit chain). Zeroized on drop; never printed.
#[derive(Clone)]
pub struct SecretKey(std::sync::Arc<Zeroizing<[u8; 32]>>);

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

impl SecretKey {
    /// From raw bytes, taken over without a copy left behind.
    pub fn new(bytes: Zeroizing<[u8; 32]>) -> Self {
        Self(std::sync::Arc::new(bytes))
    }

    /// From 64 hex characters.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), &mut bytes[..]).ok()?;
        Some(Self::new(bytes))
    }

    /// The key bytes, for the MAC that uses them.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Read `path`, or create it with a fresh random key (mode 0600, synced).
    pub fn load_or_create(path: &std::path::Path) -> std::io::Result<Self> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&text).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "key file is not 64 hex characters",
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                getrandom::fill(&mut bytes[..]).map_err(std::io::Error::other)?;
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)?;
                file.write_all(Zeroizing::new(hex::encode(&bytes[..])).as_bytes())?;
                file.sync_all()?;
                Ok(Self::new(bytes))
            }
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let secret = SecretString::new("pcl_supersecret".to_owned());
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(secret.expose(), "pcl_supersecret");
    }
}
