//! RFC 9530 `Content-Digest`: `sha-256=:<base64>:` and/or `sha-512=:<base64>:`. Every digest
//! with an algorithm we know must match; at least one must be known.

use super::SignatureError;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// Check `header` against `body`.
pub fn check(header: &str, body: &[u8]) -> Result<(), SignatureError> {
    let dict: sfv::Dictionary = sfv::Parser::new(header)
        .parse()
        .map_err(|_| SignatureError::Malformed("content-digest"))?;
    let mut checked = false;
    for (name, entry) in &dict {
        let sfv::ListEntry::Item(item) = entry else {
            return Err(SignatureError::Malformed("content-digest"));
        };
        let Some(claimed) = item.bare_item.as_byte_sequence() else {
            return Err(SignatureError::Malformed("content-digest"));
        };
        let actual: Vec<u8> = match name.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        if !bool::from(actual.as_slice().ct_eq(claimed)) {
            return Err(SignatureError::DigestMismatch);
        }
        checked = true;
    }
    if checked {
        Ok(())
    } else {
        Err(SignatureError::Malformed("content-digest"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9530 §2 example: {"hello": "world"}
    const BODY: &[u8] = b"{\"hello\": \"world\"}\n";

    #[test]
    fn the_rfc_9530_examples_verify() {
        check(
            "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:",
            BODY,
        )
        .unwrap();
        check(
            "sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:",
            BODY,
        )
        .unwrap();
    }

    #[test]
    fn a_changed_body_or_unknown_algorithm_is_refused() {
        assert_eq!(
            check(
                "sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:",
                b"{}"
            ),
            Err(SignatureError::DigestMismatch)
        );
        assert_eq!(
            check("md5=:AAAA:", BODY),
            Err(SignatureError::Malformed("content-digest"))
        );
        assert_eq!(
            check("not a dictionary ((", BODY),
            Err(SignatureError::Malformed("content-digest"))
        );
    }
}
