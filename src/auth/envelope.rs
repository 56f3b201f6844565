//! The encrypted envelope of the config service (seed 002), on standard JOSE so that any
//! JOSE library can be the client.
//!
//! `Authorization: Bearer <JWE>`: encrypted to a server key (`ECDH-ES+A256KW` or `ECDH-ES`,
//! `A256GCM`, `kid` naming the key); inside, a JWS (`ES256`) signed by the client's key with
//! `iss`, `iat`, `exp`, `jti` and `body_key`. The request body is a `dir`/`A256GCM` JWE under
//! `body_key`; the response is `{"data": <JWE under body_key>, "signature": <raw ES256 over
//! data>}` signed by the server key the token named.
//!
//! Checks run from cheapest to dearest, and each refusal has one status: malformed → 400;
//! no token, unknown key, undecryptable, expired or replayed → 401; bad signature or unknown
//! client → 403 (the same answer for both, so that the client list cannot be probed).

use crate::auth::signature::replay::{Remember, ReplayCache};
use crate::clock::Clock;
use crate::config::ClientKeySettings;
use crate::jose::jwe::{Jwe, KeyAlg};
use crate::jose::jws::{self, Jws};
use crate::jose::keyring::{LiveKeyring, public_key_from_pem};
use crate::jose::{JoseError, ServerKey, b64, jwe};
use crate::limits::Limiter;
use p256::ecdsa::VerifyingKey;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// A configured client.
#[derive(Debug, Clone)]
pub struct EnvelopeClient {
    /// Its name: the `iss` of its tokens.
    pub name: String,
    key: VerifyingKey,
    files: BTreeSet<String>,
    actions: Option<BTreeSet<String>>,
}

impl EnvelopeClient {
    /// Whether it may use the file entry `name`.
    pub fn may_use_file(&self, name: &str) -> bool {
        self.files.contains(name)
    }

    /// Whether it may use `action`.
    pub fn may_use_action(&self, action: &str) -> bool {
        self.actions.as_ref().is_none_or(|a| a.contains(action))
    }
}

/// Longest token accepted, in bytes. A token (a JWE around a signed JWS of a few claims) is
/// about 1 KB; anything near this is not one, and is refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// No `Authorization: Bearer` header.
    #[error("Authorization header with a Bearer token required")]
    Missing,
    /// Not a well-formed token (or claims missing).
    #[error("{0}")]
    Malformed(String),
    /// Not encrypted to a key we hold, or tampered with.
    #[error("token cannot be decrypted")]
    Undecryptable,
    /// Outside its validity window.
    #[error("token expired or not yet valid")]
    Expired,
    /// Made to be valid for longer than `envelope.max_token_lifetime` allows: a client
    /// setting, not a clock problem, so said apart.
    #[error("token lives too long: exp - iat may be at most {max_seconds} s")]
    TooLong {
        /// The longest lifetime accepted, in seconds.
        max_seconds: i64,
    },
    /// Its `jti` was used before.
    #[error("token already used")]
    Replayed,
    /// Its signature does not verify with the key of its issuer, or the issuer is unknown.
    #[error("token signature could not be verified")]
    Signature,
    /// Replay protection cannot answer (memory full, or Redis down with fail-closed).
    #[error("replay protection unavailable")]
    Unavailable,
}

impl EnvelopeError {
    /// A stable name for logs and the audit trail: bounded, never a value the client chose.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::Undecryptable => "undecryptable",
            Self::Expired => "expired",
            Self::TooLong { .. } => "too_long",
            Self::Replayed => "replayed",
            Self::Signature => "signature",
            Self::Unavailable => "unavailable",
        }
    }
}

fn malformed(err: JoseError) -> EnvelopeError {
    EnvelopeError::Malformed(format!("token: {err}"))
}

#[derive(Deserialize)]
struct Issuer {
    iss: String,
}

/// The claims' copy of the body key is a plain `String`: wiped on drop, on every path.
impl Drop for Claims {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.body_key);
    }
}

#[derive(Deserialize)]
struct Claims {
    iat: i64,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
    body_key: String,
}

/// A token that passed every check: who sent it, and the key for this exchange.
pub struct Opened {
    /// The client.
    pub client: Arc<EnvelopeClient>,
    /// The single-use key for the request and response bodies.
    body_key: Zeroizing<[u8; 32]>,
    /// The server key the token was encrypted to; it signs the response.
    server_key: ServerKey,
    /// The token id.
    pub jti: String,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("client", &self.client.name)
            .field("jti", &self.jti)
            .field("server_key", &self.server_key.kid())
            .field("body_key", &"***")
            .finish()
    }
}

impl Opened {
    /// Decrypt the request body (`dir`, `A256GCM`, under the body key).
    pub fn open_body(&self, body: &[u8]) -> Result<Zeroizing<Vec<u8>>, JoseError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| JoseError::Malformed("body is not a compact JWE"))?;
        let parsed = Jwe::parse(text.trim())?;
        parsed.decrypt_dir(&self.body_key[..])
    }

    /// Seal a response: `data` is a fresh-IV JWE under the body key, `signature` the raw
    /// ES256 signature of `data`'s bytes by the server key the token named.
    pub fn seal(&self, plaintext: &[u8]) -> Result<serde_json::Value, JoseError> {
        let data = jwe::encrypt_dir(plaintext, &self.body_key)?;
        let signature = jws::sign_raw(data.as_bytes(), self.server_key.signing());
        Ok(serde_json::json!({ "data": data, "signature": b64::encode(&signature) }))
    }
}

/// Verifies tokens.
pub struct EnvelopeVerifier {
    keyring: Arc<LiveKeyring>,
    clients: BTreeMap<String, Arc<EnvelopeClient>>,
    replay: ReplayCache,
    limiter: Arc<Limiter>,
    clock: Arc<dyn Clock>,
    max_lifetime: i64,
    skew: i64,
}

impl std::fmt::Debug for EnvelopeVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeVerifier")
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A client entry that cannot be used, named.
#[derive(Debug, thiserror::Error)]
#[error("client_keys.{client}: {reason}")]
pub struct ClientConfigError {
    /// The client.
    pub client: String,
    /// What is wrong.
    pub reason: String,
}

/// Everything the verifier needs besides the clients.
pub struct EnvelopeParts {
    /// Server keys.
    pub keyring: Arc<LiveKeyring>,
    /// Shared replay memory when Redis is configured.
    pub limiter: Arc<Limiter>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Longest `exp - iat`.
    pub max_lifetime: Duration,
    /// Accepted clock difference.
    pub skew: Duration,
    /// Token ids remembered at most in memory.
    pub replay_capacity: usize,
    /// Where token ids are remembered for every node when there is no Redis (a shared
    /// database); `None`: this node's memory.
    pub shared_nonces: Option<Arc<dyn crate::store::NonceStore>>,
}

impl EnvelopeVerifier {
    /// Build from `[client_keys]`; `known_file` and `known_action` check every name.
    pub fn new(
        parts: EnvelopeParts,
        clients: &BTreeMap<String, ClientKeySettings>,
        known_file: &dyn Fn(&str) -> bool,
        known_action: &dyn Fn(&str) -> bool,
    ) -> Result<Self, ClientConfigError> {
        let mut by_name = BTreeMap::new();
        for (name, settings) in clients {
            let fail = |reason: String| ClientConfigError {
                client: name.clone(),
                reason,
            };
            let key = public_key_from_pem(&settings.public_key).map_err(|e| fail(e.to_string()))?;
            if let Some(file) = settings.files.iter().find(|f| !known_file(f)) {
                return Err(fail(format!("file `{file}` is not in [files]")));
            }
            if let Some(action) = settings.actions.iter().flatten().find(|a| !known_action(a)) {
                return Err(fail(format!("unknown action `{action}`")));
            }
            by_name.insert(
                name.clone(),
                Arc::new(EnvelopeClient {
                    name: name.clone(),
                    key,
                    files: settings.files.iter().cloned().collect(),
                    actions: settings
                        .actions
                        .as_ref()
                        .map(|a| a.iter().cloned().collect()),
                }),
            );
        }
        let max_lifetime = parts.max_lifetime.as_secs() as i64;
        let skew = parts.skew.as_secs() as i64;
        // Each client its share, so one client's burst cannot refuse the others' tokens.
        let mut replay = ReplayCache::new(
            parts.replay_capacity,
            parts.replay_capacity / by_name.len().max(1),
            Duration::from_secs((max_lifetime + 2 * skew + 1) as u64),
        );
        if let Some(store) = parts.shared_nonces {
            replay = replay.shared_through(store, Arc::clone(&parts.clock));
        }
        Ok(Self {
            replay,
            keyring: parts.keyring,
            clients: by_name,
            limiter: parts.limiter,
            clock: parts.clock,
            max_lifetime,
            skew,
        })
    }

    /// The server's public keys as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        self.keyring.get().jwks()
    }

    /// Pick up a key rotation made on disk.
    pub fn reload_keys(&self) {
        self.keyring.reload_if_changed();
    }

    /// Whether any client is configured (the service is off otherwise).
    pub fn has_clients(&self) -> bool {
        !self.clients.is_empty()
    }

    /// Check the `Authorization` header value and open the token.
    pub async fn open(&self, authorization: Option<&str>) -> Result<Opened, EnvelopeError> {
        let token = authorization
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then_some(token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or(EnvelopeError::Missing)?;
        // Bounded before any parsing: a real token is about 1 KB.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(EnvelopeError::Malformed(format!(
                "token: longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let outer = Jwe::parse(token).map_err(malformed)?;
        if !matches!(outer.alg, KeyAlg::EcdhEs | KeyAlg::EcdhEsA256Kw) {
            return Err(EnvelopeError::Malformed(
                "token: alg must be ECDH-ES+A256KW or ECDH-ES".to_owned(),
            ));
        }
        if outer.enc != jwe::Enc::A256Gcm {
            return Err(EnvelopeError::Malformed(
                "token: enc must be A256GCM".to_owned(),
            ));
        }
        let keyring = self.keyring.get();
        let server_key = keyring
            .find(outer.header.kid.as_deref())
            .ok_or(EnvelopeError::Undecryptable)?
            .clone();
        let inner = match outer.decrypt_ecdh(server_key.secret()) {
            Ok(inner) => inner,
            Err(JoseError::Malformed(m)) => return Err(EnvelopeError::Malformed(m.to_owned())),
            Err(JoseError::Unsupported(m)) => return Err(EnvelopeError::Malformed(m)),
            Err(_) => return Err(EnvelopeError::Undecryptable),
        };
        let inner = std::str::from_utf8(&inner)
            .map_err(|_| EnvelopeError::Malformed("token: payload is not a JWS".to_owned()))?;
        let signed = Jws::parse(inner).map_err(malformed)?;
        let issuer: Issuer = serde_json::from_slice(signed.unverified_payload())
            .map_err(|_| EnvelopeError::Malformed("token: claims need `iss`".to_owned()))?;
        let client = self
            .clients
            .get(&issuer.iss)
            .ok_or(EnvelopeError::Signature)?;
        let payload = signed
            .verify(&client.key)
            .map_err(|_| EnvelopeError::Signature)?;
        let claims: Claims = serde_json::from_slice(payload).map_err(|_| {
            EnvelopeError::Malformed(
                "token: claims need iat, exp (numbers), jti and body_key (strings)".to_owned(),
            )
        })?;
        let now = self.clock.unix();
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if claims.exp <= now - self.skew
            || claims.iat > now + self.skew
            || claims.nbf.is_some_and(|nbf| nbf > now + self.skew)
            || lifetime <= 0
        {
            return Err(EnvelopeError::Expired);
        }
        if lifetime > self.max_lifetime {
            return Err(EnvelopeError::TooLong {
                max_seconds: self.max_lifetime,
            });
        }
        if claims.jti.is_empty() || claims.jti.len() > 128 {
            return Err(EnvelopeError::Malformed(
                "token: jti must be 1 to 128 characters".to_owned(),
            ));
        }
        let key_bytes =
            Zeroizing::new(b64::decode(&claims.body_key, "body_key").map_err(|_| {
                EnvelopeError::Malformed("token: body_key is not base64url".to_owned())
            })?);
        let mut body_key = Zeroizing::new([0u8; 32]);
        if key_bytes.len() != 32 {
            return Err(EnvelopeError::Malformed(
                "token: body_key must be 32 bytes".to_owned(),
            ));
        }
        body_key.copy_from_slice(&key_bytes);
        self.remember(&client.name, &claims.jti).await?;
        Ok(Opened {
            client: client.clone(),
            body_key,
            server_key,
            jti: claims.jti.clone(),
        })
    }

    /// A token id is accepted once: shared through Redis when configured, else in memory.
    async fn remember(&self, client: &str, jti: &str) -> Result<(), EnvelopeError> {
        match self
            .replay
            .remember_shared(&self.limiter, "jti", client, jti)
            .await
        {
            Remember::Fresh => Ok(()),
            Remember::Replay => Err(EnvelopeError::Replayed),
            Remember::Full => Err(EnvelopeError::Unavailable),
        }
    }
}
