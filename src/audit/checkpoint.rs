//! The external checkpoint: the latest sequence number and hash of the chain, kept in a file
//! beside the audit key, outside the database. The chain alone proves that no record was
//! edited or removed from its middle, but not that its end is still there: deleting the
//! newest records, or all of them, leaves a chain that verifies. The checkpoint remembers how
//! far the chain reached, so `portcullis audit verify` can tell.
//!
//! It is written after appends, at most once a second and at shutdown, so it may lag the
//! chain by up to a second (or by what a `kill -9` lost): it says "the chain reached at least
//! here", and verification only asks that the named record be present and unchanged.
//! Operators can also note the line `audit verify` prints and pass it back with `--expect`.

use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;
use subtle::ConstantTimeEq;

/// Name of the checkpoint file in the data directory.
pub const CHECKPOINT_FILE: &str = "audit.checkpoint";

/// A sequence number and the hash of that record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The record's sequence number (0: an empty chain).
    pub seq: i64,
    /// Hex of the record's hash.
    pub hash: String,
}

/// A checkpoint that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("a checkpoint is written `<seq>:<64 hex characters>`, as `audit verify` prints it")]
pub struct BadCheckpoint;

impl Checkpoint {
    /// The checkpoint of record `seq` with `hash`.
    pub fn new(seq: i64, hash: [u8; 32]) -> Self {
        Self {
            seq,
            hash: hex::encode(hash),
        }
    }

    /// Whether `hash` is the one recorded.
    pub fn matches(&self, hash: &[u8; 32]) -> bool {
        // Not secret, but there is no reason to compare hashes any other way.
        bool::from(hex::encode(hash).as_bytes().ct_eq(self.hash.as_bytes()))
    }

    /// Parse `<seq>:<hex hash>`, the form printed for operators.
    pub fn parse(text: &str) -> Result<Self, BadCheckpoint> {
        let (seq, hash) = text.trim().split_once(':').ok_or(BadCheckpoint)?;
        let seq = seq
            .parse::<i64>()
            .ok()
            .filter(|s| *s >= 0)
            .ok_or(BadCheckpoint)?;
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BadCheckpoint);
        }
        Ok(Self { seq, hash })
    }

    /// Read the checkpoint file; `Ok(None)` when there is none yet.
    pub fn read(path: &Path) -> io::Result<Option<Self>> {
        let Some(bytes) = crate::durable::read(path, 4096)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))
    }

    /// Write the checkpoint (mode 0600, atomically, durably) unless the file already names a
    /// later record: a CLI and a server appending to one chain never move it backwards.
    pub fn advance(&self, path: &Path) -> io::Result<()> {
        if let Ok(Some(existing)) = Self::read(path)
            && existing.seq >= self.seq
        {
            return Ok(());
        }
        let text = serde_json::to_vec(self).map_err(io::Error::other)?;
        crate::durable::replace_with_mode(path, &text, Some(0o600))
    }

    /// Write the checkpoint whatever the file held (after an operator has investigated a
    /// break and accepts the chain as it is now).
    pub fn reset(&self, path: &Path) -> io::Result<()> {
        let text = serde_json::to_vec(self).map_err(io::Error::other)?;
        crate::durable::replace_with_mode(path, &text, Some(0o600))
    }
}

impl std::fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_form_parses_back() {
        let checkpoint = Checkpoint::new(42, [7u8; 32]);
        assert_eq!(
            Checkpoint::parse(&checkpoint.to_string()).unwrap(),
            checkpoint
        );
        assert!(Checkpoint::parse("42").is_err());
        assert!(Checkpoint::parse("-1:00").is_err());
        assert!(Checkpoint::parse(&format!("1:{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn the_file_never_moves_backwards_unless_reset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_FILE);
        Checkpoint::new(5, [5u8; 32]).advance(&path).unwrap();
        Checkpoint::new(3, [3u8; 32]).advance(&path).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap().unwrap().seq, 5);
        Checkpoint::new(3, [3u8; 32]).reset(&path).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap().unwrap().seq, 3);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
