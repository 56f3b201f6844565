//! Crash-safe file replacement, shared by the config-file service and the key files.
//!
//! A replacement writes a temporary file in the same directory, syncs it, gives it the old
//! file's mode and owner, renames it over the old one and syncs the directory: after a crash
//! at any instant the path holds the old content or the new, never a torn mix (rename is
//! atomic on POSIX file systems), and once we answer, the new content is on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Read at most `max` bytes of `path`; `Ok(None)` when it does not exist.
pub fn read(path: &Path, max: usize) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    let mut contents = Vec::new();
    file.take(max as u64 + 1).read_to_end(&mut contents)?;
    if contents.len() > max {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!("{} is larger than {max} bytes", path.display()),
        ));
    }
    Ok(Some(contents))
}

/// Replace `path` with `contents` atomically and durably, keeping mode and ownership (a new
/// file gets mode 0600: config files such as wg0.conf hold private keys).
pub fn replace(path: &Path, contents: &[u8]) -> io::Result<()> {
    replace_with_mode(path, contents, None)
}

/// [`replace`], but with mode `mode` whatever the old file had (`None`: keep the old mode),
/// for files that must stay private, such as key files.
pub fn replace_with_mode(path: &Path, contents: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = parent(path)?;
    let existing = fs::metadata(path).ok();
    let mode = mode.unwrap_or_else(|| {
        existing
            .as_ref()
            .map_or(0o600, |m| m.permissions().mode() & 0o7777)
    });
    let tmp = temp_path(path)?;
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        if let Some(meta) = &existing {
            // Keep the owner; refusing is better than silently handing the file to us.
            std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()))?;
        }
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn parent(path: &Path) -> io::Result<&Path> {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no directory"))
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(io::Error::other)?;
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".{}.tmp", hex::encode(random)));
    Ok(path.with_file_name(tmp))
}

/// Remove temporary files that a crash left beside `path` (ours only: `.<name>.<16 hex>.tmp`).
/// Returns how many were removed.
pub fn sweep_temporaries(path: &Path) -> io::Result<usize> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Ok(0);
    };
    let prefix = format!(".{name}.");
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(err) => return Err(err),
    };
    for entry in entries.filter_map(Result::ok) {
        let file_name = entry.file_name();
        let Some(candidate) = file_name.to_str() else {
            continue;
        };
        let ours = candidate
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if ours {
            fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// fsync a directory, so that a rename or an unlink in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create `dir` (and parents) with mode 0700 if missing.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_the_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wg0.conf");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        replace(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        let fresh = dir.path().join("new.conf");
        replace(&fresh, b"x").unwrap();
        assert_eq!(
            fs::metadata(&fresh).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn read_refuses_oversized_files_and_reports_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert!(read(&path, 10).unwrap().is_none());
        fs::write(&path, "0123456789").unwrap();
        assert_eq!(read(&path, 10).unwrap().unwrap(), b"0123456789");
        assert_eq!(
            read(&path, 9).unwrap_err().kind(),
            io::ErrorKind::FileTooLarge
        );
    }
}
