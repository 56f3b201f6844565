//! JOSE, the subset the encrypted envelope needs: compact JWE with `ECDH-ES`,
//! `ECDH-ES+A256KW` or `dir` key management and `A256GCM` content encryption; compact JWS
//! with `ES256`; P-256 JSON Web Keys and key sets.
//!
//! Why this is written here rather than taken from a crate: `josekit` does ECDH-ES but links
//! OpenSSL, which would stop the binary building static; `jose-rs` is pure Rust but a month
//! old; kanidm's `compact_jwt` derives keys with HKDF instead of RFC 7518's Concat KDF and so
//! does not interoperate; `jwt-simple` encrypts only JWT claims; `biscuit` lacks ECDH-ES. The
//! subset is small (one curve, one cipher, three key-management modes), every primitive comes
//! from RustCrypto (`p256`, `aes-gcm`, `aes-kw`, `sha2`), and only the framing and the
//! Concat KDF are ours. Both are proved against the RFC 7518 Appendix C and RFC 7520 vectors
//! below and, in `tests/interop/envelope.py`, against Python's `jwcrypto` in both directions.
//!
//! Deliberately refused: `zip` (compression is a decompression-bomb and CRIME-style oracle),
//! any `crit` extension (we understand none), every other algorithm, and keys off the curve.

pub mod b64;
pub mod client;
pub mod jwe;
pub mod jwk;
pub mod jws;
mod kdf;
pub mod keyring;
mod pem_kind;

pub use jwk::EcJwk;
pub use keyring::{Keyring, ServerKey};

/// What can go wrong with a JOSE object. Decryption failures carry no detail on purpose: a
/// client must not learn which step failed (a padding or key oracle).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// Not a well-formed compact serialization, bad base64url, or bad header JSON.
    #[error("malformed JOSE object: {0}")]
    Malformed(&'static str),
    /// Well formed but asks for something we do not do (algorithm, `zip`, `crit`).
    #[error("unsupported JOSE feature: {0}")]
    Unsupported(String),
    /// The object could not be decrypted with the key we hold.
    #[error("decryption failed")]
    Decrypt,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Signature,
    /// A key is not a valid P-256 key (or not the kind needed).
    #[error("invalid key: {0}")]
    Key(&'static str),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
}

/// A header value chosen by whoever made the object, fit to quote in an error: at most 32
/// characters, control characters replaced. Errors reach clients, logs and audit records; a
/// 400 KB `alg` must not travel with them.
pub(crate) fn shown(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(32)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if value.chars().nth(32).is_some() {
        out.push('…');
    }
    out
}

/// Fill `buf` from the OS CSPRNG.
pub(crate) fn random(buf: &mut [u8]) -> Result<(), JoseError> {
    getrandom::fill(buf).map_err(|_| JoseError::Random)
}
