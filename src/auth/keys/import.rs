//! Keys issued by another system, carried over by their hash so that nobody has to change
//! the key they hold (a team leaving seed 000's Flask app, whose keys are stored as SHA-256
//! hex). The key string itself never reaches us here; an imported key is found by the
//! SHA-256 of what its holder presents (`KeyVerifier::identify`), and from then on it is a
//! key like any other: listed (`"source": "imported"`), limited, revoked, rotated — rotation
//! issues one of ours.
//!
//! An import is checked whole before anything is written: one bad line, or a hash that is
//! already known (in the store or twice in the batch), and nothing is imported.

use super::*;
use base64::Engine;
use std::collections::HashMap;

/// Most keys one import through the API may carry (the CLI takes a whole file at once).
pub const MAX_IMPORT: usize = 1000;

/// The format of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportFormat {
    /// One JSON object per line (blank lines are skipped).
    JsonLines,
    /// A header row naming the columns (`hash,owner,role` and any of `owner_kind`,
    /// `label`, `expires_at`, `metadata` — the last as a JSON object), one key per row.
    Csv,
}

/// One CSV row, before it becomes an [`ImportKey`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvRow {
    hash: String,
    owner: String,
    role: String,
    #[serde(default)]
    owner_kind: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    metadata: Option<String>,
}

impl CsvRow {
    fn into_key(self) -> Result<ImportKey, String> {
        let empty_as_none = |v: Option<String>| v.filter(|t| !t.is_empty());
        Ok(ImportKey {
            hash: self.hash,
            owner: self.owner,
            owner_kind: match empty_as_none(self.owner_kind).as_deref() {
                None | Some("user") => OwnerKind::User,
                Some("app") => OwnerKind::App,
                Some(_) => return Err("owner_kind must be user or app".to_owned()),
            },
            role: self.role,
            label: empty_as_none(self.label),
            expires_at: empty_as_none(self.expires_at),
            metadata: match empty_as_none(self.metadata) {
                None => None,
                Some(text) => Some(
                    serde_json::from_str(&text)
                        .map_err(|_| "metadata must be a JSON object".to_owned())?,
                ),
            },
        })
    }
}

/// The keys of an import file, each with its line number; every unreadable line is named.
pub fn read_import(text: &str, format: ImportFormat) -> Result<Vec<(usize, ImportKey)>, KeyError> {
    let mut keys = Vec::new();
    let mut problems = Vec::new();
    match format {
        ImportFormat::JsonLines => {
            for (index, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<ImportKey>(line) {
                    Ok(key) => keys.push((index + 1, key)),
                    // serde's message names the field; it never quotes a value.
                    Err(err) => problems.push((index + 1, format!("not a key: {err}"))),
                }
            }
        }
        ImportFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .trim(csv::Trim::All)
                .from_reader(text.as_bytes());
            let headers = match reader.headers() {
                Ok(headers) => headers.clone(),
                Err(err) => return Err(KeyError::Invalid(format!("line 1: {}", csv_reason(&err)))),
            };
            for record in reader.records() {
                let record = match record {
                    Ok(record) => record,
                    Err(err) => {
                        let at = err.position().map_or(0, |p| p.line());
                        problems.push((usize::try_from(at).unwrap_or(0), csv_reason(&err)));
                        continue;
                    }
                };
                let at = usize::try_from(record.position().map_or(0, |p| p.line())).unwrap_or(0);
                match record
                    .deserialize::<CsvRow>(Some(&headers))
                    .map_err(|err| format!("not a key: {}", csv_reason(&err)))
                    .and_then(CsvRow::into_key)
                {
                    Ok(key) => keys.push((at, key)),
                    Err(problem) => problems.push((at, problem)),
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(KeyError::Invalid(listing(&problems)));
    }
    Ok(keys)
}

/// A CSV error without the row's content.
fn csv_reason(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        csv::ErrorKind::UnequalLengths { .. } => {
            "a different number of fields than the header".into()
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
        _ => "unreadable".into(),
    }
}

/// Most problems an import's refusal lists (the first ones; the count says how many).
const MAX_LISTED: usize = 20;

/// One key to import, as a line of JSON Lines, a CSV row or an element of the API's list.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportKey {
    /// SHA-256 of the key string: 64 hex characters, or base64 (standard or URL-safe,
    /// padded or not) of the 32 bytes.
    #[schema(pattern = r"^\s*([0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)\s*$")]
    pub hash: String,
    /// Owner name (created on first use).
    #[schema(value_type = crate::http::openapi::Name)]
    pub owner: String,
    /// Person or program; used only when the owner is new.
    #[serde(default)]
    pub owner_kind: OwnerKind,
    /// Role name.
    #[schema(value_type = crate::auth::Role)]
    pub role: String,
    /// Optional label.
    #[serde(default)]
    #[schema(value_type = Option<crate::http::openapi::Name>)]
    pub label: Option<String>,
    /// When the key stops working, RFC 3339.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Free-form JSON object.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The 32 bytes of a SHA-256 given as 64 hex characters or as base64.
pub fn parse_hash(text: &str) -> Result<[u8; 32], KeyError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text).ok()
    } else {
        let unpadded = text.trim_end_matches('=');
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(unpadded)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
            .ok()
    };
    bytes
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| {
            KeyError::Invalid(
                "hash must be a SHA-256: 64 hex characters, or base64 of 32 bytes".to_owned(),
            )
        })
}

fn parse_expiry(text: &str) -> Result<i64, KeyError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| {
            KeyError::Invalid("expires_at must be an RFC 3339 time (2027-01-31T00:00:00Z)".into())
        })
}

/// Problems found in an import, each with its line (1-based), as one message.
fn listing(problems: &[(usize, String)]) -> String {
    let mut text = problems
        .iter()
        .take(MAX_LISTED)
        .map(|(line, problem)| format!("line {line}: {problem}"))
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > MAX_LISTED {
        text.push_str(&format!("; and {} more", problems.len() - MAX_LISTED));
    }
    text
}

impl KeyManager {
    /// Import `keys`, each with the line (or list position) it came from: all of them, or
    /// none when any is invalid (every bad line named) or its hash is known already
    /// ([`KeyError::Exists`]). Each imported key is recorded in the audit trail as
    /// `key.import`.
    pub async fn import(
        &self,
        keys: Vec<(usize, ImportKey)>,
        by: ChangedBy<'_>,
    ) -> Result<Vec<KeyRecord>, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Invalid("there are no keys to import".to_owned()));
        }
        let now = self.clock.unix();
        let mut problems = Vec::new();
        let mut prepared = Vec::with_capacity(keys.len());
        let mut seen: HashMap<[u8; 32], usize> = HashMap::new();
        for (line, key) in keys {
            match self.prepare_import(key, now) {
                Ok(new) => {
                    if let Some(first) = seen.insert(new.key_hash, line) {
                        problems.push((line, format!("the same hash as line {first}")));
                    }
                    prepared.push((line, new));
                }
                Err(KeyError::Invalid(problem)) => problems.push((line, problem)),
                Err(err) => return Err(err),
            }
        }
        if !problems.is_empty() {
            return Err(KeyError::Invalid(listing(&problems)));
        }
        let mut known = Vec::new();
        for (line, new) in &prepared {
            if let Some(existing) = self.store.get_key_by_hash(&new.key_hash).await? {
                known.push((
                    *line,
                    format!("a key with this hash exists: {}", existing.id),
                ));
            }
        }
        if !known.is_empty() {
            return Err(KeyError::Exists(listing(&known)));
        }
        // One transaction: a failure on any key (the store, or a hash imported meanwhile by
        // someone else, which the unique index refuses) leaves none of them.
        let imported = match self
            .store
            .create_keys(prepared.into_iter().map(|(_, new)| new).collect())
            .await
        {
            Ok(records) => records,
            Err(StoreError::Conflict(_)) => {
                return Err(KeyError::Exists(
                    "a key with one of these hashes was imported meanwhile; nothing was imported"
                        .to_owned(),
                ));
            }
            Err(err) => return Err(err.into()),
        };
        for record in &imported {
            self.invalidate(&record.id);
            self.record(by, "key.import", &record.id).await;
        }
        Ok(imported)
    }

    fn prepare_import(&self, key: ImportKey, now: i64) -> Result<NewKey, KeyError> {
        let key_hash = parse_hash(&key.hash)?;
        if self
            .verifier
            .as_ref()
            .is_some_and(|v| v.is_environment_hash(&key_hash))
        {
            return Err(KeyError::Invalid(
                "this is the hash of a key given in the environment (ADMIN_API_KEY, …), which \
                 is accepted already and cannot be revoked here"
                    .to_owned(),
            ));
        }
        let owner = validate_name("owner", &key.owner)?;
        let label = key
            .label
            .as_deref()
            .map(|l| validate_name("label", l))
            .transpose()?;
        let role = parse_role(&key.role)?;
        let metadata = validate_metadata(key.metadata.unwrap_or_default())?;
        let expires_at = key.expires_at.as_deref().map(parse_expiry).transpose()?;
        Ok(NewKey {
            id: key_format::random_id()?,
            owner_name: owner,
            owner_kind: key.owner_kind,
            role: role.as_str().to_owned(),
            label,
            key_hash,
            source: KeyOrigin::Imported,
            metadata,
            created_at: now,
            expires_at,
            limits: KeyLimits::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_hash;
    use sha2::{Digest, Sha256};

    #[test]
    fn a_hash_is_hex_or_base64_of_32_bytes() {
        let digest: [u8; 32] = Sha256::digest(b"legacy key").into();
        let hex = hex::encode(digest);
        assert_eq!(parse_hash(&hex).unwrap(), digest);
        assert_eq!(parse_hash(&hex.to_uppercase()).unwrap(), digest);
        use base64::Engine;
        for engine in [
            base64::engine::general_purpose::STANDARD,
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ] {
            assert_eq!(parse_hash(&engine.encode(digest)).unwrap(), digest);
        }
        for bad in [
            "",
            "abc",
            &hex[..62],
            &format!("{hex}00"),
            "zz".repeat(32).as_str(),
        ] {
            assert!(parse_hash(bad).is_err(), "{bad}");
        }
        // 33 bytes of base64 is not a SHA-256.
        let long = base64::engine::general_purpose::STANDARD.encode([7u8; 33]);
        assert!(parse_hash(&long).is_err());
    }
}
