//! Which credential a request presents. One decides: an RFC 9421 signature
//! (`Signature-Input` or `Signature`), seed 001's `X-Token-Hash`, then `X-API-Key` /
//! `Authorization: Bearer` (an API key, or a session token `pcs_…`), then the session
//! cookie. A bad one is never "rescued" by another, and an ambiguous request (a key in both
//! headers, two session cookies) is refused rather than one of its credentials picked.

use super::refusal::Failure;
use crate::auth::signature::SignatureError;
use http::{HeaderMap, HeaderName, header};

// Header names as constants: looking one up by `&str` parses the name on every request.
static SIGNATURE_INPUT: HeaderName = HeaderName::from_static("signature-input");
static SIGNATURE: HeaderName = HeaderName::from_static("signature");
static X_TOKEN: HeaderName = HeaderName::from_static("x-token");
static X_TOKEN_HASH: HeaderName = HeaderName::from_static("x-token-hash");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Name of the web-login session cookie.
pub const SESSION_COOKIE: &str = "portcullis_session";
/// Header carrying the CSRF token on cookie-authenticated requests that change state.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The credential a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Credential<'a> {
    /// An RFC 9421 signature; its fields are parsed by `signature::rfc9421`.
    Signature,
    /// Seed 001: the API key in `X-Token`, the body's HMAC in `X-Token-Hash`.
    TokenHash {
        /// The API key.
        key: &'a str,
        /// The presented hash (hex).
        presented: &'a str,
    },
    /// A token in `X-API-Key` or `Authorization: Bearer`: an API key or a session token.
    Token {
        /// The token as sent.
        token: &'a str,
        /// Whether it came in `X-API-Key` (where a session token is not accepted).
        api_key_header: bool,
    },
    /// The session cookie of a web login.
    Cookie(&'a str),
    /// Nothing.
    None,
}

/// The credential of a request with `headers`; `cookies` says whether the session cookie is
/// looked for at all.
pub(super) fn find(headers: &HeaderMap, cookies: bool) -> Result<Credential<'_>, Failure<'static>> {
    if headers.contains_key(&SIGNATURE_INPUT) || headers.contains_key(&SIGNATURE) {
        return Ok(Credential::Signature);
    }
    if headers.contains_key(&X_TOKEN_HASH) {
        let key = header_str(headers, &X_TOKEN)?.ok_or(Failure::signature(
            SignatureError::MissingParameter("X-Token"),
        ))?;
        let presented = header_str(headers, &X_TOKEN_HASH)?.unwrap_or_default();
        return Ok(Credential::TokenHash { key, presented });
    }
    let api_key = header_str(headers, &X_API_KEY)?;
    let bearer = match header_str(headers, &header::AUTHORIZATION)? {
        None => None,
        Some(value) => {
            let (scheme, token) = value.split_once(' ').ok_or(Failure::malformed())?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(Failure::malformed());
            }
            Some(token.trim())
        }
    };
    match (api_key, bearer) {
        (Some(_), Some(_)) => return Err(Failure::malformed()),
        (Some(token), None) => {
            return Ok(Credential::Token {
                token,
                api_key_header: true,
            });
        }
        (None, Some(token)) => {
            return Ok(Credential::Token {
                token,
                api_key_header: false,
            });
        }
        (None, None) => {}
    }
    if cookies && let Some(token) = single_cookie(headers, SESSION_COOKIE)? {
        return Ok(Credential::Cookie(token));
    }
    Ok(Credential::None)
}

/// A header as text; one that is not visible ASCII is a malformed credential.
pub(super) fn header_str(
    headers: &HeaderMap,
    name: impl header::AsHeaderName,
) -> Result<Option<&str>, Failure<'static>> {
    headers
        .get(name)
        .map(|v| v.to_str().map_err(|_| Failure::malformed()))
        .transpose()
}

/// The value of cookie `name` when it appears once; two of them (a cookie tossed in from a
/// sibling domain beside ours, say) are refused rather than one picked.
fn single_cookie<'a>(
    headers: &'a HeaderMap,
    name: &str,
) -> Result<Option<&'a str>, Failure<'static>> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v.trim());
    let first = found.next();
    if found.next().is_some() {
        return Err(Failure::malformed());
    }
    Ok(first)
}
