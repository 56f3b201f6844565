//! Backups of one managed file: `<data_dir>/backups/<name>/<id>.bak`, mode 0700 directory,
//! each backup 0600 at most (WireGuard configs hold private keys). Ids are
//! `<UTC time, µs>-<random>`, so they sort by age and a client can only name one that
//! [`Backups::list`] shows: ids are checked character by character and never carry a path.

use crate::durable;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use time::OffsetDateTime;
use time::macros::format_description;

/// One backup as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupInfo {
    /// Name it by this in `restore_backup`.
    pub id: String,
    /// When it was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Its size in bytes.
    pub size: u64,
    /// Content hash, comparable with a file's version.
    pub version: String,
}

/// The backups of one file.
#[derive(Debug, Clone)]
pub struct Backups {
    dir: PathBuf,
    keep: usize,
}

const SUFFIX: &str = ".bak";

impl Backups {
    /// Backups in `dir`, keeping the newest `keep`.
    pub fn new(dir: PathBuf, keep: usize) -> Self {
        Self {
            dir,
            keep: keep.max(1),
        }
    }

    /// Save `contents` (durably), then delete the oldest beyond the limit. Returns the id.
    pub fn save(&self, contents: &[u8], mode: u32, now: OffsetDateTime) -> io::Result<String> {
        durable::ensure_private_dir(&self.dir)?;
        let stamp = now
            .to_offset(time::UtcOffset::UTC)
            .format(format_description!(
                "[year][month][day]T[hour][minute][second].[subsecond digits:6]Z"
            ))
            .map_err(io::Error::other)?;
        let mut random = [0u8; 3];
        getrandom::fill(&mut random).map_err(io::Error::other)?;
        let id = format!("{stamp}-{}", hex::encode(random));
        let path = self.dir.join(format!("{id}{SUFFIX}"));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(contents)?;
        // Never more open than the data directory it lives in (checked at every start).
        file.set_permissions(fs::Permissions::from_mode(mode & 0o600))?;
        file.sync_all()?;
        durable::sync_dir(&self.dir)?;
        self.prune()?;
        Ok(id)
    }

    fn ids(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|name| name.strip_suffix(SUFFIX).map(str::to_owned))
            .filter(|id| valid_id(id))
            .collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        Ok(ids)
    }

    fn prune(&self) -> io::Result<()> {
        let ids = self.ids()?;
        if ids.len() > self.keep {
            for id in &ids[self.keep..] {
                fs::remove_file(self.dir.join(format!("{id}{SUFFIX}")))?;
            }
            durable::sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// All backups, newest first.
    pub fn list(&self, max_bytes: usize) -> io::Result<Vec<BackupInfo>> {
        self.ids()?
            .into_iter()
            .filter_map(|id| {
                let contents = durable::read(&self.dir.join(format!("{id}{SUFFIX}")), max_bytes);
                match contents {
                    Ok(Some(contents)) => Some(Ok(BackupInfo {
                        created_at: created_at(&id),
                        size: contents.len() as u64,
                        version: super::version(&contents),
                        id,
                    })),
                    Ok(None) => None,
                    Err(err) => Some(Err(err)),
                }
            })
            .collect()
    }

    /// The content of backup `id`; `None` for an id that is not one of ours.
    pub fn read(&self, id: &str, max_bytes: usize) -> io::Result<Option<Vec<u8>>> {
        if !valid_id(id) {
            return Ok(None);
        }
        durable::read(&self.dir.join(format!("{id}{SUFFIX}")), max_bytes)
    }
}

/// `YYYYMMDDTHHMMSS.ffffffZ-xxxxxx`: digits, `T`, `.`, `Z`, `-` and lowercase hex only, so an
/// id can never be `..`, contain a slash, or name a file outside the backup directory.
fn valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 30
        && bytes[8] == b'T'
        && bytes[15] == b'.'
        && bytes[22] == b'Z'
        && bytes[23] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| {
            matches!(i, 8 | 15 | 22 | 23)
                || b.is_ascii_digit()
                || (i > 23 && matches!(b, b'a'..=b'f'))
        })
}

fn created_at(id: &str) -> String {
    // Validated ids always have this shape.
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &id[0..4],
        &id[4..6],
        &id[6..8],
        &id[9..11],
        &id[11..13],
        &id[13..15]
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn saves_lists_newest_first_prunes_and_refuses_foreign_ids() {
        let dir = tempfile::tempdir().unwrap();
        let backups = Backups::new(dir.path().join("wg0"), 2);
        let t = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let a = backups.save(b"one", 0o600, t).unwrap();
        let b = backups
            .save(b"two", 0o600, t + time::Duration::seconds(1))
            .unwrap();
        let c = backups
            .save(b"three", 0o600, t + time::Duration::seconds(2))
            .unwrap();
        let listed = backups.list(1024).unwrap();
        assert_eq!(
            listed.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
            [c.as_str(), b.as_str()]
        );
        assert_eq!(listed[0].created_at, "2023-11-14T22:13:22Z");
        assert_eq!(listed[0].size, 5);
        assert!(backups.read(&a, 1024).unwrap().is_none());
        assert_eq!(backups.read(&b, 1024).unwrap().unwrap(), b"two");
        for hostile in [
            "../../etc/passwd",
            "",
            "20231114T221320.000000Z-../xx",
            &format!("{b}/"),
        ] {
            assert!(backups.read(hostile, 1024).unwrap().is_none(), "{hostile}");
        }
    }
}
