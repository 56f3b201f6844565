//! `serve --tls-self-signed`: a development certificate for localhost, so HTTPS can be tried
//! on a laptop without a real CA. A throwaway CA signs a leaf for `localhost`, `127.0.0.1`
//! and `::1`; clients trust the CA file (`curl --cacert data/tls/dev-ca.pem`). The CA's key
//! is never written down, so the CA can sign nothing else. Files are reused across restarts
//! until the leaf is 300 days old (it is valid for 365).

use super::{ReloadingCert, TlsError};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// Where the development certificate lives, under the data directory.
pub const DIR: &str = "tls";
const CA_FILE: &str = "dev-ca.pem";
const CERT_FILE: &str = "dev-cert.pem";
const KEY_FILE: &str = "dev-key.pem";
const VALIDITY: Duration = Duration::from_secs(365 * 86_400);
const RENEW_AFTER: Duration = Duration::from_secs(300 * 86_400);

/// The files of a development certificate.
#[derive(Debug, Clone)]
pub struct DevCertificate {
    /// The CA certificate clients should trust.
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's private key (mode 0600).
    pub key: PathBuf,
    /// Whether it was made just now (else reused).
    pub created: bool,
}

/// Reuse the development certificate under `data_dir`, or make one. `extra_host` (the
/// configured listen address, when it is not a loopback one) is added to the names.
pub fn ensure(data_dir: &Path, extra_host: Option<IpAddr>) -> Result<DevCertificate, TlsError> {
    let dir = data_dir.join(DIR);
    let mut files = DevCertificate {
        ca: dir.join(CA_FILE),
        cert: dir.join(CERT_FILE),
        key: dir.join(KEY_FILE),
        created: false,
    };
    if reusable(&files) {
        return Ok(files);
    }
    let failed = |e: &dyn std::fmt::Display| TlsError::Generate(e.to_string());
    crate::durable::ensure_private_dir(&dir).map_err(|e| failed(&e))?;
    let now = OffsetDateTime::now_utc();

    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| failed(&e))?;
    ca.distinguished_name = name("Portcullis development CA (not for production)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + VALIDITY;
    let ca_key = KeyPair::generate().map_err(|e| failed(&e))?;
    let issuer = CertifiedIssuer::self_signed(ca, ca_key).map_err(|e| failed(&e))?;

    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).map_err(|e| failed(&e))?;
    leaf.distinguished_name = name("localhost");
    let mut addresses: Vec<IpAddr> = vec![
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ];
    if let Some(host) = extra_host.filter(|h| !addresses.contains(h) && !h.is_unspecified()) {
        addresses.push(host);
    }
    leaf.subject_alt_names
        .extend(addresses.into_iter().map(SanType::IpAddress));
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.not_before = now - time::Duration::days(1);
    leaf.not_after = now + VALIDITY;
    let leaf_key = KeyPair::generate().map_err(|e| failed(&e))?;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(|e| failed(&e))?;

    // Key first: a certificate file without its key would be reused and fail to load.
    let key_pem = zeroize::Zeroizing::new(leaf_key.serialize_pem());
    crate::durable::replace_with_mode(&files.key, key_pem.as_bytes(), Some(0o600))
        .map_err(|e| failed(&e))?;
    crate::durable::replace_with_mode(&files.ca, issuer.pem().as_bytes(), Some(0o600))
        .map_err(|e| failed(&e))?;
    crate::durable::replace_with_mode(&files.cert, leaf_cert.pem().as_bytes(), Some(0o600))
        .map_err(|e| failed(&e))?;
    files.created = true;
    Ok(files)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "Portcullis development");
    name
}

/// All three files present, loadable, and the leaf younger than [`RENEW_AFTER`].
fn reusable(files: &DevCertificate) -> bool {
    let young = std::fs::metadata(&files.cert)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|at| at.elapsed().ok())
        .is_some_and(|age| age < RENEW_AFTER);
    young && files.ca.exists() && ReloadingCert::load(&files.cert, &files.key).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_a_loadable_certificate_once_and_then_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path(), None).unwrap();
        assert!(first.created);
        let loaded = ReloadingCert::load(&first.cert, &first.key).unwrap();
        let again = ensure(dir.path(), None).unwrap();
        assert!(!again.created);
        assert_eq!(
            ReloadingCert::load(&again.cert, &again.key)
                .unwrap()
                .fingerprint(),
            loaded.fingerprint()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&first.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(
            !std::fs::read_to_string(&first.ca)
                .unwrap()
                .contains("PRIVATE")
        );
    }
}
