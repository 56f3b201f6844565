//! Authentication and authorisation. Services never parse credentials: the HTTP layer hands
//! the [`Authenticator`] the facts of a request, gets a [`Principal`] back, and routes
//! declare the [`Permission`] they need.

/// The decision on a request: which credential, lockout, limits, permission, and the record.
pub mod authenticator;
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
pub mod session_cache;
pub mod signature;
pub mod verifier;

pub use authenticator::{
    Admitted, Authenticator, Denial, Denied, KeyCheck, RateView, RequestBody, RequestFacts,
    VerifyCode,
};
pub use authn_policy::AuthnPolicy;
pub use env_keys::EnvKeys;
pub use keys::{KeyError, KeyManager};
pub use policy::{Permission, Role};
pub use principal::{AuthMethod, KeySource, Principal};
pub use session::{SessionKey, SessionManager};
pub use verifier::{AuthError, KeyVerifier, Refusal};
