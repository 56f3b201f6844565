//! Signed requests: RFC 9421 and seed 001's X-Token-Hash. Each runs its cheap checks, then
//! counts the key's limit, and only then reads the body and does the work that grows with
//! it.

use super::denial::Denial;
use super::refusal::Failure;
use super::request::{BodyError, RequestBody, RequestFacts};
use super::{Admitted, Authenticator};
use crate::auth::signature::replay::Remember;
use crate::auth::signature::{SignatureError, rfc9421, token_hash};
use crate::auth::{AuthError, AuthMethod, Refusal, key_format};
use bytes::Bytes;
use std::net::IpAddr;

impl Authenticator {
    /// RFC 9421: parse and check the signature's parameters (cheap), find the session,
    /// verify the HMAC over the signature base (one HMAC), then count the key's limit, and
    /// only then read the body, check its digest and remember the nonce.
    pub(super) async fn rfc9421<'a>(
        &'a self,
        facts: &RequestFacts<'_>,
        body: &mut impl RequestBody,
        group: &'a str,
    ) -> Result<Admitted<'a>, Failure<'a>> {
        let now = self.sessions.now();
        let claim = rfc9421::claim(
            &rfc9421::RequestParts {
                method: facts.method,
                uri: facts.uri,
                headers: facts.headers,
                scheme: facts.scheme.unwrap_or(self.policy.scheme),
            },
            now,
            self.policy.window,
        )
        .map_err(Failure::signature)?;
        let (record, principal) = match self
            .sessions
            .live(&claim.keyid, AuthMethod::Signature)
            .await
        {
            Ok(found) => found,
            Err(AuthError::Refused(Refusal::Unknown)) => {
                return Err(Failure::signature(SignatureError::UnknownSession));
            }
            // It existed: ended, expired, or its key is no longer usable.
            Err(AuthError::Refused(_)) => {
                return Err(Failure::signature(SignatureError::SessionEnded));
            }
            Err(err) => return Err(Failure::from_auth(err, None)),
        };
        let token = self.sessions.token_for(&record);
        rfc9421::verify(&claim, token.expose().as_bytes()).map_err(Failure::signature)?;
        let rate = self.limit_key(&principal, group).await?;
        let body = read(body).await?;
        rfc9421::check_body(&claim, &body).map_err(Failure::signature)?;
        // Nonces are shared through Redis when it is configured, so a request captured on one
        // node cannot be replayed on another; otherwise (or while Redis is down) this node's
        // memory decides, where each key has its own share.
        let value = format!("{}:{}", claim.keyid, claim.nonce);
        match self
            .replay
            .remember_shared(&self.limiter, "nonce", &principal.key_id, &value)
            .await
        {
            Remember::Fresh => {}
            Remember::Replay => return Err(Failure::signature(SignatureError::Replayed)),
            Remember::Full => return Err(Failure::signature(SignatureError::ReplayCacheFull)),
        }
        Ok(Admitted { principal, rate })
    }

    /// Seed 001's X-Token-Hash: the key in `X-Token` is checked (cheap), the key's limit
    /// counted and the address's checked, and only then is the body hashed, at most
    /// `token_hash::MAX_WORK_BYTES` for the whole request.
    pub(super) async fn token_hash<'a>(
        &'a self,
        facts: &RequestFacts<'_>,
        body: &mut impl RequestBody,
        group: &'a str,
        key: &str,
        presented: &str,
    ) -> Result<Admitted<'a>, Failure<'a>> {
        let prefix = key_format::public_prefix(key);
        let mut principal = self
            .verifier
            .verify(key)
            .await
            .map_err(|err| Failure::from_auth(err, prefix.clone()))?;
        let rate = self.limit_key(&principal, group).await?;
        if let Some(ip) = facts.client {
            self.address_has_room(ip).await?;
        }
        let body = read(body).await?;
        if body.len() > token_hash::MAX_BODY {
            return Err(Failure::signature(SignatureError::BodyTooLarge));
        }
        let now = self.sessions.now();
        // Sessions hashed in all, across both reads below: the request's work bound.
        let mut budget = token_hash::sessions_within_budget(body.len(), self.policy.window);
        let mut tried: Vec<String> = Vec::new();
        let mut any_live = false;
        let mut fresh = false;
        let session = loop {
            let sessions = self
                .sessions
                .live_for_key(&principal.key_id, fresh)
                .await
                .map_err(|err| Failure::from_auth(err.into(), prefix.clone()))?;
            let mut found = None;
            for (session, token) in sessions.iter().filter(|(s, _)| s.is_live(now)) {
                any_live = true;
                if budget == 0 || tried.contains(&session.id) {
                    continue;
                }
                budget -= 1;
                tried.push(session.id.clone());
                if token_hash::matches(token.expose(), &body, presented, now, self.policy.window) {
                    found = Some(session.id.clone());
                    break;
                }
            }
            if let Some(id) = found {
                break id;
            }
            if fresh || budget == 0 {
                return Err(Failure::signature(if any_live {
                    SignatureError::Invalid
                } else {
                    // The key is good; its sessions have ended. Not a guess.
                    SignatureError::SessionEnded
                }));
            }
            // The list may have been cached: a session opened since (on another node) is
            // not in it. Read once more; only sessions not tried yet are hashed.
            fresh = true;
        };
        principal.session_id = Some(session);
        principal.method = AuthMethod::TokenHash;
        Ok(Admitted { principal, rate })
    }

    /// Whether `ip` is still within its address limit (refusals spend it), without counting
    /// this request: costly work is not done for an address that has spent it already.
    async fn address_has_room(&self, ip: IpAddr) -> Result<(), Failure<'static>> {
        match self.rates.address_has_room(&self.limiter, ip).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Limited(
                Denial::RateLimited(std::time::Duration::from_secs(1)).into(),
            )),
            Err(_) => Err(Failure::Limited(Denial::LimiterUnavailable.into())),
        }
    }
}

/// The body a signature covers. Not the client's credential failing: the body could not be
/// had (too large: 413; unreadable: 400).
async fn read(body: &mut impl RequestBody) -> Result<Bytes, Failure<'static>> {
    body.read()
        .await
        .map_err(|err: BodyError| Failure::Error(err.into()))
}
