//! The Concat KDF of NIST SP 800-56A §5.8.1 as profiled by RFC 7518 §4.6.2. Written here
//! because the `concat-kdf` crate is still on the previous `digest` generation; it is a dozen
//! lines and checked against RFC 7518 Appendix C.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Derive `len` bytes from the shared secret `z` for algorithm `alg` with the party infos.
pub fn derive(z: &[u8], alg: &str, len: usize, apu: &[u8], apv: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut other = Vec::with_capacity(16 + alg.len() + apu.len() + apv.len());
    for field in [alg.as_bytes(), apu, apv] {
        other.extend_from_slice(&(field.len() as u32).to_be_bytes());
        other.extend_from_slice(field);
    }
    other.extend_from_slice(&((len * 8) as u32).to_be_bytes());
    let mut out = Zeroizing::new(Vec::with_capacity(len.div_ceil(32) * 32));
    for counter in 1..=len.div_ceil(32) as u32 {
        let mut hash = Sha256::new();
        hash.update(counter.to_be_bytes());
        hash.update(z);
        hash.update(&other);
        out.extend_from_slice(&hash.finalize());
    }
    out.truncate(len);
    out
}
