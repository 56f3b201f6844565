//! Login sessions (seed 001): a username and one of that user's keys buy a short-lived
//! session, so the long-lived key stops travelling with every request.
//!
//! The session token is `pcs_<session id>_<64 hex>`, where the hex part is
//! `HMAC-SHA256(session key, "portcullis-session-v1" ‖ 0 ‖ id ‖ 0 ‖ salt)`. The token is never
//! stored: the store keeps the public id and a random salt, and the server re-derives the
//! token when it needs it — to check a bearer token, or as the HMAC key of a signed request,
//! which is why a hash alone would not do. The session key (32 random bytes) lives in
//! `<data_dir>/session.key` (mode 0600) or in `auth.session_secret` for several nodes.

use super::key_format;
use super::principal::{AuthMethod, Principal};
use super::session_cache::{Keyed, SessionCache};
use super::verifier::{AuthError, KeyVerifier, Refusal};
use crate::clock::Clock;
use crate::secret::{SecretKey, SecretString};
use crate::store::{KeyState, NewSession, SessionRecord, SessionScope, Store, StoreError};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Prefix of session tokens.
pub const PREFIX: &str = "pcs_";
const ID_LEN: usize = 16;
const MAC_HEX_LEN: usize = 64;

/// Why a login failed. For the audit trail only: the client always sees "Invalid credentials".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginFailure {
    /// `username` or `key` missing or empty.
    MissingField,
    /// The key was refused.
    BadKey(Refusal),
    /// The key is valid but belongs to someone else.
    WrongUser,
    /// Environment keys have no stored owner and cannot open sessions.
    EnvironmentKey,
}

impl LoginFailure {
    /// Stable name for the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginFailure::MissingField => "missing_field",
            LoginFailure::BadKey(reason) => reason.as_str(),
            LoginFailure::WrongUser => "wrong_user",
            LoginFailure::EnvironmentKey => "environment_key",
        }
    }
}

/// Session errors.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Login refused.
    #[error("invalid credentials")]
    Login(LoginFailure),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The OS random generator failed.
    #[error("random generator failed: {0}")]
    Random(#[from] getrandom::Error),
}

/// A successful login.
#[derive(Debug)]
pub struct Login {
    /// The session token, shown once.
    pub token: SecretString,
    /// The stored session.
    pub record: SessionRecord,
    /// CSRF token for cookie-authenticated requests.
    pub csrf: SecretString,
    /// Sessions ended by the one-session rule.
    pub superseded: Vec<String>,
    /// The key's principal.
    pub principal: Principal,
}

/// The 32-byte secret from which session tokens and CSRF tokens are derived.
pub type SessionKey = SecretKey;

/// HMAC-SHA256 of `parts`, each followed by a zero byte (so parts cannot run together).
fn mac(key: &SecretKey, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key.bytes()[..])
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    for part in parts {
        mac.update(part);
        mac.update(&[0]);
    }
    mac.finalize().into_bytes().into()
}

/// Opens, checks and ends sessions.
#[derive(Clone)]
pub struct SessionManager {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    verifier: Arc<KeyVerifier>,
    key: SessionKey,
    ttl: Duration,
    single: bool,
    cache: Arc<SessionCache>,
}

impl SessionManager {
    /// A manager; `single` ends a user+key's older sessions at each login. `cache` holds
    /// session records read from the store (see `session_cache` for what may go stale).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        verifier: Arc<KeyVerifier>,
        key: SessionKey,
        ttl: Duration,
        single: bool,
        cache: SessionCache,
    ) -> Self {
        Self {
            store,
            clock,
            verifier,
            key,
            ttl,
            single,
            cache: Arc::new(cache),
        }
    }

    /// Log in with a username and one of that user's keys. Every failure costs the same
    /// work: the username is only compared after the key has been checked, so an unknown
    /// user and a wrong key take the same path.
    pub async fn login(&self, username: &str, key: &str) -> Result<Login, SessionError> {
        if username.is_empty() || key.is_empty() {
            // Still hash the key, so a missing username costs what a wrong one does.
            let _ = key_format::hash(key);
            return Err(SessionError::Login(LoginFailure::MissingField));
        }
        let principal = match self.verifier.verify(key).await {
            Ok(principal) => principal,
            Err(AuthError::Refused(reason)) => {
                return Err(SessionError::Login(LoginFailure::BadKey(reason)));
            }
            Err(AuthError::Store(err)) => return Err(err.into()),
        };
        if principal.source != super::KeySource::Store {
            return Err(SessionError::Login(LoginFailure::EnvironmentKey));
        }
        if principal.owner != username {
            return Err(SessionError::Login(LoginFailure::WrongUser));
        }
        let mut salt = vec![0u8; 32];
        getrandom::fill(&mut salt)?;
        let id = random_id()?;
        let now = self.clock.unix();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let (record, superseded) = self
            .store
            .create_session(
                NewSession {
                    id,
                    salt,
                    owner_id: principal.owner_id.clone(),
                    key_id: principal.key_id.clone(),
                    created_at: now,
                    expires_at: now.saturating_add(ttl),
                },
                self.single,
            )
            .await?;
        self.cache.changed();
        Ok(Login {
            token: self.token_for(&record),
            csrf: SecretString::new(self.csrf_for(&record.id)),
            record,
            superseded,
            principal,
        })
    }

    /// The token of a session (derived, never stored).
    pub fn token_for(&self, record: &SessionRecord) -> SecretString {
        let mac = mac(
            &self.key,
            &[b"portcullis-session-v1", record.id.as_bytes(), &record.salt],
        );
        SecretString::new(format!("{PREFIX}{}_{}", record.id, hex::encode(mac)))
    }

    /// The CSRF token of a session: required in `X-CSRF-Token` on state-changing requests
    /// authenticated by cookie.
    pub fn csrf_for(&self, session_id: &str) -> String {
        hex::encode(mac(
            &self.key,
            &[b"portcullis-csrf-v1", session_id.as_bytes()],
        ))
    }

    /// Whether `presented` is the CSRF token of `session_id`, compared in constant time.
    pub fn csrf_matches(&self, session_id: &str, presented: &str) -> bool {
        bool::from(
            self.csrf_for(session_id)
                .as_bytes()
                .ct_eq(presented.as_bytes()),
        )
    }

    /// Whether `token` looks like a session token (so it is not tried as an API key).
    pub fn is_session_token(token: &str) -> bool {
        token.starts_with(PREFIX)
    }

    /// A live session and its key's principal, by public id. The key must still be usable:
    /// a revoked, disabled or expired key ends its sessions' power at once.
    pub async fn live(
        &self,
        session_id: &str,
        method: AuthMethod,
    ) -> Result<(Arc<SessionRecord>, Principal), AuthError> {
        if session_id.len() != ID_LEN
            || !session_id
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
        {
            return Err(AuthError::Refused(Refusal::Unknown));
        }
        let generation = self.cache.generation(self.verifier.generation());
        let record = match self.cache.session(session_id, generation) {
            Some(record) => record,
            None => {
                let record = Arc::new(
                    self.store
                        .get_session(session_id)
                        .await?
                        .ok_or(AuthError::Refused(Refusal::Unknown))?,
                );
                self.cache.put_session(Arc::clone(&record), generation);
                record
            }
        };
        if !record.is_live(self.clock.unix()) {
            return Err(AuthError::Refused(Refusal::Expired));
        }
        let mut principal = self.verifier.principal_for_key(&record.key_id).await?;
        principal.session_id = Some(record.id.clone());
        principal.method = method;
        Ok((record, principal))
    }

    /// Authenticate a session token (bearer or cookie).
    pub async fn authenticate(
        &self,
        token: &str,
        method: AuthMethod,
    ) -> Result<Principal, AuthError> {
        let rest = token
            .strip_prefix(PREFIX)
            .ok_or(AuthError::Refused(Refusal::Malformed))?;
        let (id, mac) = rest
            .split_once('_')
            .ok_or(AuthError::Refused(Refusal::Malformed))?;
        if mac.len() != MAC_HEX_LEN {
            return Err(AuthError::Refused(Refusal::Malformed));
        }
        let (record, principal) = self.live(id, method).await?;
        let expected = self.token_for(&record);
        if !bool::from(expected.expose().as_bytes().ct_eq(token.as_bytes())) {
            return Err(AuthError::Refused(Refusal::WrongSecret));
        }
        Ok(principal)
    }

    /// Sessions opened with `key_id`, with their tokens (for seed 001's token hash), newest
    /// first: from the cache unless `fresh`, so a caller that found no match in a cached list
    /// can read again before refusing (a session just opened on another node). The list may
    /// hold sessions that have expired since it was read: check each with
    /// [`SessionRecord::is_live`].
    pub async fn live_for_key(
        &self,
        key_id: &str,
        fresh: bool,
    ) -> Result<Arc<[Keyed]>, StoreError> {
        let generation = self.cache.generation(self.verifier.generation());
        if !fresh && let Some(list) = self.cache.for_key(key_id, generation) {
            return Ok(list);
        }
        let sessions = self
            .store
            .live_sessions_for_key(key_id, self.clock.unix())
            .await?;
        let list: Arc<[Keyed]> = sessions
            .into_iter()
            .map(|s| {
                let t = self.token_for(&s);
                (s, t)
            })
            .collect();
        self.cache
            .put_for_key(key_id, Arc::clone(&list), generation);
        Ok(list)
    }

    /// End the live sessions in `scope`.
    pub async fn end(&self, scope: &SessionScope, reason: &str) -> Result<Vec<String>, StoreError> {
        let ended = self
            .store
            .end_sessions(scope, self.clock.unix(), reason)
            .await?;
        if !ended.is_empty() {
            self.cache.changed();
        }
        Ok(ended)
    }

    /// Sessions for the admin view.
    pub async fn list(
        &self,
        owner: Option<&str>,
        live_only: bool,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let live_at = live_only.then(|| self.clock.unix());
        self.store.list_sessions(owner, live_at, limit).await
    }

    /// The current time, for views.
    pub fn now(&self) -> i64 {
        self.clock.unix()
    }

    /// The current time as a date-time (quota periods).
    pub fn clock_now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// Whether a key state still allows its sessions.
    pub fn key_allows(state: KeyState) -> bool {
        state == KeyState::Active
    }
}

fn random_id() -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(ID_LEN);
    let mut buf = [0u8; 32];
    while out.len() < ID_LEN {
        getrandom::fill(&mut buf)?;
        for &b in &buf {
            // 252 = 36 × 7: reject above it to avoid modulo bias.
            if b < 252 && out.len() < ID_LEN {
                out.push(char::from(ALPHABET[usize::from(b) % 36]));
            }
        }
    }
    Ok(out)
}
