//! P-256 public keys as JSON Web Keys (RFC 7517/7518 §6.2) and their RFC 7638 thumbprints,
//! which serve as key ids.

use super::{JoseError, b64};
use p256::PublicKey;
use p256::elliptic_curve::sec1::ToSec1Point;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An EC public JWK. Unknown members are ignored on input; a private `d` is never written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcJwk {
    /// Always `EC`.
    pub kty: String,
    /// Always `P-256`.
    pub crv: String,
    /// The affine x coordinate, 32 bytes, base64url.
    pub x: String,
    /// The affine y coordinate, 32 bytes, base64url.
    pub y: String,
    /// Key id, when the key is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm, when published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
}

impl EcJwk {
    /// The JWK of `key`, without `kid` or `alg`.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let point = key.to_sec1_point(false);
        // An uncompressed point always has both coordinates.
        let (x, y) = (
            point.x().map(|x| b64::encode(x)).unwrap_or_default(),
            point.y().map(|y| b64::encode(y)).unwrap_or_default(),
        );
        Self {
            kty: "EC".to_owned(),
            crv: "P-256".to_owned(),
            x,
            y,
            kid: None,
            alg: None,
        }
    }

    /// The public key, checked to be a point on P-256 (an off-curve point would let a client
    /// extract our private key through an invalid-curve attack).
    pub fn to_public_key(&self) -> Result<PublicKey, JoseError> {
        if self.kty != "EC" || self.crv != "P-256" {
            return Err(JoseError::Unsupported(format!(
                "key type {} {}",
                super::shown(&self.kty),
                super::shown(&self.crv)
            )));
        }
        let x = b64::decode(&self.x, "jwk x")?;
        let y = b64::decode(&self.y, "jwk y")?;
        if x.len() != 32 || y.len() != 32 {
            return Err(JoseError::Key("P-256 coordinates are 32 bytes"));
        }
        let mut sec1 = Vec::with_capacity(65);
        sec1.push(0x04);
        sec1.extend_from_slice(&x);
        sec1.extend_from_slice(&y);
        PublicKey::from_sec1_bytes(&sec1).map_err(|_| JoseError::Key("point is not on P-256"))
    }

    /// The RFC 7638 thumbprint: base64url SHA-256 of the required members in lexical order.
    pub fn thumbprint(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
            self.crv, self.kty, self.x, self.y
        );
        b64::encode(&Sha256::digest(canonical.as_bytes()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_and_an_off_curve_point_is_refused() {
        let jwk: EcJwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","x":"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0","y":"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}"#,
        )
        .unwrap();
        let key = jwk.to_public_key().unwrap();
        assert_eq!(EcJwk::from_public_key(&key), jwk);

        let mut bad = jwk.clone();
        bad.y = "TLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps".to_owned();
        assert!(matches!(bad.to_public_key(), Err(JoseError::Key(_))));
        bad.crv = "P-384".to_owned();
        assert!(matches!(
            bad.to_public_key(),
            Err(JoseError::Unsupported(_))
        ));
    }

    #[test]
    fn the_thumbprint_matches_an_independent_computation() {
        // RFC 7638 gives only an RSA example; this P-256 value was computed with Python's
        // jwcrypto: JWK(**jwk).thumbprint().
        let jwk: EcJwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","x":"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0","y":"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}"#,
        )
        .unwrap();
        assert_eq!(
            jwk.thumbprint(),
            "_GK0r6GCoJt9zcssg9lay4obIxgCq05ntiRymRHADSU"
        );
    }
}
