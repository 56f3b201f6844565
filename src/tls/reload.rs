//! A certificate that can be replaced while the server runs. rustls asks the resolver for a
//! certificate on every handshake; handing out the current one from behind a lock means a
//! reload (SIGHUP) reaches every new connection at once, while connections already open keep
//! the session they negotiated — nothing is dropped.

use super::TlsError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// The served certificate and the files it comes from.
pub struct ReloadingCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ReloadingCert {
    /// Load `cert` (chain, leaf first) and `key`; fails unless the key matches the leaf.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let loaded = load(cert, key)?;
        Ok(Self {
            cert_path: cert.to_owned(),
            key_path: key.to_owned(),
            current: RwLock::new(Arc::new(loaded)),
        })
    }

    /// Read the files again and serve them from the next handshake on. On any error the
    /// certificate in service stays, so a half-copied file never takes the server down.
    /// Returns the new leaf's SHA-256 fingerprint (hex), for the log.
    pub fn reload(&self) -> Result<String, TlsError> {
        let loaded = load(&self.cert_path, &self.key_path)?;
        let fingerprint = fingerprint(&loaded);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(loaded);
        Ok(fingerprint)
    }

    /// The SHA-256 fingerprint (hex) of the leaf in service.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(|p| p.into_inner()),
        ))
    }
}

fn fingerprint(key: &CertifiedKey) -> String {
    key.cert
        .first()
        .map(|leaf| hex::encode(Sha256::digest(leaf.as_ref())))
        .unwrap_or_default()
}

fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let file_error = |path: &Path, reason: String| TlsError::File {
        path: path.display().to_string(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(file_error(cert, "no CERTIFICATE block found".to_owned()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e.to_string()))?;
    CertifiedKey::from_der(chain, private, &super::provider()).map_err(|err| match err {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: cert.display().to_string(),
            key: key.display().to_string(),
        },
        other => TlsError::Rustls(other),
    })
}
