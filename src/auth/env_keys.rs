//! Keys given in environment variables, seed 000's deployment style: `ADMIN_API_KEY`,
//! `USER_API_KEY` and `TERMUX_API_KEY` become admin, user and device keys. They are hashed
//! when read and the plaintext is zeroized; they are never written to the store or a log.

use super::key_format;
use super::policy::Role;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The variables read, with the role each grants.
pub const VARIABLES: &[(&str, Role)] = &[
    ("ADMIN_API_KEY", Role::Admin),
    ("USER_API_KEY", Role::User),
    ("TERMUX_API_KEY", Role::Device),
];

/// Shortest accepted environment key: a short key is guessable, so refuse to start with one.
pub const MIN_LEN: usize = 32;

/// A problem with an environment key; names the variable, never the value.
#[derive(Debug, thiserror::Error)]
pub enum EnvKeyError {
    /// Shorter than [`MIN_LEN`] or not printable ASCII.
    #[error("{0} must be at least {MIN_LEN} printable ASCII characters without spaces")]
    Weak(&'static str),
    /// Two variables hold the same key, so its role would be ambiguous.
    #[error("{0} and {1} hold the same key")]
    Duplicate(&'static str, &'static str),
}

/// One environment key, as a hash.
#[derive(Clone)]
pub struct EnvKey {
    /// The variable it came from; also the owner name and key id shown to the caller.
    pub variable: &'static str,
    /// The role it grants.
    pub role: Role,
    hash: [u8; 32],
}

impl std::fmt::Debug for EnvKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EnvKey({}, {})", self.variable, self.role)
    }
}

/// The set of environment keys in effect.
#[derive(Debug, Clone, Default)]
pub struct EnvKeys {
    keys: Vec<EnvKey>,
}

impl EnvKeys {
    /// No environment keys.
    pub fn none() -> Self {
        Self::default()
    }

    /// Read the variables from the process environment.
    pub fn from_env() -> Result<Self, EnvKeyError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read the variables through `lookup` (the environment, or a test's map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, EnvKeyError> {
        let mut keys: Vec<EnvKey> = Vec::new();
        for &(variable, role) in VARIABLES {
            let Some(value) = lookup(variable).map(Zeroizing::new) else {
                continue;
            };
            if value.is_empty() {
                continue;
            }
            if value.len() < MIN_LEN
                || value.len() > key_format::MAX_LEGACY_LEN
                || !value.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(EnvKeyError::Weak(variable));
            }
            let hash = key_format::hash(&value);
            if let Some(other) = keys.iter().find(|k| bool::from(k.hash.ct_eq(&hash))) {
                return Err(EnvKeyError::Duplicate(other.variable, variable));
            }
            keys.push(EnvKey {
                variable,
                role,
                hash,
            });
        }
        Ok(Self { keys })
    }

    /// The key whose hash equals `hash`. Every entry is compared, in constant time each.
    pub fn find(&self, hash: &[u8; 32]) -> Option<&EnvKey> {
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.hash.ct_eq(hash)) {
                found = Some(key);
            }
        }
        found
    }

    /// Names of the variables in effect, for the start-up log.
    pub fn variables(&self) -> Vec<&'static str> {
        self.keys.iter().map(|k| k.variable).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_set_variable_is_found_by_the_hash_of_its_value() {
        let keys =
            EnvKeys::from_lookup(|n| (n == "ADMIN_API_KEY").then(|| ADMIN.to_owned())).unwrap();
        let found = keys.find(&key_format::hash(ADMIN)).unwrap();
        assert_eq!((found.variable, found.role), ("ADMIN_API_KEY", Role::Admin));
        assert!(
            keys.find(&key_format::hash("something else entirely, 32 chars+"))
                .is_none()
        );
    }

    #[test]
    fn a_short_key_is_refused_by_variable_name_without_the_value() {
        let err = EnvKeys::from_lookup(|n| (n == "USER_API_KEY").then(|| "short".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("USER_API_KEY"));
        assert!(!err.contains("short"));
    }

    #[test]
    fn the_same_key_in_two_variables_is_refused() {
        let err = EnvKeys::from_lookup(|_| Some(ADMIN.to_owned())).unwrap_err();
        assert!(matches!(
            err,
            EnvKeyError::Duplicate("ADMIN_API_KEY", "USER_API_KEY")
        ));
    }

    #[test]
    fn debug_shows_no_hash() {
        let keys =
            EnvKeys::from_lookup(|n| (n == "ADMIN_API_KEY").then(|| ADMIN.to_owned())).unwrap();
        assert_eq!(
            format!("{keys:?}"),
            "EnvKeys { keys: [EnvKey(ADMIN_API_KEY, admin)] }"
        );
    }
}
