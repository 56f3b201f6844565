//! Authentication and authorisation. Services never parse credentials: the HTTP layer asks
//! [`KeyVerifier`] for a [`Principal`], and routes declare the [`Permission`] they need.

/// What shapes authentication: signed groups, accepted credentials, the signature window.
pub mod authn_policy;
pub mod cache;
pub mod env_keys;
pub mod envelope;
pub mod key_format;
pub mod keys;
pub mod lockout;
pub mod policy;
pub mod principal;
pub mod session;
pub mod signature;
pub mod verifier;

pub use env_keys::EnvKeys;
pub use keys::{KeyError, KeyManager};
pub use policy::{Permission, Role};
pub use principal::{AuthMethod, KeySource, Principal};
pub use session::{SessionKey, SessionManager};
pub use verifier::{AuthError, KeyVerifier, Refusal};
