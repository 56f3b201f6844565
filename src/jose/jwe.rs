//! Compact JWE (RFC 7516) with the key-management modes `ECDH-ES`, `ECDH-ES+A256KW` and
//! `dir`, and `A256GCM` content encryption (RFC 7518 §4.6, §4.5, §5.3).
//!
//! Which algorithms a caller accepts is the caller's choice, passed in: the token carries
//! its own `alg`, and trusting that alone is the classic JOSE mistake.

use super::jwk::EcJwk;
use super::{JoseError, b64, kdf, random};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use aes_kw::KwAes256;
use p256::elliptic_curve::Generate;
use p256::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Key management, as named in the `alg` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlg {
    /// ECDH-ES; the agreed key is the content key.
    EcdhEs,
    /// ECDH-ES; the agreed key wraps a random content key with AES-256 key wrap.
    EcdhEsA256Kw,
    /// A shared symmetric key is the content key.
    Dir,
}

impl KeyAlg {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Self::EcdhEs => "ECDH-ES",
            Self::EcdhEsA256Kw => "ECDH-ES+A256KW",
            Self::Dir => "dir",
        }
    }

    fn parse(name: &str) -> Result<Self, JoseError> {
        match name {
            "ECDH-ES" => Ok(Self::EcdhEs),
            "ECDH-ES+A256KW" => Ok(Self::EcdhEsA256Kw),
            "dir" => Ok(Self::Dir),
            other => Err(JoseError::Unsupported(format!(
                "alg {}",
                super::shown(other)
            ))),
        }
    }
}

/// Content encryption, as named in the `enc` header. Only `A256GCM` is offered to clients;
/// `A128GCM` exists so that the RFC 7520 vectors can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    /// AES-256-GCM.
    A256Gcm,
    /// AES-128-GCM.
    A128Gcm,
}

impl Enc {
    /// The `enc` header value.
    pub fn name(self) -> &'static str {
        match self {
            Self::A256Gcm => "A256GCM",
            Self::A128Gcm => "A128GCM",
        }
    }

    fn key_len(self) -> usize {
        match self {
            Self::A256Gcm => 32,
            Self::A128Gcm => 16,
        }
    }

    fn parse(name: &str) -> Result<Self, JoseError> {
        match name {
            "A256GCM" => Ok(Self::A256Gcm),
            "A128GCM" => Ok(Self::A128Gcm),
            other => Err(JoseError::Unsupported(format!(
                "enc {}",
                super::shown(other)
            ))),
        }
    }
}

/// The protected header members we read. Others are covered by the authentication tag and
/// otherwise ignored, except `zip` and `crit`, which are refused.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Header {
    /// Key management algorithm.
    pub alg: String,
    /// Content encryption algorithm.
    pub enc: String,
    /// Recipient key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Sender's ephemeral public key (ECDH-ES).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epk: Option<EcJwk>,
    /// Agreement PartyUInfo, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apu: Option<String>,
    /// Agreement PartyVInfo, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apv: Option<String>,
    /// Content type of the plaintext (`JWT` for a nested token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cty: Option<String>,
    /// Compression: refused when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    /// Critical extensions: refused when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<Vec<String>>,
}

/// A parsed, not yet decrypted, compact JWE.
#[derive(Debug, Clone)]
pub struct Jwe<'a> {
    protected: &'a str,
    /// The decoded protected header.
    pub header: Header,
    /// The key-management algorithm named by the header.
    pub alg: KeyAlg,
    /// The content encryption named by the header.
    pub enc: Enc,
    encrypted_key: Vec<u8>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
}

impl<'a> Jwe<'a> {
    /// Parse the five dot-separated parts. Checks structure only; nothing is decrypted.
    pub fn parse(compact: &'a str) -> Result<Self, JoseError> {
        let mut parts = compact.split('.');
        let (Some(protected), Some(key), Some(iv), Some(ciphertext), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(JoseError::Malformed("a compact JWE has five parts"));
        };
        let header_bytes = b64::decode(protected, "JWE header")?;
        let header: Header = serde_json::from_slice(&header_bytes).map_err(|_| {
            JoseError::Malformed("JWE header is not a JSON object with alg and enc")
        })?;
        if let Some(zip) = &header.zip {
            return Err(JoseError::Unsupported(format!("zip {}", super::shown(zip))));
        }
        if header.crit.is_some() {
            return Err(JoseError::Unsupported("crit".to_owned()));
        }
        let alg = KeyAlg::parse(&header.alg)?;
        let enc = Enc::parse(&header.enc)?;
        let iv = b64::decode(iv, "JWE initialization vector")?;
        let tag = b64::decode(tag, "JWE authentication tag")?;
        if iv.len() != 12 || tag.len() != 16 {
            return Err(JoseError::Malformed(
                "AES-GCM needs a 96-bit IV and a 128-bit tag",
            ));
        }
        Ok(Self {
            protected,
            alg,
            enc,
            header,
            encrypted_key: b64::decode(key, "JWE encrypted key")?,
            iv,
            ciphertext: b64::decode(ciphertext, "JWE ciphertext")?,
            tag,
        })
    }

    /// Decrypt with our EC private key (`ECDH-ES` or `ECDH-ES+A256KW`).
    pub fn decrypt_ecdh(&self, key: &SecretKey) -> Result<Zeroizing<Vec<u8>>, JoseError> {
        let epk = self
            .header
            .epk
            .as_ref()
            .ok_or(JoseError::Malformed("ECDH-ES needs an epk header"))?
            .to_public_key()?;
        let apu = decode_optional(self.header.apu.as_deref(), "apu")?;
        let apv = decode_optional(self.header.apv.as_deref(), "apv")?;
        let shared = p256::ecdh::diffie_hellman(key.to_nonzero_scalar(), epk.as_affine());
        let z = shared.raw_secret_bytes();
        let cek = match self.alg {
            KeyAlg::EcdhEs => {
                if !self.encrypted_key.is_empty() {
                    return Err(JoseError::Malformed("ECDH-ES has an empty encrypted key"));
                }
                kdf::derive(z, self.enc.name(), self.enc.key_len(), &apu, &apv)
            }
            KeyAlg::EcdhEsA256Kw => {
                let kek = kdf::derive(z, KeyAlg::EcdhEsA256Kw.name(), 32, &apu, &apv);
                unwrap_key(&kek, &self.encrypted_key, self.enc.key_len())?
            }
            KeyAlg::Dir => return Err(JoseError::Unsupported("alg dir with an EC key".to_owned())),
        };
        self.decrypt_content(&cek)
    }

    /// Decrypt with a shared content key (`dir`).
    pub fn decrypt_dir(&self, cek: &[u8]) -> Result<Zeroizing<Vec<u8>>, JoseError> {
        if self.alg != KeyAlg::Dir {
            return Err(JoseError::Unsupported(format!("alg {}", self.alg.name())));
        }
        if !self.encrypted_key.is_empty() {
            return Err(JoseError::Malformed("dir has an empty encrypted key"));
        }
        self.decrypt_content(cek)
    }

    /// Decrypt the content with `cek`; the additional data is the protected header as sent.
    pub fn decrypt_content(&self, cek: &[u8]) -> Result<Zeroizing<Vec<u8>>, JoseError> {
        if cek.len() != self.enc.key_len() {
            return Err(JoseError::Decrypt);
        }
        let mut buffer = Zeroizing::new(self.ciphertext.clone());
        let aad = self.protected.as_bytes();
        let nonce = self
            .iv
            .as_slice()
            .try_into()
            .map_err(|_| JoseError::Decrypt)?;
        let tag = self
            .tag
            .as_slice()
            .try_into()
            .map_err(|_| JoseError::Decrypt)?;
        let result = match self.enc {
            Enc::A256Gcm => Aes256Gcm::new_from_slice(cek)
                .map_err(|_| JoseError::Decrypt)?
                .decrypt_inout_detached(nonce, aad, buffer.as_mut_slice().into(), tag),
            Enc::A128Gcm => Aes128Gcm::new_from_slice(cek)
                .map_err(|_| JoseError::Decrypt)?
                .decrypt_inout_detached(nonce, aad, buffer.as_mut_slice().into(), tag),
        };
        result.map_err(|_| JoseError::Decrypt)?;
        Ok(buffer)
    }
}

fn decode_optional(value: Option<&str>, part: &'static str) -> Result<Vec<u8>, JoseError> {
    value.map_or(Ok(Vec::new()), |v| b64::decode(v, part))
}

fn unwrap_key(kek: &[u8], wrapped: &[u8], len: usize) -> Result<Zeroizing<Vec<u8>>, JoseError> {
    if wrapped.len() != len + 8 {
        return Err(JoseError::Decrypt);
    }
    let kw = KwAes256::new_from_slice(kek).map_err(|_| JoseError::Decrypt)?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    kw.unwrap_key(wrapped, &mut out)
        .map_err(|_| JoseError::Decrypt)?;
    Ok(out)
}

/// Encrypt `plaintext` to `recipient` with ECDH-ES or ECDH-ES+A256KW and A256GCM. The client
/// side of the envelope (the CLI, tests); `extra` adds header members such as `kid`, `cty`.
pub fn encrypt_ecdh(
    plaintext: &[u8],
    recipient: &PublicKey,
    alg: KeyAlg,
    kid: Option<&str>,
    cty: Option<&str>,
) -> Result<String, JoseError> {
    let ephemeral = SecretKey::try_generate().map_err(|_| JoseError::Random)?;
    let epk = EcJwk::from_public_key(&ephemeral.public_key());
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), recipient.as_affine());
    let z = shared.raw_secret_bytes();
    let enc = Enc::A256Gcm;
    let (cek, encrypted_key) = match alg {
        KeyAlg::EcdhEs => (kdf::derive(z, enc.name(), 32, &[], &[]), Vec::new()),
        KeyAlg::EcdhEsA256Kw => {
            let kek = kdf::derive(z, alg.name(), 32, &[], &[]);
            let mut cek = Zeroizing::new(vec![0u8; 32]);
            random(&mut cek)?;
            let kw = KwAes256::new_from_slice(&kek).map_err(|_| JoseError::Key("key wrap"))?;
            let mut wrapped = vec![0u8; 40];
            kw.wrap_key(&cek, &mut wrapped)
                .map_err(|_| JoseError::Key("key wrap"))?;
            (cek, wrapped)
        }
        KeyAlg::Dir => return Err(JoseError::Unsupported("alg dir with an EC key".to_owned())),
    };
    let header = Header {
        alg: alg.name().to_owned(),
        enc: enc.name().to_owned(),
        kid: kid.map(str::to_owned),
        epk: Some(epk),
        cty: cty.map(str::to_owned),
        ..Header::default()
    };
    seal(&header, &encrypted_key, &cek, plaintext)
}

/// Encrypt `plaintext` under the shared 256-bit key `cek` (`dir`, `A256GCM`), fresh IV.
pub fn encrypt_dir(plaintext: &[u8], cek: &[u8; 32]) -> Result<String, JoseError> {
    let header = Header {
        alg: KeyAlg::Dir.name().to_owned(),
        enc: Enc::A256Gcm.name().to_owned(),
        ..Header::default()
    };
    seal(&header, &[], cek, plaintext)
}

fn seal(
    header: &Header,
    encrypted_key: &[u8],
    cek: &[u8],
    plaintext: &[u8],
) -> Result<String, JoseError> {
    let header_json =
        serde_json::to_vec(header).map_err(|_| JoseError::Malformed("header serialization"))?;
    let protected = b64::encode(&header_json);
    let mut iv = [0u8; 12];
    random(&mut iv)?;
    let mut buffer = plaintext.to_vec();
    let tag = Aes256Gcm::new_from_slice(cek)
        .map_err(|_| JoseError::Key("content key must be 256 bits"))?
        .encrypt_inout_detached(
            (&iv).into(),
            protected.as_bytes(),
            buffer.as_mut_slice().into(),
        )
        .map_err(|_| JoseError::Key("content too long for AES-GCM"))?;
    Ok(format!(
        "{protected}.{}.{}.{}.{}",
        b64::encode(encrypted_key),
        b64::encode(&iv),
        b64::encode(&buffer),
        b64::encode(&tag)
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret_from_jwk_d(d: &str) -> SecretKey {
        SecretKey::from_slice(&b64::decode(d, "d").unwrap()).unwrap()
    }

    const FRODO: &str = "You can trust us to stick with you through thick and thin\u{2013}to the bitter end. And you can trust us to keep any secret of yours\u{2013}closer than you keep it yourself. But you cannot trust us to let you face trouble alone, and go off without a word. We are your friends, Frodo.";

    #[test]
    fn rfc7518_appendix_c_ecdh_es_key_agreement() {
        // Alice's ephemeral key and Bob's static key from RFC 7518 Appendix C.
        let alice = secret_from_jwk_d("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo");
        let bob = secret_from_jwk_d("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw");
        let bob_public: EcJwk = serde_json::from_str(
            r#"{"kty":"EC","crv":"P-256","x":"weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ","y":"e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"}"#,
        )
        .unwrap();
        assert_eq!(EcJwk::from_public_key(&bob.public_key()), bob_public);
        let shared = p256::ecdh::diffie_hellman(
            alice.to_nonzero_scalar(),
            bob_public.to_public_key().unwrap().as_affine(),
        );
        let key = kdf::derive(shared.raw_secret_bytes(), "A128GCM", 16, b"Alice", b"Bob");
        assert_eq!(b64::encode(&key), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn rfc7520_5_6_direct_encryption_with_aes_gcm() {
        let jwe = "eyJhbGciOiJkaXIiLCJraWQiOiI3N2M3ZTJiOC02ZTEzLTQ1Y2YtODY3Mi02MTdiNWI0NTI0M2EiLCJlbmMiOiJBMTI4R0NNIn0..refa467QzzKx6QAB.JW_i_f52hww_ELQPGaYyeAB6HYGcR559l9TYnSovc23XJoBcW29rHP8yZOZG7YhLpT1bjFuvZPjQS-m0IFtVcXkZXdH_lr_FrdYt9HRUYkshtrMmIUAyGmUnd9zMDB2n0cRDIHAzFVeJUDxkUwVAE7_YGRPdcqMyiBoCO-FBdE-Nceb4h3-FtBP-c_BIwCPTjb9o0SbdcdREEMJMyZBH8ySWMVi1gPD9yxi-aQpGbSv_F9N4IZAxscj5g-NJsUPbjk29-s7LJAGb15wEBtXphVCgyy53CoIKLHHeJHXex45Uz9aKZSRSInZI-wjsY0yu3cT4_aQ3i1o-tiE-F8Ios61EKgyIQ4CWao8PFMj8TTnp.vbb32Xvllea2OtmHAdccRQ";
        let key = b64::decode("XctOhJAkA-pD9Lh7ZgW_2A", "k").unwrap();
        let parsed = Jwe::parse(jwe).unwrap();
        assert_eq!(parsed.alg, KeyAlg::Dir);
        assert_eq!(parsed.enc, Enc::A128Gcm);
        assert_eq!(
            parsed.header.kid.as_deref(),
            Some("77c7e2b8-6e13-45cf-8672-617b5b45243a")
        );
        assert_eq!(&parsed.decrypt_dir(&key).unwrap()[..], FRODO.as_bytes());
    }

    #[test]
    fn rfc7520_5_8_key_wrap_with_aes_gcm_framing() {
        // A128KW is not offered to clients; unwrap it here and check our GCM framing (the
        // header as additional data, IV, tag) on the RFC's object.
        let jwe = "eyJhbGciOiJBMTI4S1ciLCJraWQiOiI4MWIyMDk2NS04MzMyLTQzZDktYTQ2OC04MjE2MGFkOTFhYzgiLCJlbmMiOiJBMTI4R0NNIn0.CBI6oDw8MydIx1IBntf_lQcw2MmJKIQx.Qx0pmsDa8KnJc9Jo.AwliP-KmWgsZ37BvzCefNen6VTbRK3QMA4TkvRkH0tP1bTdhtFJgJxeVmJkLD61A1hnWGetdg11c9ADsnWgL56NyxwSYjU1ZEHcGkd3EkU0vjHi9gTlb90qSYFfeF0LwkcTtjbYKCsiNJQkcIp1yeM03OmuiYSoYJVSpf7ej6zaYcMv3WwdxDFl8REwOhNImk2Xld2JXq6BR53TSFkyT7PwVLuq-1GwtGHlQeg7gDT6xW0JqHDPn_H-puQsmthc9Zg0ojmJfqqFvETUxLAF-KjcBTS5dNy6egwkYtOt8EIHK-oEsKYtZRaa8Z7MOZ7UGxGIMvEmxrGCPeJa14slv2-gaqK0kEThkaSqdYw0FkQZF.ER7MWJZ1FBI_NKvn7Zb1Lw";
        assert!(matches!(Jwe::parse(jwe), Err(JoseError::Unsupported(_))));
        let header = "eyJhbGciOiJkaXIiLCJraWQiOiI4MWIyMDk2NS04MzMyLTQzZDktYTQ2OC00MjE2MGFkOTFhYzgiLCJlbmMiOiJBMTI4R0NNIn0";
        let mut parts: Vec<&str> = jwe.split('.').collect();
        let wrapped = b64::decode(parts[1], "key").unwrap();
        let kek = b64::decode("GZy6sIZ6wl9NJOKB-jnmVQ", "k").unwrap();
        let mut cek = [0u8; 16];
        aes_kw::KwAes128::new_from_slice(&kek)
            .unwrap()
            .unwrap_key(&wrapped, &mut cek)
            .unwrap();
        // Same object with the header relabelled: the tag must now fail, proving that the
        // header is authenticated; with the original header it must succeed.
        let original_header = parts[0];
        parts[0] = header;
        parts[1] = "";
        let relabelled = parts.join(".");
        let parsed = Jwe::parse(&relabelled).unwrap();
        assert_eq!(parsed.decrypt_content(&cek), Err(JoseError::Decrypt));
        let mut parsed = parsed;
        parsed.protected = original_header;
        assert_eq!(&parsed.decrypt_content(&cek).unwrap()[..], FRODO.as_bytes());
    }

    #[test]
    fn ecdh_round_trips_both_ways_and_tampering_fails() {
        let server = SecretKey::try_generate().unwrap();
        for alg in [KeyAlg::EcdhEs, KeyAlg::EcdhEsA256Kw] {
            let token =
                encrypt_ecdh(b"hello", &server.public_key(), alg, Some("k1"), Some("JWT")).unwrap();
            let parsed = Jwe::parse(&token).unwrap();
            assert_eq!(parsed.alg, alg);
            assert_eq!(parsed.header.kid.as_deref(), Some("k1"));
            assert_eq!(&parsed.decrypt_ecdh(&server).unwrap()[..], b"hello");
            let other = SecretKey::try_generate().unwrap();
            assert_eq!(parsed.decrypt_ecdh(&other), Err(JoseError::Decrypt));
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            parts[3] = b64::encode(b"HELLO");
            let tampered = parts.join(".");
            assert_eq!(
                Jwe::parse(&tampered).unwrap().decrypt_ecdh(&server),
                Err(JoseError::Decrypt)
            );
        }
    }

    #[test]
    fn dir_round_trips_with_a_fresh_iv_each_time() {
        let key = [7u8; 32];
        let a = encrypt_dir(b"{}", &key).unwrap();
        let b = encrypt_dir(b"{}", &key).unwrap();
        assert_ne!(a.split('.').nth(2), b.split('.').nth(2));
        assert_eq!(
            &Jwe::parse(&a).unwrap().decrypt_dir(&key).unwrap()[..],
            b"{}"
        );
        assert_eq!(
            Jwe::parse(&a).unwrap().decrypt_dir(&[8u8; 32]),
            Err(JoseError::Decrypt)
        );
    }

    #[test]
    fn malformed_and_unsupported_objects_are_refused_before_any_crypto() {
        let cases = [
            ("a.b.c", "five parts"),
            ("a.b.c.d.e.f", "five parts"),
            ("!!!.a.b.c.d", "base64"),
        ];
        for (input, why) in cases {
            assert!(
                matches!(Jwe::parse(input), Err(JoseError::Malformed(_))),
                "{why}"
            );
        }
        let header = |json: &str| b64::encode(json.as_bytes());
        let iv = b64::encode(&[0u8; 12]);
        let tag = b64::encode(&[0u8; 16]);
        for (json, expected) in [
            (r#"{"alg":"RSA1_5","enc":"A256GCM"}"#, "alg RSA1_5"),
            (
                r#"{"alg":"dir","enc":"A128CBC-HS256"}"#,
                "enc A128CBC-HS256",
            ),
            (r#"{"alg":"dir","enc":"A256GCM","zip":"DEF"}"#, "zip DEF"),
            (r#"{"alg":"dir","enc":"A256GCM","crit":["exp"]}"#, "crit"),
            (r#"{"alg":"none","enc":"A256GCM"}"#, "alg none"),
        ] {
            let compact = format!("{}..{iv}.AA.{tag}", header(json));
            assert_eq!(
                Jwe::parse(&compact).unwrap_err(),
                JoseError::Unsupported(expected.to_owned())
            );
        }
        let short_iv = format!(
            "{}..AAAA.AA.{tag}",
            header(r#"{"alg":"dir","enc":"A256GCM"}"#)
        );
        assert!(matches!(
            Jwe::parse(&short_iv),
            Err(JoseError::Malformed(_))
        ));
    }
}
