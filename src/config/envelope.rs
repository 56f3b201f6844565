//! `[client_keys]` and `[envelope]`: the config service's clients and the server's envelope keys.

use super::*;

/// The client name (`iss`) of seed 002's single-client form, `[client_keys] public_key = …`.
pub const DEFAULT_CLIENT: &str = "default";

/// `[client_keys]` is either a table of named clients or, as in seed 002's `config.toml`,
/// one client's own settings (`public_key`, optionally `files` and `actions`).
pub(super) fn client_keys_in_either_form<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, ClientKeySettings>, D::Error> {
    use serde::de::Error;
    let raw =
        std::collections::BTreeMap::<String, figment::value::Value>::deserialize(deserializer)?;
    let single = raw.get("public_key").is_some_and(|v| v.as_str().is_some());
    let read = |name: &str, value: figment::value::Value| {
        value.deserialize::<ClientKeySettings>().map_err(|err| {
            let problems: Vec<String> = err
                .into_iter()
                .map(|mut e| {
                    e.path.insert(0, name.to_owned());
                    e.path.insert(0, "client_keys".to_owned());
                    describe::problem(&e)
                })
                .collect();
            D::Error::custom(problems.join("; "))
        })
    };
    if single {
        let all_files = !raw.contains_key("files");
        let mut client = read(DEFAULT_CLIENT, figment::value::Value::from(raw))?;
        client.all_files = all_files;
        return Ok(std::collections::BTreeMap::from([(
            DEFAULT_CLIENT.to_owned(),
            client,
        )]));
    }
    raw.into_iter()
        .map(|(name, value)| Ok((name.clone(), read(&name, value)?)))
        .collect()
}

/// One entry of `[client_keys.<name>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientKeySettings {
    /// The client's P-256 public key, PEM (`BEGIN PUBLIC KEY`), as `jose keygen` writes it.
    pub public_key: String,
    /// Names from `[files]` this client may use.
    #[serde(default, deserialize_with = "lists::one_or_many")]
    pub files: Vec<String>,
    /// Actions this client may use; all when unset.
    #[serde(default, deserialize_with = "lists::optional_one_or_many")]
    pub actions: Option<Vec<String>>,
    /// Seed 002's single-client form without `files`: every `[files]` entry (filled in by
    /// [`Settings::load`]).
    #[serde(skip)]
    pub all_files: bool,
}

/// `[envelope]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvelopeSettings {
    /// The server's P-256 private key (PEM); default: `<data_dir>/envelope/current.pem`,
    /// created on first start. Set it to share one key between nodes.
    pub private_key: Option<crate::secret::SecretString>,
    /// The previous key, still accepted during a rotation (with `private_key` only).
    pub previous_private_key: Option<crate::secret::SecretString>,
    /// Longest accepted token lifetime (`exp - iat`).
    #[serde(with = "human_duration")]
    pub max_token_lifetime: Duration,
    /// Accepted clock difference for `iat` and `exp`.
    #[serde(with = "human_duration")]
    pub clock_skew: Duration,
    /// How often the key directory is checked for a rotation.
    #[serde(with = "human_duration")]
    pub key_reload_interval: Duration,
    /// Largest config file read or written, in bytes.
    pub max_file_bytes: usize,
    /// Token ids remembered at most (replay protection without Redis).
    pub replay_cache_capacity: usize,
}

impl Default for EnvelopeSettings {
    fn default() -> Self {
        Self {
            private_key: None,
            previous_private_key: None,
            max_token_lifetime: Duration::from_secs(300),
            clock_skew: Duration::from_secs(30),
            key_reload_interval: Duration::from_secs(2),
            max_file_bytes: 256 * 1024,
            replay_cache_capacity: 100_000,
        }
    }
}
