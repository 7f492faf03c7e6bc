//! [`CountingStore`]: a store wrapper that counts what reaches the port (record reads,
//! writes, commits), for tests that prove a path reads or commits less. Optionally it also
//! emulates a durable group commit over any store, so commit counts mean the same on every
//! backend: writes that arrive while a "sync" is in progress share the next one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{
    Fence, ScanPage, ScanQuery, Session, SessionId, SessionStore, SharedLocks, StoreError, Version,
    Versioned, WriteOp,
};

/// Counts the calls that reach the wrapped store. See the module docs.
pub struct CountingStore {
    inner: Arc<dyn SessionStore>,
    sync_delay: Option<Duration>,
    disk: tokio::sync::Mutex<()>,
    reads: AtomicU64,
    writes: AtomicU64,
    commits: AtomicU64,
    written: AtomicU64,
    durable: AtomicU64,
}

impl std::fmt::Debug for CountingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CountingStore")
            .field("backend", &self.inner.backend_name())
            .field("reads", &self.reads())
            .field("writes", &self.writes())
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl CountingStore {
    /// Counts calls to `inner`; every write is its own commit.
    pub fn new(inner: Arc<dyn SessionStore>) -> CountingStore {
        CountingStore {
            inner,
            sync_delay: None,
            disk: tokio::sync::Mutex::new(()),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
        }
    }

    /// Counts calls to `inner` and makes each acknowledged write wait for an emulated sync
    /// of `delay`; writes waiting at the same time share one sync, counted as one commit.
    pub fn group_commit(inner: Arc<dyn SessionStore>, delay: Duration) -> CountingStore {
        CountingStore {
            sync_delay: Some(delay),
            ..CountingStore::new(inner)
        }
    }

    /// Record reads (`get`) so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::SeqCst)
    }

    /// Write calls (`apply` and the writes built on it) so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Commits so far: one per write, or one per emulated sync with [`Self::group_commit`].
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::SeqCst)
    }

    async fn sync(&self) {
        let Some(delay) = self.sync_delay else {
            self.commits.fetch_add(1, Ordering::SeqCst);
            return;
        };
        let mine = self.written.fetch_add(1, Ordering::SeqCst) + 1;
        let _disk = self.disk.lock().await;
        if self.durable.load(Ordering::SeqCst) >= mine {
            return; // an earlier sync covered this write
        }
        let upto = self.written.load(Ordering::SeqCst);
        tokio::time::sleep(delay).await;
        self.durable.store(upto, Ordering::SeqCst);
        self.commits.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl SessionStore for CountingStore {
    fn backend_name(&self) -> &'static str {
        self.inner.backend_name()
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Versioned<Session>>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(id).await
    }

    async fn apply(&self, batch: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let result = self.inner.apply(batch).await;
        self.sync().await;
        result
    }

    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage, StoreError> {
        self.inner.scan(query).await
    }

    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.inner.purge_expired(now, limit).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.inner.count().await
    }

    fn shared_locks(&self) -> Option<Arc<dyn SharedLocks>> {
        self.inner.shared_locks()
    }

    async fn apply_fenced(
        &self,
        batch: Vec<WriteOp>,
        fence: &Fence,
    ) -> Result<Vec<Option<Version>>, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        let result = self.inner.apply_fenced(batch, fence).await;
        self.sync().await;
        result
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
}
