//! Everything Portcullis keeps on disk is private to the user it runs as: directories 0700,
//! files 0600, whatever the umask of whoever started it. The process sets a umask of 077 at
//! start (so files created by libraries, such as SQLite's WAL or the daily log files, are
//! private from their first byte), the files we create ourselves ask for 0600 explicitly, and
//! at start the data directory and the log files are checked and tightened, in case an
//! older version, a copy or an operator left something readable by others.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Mode bits that let anyone but the owner in.
const OTHERS: u32 = 0o077;

/// Set the process umask to 077: everything created from now on is private to our user.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Whether `path` can be read, written or entered by anyone but its owner.
pub fn is_loose(path: &Path) -> io::Result<bool> {
    Ok(fs::symlink_metadata(path)?.permissions().mode() & OTHERS != 0)
}

/// Tighten `dir` and everything under it (not following symbolic links): directories to
/// 0700, files to 0600. Returns the paths that were looser.
pub fn tighten_tree(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut tightened = Vec::new();
    tighten(dir, &mut tightened)?;
    Ok(tightened)
}

fn tighten(path: &Path, tightened: &mut Vec<PathBuf>) -> io::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    let file_type = meta.file_type();
    if file_type.is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & OTHERS != 0 {
        let wanted = if file_type.is_dir() { 0o700 } else { 0o600 };
        fs::set_permissions(path, fs::Permissions::from_mode(wanted))?;
        tightened.push(path.to_owned());
    }
    if file_type.is_dir() {
        for entry in fs::read_dir(path)? {
            tighten(&entry?.path(), tightened)?;
        }
    }
    Ok(())
}

/// Tighten the log files `<log_file>*` (the daily files beside it), never other files in
/// the same directory. Returns the paths that were looser.
pub fn tighten_log_files(log_file: &Path) -> io::Result<Vec<PathBuf>> {
    let (Some(dir), Some(name)) = (log_file.parent(), log_file.file_name()) else {
        return Ok(Vec::new());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = name.to_string_lossy();
    let mut tightened = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(tightened),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(name.as_ref())
            && entry.file_type()?.is_file()
        {
            tighten(&entry.path(), &mut tightened)?;
        }
    }
    Ok(tightened)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_loose_tree_is_tightened_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("backups")).unwrap();
        fs::write(data.join("portcullis.db"), "x").unwrap();
        fs::write(data.join("backups/a"), "x").unwrap();
        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(
            data.join("portcullis.db"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        fs::set_permissions(data.join("backups/a"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::set_permissions(data.join("backups"), fs::Permissions::from_mode(0o700)).unwrap();
        let tightened = tighten_tree(&data).unwrap();
        assert_eq!(tightened, vec![data.clone(), data.join("portcullis.db")]);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("portcullis.db")), 0o600);
        assert!(tighten_tree(&data).unwrap().is_empty());
    }

    #[test]
    fn only_our_log_files_are_touched() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("portcullis.log");
        fs::write(dir.path().join("portcullis.log.2026-11-28"), "x").unwrap();
        fs::write(dir.path().join("other.log"), "x").unwrap();
        for name in ["portcullis.log.2026-11-28", "other.log"] {
            fs::set_permissions(dir.path().join(name), fs::Permissions::from_mode(0o644)).unwrap();
        }
        let tightened = tighten_log_files(&log).unwrap();
        assert_eq!(
            tightened,
            vec![dir.path().join("portcullis.log.2026-11-28")]
        );
        assert_eq!(mode(&dir.path().join("other.log")), 0o644);
    }
}
