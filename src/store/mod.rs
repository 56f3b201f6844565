//! Persistence. The rest of the program sees only the [`Store`] trait and the plain models in
//! [`models`]; each database engine has one implementation, chosen once from the URL scheme
//! (`sqlite:` or `postgres:`). All SQL lives in this module.

pub mod campaigns;
/// The campaign manager's statements, written once for every engine.
mod campaigns_sql;
pub mod copy;
pub mod messages;
pub mod migrate;
pub mod models;
/// PostgreSQL, for several nodes.
mod postgres;
/// Redis: the message drop's shared store.
mod redis;
/// Rows into models, written once for every engine.
mod rows;
/// Statements built at run time from filters and changes, written once for every engine.
pub(crate) mod sql;
/// SQLite, the embedded default.
mod sqlite;

pub use messages::{MessageStore, StoredMessage};
pub use redis::RedisMessages;

pub use models::{
    AuditDraft, AuditFilter, AuditRecord, KeyChange, KeyFilter, KeyLimits, KeyOrigin, KeyQuota,
    KeyRecord, KeyState, NewKey, NewSession, Owner, OwnerKind, SessionRecord, SessionScope,
};

/// Computes an audit record's hash from the previous hash, its position and its content.
/// Defined by the audit module; the store only applies it inside the append transaction, so
/// that the chain is extended atomically even with several writers.
pub type ChainHasher<'a> = &'a (dyn Fn(&[u8; 32], i64, &AuditDraft) -> [u8; 32] + Send + Sync);
pub use migrate::MigrationStatus;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The embedded file: one node (and the CLI beside it).
    Sqlite,
    /// A server that several nodes share.
    Postgres,
}

impl Engine {
    /// `sqlite` or `postgres`, for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }

    /// Whether other nodes may be writing to the same database: then one-time values are
    /// remembered in it when there is no Redis, and key changes are heard, not only polled.
    pub fn shared(self) -> bool {
        self == Engine::Postgres
    }
}

/// How a store connects (`[storage]`); only a server engine uses them.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool.
    pub pool_size: u32,
    /// A statement running longer is cancelled (the request gets 503).
    pub statement_timeout: Duration,
    /// Waiting longer than this for a pooled connection answers 503.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            pool_size: 10,
            statement_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// What a node hears of key changes made anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyNotice {
    /// This key changed (created, revoked, disabled, rotated, limits set).
    Changed(String),
    /// Sessions ended on some node (logout, a newer login, an admin): forget cached sessions.
    SessionsEnded,
    /// The feed was interrupted and changes may have been missed: forget every cached key.
    Missed,
}

/// A stream of key changes, from the engine that can push them (PostgreSQL `LISTEN`).
#[async_trait]
pub trait KeyChangeFeed: Send {
    /// The next notice; waits until there is one.
    async fn next(&mut self) -> Result<KeyNotice, StoreError>;
}

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or a statement failed.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("migration {version} failed: {source}")]
    Migration {
        /// The migration that failed.
        version: i64,
        /// The underlying error.
        source: sqlx::Error,
    },
    /// A row holds a value this build does not understand (e.g. edited by hand).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The change conflicts with the current state of the row.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A command that only reads found no store where the settings point; it creates none.
    #[error(
        "no store at {}: nothing to read. Run this command where the server runs (storage.data_dir \
         is relative to the current directory), or point --config or PORTCULLIS_STORAGE__DATA_DIR \
         at the server's settings",
        .0.display()
    )]
    Missing(std::path::PathBuf),
    /// The database file could not be opened or created.
    #[error(
        "cannot open the database {}: {reason}. Check that its directory exists and that this \
         user may write there (storage.data_dir)",
        path.display()
    )]
    Open {
        /// The database file.
        path: std::path::PathBuf,
        /// Why, as SQLite or the OS said it.
        reason: String,
    },
    /// A database server could not be reached at start.
    #[error("cannot connect to the database at {target}: {reason}")]
    Connect {
        /// The URL, its password masked.
        target: String,
        /// Why, as the driver said it.
        reason: String,
    },
    /// The storage URL cannot be used.
    #[error("unsupported storage URL: {0}")]
    UnsupportedUrl(String),
    /// The store did not answer in time (Redis unreachable, SQLite busy past its timeout);
    /// the request may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// Every database error enters here; each engine decides which of its errors mean "busy,
/// retry" (see `sqlite::errors`, `postgres::errors`): those answer 503, never 500.
impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if sqlite::errors::is_busy(&err) || postgres::errors::is_unavailable(&err) {
            return StoreError::Unavailable(err.to_string());
        }
        // A unique index refused a row (two imports of one key hash at once): a conflict
        // the caller can name, on either engine.
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            return StoreError::Conflict("a row with that unique value exists already");
        }
        StoreError::Database(err)
    }
}

/// Everything Portcullis keeps durably, one area per trait (keys, sessions, audit, one-time
/// values; the message drop has its own, [`MessageStore`]). Every method that reports
/// success has committed. Callers hold an `Arc<dyn Store>` and import the area traits they
/// use.
#[async_trait]
pub trait Store: KeyStore + SessionStore + AuditStore + NonceStore + Send + Sync + 'static {
    /// Succeeds when the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// The message drop's storage in this database (used when no Redis is configured).
    fn messages(&self) -> Arc<dyn MessageStore>;
    /// The campaign manager's storage in this database.
    fn campaigns(&self) -> Arc<dyn campaigns::CampaignStore>;
    /// The engine.
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }
    /// Connections of the pool, `(in use, idle)`, for metrics; `None` without a pool.
    fn pool_connections(&self) -> Option<(u32, u32)> {
        None
    }
    /// Key changes pushed as they commit, where the engine can (`None`: poll
    /// [`KeyStore::key_changes_since`] only).
    async fn listen_key_changes(&self) -> Result<Option<Box<dyn KeyChangeFeed>>, StoreError> {
        Ok(None)
    }
}

/// One-time values (signature nonces, envelope token ids) remembered in the database, for
/// nodes that share it without Redis. Only a digest of each value is given to the store.
#[async_trait]
pub trait NonceStore: Send + Sync {
    /// Remember `digest` until `expires_at` (Unix seconds): `true` when it was not already
    /// remembered (or its entry had expired by `now`), `false` for a replay. Atomic across
    /// every node.
    async fn remember_nonce(
        &self,
        digest: &[u8; 16],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Forget values expired by `now`; returns how many.
    async fn purge_nonces(&self, now: i64) -> Result<u64, StoreError>;
}

/// API keys and their owners, limits, quotas and change revisions.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Number of keys ever created (revoked included), to detect a brand-new store.
    async fn count_keys(&self) -> Result<i64, StoreError>;
    /// Store a new key, creating its owner on first use.
    async fn create_key(&self, new: NewKey) -> Result<KeyRecord, StoreError>;
    /// Store `new` only if the store holds no key yet (`None` otherwise), atomically: of
    /// several nodes starting on an empty database at once, one creates the first admin key.
    async fn create_first_key(&self, new: NewKey) -> Result<Option<KeyRecord>, StoreError>;
    /// Create every key of `keys` in one transaction: all, or none when any insert fails
    /// (a hash that exists already is `Conflict`).
    async fn create_keys(&self, keys: Vec<NewKey>) -> Result<Vec<KeyRecord>, StoreError>;
    /// One key by public id.
    async fn get_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// One key by the SHA-256 of its key string: how an imported key is found.
    async fn get_key_by_hash(&self, hash: &[u8; 32]) -> Result<Option<KeyRecord>, StoreError>;
    /// Whether any imported key exists (revoked ones included).
    async fn has_imported_keys(&self) -> Result<bool, StoreError>;
    /// A page of keys, oldest first, after the cursor in `filter`.
    async fn list_keys(&self, filter: &KeyFilter, now: i64) -> Result<Vec<KeyRecord>, StoreError>;
    /// Apply one change to a key; `None` when there is no such key.
    async fn update_key(
        &self,
        id: &str,
        change: KeyChange,
    ) -> Result<Option<KeyRecord>, StoreError>;
    /// Atomically create `new` and retire `old_id` with `retire` (revoke now, or expire later).
    /// Fails with `Conflict` when the old key is already revoked.
    async fn rotate_key(
        &self,
        old_id: &str,
        retire: KeyChange,
        new: NewKey,
    ) -> Result<Option<(KeyRecord, KeyRecord)>, StoreError>;
    /// Set a key's rate limit and quota (a new quota starts a fresh count at `at`).
    async fn set_key_limits(
        &self,
        id: &str,
        limits: &KeyLimits,
        at: i64,
    ) -> Result<Option<KeyRecord>, StoreError>;
    /// Record quota use: `(key id, quota set_at, period start, used)`; ignored for a quota
    /// that has been set again since.
    async fn record_quota_use(&self, uses: &[(String, i64, i64, i64)]) -> Result<(), StoreError>;
    /// Record when keys were last used (batched; the newest time wins).
    async fn record_key_use(&self, uses: &[(String, i64)]) -> Result<(), StoreError>;
    /// The current change revision and the ids of keys changed after `revision`.
    async fn key_changes_since(&self, revision: i64) -> Result<(i64, Vec<String>), StoreError>;
}

/// Login sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Create a session; with `end_others`, end the same owner+key's other live sessions in
    /// the same transaction (seed 001's one-session rule). Returns the ids it ended too.
    async fn create_session(
        &self,
        new: NewSession,
        end_others: bool,
    ) -> Result<(SessionRecord, Vec<String>), StoreError>;
    /// One session by public id.
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Live sessions opened with `key_id`.
    async fn live_sessions_for_key(
        &self,
        key_id: &str,
        now: i64,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// End the live sessions in `scope`; returns the ids ended.
    async fn end_sessions(
        &self,
        scope: &SessionScope,
        at: i64,
        reason: &str,
    ) -> Result<Vec<String>, StoreError>;
    /// Sessions of one owner (by name) or all, newest first; only live ones with `live_at`.
    async fn list_sessions(
        &self,
        owner_name: Option<&str>,
        live_at: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError>;
}

/// The audit chain.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Append events to the audit chain atomically, in order.
    async fn append_audit(
        &self,
        events: &[AuditDraft],
        hasher: ChainHasher<'_>,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Audit records matching `filter`, in chain order.
    async fn audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
}

/// Open the store named by `url`, creating and migrating it as needed.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open(url, Create::IfMissing, &StoreOptions::default()).await
}

/// [`connect`] with the pool settings of `[storage]`.
pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    open(url, Create::IfMissing, options).await
}

/// Open the store named by `url` only if it exists: for commands that read, which must not
/// leave an empty store behind when run from the wrong directory. (A server database always
/// exists once reachable; it is migrated as on any open.)
pub async fn connect_existing(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open(url, Create::Never, &StoreOptions::default()).await
}

/// Where the schema of the store at `url` stands, without changing it.
pub async fn migration_status(url: &str) -> Result<MigrationStatus, StoreError> {
    if is_postgres(url) {
        PgStore::connect(url, &StoreOptions::default())
            .await?
            .migration_status()
            .await
    } else if url.starts_with("sqlite:") {
        SqliteStore::migration_status(url).await
    } else {
        Err(unsupported(url))
    }
}

/// Apply the pending migrations of the store at `url`; returns the versions applied.
pub async fn migrate(url: &str) -> Result<Vec<i64>, StoreError> {
    if is_postgres(url) {
        PgStore::connect(url, &StoreOptions::default())
            .await?
            .migrate()
            .await
    } else if url.starts_with("sqlite:") {
        SqliteStore::migrate(url).await
    } else {
        Err(unsupported(url))
    }
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn unsupported(url: &str) -> StoreError {
    StoreError::UnsupportedUrl(url.split(':').next().unwrap_or_default().to_owned())
}

/// The file behind a local (SQLite) store URL; `None` for a server or in-memory database.
pub fn local_file(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (file.as_os_str() != ":memory:").then(|| file.to_owned())
}

/// Whether opening a store may create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Create {
    /// Create an empty store where none is.
    IfMissing,
    /// Refuse with [`StoreError::Missing`].
    Never,
}

async fn open(
    url: &str,
    create: Create,
    options: &StoreOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open_with(url, create).await?))
    } else if is_postgres(url) {
        Ok(Arc::new(PgStore::open(url, options).await?))
    } else {
        Err(unsupported(url))
    }
}
