//! The port: [`SessionStore`], the one trait every backend implements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Session, SessionId, SessionStatus, StoreError, Version, Versioned};

/// One write of a batch given to [`SessionStore::apply`].
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    /// Insert a new session at [`Version::FIRST`]; fails `AlreadyExists` if the id is taken.
    Insert(Session),
    /// Replace the session if it is stored at `expected`; it is then stored at
    /// `expected.next()`.
    Replace {
        /// The version the change was based on.
        expected: Version,
        /// The new contents (its `id` names the record).
        session: Session,
    },
    /// Remove the session; with `expected`, only if it is stored at that version.
    Remove {
        /// The session to remove.
        id: SessionId,
        /// The version it must be at, or `None` for any.
        expected: Option<Version>,
    },
    /// Store the record at exactly its version, whatever is stored under its id: for
    /// migrations and restores from a backup, which must keep versions. Bypasses the version
    /// check; never use it for a read-modify-write.
    Restore(Versioned<Session>),
}

impl WriteOp {
    /// The session this write touches.
    pub fn id(&self) -> &SessionId {
        match self {
            WriteOp::Insert(s) | WriteOp::Replace { session: s, .. } => &s.id,
            WriteOp::Remove { id, .. } => id,
            WriteOp::Restore(r) => &r.value.id,
        }
    }

    /// The session a write stores (`None` for a removal).
    pub fn session(&self) -> Option<&Session> {
        match self {
            WriteOp::Insert(s) | WriteOp::Replace { session: s, .. } => Some(s),
            WriteOp::Restore(r) => Some(&r.value),
            WriteOp::Remove { .. } => None,
        }
    }
}

/// What [`SessionStore::scan`] returns: sessions in ascending id order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanQuery {
    /// Only sessions with this status.
    pub status: Option<SessionStatus>,
    /// Only sessions carrying this label with this value.
    pub label: Option<(String, String)>,
    /// Only ids starting with this text.
    pub id_prefix: Option<String>,
    /// Resume after this id (the previous page's `next_cursor`).
    pub after: Option<SessionId>,
    /// The most sessions to return; 0 means the default of 100.
    pub limit: usize,
}

impl ScanQuery {
    /// The page size used when `limit` is 0.
    pub const DEFAULT_LIMIT: usize = 100;

    /// The effective page size.
    pub fn page_size(&self) -> usize {
        if self.limit == 0 {
            Self::DEFAULT_LIMIT
        } else {
            self.limit
        }
    }

    /// Whether `session` passes the filters (not the cursor).
    pub fn matches(&self, session: &Session) -> bool {
        self.status.is_none_or(|s| s == session.status)
            && self
                .label
                .as_ref()
                .is_none_or(|(k, v)| session.labels.get(k).is_some_and(|have| have == v))
            && self
                .id_prefix
                .as_deref()
                .is_none_or(|p| session.id.as_str().starts_with(p))
    }
}

/// One page of a scan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScanPage {
    /// Matching sessions in ascending id order.
    pub items: Vec<Versioned<Session>>,
    /// Pass as `after` to read the next page; `None` when this page is the last.
    pub next_cursor: Option<SessionId>,
}

/// The session-store port. Implemented by `MemoryStore` here, by `session_redb::RedbStore`
/// and `session_sled::SledStore`; held as `Arc<dyn SessionStore>` by everything above.
///
/// Every implementation passes the conformance suite in `session_core::testkit`, which is
/// the executable form of the contracts below. Stores do not interpret TTLs on reads: a
/// store returns an expired session like any other, and [`crate::Sessions`] decides what
/// expiry means. All methods are cancel-safe in the sense that a dropped future either
/// committed its write or did not; it never leaves half a write.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// A short name of the backend (`"memory"`, `"redb"`, `"sled"`), for status reports.
    fn backend_name(&self) -> &'static str;

    /// Reads a session. `Ok(None)` if no session has this id.
    ///
    /// Never waits for writers. Errors: `Corrupt` if this session's record is unreadable
    /// (other sessions are unaffected), `Backend` on I/O failure.
    async fn get(&self, id: &SessionId) -> Result<Option<Versioned<Session>>, StoreError>;

    /// Inserts a new session and returns its version, [`Version::FIRST`].
    ///
    /// Errors: `AlreadyExists` if the id is taken (nothing is written).
    ///
    /// Provided: one [`WriteOp::Insert`] through [`SessionStore::apply`].
    async fn insert(&self, session: Session) -> Result<Version, StoreError> {
        let mut out = self.apply(vec![WriteOp::Insert(session)]).await?;
        Ok(out.pop().flatten().unwrap_or(Version::FIRST))
    }

    /// Compare-and-swap: stores `session` if its record is at `expected` and returns the new
    /// version `expected.next()`.
    ///
    /// Errors: `NotFound` if absent; `Conflict { expected, actual }` if the stored version
    /// differs. In both cases nothing is written.
    ///
    /// Provided: one [`WriteOp::Replace`] through [`SessionStore::apply`].
    async fn replace(&self, expected: Version, session: Session) -> Result<Version, StoreError> {
        let mut out = self
            .apply(vec![WriteOp::Replace { expected, session }])
            .await?;
        Ok(out.pop().flatten().unwrap_or(expected.next()))
    }

    /// Removes a session (and its expiry-index entry). With `expected`, only if the stored
    /// version equals it.
    ///
    /// Errors: `NotFound` if absent; `Conflict` on a version mismatch (nothing removed).
    ///
    /// Provided: one [`WriteOp::Remove`] through [`SessionStore::apply`].
    async fn remove(&self, id: &SessionId, expected: Option<Version>) -> Result<(), StoreError> {
        self.apply(vec![WriteOp::Remove {
            id: id.clone(),
            expected,
        }])
        .await
        .map(drop)
    }

    /// Applies several writes, possibly to several sessions, all or nothing. Writes apply in
    /// order, each checked against the state the earlier ones left. Returns, per write, the
    /// version it stored (`None` for a removal).
    ///
    /// Errors: the first failing write's error (`AlreadyExists`, `NotFound`, `Conflict`);
    /// then nothing of the batch is written. An empty batch is `Ok(vec![])`.
    ///
    /// Adapters implement the rule with [`crate::adapter::plan_batch`].
    async fn apply(&self, batch: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StoreError>;

    /// One page of sessions matching `query`, in ascending id order, starting after
    /// `query.after`. Paging through with the returned cursor visits every session that
    /// existed throughout exactly once, even while others are inserted or removed.
    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage, StoreError>;

    /// Removes at most `limit` sessions whose `expires_at <= now`, earliest expiry first
    /// (ties by id), and returns their ids. Costs O(removed) through an expiry index, not
    /// O(all sessions).
    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// The number of stored sessions, expired ones included.
    async fn count(&self) -> Result<u64, StoreError>;

    /// The cross-process lock service of a backend shared by several processes; `None` (the
    /// default) for embedded backends, whose file admits one process at a time.
    fn shared_locks(&self) -> Option<std::sync::Arc<dyn crate::SharedLocks>> {
        None
    }

    /// [`SessionStore::apply`], but only while `fence` still holds its shared lock; otherwise
    /// `LockLost` and nothing is written. Provided: plain `apply`, for backends without shared
    /// locks (whose `Sessions::lock` hands out no fence).
    async fn apply_fenced(
        &self,
        batch: Vec<WriteOp>,
        fence: &crate::Fence,
    ) -> Result<Vec<Option<Version>>, StoreError> {
        let _ = fence;
        self.apply(batch).await
    }

    /// The store of durable task records kept beside the sessions (their own table, tree or
    /// key range, written under the same version rule and durability), or `None` (the
    /// default) for a backend without tasks: then steps cannot run as tasks and callers fall
    /// back to synchronous calls. Every call returns a handle to the same tasks.
    fn tasks(&self) -> Option<std::sync::Arc<dyn crate::TaskStore>> {
        None
    }

    /// Makes every acknowledged write durable (a no-op for stores that are durable on
    /// acknowledge or not durable at all).
    async fn flush(&self) -> Result<(), StoreError>;
}
