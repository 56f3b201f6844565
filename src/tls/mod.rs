//! TLS, served by rustls with the `ring` provider.
//!
//! One crypto provider for the whole process: rustls and reqwest default to aws-lc-rs, rcgen
//! to ring; building both would compile two C crypto libraries. We pick ring everywhere and
//! install it as the process default ([`install_crypto_provider`]), which reqwest's
//! `rustls-no-provider` build then uses too.
//!
//! Protocol: TLS 1.3 and 1.2 only, with ring's default suites — all AEAD (AES-GCM,
//! ChaCha20-Poly1305) with ephemeral ECDHE key exchange; no CBC, no RSA key exchange, no SHA-1
//! MACs. HTTP/1.1 is announced through ALPN, as that is what the server speaks.

mod reload;
pub mod self_signed;

pub use reload::ReloadingCert;

use rustls::ServerConfig;
use std::sync::Arc;

/// Errors loading certificates or building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The private key is not the certificate's.
    #[error(
        "the key in {key} does not belong to the certificate in {cert}: give the key the \
         certificate was issued for (server.tls.key), or the certificate of this key (server.tls.cert)"
    )]
    Mismatch {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
    },
    /// rustls refused the configuration. Not a `source`: the message is the whole story,
    /// and printed with its sources it would be said twice.
    #[error("TLS configuration: {0}")]
    Rustls(rustls::Error),
    /// A development certificate could not be made.
    #[error("development certificate: {0}")]
    Generate(String),
}

/// Make ring the process-wide rustls provider. Idempotent; call before any TLS client or
/// server is built (the CLI entry point and the server start both do).
pub fn install_crypto_provider() {
    // Fails only if a provider is already installed, which is the state we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The provider every config in this crate is built with.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The server's TLS configuration: TLS 1.2+, no client certificates, the certificate taken
/// from `cert` on every handshake (so a reload reaches new connections at once).
pub fn server_config(cert: Arc<ReloadingCert>) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Rustls)?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_12_and_13_with_aead_suites_are_offered() {
        let provider = provider();
        for suite in &provider.cipher_suites {
            let name = format!("{:?}", suite.suite());
            assert!(
                name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
                "{name}"
            );
            if let rustls::SupportedCipherSuite::Tls12(suite) = suite {
                assert!(name.contains("ECDHE"), "{name}");
                let _ = suite;
            }
        }
    }
}
