//! How authentication's denials are answered.

use super::ApiError;
use crate::auth::authenticator::{BodyError, Denial};
use crate::auth::keys::rfc3339;

impl From<Denial> for ApiError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::Unauthenticated => ApiError::Unauthenticated,
            Denial::Signature(err) => ApiError::Signature(err),
            Denial::SignatureRequired { rfc9421_only } => {
                ApiError::SignatureRequired { rfc9421_only }
            }
            Denial::Csrf => ApiError::Csrf,
            Denial::LockedOut(wait) => ApiError::TooManyAttempts(wait),
            Denial::RateLimited(wait) => ApiError::RateLimited(wait),
            Denial::QuotaExhausted(resets_at) => {
                ApiError::QuotaExhausted(resets_at.and_then(rfc3339))
            }
            Denial::LimiterUnavailable => ApiError::LimiterUnavailable,
            Denial::Forbidden(role) => ApiError::Forbidden(role),
            Denial::Store(err) => err.into(),
            Denial::Body(err) => err.into(),
        }
    }
}

impl From<BodyError> for ApiError {
    fn from(err: BodyError) -> Self {
        match err {
            BodyError::TooLarge => ApiError::PayloadTooLarge,
            BodyError::Unreadable | BodyError::Unavailable => {
                ApiError::BadRequest("The body could not be read".into())
            }
        }
    }
}
