//! Compact JWS (RFC 7515) with ES256 only, and the raw ES256 signature the envelope puts
//! beside its response (`r || s`, 64 bytes, RFC 7518 §3.4).

use super::{JoseError, b64};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde::Deserialize;
use zeroize::Zeroizing;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<Vec<String>>,
    #[serde(default)]
    b64: Option<bool>,
}

/// A compact JWS split into its parts; the payload is readable before verification only so
/// that the caller can pick the verification key (the `iss` claim). Nothing read from it may
/// be trusted until [`Jws::verify`] succeeds. The payload may carry a secret (the envelope's
/// `body_key`): it is zeroized on drop and never printed.
pub struct Jws<'a> {
    signing_input: &'a str,
    payload: Zeroizing<Vec<u8>>,
    signature: Vec<u8>,
}

impl std::fmt::Debug for Jws<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jws")
            .field("payload", &"***")
            .finish_non_exhaustive()
    }
}

impl<'a> Jws<'a> {
    /// Parse and check the header (`alg` must be ES256; no `crit`, no unencoded payload).
    pub fn parse(compact: &'a str) -> Result<Self, JoseError> {
        let Some((signing_input, signature)) = compact.rsplit_once('.') else {
            return Err(JoseError::Malformed("a compact JWS has three parts"));
        };
        let Some((header, payload)) = signing_input.split_once('.') else {
            return Err(JoseError::Malformed("a compact JWS has three parts"));
        };
        if payload.contains('.') {
            return Err(JoseError::Malformed("a compact JWS has three parts"));
        }
        let header: Header = serde_json::from_slice(&b64::decode(header, "JWS header")?)
            .map_err(|_| JoseError::Malformed("JWS header is not a JSON object with alg"))?;
        if header.alg != "ES256" {
            return Err(JoseError::Unsupported(format!(
                "alg {}",
                super::shown(&header.alg)
            )));
        }
        if header.crit.is_some() || header.b64.is_some() {
            return Err(JoseError::Unsupported("crit".to_owned()));
        }
        Ok(Self {
            signing_input,
            payload: Zeroizing::new(b64::decode(payload, "JWS payload")?),
            signature: b64::decode(signature, "JWS signature")?,
        })
    }

    /// The payload, unverified.
    pub fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// Verify with `key`; on success the payload may be trusted.
    pub fn verify(&self, key: &VerifyingKey) -> Result<&[u8], JoseError> {
        verify_raw(self.signing_input.as_bytes(), &self.signature, key)?;
        Ok(&self.payload)
    }
}

/// Sign `payload` as a compact JWS with header `{"alg":"ES256","typ":"JWT"}`.
pub fn sign(payload: &[u8], key: &SigningKey) -> String {
    let header = b64::encode(br#"{"alg":"ES256","typ":"JWT"}"#);
    let input = format!("{header}.{}", b64::encode(payload));
    let signature = sign_raw(input.as_bytes(), key);
    format!("{input}.{}", b64::encode(&signature))
}

/// The ES256 signature of `data` as JOSE writes it: `r || s`, 64 bytes.
pub fn sign_raw(data: &[u8], key: &SigningKey) -> [u8; 64] {
    let signature: Signature = key.sign(data);
    let mut out = [0u8; 64];
    out.copy_from_slice(&signature.to_bytes());
    out
}

/// Verify a raw `r || s` ES256 signature.
pub fn verify_raw(data: &[u8], signature: &[u8], key: &VerifyingKey) -> Result<(), JoseError> {
    let signature = Signature::from_slice(signature).map_err(|_| JoseError::Signature)?;
    key.verify(data, &signature)
        .map_err(|_| JoseError::Signature)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jose::EcJwk;
    use p256::elliptic_curve::Generate;

    #[test]
    fn rfc7515_appendix_a3_es256_example_verifies() {
        let jwk: EcJwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        )
        .unwrap();
        let key = VerifyingKey::from(jwk.to_public_key().unwrap());
        let compact = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
        let jws = Jws::parse(compact).unwrap();
        assert_eq!(
            jws.verify(&key).unwrap(),
            b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"
        );
        let mut forged = compact.to_owned();
        forged.replace_range(30..31, "Y");
        assert!(Jws::parse(&forged).unwrap().verify(&key).is_err());
    }

    #[test]
    fn sign_then_verify_and_refuse_other_algorithms() {
        let key = SigningKey::from(p256::SecretKey::try_generate().unwrap());
        let token = sign(b"{\"iss\":\"alice\"}", &key);
        let jws = Jws::parse(&token).unwrap();
        assert_eq!(
            jws.verify(key.verifying_key()).unwrap(),
            b"{\"iss\":\"alice\"}"
        );
        let other = SigningKey::from(p256::SecretKey::try_generate().unwrap());
        assert_eq!(jws.verify(other.verifying_key()), Err(JoseError::Signature));

        let none = format!(
            "{}.{}.",
            b64::encode(br#"{"alg":"none"}"#),
            b64::encode(b"{}")
        );
        assert_eq!(
            Jws::parse(&none).unwrap_err(),
            JoseError::Unsupported("alg none".to_owned())
        );
        let hs = format!(
            "{}.{}.AA",
            b64::encode(br#"{"alg":"HS256"}"#),
            b64::encode(b"{}")
        );
        assert_eq!(
            Jws::parse(&hs).unwrap_err(),
            JoseError::Unsupported("alg HS256".to_owned())
        );
        assert!(matches!(
            Jws::parse("a.b.c.d"),
            Err(JoseError::Malformed(_))
        ));
    }
}
