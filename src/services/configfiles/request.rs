//! The actions of the config service as clients send them (`{"action": "read_file", …}`).

use serde::Deserialize;
use std::collections::BTreeMap;

/// Every action, by its wire name.
pub const ACTIONS: [&str; 8] = [
    "list_files",
    "read_file",
    "write_file",
    "read_section",
    "write_section",
    "delete_section",
    "list_backups",
    "restore_backup",
];

/// A decrypted request body. Unknown fields are refused, so a typo (`if_verison`) is an
/// error rather than a write without the check the client meant to ask for.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Names, formats and backup settings of the files this client may use.
    ListFiles,
    /// A whole file and its version.
    ReadFile {
        /// Entry name in `[files]`.
        file: String,
    },
    /// Replace a whole file.
    WriteFile {
        /// Entry name in `[files]`.
        file: String,
        /// The new text (`data` is accepted too, as in the seed).
        #[serde(alias = "data")]
        content: String,
        /// Refuse with 409 unless the file is still at this version.
        #[serde(default)]
        if_version: Option<String>,
    },
    /// One section.
    ReadSection {
        /// Entry name in `[files]`.
        file: String,
        /// Section name, e.g. `Peer`.
        section: String,
        /// Position among sections of that name.
        #[serde(default)]
        index: Option<usize>,
        /// Key/value pairs the section must have, e.g. `{"PublicKey": "…"}`.
        #[serde(default, rename = "where")]
        matching: Option<BTreeMap<String, String>>,
    },
    /// Replace the selected section's entries, or add the section.
    WriteSection {
        /// Entry name in `[files]`.
        file: String,
        /// Section name.
        section: String,
        /// Position among sections of that name (equal to their count: append).
        #[serde(default)]
        index: Option<usize>,
        /// Key/value pairs the section must have.
        #[serde(default, rename = "where")]
        matching: Option<BTreeMap<String, String>>,
        /// The section's entries, in order; keys may repeat.
        entries: Vec<(String, String)>,
        /// Refuse with 409 unless the file is still at this version.
        #[serde(default)]
        if_version: Option<String>,
    },
    /// Remove the selected section.
    DeleteSection {
        /// Entry name in `[files]`.
        file: String,
        /// Section name.
        section: String,
        /// Position among sections of that name.
        #[serde(default)]
        index: Option<usize>,
        /// Key/value pairs the section must have.
        #[serde(default, rename = "where")]
        matching: Option<BTreeMap<String, String>>,
        /// Refuse with 409 unless the file is still at this version.
        #[serde(default)]
        if_version: Option<String>,
    },
    /// Backups of a file, newest first.
    ListBackups {
        /// Entry name in `[files]`.
        file: String,
    },
    /// Put a backup back (itself backed up first, like any change).
    RestoreBackup {
        /// Entry name in `[files]`.
        file: String,
        /// An id from `list_backups`.
        backup: String,
        /// Refuse with 409 unless the file is still at this version.
        #[serde(default)]
        if_version: Option<String>,
    },
}

impl Request {
    /// The wire name of the action.
    pub fn action(&self) -> &'static str {
        match self {
            Self::ListFiles => "list_files",
            Self::ReadFile { .. } => "read_file",
            Self::WriteFile { .. } => "write_file",
            Self::ReadSection { .. } => "read_section",
            Self::WriteSection { .. } => "write_section",
            Self::DeleteSection { .. } => "delete_section",
            Self::ListBackups { .. } => "list_backups",
            Self::RestoreBackup { .. } => "restore_backup",
        }
    }

    /// The file entry named, if the action names one.
    pub fn file(&self) -> Option<&str> {
        match self {
            Self::ListFiles => None,
            Self::ReadFile { file }
            | Self::WriteFile { file, .. }
            | Self::ReadSection { file, .. }
            | Self::WriteSection { file, .. }
            | Self::DeleteSection { file, .. }
            | Self::ListBackups { file }
            | Self::RestoreBackup { file, .. } => Some(file),
        }
    }

    /// Whether the action changes a file.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Self::WriteFile { .. }
                | Self::WriteSection { .. }
                | Self::DeleteSection { .. }
                | Self::RestoreBackup { .. }
        )
    }
}
