//! What the server keeps in its data directory besides the database: the session and audit
//! keys, the envelope keys, backups, and the first admin key (written once, 0600).

use super::*;
use crate::auth::keys::ChangedBy;

/// Name of the file, in the data directory, that holds the session key (when not configured).
pub const SESSION_KEY_FILE: &str = "session.key";

/// Name of the file, in the data directory, that receives the first admin key.
pub const INITIAL_ADMIN_KEY_FILE: &str = "initial-admin.key";

/// Directory, in the data directory, of config-file backups (one subdirectory per file).
pub const BACKUP_DIR: &str = "backups";

/// Directory, in the data directory, of the envelope keys (when not configured).
pub const ENVELOPE_KEY_DIR: &str = "envelope";

/// The server's envelope keys: from `[envelope]` when given (never reloaded), else from
/// `<data_dir>/envelope/` (created on first start, reloaded on rotation).
pub fn envelope_keyring(settings: &Settings) -> anyhow::Result<LiveKeyring> {
    let envelope = &settings.envelope;
    match &envelope.private_key {
        Some(pem) => {
            let current = ServerKey::from_pem(pem.expose()).context("envelope.private_key")?;
            let previous = envelope
                .previous_private_key
                .as_ref()
                .map(|pem| ServerKey::from_pem(pem.expose()))
                .transpose()
                .context("envelope.previous_private_key")?;
            Ok(LiveKeyring::fixed(Keyring::new(current, previous)))
        }
        None => {
            anyhow::ensure!(
                envelope.previous_private_key.is_none(),
                "envelope.previous_private_key needs envelope.private_key"
            );
            let dir = settings.storage.data_dir.join(ENVELOPE_KEY_DIR);
            Ok(LiveKeyring::from_dir(&dir)?)
        }
    }
}

/// Name of the file, in the data directory, that holds the audit-chain key (when not configured).
pub const AUDIT_KEY_FILE: &str = "audit.key";

/// The key of the audit chain: `auth.audit_secret`, else `<data_dir>/audit.key` (created once).
pub fn audit_key(settings: &Settings) -> anyhow::Result<SecretKey> {
    match &settings.auth.audit_secret {
        Some(secret) => SecretKey::from_hex(secret.expose())
            .context("auth.audit_secret must be 64 hex characters"),
        None => {
            let path = settings.storage.data_dir.join(AUDIT_KEY_FILE);
            SecretKey::load_or_create(&path).with_context(|| format!("reading {}", path.display()))
        }
    }
}

/// Create `dir` (and parents) readable by the owner only.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let shown = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "the data directory {} is a file, not a directory: move the file away, or set \
             storage.data_dir (PORTCULLIS_STORAGE__DATA_DIR) to a directory",
            shown.display()
        );
    }
    crate::durable::ensure_private_dir(dir).map_err(|err| {
        let fix = match err.kind() {
            std::io::ErrorKind::PermissionDenied => {
                "this user may not create it there: create it for this user (mode 0700), or \
                 set storage.data_dir (PORTCULLIS_STORAGE__DATA_DIR) to a directory it may write"
            }
            std::io::ErrorKind::ReadOnlyFilesystem => {
                "the file system is read-only: set storage.data_dir to a writable directory"
            }
            _ => "set storage.data_dir (PORTCULLIS_STORAGE__DATA_DIR) to a directory this user may write",
        };
        anyhow::anyhow!("cannot create the data directory {}: {err}; {fix}", shown.display())
    })
}

/// The first admin key of a store: owner `admin`, no expiry.
pub fn initial_admin_key() -> CreateKey {
    CreateKey {
        owner: "admin".to_owned(),
        owner_kind: OwnerKind::User,
        role: "admin".to_owned(),
        label: Some("initial admin key".to_owned()),
        expires_in: None,
        metadata: None,
        rate: None,
        quota: None,
    }
}

/// Issue the first admin key and write it, mode 0600, to the data directory; `None` when the
/// store has a key already (another node, starting at the same moment, made it). If the file
/// cannot be written the key is revoked at once (nobody could know it) and start-up fails;
/// `portcullis keys create --role admin` then issues one from the command line.
pub(super) async fn write_initial_admin_key(
    keys: &KeyManager,
    data_dir: &Path,
) -> anyhow::Result<Option<PathBuf>> {
    let path = data_dir.join(INITIAL_ADMIN_KEY_FILE);
    let Some(issued) = keys
        .create_first(initial_admin_key(), ChangedBy::Unrecorded)
        .await
        .context("creating the initial admin key")?
    else {
        return Ok(None);
    };
    let write = || -> std::io::Result<()> {
        // Replace any stale file from an earlier, wiped store; never widen its permissions.
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(issued.token.expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    };
    if let Err(err) = write() {
        // Without the file nobody can use the key: revoke it so the next start tries again.
        let _ = keys.revoke(&issued.record.id, ChangedBy::Unrecorded).await;
        return Err(err).with_context(|| format!("writing {}", path.display()));
    }
    Ok(Some(path))
}
