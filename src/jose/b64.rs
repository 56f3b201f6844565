//! base64url without padding (RFC 7515 §2), strict: padding, other alphabets and non-zero
//! trailing bits are refused, so one object has exactly one encoding.

use super::JoseError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Encode.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decode, naming the part in the error.
pub fn decode(text: &str, part: &'static str) -> Result<Vec<u8>, JoseError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JoseError::Malformed(part))
}
