//! RFC 9421 HTTP Message Signatures, verifier side, for `alg="hmac-sha256"`.
//!
//! Hand-written (~200 lines on the `sfv` structured-field parser) because no maintained crate
//! verifies RFC 9421 server-side on `http` types; interoperability is proved by tests in which
//! Python's `http-message-signatures` package signs real requests.

use super::{SignatureError, Signer, digest};
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, Method, Uri};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Longest `Signature-Input` or `Signature` header parsed, in bytes.
pub const MAX_HEADER_BYTES: usize = 4096;

/// The parts of a request a signature can cover.
pub struct RequestParts<'a> {
    /// Method.
    pub method: &'a Method,
    /// Request target as received (origin form).
    pub uri: &'a Uri,
    /// Headers.
    pub headers: &'a HeaderMap,
    /// `http` or `https`, as the client addressed us.
    pub scheme: &'a str,
}

/// What the signature claims, before the key is known.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Session id.
    pub keyid: String,
    /// Nonce.
    pub nonce: String,
    /// The signature base (what the HMAC covers).
    pub base: String,
    /// The signature bytes.
    pub signature: Vec<u8>,
    /// The `Content-Digest` header, if sent.
    pub digest: Option<String>,
    /// Whether the signature covers `content-digest`.
    pub covers_digest: bool,
}

/// A structured field as one value: several field lines are joined with ", " (RFC 9651
/// §4.2), so what is parsed is exactly what a covered component would contain.
fn header_text(headers: &HeaderMap, name: &str) -> Result<Option<String>, SignatureError> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().map(str::trim))
        .collect::<Result<_, _>>()
        .map_err(|_| SignatureError::Malformed("header"))?;
    Ok((!values.is_empty()).then(|| values.join(", ")))
}

/// Parse the signature headers, check parameters, coverage and the time window, and build
/// the signature base. `now` is Unix seconds; `window` seconds either way. The body is not
/// needed (the base covers the `Content-Digest` header, not the body): it is read and checked
/// with [`check_body`] only once the signature has verified and the key's limit allows it.
pub fn claim(request: &RequestParts<'_>, now: i64, window: i64) -> Result<Claim, SignatureError> {
    let input = header_text(request.headers, "signature-input")?
        .ok_or(SignatureError::Malformed("signature-input"))?;
    let signatures =
        header_text(request.headers, "signature")?.ok_or(SignatureError::Malformed("signature"))?;
    // Bounded before the structured-field parser sees them: a real pair is a few hundred
    // bytes, and hyper would let through hundreds of kilobytes.
    if input.len() > MAX_HEADER_BYTES {
        return Err(SignatureError::Malformed("signature-input"));
    }
    if signatures.len() > MAX_HEADER_BYTES {
        return Err(SignatureError::Malformed("signature"));
    }
    let inputs: sfv::Dictionary = sfv::Parser::new(&input)
        .parse()
        .map_err(|_| SignatureError::Malformed("signature-input"))?;
    let signatures: sfv::Dictionary = sfv::Parser::new(&signatures)
        .parse()
        .map_err(|_| SignatureError::Malformed("signature"))?;
    // The first signature is the one verified; a request carries one in practice.
    let (label, entry) = inputs
        .iter()
        .next()
        .ok_or(SignatureError::Malformed("signature-input"))?;
    let sfv::ListEntry::InnerList(list) = entry else {
        return Err(SignatureError::Malformed("signature-input"));
    };
    let signature = match signatures.get(label) {
        Some(sfv::ListEntry::Item(item)) => item
            .bare_item
            .as_byte_sequence()
            .ok_or(SignatureError::Malformed("signature"))?
            .to_vec(),
        _ => return Err(SignatureError::Malformed("signature")),
    };
    let param_str = |name: &str| {
        list.params
            .get(name)
            .and_then(|v| v.as_string())
            .map(|s| s.as_str().to_owned())
    };
    let param_int = |name: &str| {
        list.params
            .get(name)
            .and_then(|v| v.as_integer())
            .map(i64::from)
    };
    if let Some(alg) = list.params.get("alg")
        && alg.as_string().map(|s| s.as_str()) != Some("hmac-sha256")
    {
        return Err(SignatureError::Algorithm);
    }
    let keyid = param_str("keyid").ok_or(SignatureError::MissingParameter("keyid"))?;
    let nonce = param_str("nonce").ok_or(SignatureError::MissingParameter("nonce"))?;
    if nonce.is_empty() || nonce.len() > super::replay::MAX_VALUE_LEN {
        return Err(SignatureError::Malformed("nonce"));
    }
    let created = param_int("created").ok_or(SignatureError::MissingParameter("created"))?;
    if (created - now).abs() > window {
        return Err(SignatureError::Stale);
    }
    if param_int("expires").is_some_and(|expires| expires <= now) {
        return Err(SignatureError::Stale);
    }

    let (base, covered) = signature_base(request, label, entry)?;
    let has = |n: &str| covered.iter().any(|c| c == n);
    if !has("@method") {
        return Err(SignatureError::MissingComponent("@method"));
    }
    if !(has("@target-uri") || (has("@path") && has("@query") && has("@authority"))) {
        return Err(SignatureError::MissingComponent(
            "@target-uri (or @authority, @path and @query)",
        ));
    }
    let digest = header_text(request.headers, "content-digest")?;
    let covers_digest = has("content-digest");
    Ok(Claim {
        keyid,
        nonce,
        base,
        signature,
        digest,
        covers_digest,
    })
}

/// The signature base of one signature (RFC 9421 §2.5): a line per covered component, in
/// the order listed, then `@signature-params` as the canonical serialization of the
/// signature's inner list. Returns the base and the names of the covered components.
fn signature_base(
    request: &RequestParts<'_>,
    label: &sfv::Key,
    entry: &sfv::ListEntry,
) -> Result<(String, Vec<String>), SignatureError> {
    let sfv::ListEntry::InnerList(list) = entry else {
        return Err(SignatureError::Malformed("signature-input"));
    };
    let mut covered: Vec<String> = Vec::with_capacity(list.items.len());
    let mut base = String::new();
    for item in &list.items {
        let name = item
            .bare_item
            .as_string()
            .ok_or(SignatureError::Malformed("signature-input"))?
            .as_str()
            .to_owned();
        if !item.params.is_empty() {
            return Err(SignatureError::component(&name));
        }
        if covered.contains(&name) {
            return Err(SignatureError::Malformed("signature-input"));
        }
        let value = component(request, &name)?;
        base.push_str(&format!("\"{name}\": {value}\n"));
        covered.push(name);
    }
    let mut only = sfv::Dictionary::new();
    only.insert(label.clone(), entry.clone());
    let serialized =
        sfv::FieldType::serialize(&only).ok_or(SignatureError::Malformed("signature-input"))?;
    let params = serialized
        .strip_prefix(&format!("{}=", label.as_str()))
        .ok_or(SignatureError::Malformed("signature-input"))?;
    base.push_str(&format!("\"@signature-params\": {params}"));
    Ok((base, covered))
}

/// Check the body against the claim: a request with a body must carry a `Content-Digest` that
/// the signature covers, and every digest sent must match.
pub fn check_body(claim: &Claim, body: &[u8]) -> Result<(), SignatureError> {
    if !body.is_empty() {
        if claim.digest.is_none() {
            return Err(SignatureError::DigestMissing);
        }
        if !claim.covers_digest {
            return Err(SignatureError::MissingComponent("content-digest"));
        }
    }
    if let Some(header) = &claim.digest {
        digest::check(header, body)?;
    }
    Ok(())
}

/// Check the claim's HMAC-SHA256 under `key`, in constant time.
pub fn verify(claim: &Claim, key: &[u8]) -> Result<Signer, SignatureError> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| SignatureError::Invalid)?;
    mac.update(claim.base.as_bytes());
    let expected = mac.finalize().into_bytes();
    if bool::from(expected.as_slice().ct_eq(&claim.signature)) {
        Ok(Signer {
            session_id: claim.keyid.clone(),
        })
    } else {
        Err(SignatureError::Invalid)
    }
}

fn authority(request: &RequestParts<'_>) -> Result<String, SignatureError> {
    let host = header_text(request.headers, "host")?
        .or_else(|| request.uri.authority().map(|a| a.as_str().to_owned()))
        .ok_or_else(|| SignatureError::component("@authority"))?;
    let host = host.to_ascii_lowercase();
    let default_port = if request.scheme == "https" {
        ":443"
    } else {
        ":80"
    };
    Ok(host
        .strip_suffix(default_port)
        .map(str::to_owned)
        .unwrap_or(host))
}

fn component(request: &RequestParts<'_>, name: &str) -> Result<String, SignatureError> {
    let path = if request.uri.path().is_empty() {
        "/"
    } else {
        request.uri.path()
    };
    let query = request.uri.query();
    Ok(match name {
        "@method" => request.method.as_str().to_owned(),
        "@authority" => authority(request)?,
        "@scheme" => request.scheme.to_owned(),
        "@path" => path.to_owned(),
        "@query" => format!("?{}", query.unwrap_or("")),
        "@request-target" => match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        },
        "@target-uri" => {
            let mut uri = format!("{}://{}{}", request.scheme, authority(request)?, path);
            if let Some(q) = query {
                uri.push('?');
                uri.push_str(q);
            }
            uri
        }
        n if n.starts_with('@') => return Err(SignatureError::component(n)),
        n => {
            if n.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(SignatureError::component(n));
            }
            let values: Vec<&str> = request
                .headers
                .get_all(n)
                .iter()
                .map(|v| v.to_str().map(str::trim))
                .collect::<Result<_, _>>()
                .map_err(|_| SignatureError::component(n))?;
            if values.is_empty() {
                return Err(SignatureError::component(n));
            }
            values.join(", ")
        }
    })
}

/// Base64 of a signature, for tests and clients.
pub fn encode(signature: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn sign(base: &str, key: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(base.as_bytes());
        encode(&mac.finalize().into_bytes())
    }

    /// RFC 9421 Appendix B.2.5: the test request of B.2 signed with HMAC-SHA256 under the
    /// shared secret of B.1.5, over `date`, `@authority` and `content-type`. Base and
    /// signature are copied from the RFC text; nothing here computed them.
    #[test]
    fn the_rfc_9421_hmac_sha256_example_gives_the_rfcs_base_and_verifies() {
        const SECRET_B64: &str = "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";
        const INPUT: &str = r#"sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret""#;
        const SIGNATURE: &str = "sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:";
        const BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\"content-type\": application/json\n\"@signature-params\": (\"date\" \"@authority\" \"content-type\");created=1618884473;keyid=\"test-shared-secret\"";
        let method = Method::POST;
        let uri: Uri = "/foo?param=Value&Pet=dog".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.com"));
        headers.insert(
            "date",
            HeaderValue::from_static("Tue, 20 Apr 2021 02:07:55 GMT"),
        );
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        let request = RequestParts {
            method: &method,
            uri: &uri,
            headers: &headers,
            scheme: "https",
        };
        let inputs: sfv::Dictionary = sfv::Parser::new(INPUT).parse().unwrap();
        let (label, entry) = inputs.iter().next().unwrap();
        let (base, _) = signature_base(&request, label, entry).unwrap();
        assert_eq!(base, BASE);
        let signatures: sfv::Dictionary = sfv::Parser::new(SIGNATURE).parse().unwrap();
        let Some(sfv::ListEntry::Item(item)) = signatures.get(label) else {
            panic!("no signature")
        };
        let claim = Claim {
            keyid: "test-shared-secret".into(),
            nonce: String::new(),
            base,
            signature: item.bare_item.as_byte_sequence().unwrap().to_vec(),
            digest: None,
            covers_digest: false,
        };
        let secret = base64::engine::general_purpose::STANDARD
            .decode(SECRET_B64)
            .unwrap();
        assert!(verify(&claim, &secret).is_ok());
        assert_eq!(
            verify(&claim, b"another secret"),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn a_request_signed_over_method_target_and_digest_verifies_and_tampering_fails() {
        let method = Method::POST;
        let uri: Uri = "/api/keys?x=1".parse().unwrap();
        let body = b"{\"hello\": \"world\"}\n";
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.com"));
        headers.insert(
            "content-digest",
            HeaderValue::from_static("sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:"),
        );
        let params = r#"("@method" "@target-uri" "content-digest");created=1000;keyid="s1";nonce="n1";alg="hmac-sha256""#;
        let base = format!(
            "\"@method\": POST\n\"@target-uri\": http://example.com/api/keys?x=1\n\"content-digest\": sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:\n\"@signature-params\": {params}"
        );
        headers.insert(
            "signature-input",
            HeaderValue::from_str(&format!("sig1={params}")).unwrap(),
        );
        headers.insert(
            "signature",
            HeaderValue::from_str(&format!("sig1=:{}:", sign(&base, b"secret"))).unwrap(),
        );
        let parts = RequestParts {
            method: &method,
            uri: &uri,
            headers: &headers,
            scheme: "http",
        };
        let claim = claim(&parts, 1010, 30).unwrap();
        assert_eq!(claim.base, base);
        assert_eq!(verify(&claim, b"secret").unwrap().session_id, "s1");
        assert_eq!(verify(&claim, b"other"), Err(SignatureError::Invalid));
        check_body(&claim, body).unwrap();
        assert_eq!(
            check_body(&claim, b"{}").unwrap_err(),
            SignatureError::DigestMismatch
        );
        assert_eq!(
            super::claim(&parts, 2000, 30).unwrap_err(),
            SignatureError::Stale
        );
    }
}
