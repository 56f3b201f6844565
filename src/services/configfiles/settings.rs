//! `[files]`: the files the config service may touch, by the name clients use.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One entry of `[files]`: `wireguard_wg0 = { path = "/etc/wireguard/wg0.conf", backup = true }`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// Absolute path of the file. Clients name the entry, never a path.
    pub path: PathBuf,
    /// Copy the file aside before every change.
    #[serde(default = "yes")]
    pub backup: bool,
    /// `ini` (sections such as WireGuard's) or `text` (whole file only); default by extension:
    /// `.conf`, `.ini` → `ini`, anything else → `text`.
    #[serde(default)]
    pub format: Option<String>,
    /// Backups kept per file; older ones are deleted.
    #[serde(default = "default_keep_backups")]
    pub keep_backups: usize,
}

fn yes() -> bool {
    true
}

fn default_keep_backups() -> usize {
    10
}
