//! What a PEM block that is not a P-256 public key is instead, said so the operator knows
//! what to give.

const RSA_KEY: &str = "an RSA key: the envelope uses P-256 (ES256 signatures, ECDH-ES key \
     agreement); make a P-256 pair with `portcullis jose keygen` (or `openssl genpkey \
     -algorithm EC -pkeyopt ec_paramgen_curve:P-256`)";

/// What a PEM that is not a P-256 public key is instead, so the operator knows what to do
/// (seed 002's sample config holds an RSA key, for one).
pub fn why_not_p256(pem: &str) -> &'static str {
    use p256::pkcs8::SubjectPublicKeyInfoRef;
    use p256::pkcs8::der::{Decode, pem};
    let Ok((label, der)) = pem::decode_vec(pem.trim().as_bytes()) else {
        return "not a PEM block: expected -----BEGIN PUBLIC KEY----- holding a P-256 key, \
                as `portcullis jose keygen` writes";
    };
    match label {
        "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
            "a private key: give the client's public key (`openssl pkey -pubout`) and keep the \
             private one with the client"
        }
        "RSA PUBLIC KEY" => RSA_KEY,
        "CERTIFICATE" => "a certificate: give its public key (`openssl x509 -pubkey -noout`)",
        "PUBLIC KEY" => match SubjectPublicKeyInfoRef::from_der(&der) {
            Ok(info) => match info.algorithm.oid.to_string().as_str() {
                "1.2.840.113549.1.1.1" => RSA_KEY,
                "1.2.840.10045.2.1" => "an EC key on another curve: P-256 (prime256v1) is required",
                _ => "not an EC key: a P-256 public key is required",
            },
            Err(_) => "a PUBLIC KEY block that does not parse",
        },
        _ => "not a public key: expected -----BEGIN PUBLIC KEY----- holding a P-256 key",
    }
}
