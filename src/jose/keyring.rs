//! The server's P-256 key pairs: the current one, and during a rotation the previous one.
//!
//! One key pair serves both ECDH key agreement (clients encrypt tokens to it) and ES256
//! signatures (of responses), as the seed's design has it. Keys are named by their RFC 7638
//! thumbprint, published at `/.well-known/jwks.json`, and a token names (`kid`) the key it
//! was made for; the response is signed with that same key, so a client verifies with the
//! key it encrypted to and a rotation never breaks a request in flight.
//!
//! Rotation without downtime: `portcullis jose rotate` writes a new `current.pem` and keeps
//! the old one as `previous.pem`; running servers notice within seconds, publish both, and
//! accept tokens for both. Once clients have fetched the new key set, `portcullis jose
//! retire` deletes `previous.pem` and the old key is refused. Keys given in the config file
//! (`[envelope] private_key`, `previous_private_key`) rotate the same way by a config change.

use super::{EcJwk, JoseError};
use crate::durable;
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use p256::{PublicKey, SecretKey};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use zeroize::Zeroizing;

/// File name of the current key under the key directory.
pub const CURRENT: &str = "current.pem";
/// File name of the previous key, present only during a rotation.
pub const PREVIOUS: &str = "previous.pem";

/// A server key pair with its id.
#[derive(Clone)]
pub struct ServerKey {
    kid: String,
    secret: SecretKey,
    signing: SigningKey,
}

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ServerKey({}, ***)", self.kid)
    }
}

impl ServerKey {
    /// A fresh key from the OS CSPRNG.
    pub fn generate() -> Result<Self, JoseError> {
        Ok(Self::from_secret(
            SecretKey::try_generate().map_err(|_| JoseError::Random)?,
        ))
    }

    /// From a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, JoseError> {
        let secret = SecretKey::from_pkcs8_pem(pem.trim())
            .or_else(|_| SecretKey::from_sec1_pem(pem.trim()))
            .map_err(|_| JoseError::Key("not a P-256 private key in PEM"))?;
        Ok(Self::from_secret(secret))
    }

    fn from_secret(secret: SecretKey) -> Self {
        let kid = EcJwk::from_public_key(&secret.public_key()).thumbprint();
        let signing = SigningKey::from(secret.clone());
        Self {
            kid,
            secret,
            signing,
        }
    }

    /// PKCS#8 PEM of the private key.
    pub fn to_pem(&self) -> Result<Zeroizing<String>, JoseError> {
        self.secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|_| JoseError::Key("cannot encode private key"))
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key, for ECDH.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The signing key, for ES256.
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The public key as published.
    pub fn public_jwk(&self) -> EcJwk {
        let mut jwk = EcJwk::from_public_key(&self.secret.public_key());
        jwk.kid = Some(self.kid.clone());
        jwk
    }
}

/// The keys in effect: the current first, then the previous during a rotation.
#[derive(Debug, Clone)]
pub struct Keyring {
    keys: Vec<ServerKey>,
}

impl Keyring {
    /// From the current key and an optional previous one.
    pub fn new(current: ServerKey, previous: Option<ServerKey>) -> Self {
        let mut keys = vec![current];
        keys.extend(previous.filter(|p| p.kid != keys[0].kid));
        Self { keys }
    }

    /// The key a token was made for; the current key when the token names none.
    pub fn find(&self, kid: Option<&str>) -> Option<&ServerKey> {
        match kid {
            None => self.keys.first(),
            Some(kid) => self.keys.iter().find(|k| k.kid == kid),
        }
    }

    /// The current key.
    pub fn current(&self) -> &ServerKey {
        &self.keys[0]
    }

    /// The public JWK Set, current key first.
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                let mut jwk = serde_json::to_value(k.public_jwk()).unwrap_or_default();
                jwk["alg"] = "ECDH-ES+A256KW".into();
                jwk
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Key-file problems, named by path.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file does not hold a usable key.
    #[error("{path}: {source}")]
    Key {
        /// The file.
        path: PathBuf,
        /// Why.
        source: JoseError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Read a key file.
pub fn read_key(path: &Path) -> Result<ServerKey, KeyFileError> {
    let pem = Zeroizing::new(std::fs::read_to_string(path).map_err(io_error(path))?);
    ServerKey::from_pem(&pem).map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })
}

/// Write `key` to `path` (mode 0600) through a synced temporary file and a rename.
fn write_key(path: &Path, key: &ServerKey) -> Result<(), KeyFileError> {
    let pem = key.to_pem().map_err(|source| KeyFileError::Key {
        path: path.to_owned(),
        source,
    })?;
    durable::replace_with_mode(path, pem.as_bytes(), Some(0o600)).map_err(io_error(path))
}

fn sync_dir(dir: &Path) -> Result<(), KeyFileError> {
    durable::sync_dir(dir).map_err(io_error(dir))
}

fn ensure_dir(dir: &Path) -> Result<(), KeyFileError> {
    durable::ensure_private_dir(dir).map_err(io_error(dir))
}

/// Load the keyring from `dir`, creating `current.pem` on first start.
pub fn load_or_create(dir: &Path) -> Result<Keyring, KeyFileError> {
    ensure_dir(dir)?;
    let current_path = dir.join(CURRENT);
    let current = match read_key(&current_path) {
        Ok(key) => key,
        Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let key = ServerKey::generate().map_err(|source| KeyFileError::Key {
                path: current_path.clone(),
                source,
            })?;
            write_key(&current_path, &key)?;
            sync_dir(dir)?;
            tracing::info!(path = %current_path.display(), kid = key.kid(), "created the envelope key");
            key
        }
        Err(err) => return Err(err),
    };
    load_previous(dir).map(|previous| Keyring::new(current, previous))
}

fn load_previous(dir: &Path) -> Result<Option<ServerKey>, KeyFileError> {
    match read_key(&dir.join(PREVIOUS)) {
        Ok(key) => Ok(Some(key)),
        Err(KeyFileError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Start a rotation: a new current key, the old one kept as previous. A `current.pem` exists
/// at every instant, so a server reloading meanwhile never finds none.
pub fn rotate(dir: &Path) -> Result<Keyring, KeyFileError> {
    let old = load_or_create(dir)?;
    let new = ServerKey::generate().map_err(|source| KeyFileError::Key {
        path: dir.join(CURRENT),
        source,
    })?;
    write_key(&dir.join(PREVIOUS), old.current())?;
    write_key(&dir.join(CURRENT), &new)?;
    sync_dir(dir)?;
    Ok(Keyring::new(new, Some(old.current().clone())))
}

/// End a rotation: forget the previous key. Returns its id, if there was one.
pub fn retire(dir: &Path) -> Result<Option<String>, KeyFileError> {
    let previous = load_previous(dir)?;
    if previous.is_some() {
        let path = dir.join(PREVIOUS);
        std::fs::remove_file(&path).map_err(io_error(&path))?;
        sync_dir(dir)?;
    }
    Ok(previous.map(|k| k.kid))
}

/// The keyring in use, replaced when the key files change (a rotation by the CLI or by
/// another tool), so that no restart is needed.
#[derive(Debug)]
pub struct LiveKeyring {
    current: RwLock<Arc<Keyring>>,
    dir: Option<PathBuf>,
    stamp: RwLock<Stamp>,
}

type Stamp = [Option<(SystemTime, u64)>; 2];

fn stamp(dir: &Path) -> Stamp {
    [CURRENT, PREVIOUS].map(|name| {
        std::fs::metadata(dir.join(name))
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
}

impl LiveKeyring {
    /// Keys fixed by configuration: never reloaded.
    pub fn fixed(keyring: Keyring) -> Self {
        Self {
            current: RwLock::new(Arc::new(keyring)),
            dir: None,
            stamp: RwLock::new([None, None]),
        }
    }

    /// Keys in `dir` (created on first start), reloaded by [`LiveKeyring::reload_if_changed`].
    pub fn from_dir(dir: &Path) -> Result<Self, KeyFileError> {
        let keyring = load_or_create(dir)?;
        Ok(Self {
            current: RwLock::new(Arc::new(keyring)),
            dir: Some(dir.to_owned()),
            stamp: RwLock::new(stamp(dir)),
        })
    }

    /// The keys now.
    pub fn get(&self) -> Arc<Keyring> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-read the key files if they changed. A file that cannot be read keeps the keys in
    /// use (and is logged), so a half-finished manual edit cannot take the service down.
    pub fn reload_if_changed(&self) {
        let Some(dir) = &self.dir else { return };
        let now = stamp(dir);
        if *self.stamp.read().unwrap_or_else(|p| p.into_inner()) == now {
            return;
        }
        let loaded = read_key(&dir.join(CURRENT))
            .and_then(|current| load_previous(dir).map(|previous| Keyring::new(current, previous)));
        match loaded {
            Ok(keyring) => {
                let kids: Vec<&str> = keyring.keys.iter().map(|k| k.kid()).collect();
                tracing::info!(?kids, "envelope keys reloaded");
                *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(keyring);
                *self.stamp.write().unwrap_or_else(|p| p.into_inner()) = now;
            }
            Err(err) => {
                tracing::warn!(error = %err, "envelope keys changed but cannot be read; keeping the keys in use")
            }
        }
    }
}

/// Parse a public key in PEM (SPKI, `BEGIN PUBLIC KEY`), as client keys are configured.
pub fn public_key_from_pem(pem: &str) -> Result<VerifyingKey, JoseError> {
    PublicKey::from_public_key_pem(pem.trim())
        .map(VerifyingKey::from)
        .map_err(|_| JoseError::Key(super::pem_kind::why_not_p256(pem)))
}

/// PEM (SPKI) of a public key, as `jose keygen` writes it.
pub fn public_key_to_pem(key: &PublicKey) -> Result<String, JoseError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|_| JoseError::Key("cannot encode public key"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_previous_key_until_retired() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("envelope");
        let live = LiveKeyring::from_dir(&keys).unwrap();
        let first = live.get().current().kid().to_owned();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(keys.join(CURRENT))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let rotated = rotate(&keys).unwrap();
        let second = rotated.current().kid().to_owned();
        assert_ne!(first, second);
        live.reload_if_changed();
        let now = live.get();
        assert_eq!(now.current().kid(), second);
        assert!(now.find(Some(&first)).is_some());
        assert_eq!(now.jwks()["keys"].as_array().unwrap().len(), 2);
        assert_eq!(now.jwks()["keys"][0]["kid"], second.as_str());
        assert!(now.jwks()["keys"][0].get("d").is_none());

        assert_eq!(retire(&keys).unwrap(), Some(first.clone()));
        live.reload_if_changed();
        assert!(live.get().find(Some(&first)).is_none());
        assert_eq!(retire(&keys).unwrap(), None);
    }

    #[test]
    fn pem_round_trips_in_both_private_formats() {
        let key = ServerKey::generate().unwrap();
        assert_eq!(format!("{key:?}"), format!("ServerKey({}, ***)", key.kid()));
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(ServerKey::from_pem(&pem).unwrap().kid(), key.kid());
        assert!(
            ServerKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
        let public = public_key_to_pem(&key.secret().public_key()).unwrap();
        assert_eq!(
            &public_key_from_pem(&public).unwrap(),
            key.signing().verifying_key()
        );
    }
}
