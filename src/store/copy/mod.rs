//! Moving an install from one store to another (`portcullis store copy`): every key with its
//! hash, limits, quota and metadata, every owner, session, audit record (the chain verifies
//! on the target under the same audit key) and message, written to the target in one
//! transaction, then counted on both sides. A target that holds anything is refused unless
//! the caller forces the copy, which replaces what it holds — in the same transaction.

pub(crate) mod rows;

use super::messages::StoredMessage;
use super::models::{AuditFilter, AuditRecord, KeyFilter, KeyRecord, SessionRecord};
use super::{Create, PgStore, SqliteStore, Store, StoreError, StoreOptions};
use async_trait::async_trait;

/// How many rows of each kind a store holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Owners.
    pub owners: u64,
    /// API keys, revoked ones included.
    pub keys: u64,
    /// Sessions, ended ones included.
    pub sessions: u64,
    /// Audit records.
    pub audit_events: u64,
    /// Stored messages.
    pub messages: u64,
}

impl Counts {
    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        *self == Counts::default()
    }

    fn total(&self) -> u64 {
        self.owners + self.keys + self.sessions + self.audit_events + self.messages
    }
}

/// Why a copy did not happen (or did not check out).
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The target already holds data.
    #[error(
        "the target is not empty ({} keys, {} sessions, {} audit records, {} messages); \
         pass --force to replace what it holds",
        .0.keys, .0.sessions, .0.audit_events, .0.messages
    )]
    NotEmpty(Counts),
    /// Source and target name the same store.
    #[error("the source and the target are the same store")]
    SameStore,
    /// After the commit, the target does not hold what the source does.
    #[error("copied, but the counts differ: source {from:?}, target {to:?}")]
    Mismatch {
        /// What the source holds.
        from: Counts,
        /// What the target holds.
        to: Counts,
    },
}

/// A store's side of a copy: reading everything out in pages, and loading it in one
/// transaction.
#[async_trait]
pub(crate) trait Portable: Store {
    /// What the store holds.
    async fn counts(&self) -> Result<Counts, StoreError>;
    /// Sessions after id `after` in id order.
    async fn sessions_after(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError>;
    /// Messages after lookup `after` in lookup order.
    async fn messages_after(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError>;
    /// Begin loading: one transaction, committed by [`Import::commit`].
    async fn import(&self) -> Result<Box<dyn Import>, StoreError>;
}

/// A load in progress, inside one transaction; dropped without commit, it rolls back.
#[async_trait]
pub(crate) trait Import: Send {
    /// What the target holds now, inside the transaction.
    async fn counts(&mut self) -> Result<Counts, StoreError>;
    /// Remove everything (a forced copy).
    async fn clear(&mut self) -> Result<(), StoreError>;
    /// Keys and their owners, at change revision `revision`.
    async fn keys(&mut self, keys: &[KeyRecord], revision: i64) -> Result<(), StoreError>;
    /// Sessions.
    async fn sessions(&mut self, sessions: &[SessionRecord]) -> Result<(), StoreError>;
    /// Audit records.
    async fn audit(&mut self, records: &[AuditRecord]) -> Result<(), StoreError>;
    /// Messages.
    async fn messages(&mut self, messages: &[StoredMessage]) -> Result<(), StoreError>;
    /// Make the target's counters follow (key revision, id sequence) and commit.
    async fn commit(self: Box<Self>, revision: i64) -> Result<(), StoreError>;
}

/// What a copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// Rows copied, by kind (and found on the target after the commit).
    pub copied: Counts,
}

/// Where a copy is, for a progress display: rows written of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// `keys`, `sessions`, `audit events`, `messages`, then `committing`.
    pub stage: &'static str,
    /// Rows written so far, every kind together.
    pub done: u64,
    /// Rows to write.
    pub total: u64,
}

/// Rows read and written per statement (messages, up to 64 KiB each, fewer).
const PAGE: u32 = 500;
const MESSAGE_PAGE: u32 = 50;

async fn open(url: &str, create: Create) -> Result<Box<dyn Portable>, StoreError> {
    if super::is_postgres(url) {
        Ok(Box::new(
            PgStore::open(url, &StoreOptions::default()).await?,
        ))
    } else if url.starts_with("sqlite:") {
        Ok(Box::new(SqliteStore::open_with(url, create).await?))
    } else {
        Err(super::unsupported(url))
    }
}

/// Copy everything from the store at `from` (which must exist) to the store at `to`
/// (created and migrated if needed). `progress` hears of each page written.
pub async fn copy(
    from: &str,
    to: &str,
    force: bool,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<CopyReport, CopyError> {
    if from == to {
        return Err(CopyError::SameStore);
    }
    let source = open(from, Create::Never).await?;
    let target = open(to, Create::IfMissing).await?;
    let counts = source.counts().await?;
    let total = counts.total();
    let mut done = counts.owners;
    let mut import = target.import().await?;
    let present = import.counts().await?;
    if !present.is_empty() {
        if !force {
            return Err(CopyError::NotEmpty(present));
        }
        import.clear().await?;
    }
    let (revision, _) = source.key_changes_since(i64::MAX).await?;

    let mut after = 0;
    loop {
        let filter = KeyFilter {
            after: Some(after),
            limit: PAGE,
            ..KeyFilter::default()
        };
        let page = source.list_keys(&filter, 0).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        import.keys(&page, revision).await?;
        done += page.len() as u64;
        progress(Progress {
            stage: "keys",
            done,
            total,
        });
    }

    let mut after = String::new();
    loop {
        let page = source.sessions_after(&after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        import.sessions(&page).await?;
        done += page.len() as u64;
        progress(Progress {
            stage: "sessions",
            done,
            total,
        });
    }

    let mut after = 0;
    loop {
        let filter = AuditFilter {
            after: Some(after),
            limit: PAGE,
            ..AuditFilter::default()
        };
        let page = source.audit_events(&filter).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        import.audit(&page).await?;
        done += page.len() as u64;
        progress(Progress {
            stage: "audit events",
            done,
            total,
        });
    }

    let mut after = String::new();
    loop {
        let page = source.messages_after(&after, MESSAGE_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.lookup.clone();
        import.messages(&page).await?;
        done += page.len() as u64;
        progress(Progress {
            stage: "messages",
            done,
            total,
        });
    }

    progress(Progress {
        stage: "committing",
        done,
        total,
    });
    import.commit(revision).await?;
    let copied = target.counts().await?;
    if copied != counts {
        return Err(CopyError::Mismatch {
            from: counts,
            to: copied,
        });
    }
    Ok(CopyReport { copied })
}
