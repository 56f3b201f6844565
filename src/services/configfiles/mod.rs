//! The config-file service (seed 002): named files, read and changed whole or by section,
//! with a backup before every change, atomic durable writes, and optimistic concurrency.
//!
//! Clients name entries of `[files]`; no client-supplied path ever reaches the file system.
//! This service trusts its caller to have checked who may do what (the envelope layer does,
//! per client): it receives a parsed [`Request`] and answers with fields for the response.

pub mod backups;
pub mod format;
pub mod ini;
/// The HTTP face of the service, `POST /api/config`: the only file here that knows axum.
/// What a client may ask: the decrypted request body.
pub mod request;
pub mod routes;
/// `[files]`.
pub mod settings;

pub use request::{ACTIONS, Request};

use crate::clock::Clock;
use crate::config::{ConfigError, FileSettings};
use crate::durable;
use backups::{BackupInfo, Backups};
use format::{FileFormat, FormatError, SectionView};
use ini::{Selector, Upsert};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The content version clients see and send back in `if_version`: `sha256:<hex>`.
pub fn version(contents: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(contents)))
}

/// Why a request failed; each maps to one status in the envelope.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// 404: not an entry of `[files]` (or not one this client may use: same answer).
    #[error("unknown file `{0}`")]
    UnknownFile(String),
    /// 404: the entry exists but the file does not (yet).
    #[error("file `{0}` does not exist")]
    Missing(String),
    /// 404: no such section or backup.
    #[error("{0}")]
    NotFound(String),
    /// 409: `if_version` no longer matches.
    #[error("file `{file}` has changed: it is at version {current}")]
    Stale {
        /// The entry.
        file: String,
        /// Its version now.
        current: String,
    },
    /// 400: the request or the resulting file is not valid.
    #[error("{0}")]
    Invalid(String),
    /// 413: over `envelope.max_file_bytes`.
    #[error("file is larger than {0} bytes")]
    TooLarge(usize),
    /// 500: the file system failed; logged, never shown.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<FormatError> for ConfigFileError {
    fn from(err: FormatError) -> Self {
        match err {
            FormatError::NotFound(m) => Self::NotFound(m),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// A file under management.
#[derive(Debug)]
struct Managed {
    name: String,
    path: PathBuf,
    format: &'static dyn FileFormat,
    backups: Option<Backups>,
    /// Serialises read-modify-write cycles on this file within the process.
    lock: Mutex<()>,
}

/// The service.
#[derive(Clone)]
pub struct ConfigFiles {
    files: Arc<BTreeMap<String, Managed>>,
    max_bytes: usize,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ConfigFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigFiles")
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What an action answers: a message and the fields beside it.
#[derive(Debug)]
pub struct Answer {
    /// One line for humans.
    pub message: String,
    /// Action-specific fields.
    pub fields: Map<String, Value>,
}

impl Answer {
    fn new(message: impl Into<String>, fields: Value) -> Self {
        let fields = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self {
            message: message.into(),
            fields,
        }
    }
}

/// An entry name: letters, digits, `_`, `-`, `.`; at most 64.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && name != "."
        && name != ".."
}

impl ConfigFiles {
    /// From `[files]`; backups go under `backup_root/<name>/`.
    pub fn new(
        files: &BTreeMap<String, FileSettings>,
        backup_root: &Path,
        max_bytes: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let mut managed = BTreeMap::new();
        for (name, settings) in files {
            if !valid_name(name) {
                return Err(ConfigError::Invalid {
                    key: "files",
                    reason: format!("`{name}`: names are letters, digits, `_`, `-` and `.`"),
                });
            }
            if !settings.path.is_absolute() || settings.path.file_name().is_none() {
                return Err(ConfigError::Invalid {
                    key: "files",
                    reason: format!("`{name}`: path must be an absolute file path"),
                });
            }
            let format = match &settings.format {
                None => format::for_path(&settings.path),
                Some(f) => format::by_name(f).ok_or_else(|| ConfigError::Invalid {
                    key: "files",
                    reason: format!("`{name}`: unknown format `{f}` (known: ini, text)"),
                })?,
            };
            managed.insert(
                name.clone(),
                Managed {
                    name: name.clone(),
                    path: settings.path.clone(),
                    format,
                    backups: settings
                        .backup
                        .then(|| Backups::new(backup_root.join(name), settings.keep_backups)),
                    lock: Mutex::new(()),
                },
            );
        }
        Ok(Self {
            files: Arc::new(managed),
            max_bytes,
            clock,
        })
    }

    /// Remove the temporary files a crash mid-write may have left beside managed files.
    pub fn sweep_temporaries(&self) {
        for file in self.files.values() {
            match durable::sweep_temporaries(&file.path) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!(file = %file.name, removed = n, "removed temporary files left by an interrupted write")
                }
                Err(err) => {
                    tracing::warn!(file = %file.name, error = %err, "cannot look for leftover temporary files")
                }
            }
        }
    }

    /// Whether `name` is a configured entry.
    pub fn contains(&self, name: &str) -> bool {
        self.files.contains_key(name)
    }

    /// Carry out `request`. `visible` are the entries this client may use (for `list_files`;
    /// the caller has already refused a named file outside them).
    pub async fn handle(
        &self,
        request: Request,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Answer, ConfigFileError> {
        if let Request::ListFiles = request {
            let files: Vec<Value> = self
                .files
                .values()
                .filter(|m| visible(&m.name))
                .map(|m| json!({"name": m.name, "format": m.format.name(), "backup": m.backups.is_some()}))
                .collect();
            return Ok(Answer::new(
                format!("{} file(s)", files.len()),
                json!({ "files": files }),
            ));
        }
        let this = self.clone();
        // File-system work blocks; keep it off the async workers.
        tokio::task::spawn_blocking(move || this.handle_blocking(request))
            .await
            .map_err(|err| ConfigFileError::Io {
                context: "config file task".to_owned(),
                source: std::io::Error::other(err.to_string()),
            })?
    }

    fn managed(&self, name: &str) -> Result<&Managed, ConfigFileError> {
        self.files
            .get(name)
            .ok_or_else(|| ConfigFileError::UnknownFile(name.to_owned()))
    }

    fn handle_blocking(&self, request: Request) -> Result<Answer, ConfigFileError> {
        let Some(name) = request.file() else {
            return Err(ConfigFileError::Invalid(
                "this action names no file".to_owned(),
            ));
        };
        let file = self.managed(name)?;
        let _guard = file.lock.lock().unwrap_or_else(|p| p.into_inner());
        match request {
            Request::ListFiles => Err(ConfigFileError::Invalid("unreachable".to_owned())),
            Request::ReadFile { .. } => {
                let text = self.read_text(file)?;
                Ok(Answer::new(
                    "File read",
                    json!({"file": file.name, "content": text, "version": version(text.as_bytes())}),
                ))
            }
            Request::WriteFile {
                content,
                if_version,
                ..
            } => {
                if content.len() > self.max_bytes {
                    return Err(ConfigFileError::TooLarge(self.max_bytes));
                }
                file.format.validate(&content)?;
                let current = self.read_optional(file)?;
                check_version(file, current.as_deref(), if_version.as_deref())?;
                self.commit(
                    file,
                    current.as_deref(),
                    &content,
                    "File written successfully",
                    Map::new(),
                )
            }
            Request::ReadSection {
                section,
                index,
                matching,
                ..
            } => {
                let selector = selector(index, matching)?;
                let text = self.read_text(file)?;
                let view: SectionView = file.format.read_section(&text, &section, &selector)?;
                Ok(Answer::new(
                    "Section read",
                    json!({"file": file.name, "section": view, "version": version(text.as_bytes())}),
                ))
            }
            Request::WriteSection {
                section,
                index,
                matching,
                entries,
                if_version,
                ..
            } => {
                let selector = selector(index, matching)?;
                let text = self.read_text(file)?;
                check_version(file, Some(&text), if_version.as_deref())?;
                let (new, outcome) = file
                    .format
                    .write_section(&text, &section, &selector, &entries)?;
                let mut extra = Map::new();
                let outcome = match outcome {
                    Upsert::Added => "added",
                    Upsert::Replaced => "replaced",
                };
                extra.insert("outcome".to_owned(), outcome.into());
                self.commit(
                    file,
                    Some(&text),
                    &new,
                    &format!("Section {outcome}"),
                    extra,
                )
            }
            Request::DeleteSection {
                section,
                index,
                matching,
                if_version,
                ..
            } => {
                let selector = selector(index, matching)?;
                let text = self.read_text(file)?;
                check_version(file, Some(&text), if_version.as_deref())?;
                let new = file.format.delete_section(&text, &section, &selector)?;
                self.commit(file, Some(&text), &new, "Section deleted", Map::new())
            }
            Request::ListBackups { .. } => {
                let list: Vec<BackupInfo> = match &file.backups {
                    Some(backups) => backups
                        .list(self.max_bytes)
                        .map_err(io_error("listing backups", file))?,
                    None => Vec::new(),
                };
                Ok(Answer::new(
                    format!("{} backup(s)", list.len()),
                    json!({"file": file.name, "backups": list}),
                ))
            }
            Request::RestoreBackup {
                backup, if_version, ..
            } => {
                let Some(backups) = &file.backups else {
                    return Err(ConfigFileError::NotFound(format!(
                        "file `{}` keeps no backups",
                        file.name
                    )));
                };
                let contents = backups
                    .read(&backup, self.max_bytes)
                    .map_err(io_error("reading a backup", file))?
                    .ok_or_else(|| ConfigFileError::NotFound(format!("no backup `{backup}`")))?;
                let text = String::from_utf8(contents)
                    .map_err(|_| ConfigFileError::Invalid("backup is not UTF-8 text".to_owned()))?;
                let current = self.read_optional(file)?;
                check_version(file, current.as_deref(), if_version.as_deref())?;
                let mut extra = Map::new();
                extra.insert("restored".to_owned(), backup.into());
                self.commit(file, current.as_deref(), &text, "Backup restored", extra)
            }
        }
    }

    fn read_optional(&self, file: &Managed) -> Result<Option<String>, ConfigFileError> {
        let bytes = durable::read(&file.path, self.max_bytes).map_err(|err| {
            if err.kind() == std::io::ErrorKind::FileTooLarge {
                ConfigFileError::TooLarge(self.max_bytes)
            } else {
                io_error("reading", file)(err)
            }
        })?;
        bytes
            .map(|b| {
                String::from_utf8(b).map_err(|_| ConfigFileError::Io {
                    context: format!("reading `{}`", file.name),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"),
                })
            })
            .transpose()
    }

    fn read_text(&self, file: &Managed) -> Result<String, ConfigFileError> {
        self.read_optional(file)?
            .ok_or_else(|| ConfigFileError::Missing(file.name.clone()))
    }

    /// Back up the current content (if any, and if configured), then replace the file.
    fn commit(
        &self,
        file: &Managed,
        current: Option<&str>,
        new: &str,
        message: &str,
        mut fields: Map<String, Value>,
    ) -> Result<Answer, ConfigFileError> {
        if new.len() > self.max_bytes {
            return Err(ConfigFileError::TooLarge(self.max_bytes));
        }
        let mut backup_id = None;
        if let (Some(backups), Some(current)) = (&file.backups, current) {
            let mode = std::fs::metadata(&file.path)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
                .unwrap_or(0o600);
            let now = self.clock.now();
            backup_id = Some(
                backups
                    .save(current.as_bytes(), mode, now)
                    .map_err(io_error("backing up", file))?,
            );
        }
        durable::replace(&file.path, new.as_bytes()).map_err(io_error("writing", file))?;
        fields.insert("file".to_owned(), file.name.clone().into());
        fields.insert("version".to_owned(), version(new.as_bytes()).into());
        fields.insert(
            "backup".to_owned(),
            backup_id.map_or(Value::Null, Value::from),
        );
        Ok(Answer {
            message: message.to_owned(),
            fields,
        })
    }
}

fn io_error<'a>(
    what: &'a str,
    file: &'a Managed,
) -> impl FnOnce(std::io::Error) -> ConfigFileError + 'a {
    move |source| ConfigFileError::Io {
        context: format!("{what} `{}` ({})", file.name, file.path.display()),
        source,
    }
}

fn check_version(
    file: &Managed,
    current: Option<&str>,
    expected: Option<&str>,
) -> Result<(), ConfigFileError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let now = current.map_or_else(|| "absent".to_owned(), |c| version(c.as_bytes()));
    // Versions are public content hashes, not secrets: a plain comparison is fine.
    if now != expected {
        return Err(ConfigFileError::Stale {
            file: file.name.clone(),
            current: now,
        });
    }
    Ok(())
}

fn selector(
    index: Option<usize>,
    matching: Option<BTreeMap<String, String>>,
) -> Result<Selector, ConfigFileError> {
    match (index, matching) {
        (Some(_), Some(_)) => Err(ConfigFileError::Invalid(
            "give `index` or `where`, not both".to_owned(),
        )),
        (Some(i), None) => Ok(Selector::Index(i)),
        (None, Some(m)) if m.is_empty() => {
            Err(ConfigFileError::Invalid("`where` is empty".to_owned()))
        }
        (None, Some(m)) => Ok(Selector::Where(m.into_iter().collect())),
        (None, None) => Ok(Selector::Only),
    }
}
