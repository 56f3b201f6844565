//! The client side of the config service's envelope, for `portcullis client config` and for
//! tests: make a token and a body, and open and check a response. Python's `jwcrypto` does
//! the same in `tests/interop/envelope.py`; both follow the README's wire format.

use super::jwe::{self, Jwe, KeyAlg};
use super::jws;
use super::{EcJwk, JoseError, b64, random};
use p256::ecdsa::{SigningKey, VerifyingKey};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// One request, ready to send, and the key to open its response with.
pub struct Prepared {
    /// The `Authorization: Bearer` value.
    pub token: String,
    /// The request body (a compact JWE).
    pub body: String,
    body_key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and body are ciphertext, but the body key opens them: never printed.
        f.debug_struct("Prepared")
            .field("body_key", &"***")
            .finish_non_exhaustive()
    }
}

/// Token claims a caller may set; `None` takes the defaults (now, now + 60 s, random jti).
#[derive(Debug, Default, Clone)]
pub struct TokenOptions {
    /// Issued at (Unix seconds).
    pub iat: Option<i64>,
    /// Expires at (Unix seconds).
    pub exp: Option<i64>,
    /// Token id.
    pub jti: Option<String>,
}

/// Make a token from `client` (signing with `client_key`) to `server` (a JWK with `kid`),
/// and encrypt `request` (JSON) under a fresh single-use body key.
pub fn prepare(
    client: &str,
    client_key: &SigningKey,
    server: &EcJwk,
    alg: KeyAlg,
    request: &Value,
    now: i64,
    options: &TokenOptions,
) -> Result<Prepared, JoseError> {
    let mut body_key = Zeroizing::new([0u8; 32]);
    random(&mut body_key[..])?;
    let jti = match &options.jti {
        Some(jti) => jti.clone(),
        None => {
            let mut id = [0u8; 16];
            random(&mut id)?;
            b64::encode(&id)
        }
    };
    let iat = options.iat.unwrap_or(now);
    let claims = Zeroizing::new(
        json!({
            "iss": client,
            "iat": iat,
            "exp": options.exp.unwrap_or(iat + 60),
            "jti": jti,
            "body_key": b64::encode(&body_key[..]),
        })
        .to_string(),
    );
    let signed = Zeroizing::new(jws::sign(claims.as_bytes(), client_key));
    let token = jwe::encrypt_ecdh(
        signed.as_bytes(),
        &server.to_public_key()?,
        alg,
        server.kid.as_deref(),
        Some("JWT"),
    )?;
    let body = jwe::encrypt_dir(request.to_string().as_bytes(), &body_key)?;
    Ok(Prepared {
        token,
        body,
        body_key,
    })
}

impl Prepared {
    /// Check the signature of a response envelope with the server key, then decrypt it.
    pub fn open_response(
        &self,
        envelope: &Value,
        server: &VerifyingKey,
    ) -> Result<Value, JoseError> {
        let data = envelope["data"]
            .as_str()
            .ok_or(JoseError::Malformed("response has no `data`"))?;
        let signature = envelope["signature"]
            .as_str()
            .ok_or(JoseError::Malformed("response has no `signature`"))?;
        jws::verify_raw(
            data.as_bytes(),
            &b64::decode(signature, "signature")?,
            server,
        )?;
        let plaintext = Jwe::parse(data)?.decrypt_dir(&self.body_key[..])?;
        serde_json::from_slice(&plaintext).map_err(|_| JoseError::Malformed("response is not JSON"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::jose::ServerKey;

    #[test]
    fn a_prepared_request_round_trips_and_never_prints_its_key() {
        let server = ServerKey::generate().unwrap();
        let client = SigningKey::from(ServerKey::generate().unwrap().secret().clone());
        let prepared = prepare(
            "alice",
            &client,
            &server.public_jwk(),
            KeyAlg::EcdhEsA256Kw,
            &json!({"action": "list_files"}),
            1_700_000_000,
            &TokenOptions::default(),
        )
        .unwrap();
        assert_eq!(
            format!("{prepared:?}"),
            "Prepared { body_key: \"***\", .. }"
        );
        // Seal a response the way the server does, and open it.
        let body_key = Jwe::parse(&prepared.body).unwrap();
        assert_eq!(body_key.header.alg, "dir");
        let data = jwe::encrypt_dir(br#"{"status":200}"#, &prepared.body_key).unwrap();
        let signature = jws::sign_raw(data.as_bytes(), server.signing());
        let envelope = json!({"data": data, "signature": b64::encode(&signature)});
        let opened = prepared
            .open_response(&envelope, server.signing().verifying_key())
            .unwrap();
        assert_eq!(opened, json!({"status": 200}));
        let mut forged = envelope.clone();
        forged["signature"] = b64::encode(&[1u8; 64]).into();
        assert_eq!(
            prepared.open_response(&forged, server.signing().verifying_key()),
            Err(JoseError::Signature)
        );
    }
}
