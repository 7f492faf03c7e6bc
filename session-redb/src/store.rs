//! [`RedbStore`]: opening, reads, and the `SessionStore` implementation; writes go to the
//! writer thread (`writer.rs`).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::ReadableTableMetadata;
use session_core::adapter::{decode_record, open_waiting, ScanQueryExt};
use session_core::{
    Fence, ScanPage, ScanQuery, Session, SessionId, SessionStore, SharedLocks, StoreError, Version,
    Versioned, WriteOp,
};
use tokio::sync::oneshot;

use crate::apply::Prepared;
use crate::config::{RedbConfig, RedbSharing};
use crate::errors;
use crate::handle::{self, guarded, Handle, ReadOnlyOpen, Slot};
use crate::locks::{LockQueue, RedbLocks};
use crate::maintenance::TempCopy;
use crate::tables::SESSIONS;
use crate::writer::{Counters, Job, Request, Writer};

/// A session store in one redb file. See the crate docs.
///
/// Dropping it stops taking writes, lets the writer commit (or answer with an error) every
/// write already queued, waits for it, and closes the file.
#[derive(Debug)]
pub struct RedbStore {
    slot: Arc<Slot>,
    path: PathBuf,
    queue: Option<SyncSender<Request>>,
    writer: Option<JoinHandle<()>>,
    config: RedbConfig,
    counters: Arc<Counters>,
    read_only: bool,
    /// The step locks shared with the other processes of a multi-process file.
    locks: Option<Arc<RedbLocks>>,
    /// The locks' way to the writer, cleared at drop so the writer can stop.
    lock_queue: Option<LockQueue>,
    /// A read-only open of a file not closed cleanly reads a recovered copy: this one.
    _copy: Option<TempCopy>,
}

/// What a [`RedbStore`]'s writer has done since it opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedbStats {
    /// Write transactions committed (each one fsync with the default durability).
    pub transactions: u64,
    /// Write requests (inserts, replaces, removes, batches, purges, flushes) they carried.
    pub requests: u64,
}

impl RedbStore {
    /// Opens (or creates) the store at `path` with the default configuration.
    ///
    /// A plain function: callable inside or outside a tokio runtime.
    ///
    /// # Errors
    /// `Locked` if another process has the file open; `Backend` if it cannot be opened or is
    /// not a redb file.
    pub fn open(path: impl AsRef<Path>) -> Result<RedbStore, StoreError> {
        RedbStore::open_with(path, RedbConfig::default())
    }

    /// Opens (or creates) the store at `path`. With `config.lock_wait`, waits that long for
    /// another process to release the file before failing `Locked`.
    ///
    /// # Errors
    /// As [`RedbStore::open`].
    pub fn open_with(path: impl AsRef<Path>, config: RedbConfig) -> Result<RedbStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Backend(format!("cannot create directory {}: {e}", parent.display()))
            })?;
        }
        let db = open_waiting(config.lock_wait, || handle::open_read_write(&path, &config))?;
        let slot = Arc::new(Slot::new(Handle::ReadWrite(db)));
        let (queue, rx) = mpsc::sync_channel(config.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let writer = Writer::new(
            Arc::clone(&slot),
            path.clone(),
            config.clone(),
            rx,
            Arc::clone(&counters),
        );
        let writer = std::thread::Builder::new()
            .name("session-redb-writer".into())
            .spawn(move || writer.run())
            .map_err(|e| StoreError::Backend(format!("cannot start the writer thread: {e}")))?;
        let lock_queue: LockQueue = Arc::new(Mutex::new(Some(queue.clone())));
        let locks = (config.effective_sharing() == RedbSharing::MultiProcess).then(|| {
            Arc::new(RedbLocks::new(
                Arc::clone(&slot),
                path.clone(),
                Arc::clone(&lock_queue),
                config.write_timeout,
                config.lock_expiry,
            ))
        });
        tracing::debug!(path = %path.display(), sharing = ?config.effective_sharing(), "redb store open");
        Ok(RedbStore {
            slot,
            path,
            queue: Some(queue),
            writer: Some(writer),
            config,
            counters,
            read_only: false,
            locks,
            lock_queue: Some(lock_queue),
            _copy: None,
        })
    }

    /// Opens an existing store read-only (redb's `ReadOnlyDatabase`): nothing is written to
    /// the file, not even the table creation or crash recovery a read-write open commits.
    /// Every write fails with a clear error. With `config.check_integrity_on_open` (the
    /// default) redb's integrity check first runs on a temporary copy of the file, so a
    /// damaged file fails here rather than at a read. Waits up to `config.lock_wait` for a process that
    /// holds the file for writing.
    ///
    /// # Errors
    /// `Locked` while a writer holds the file; `Backend` if the file is missing, empty, was
    /// not closed cleanly (it needs a read-write open to recover) or is not a redb file.
    pub fn open_read_only(
        path: impl AsRef<Path>,
        config: RedbConfig,
    ) -> Result<RedbStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let opened = open_waiting(config.lock_wait, || handle::open_read_only(&path, &config))?;
        let db = match opened {
            ReadOnlyOpen::Clean(db) => db,
            ReadOnlyOpen::NeedsRecovery => return RedbStore::read_recovered_copy(path, config),
        };
        if config.check_integrity_on_open {
            // redb cannot check a read-only handle, and may panic reading a damaged page:
            // check a copy taken while this open keeps writers out, before any read.
            match crate::maintenance::check_unheld(&path, false) {
                Ok(report) => {
                    if let Some(damage) = report.damage {
                        return Err(errors::damaged(&path, &damage));
                    }
                }
                // No room for the copy (a full temporary directory): read without the check;
                // a read of a damaged page still fails clearly (see `read`).
                Err(e) => {
                    tracing::warn!(error = %e, "cannot check the store before reading it; reading without the check")
                }
            }
        }
        tracing::debug!(path = %path.display(), "redb store open read-only");
        Ok(RedbStore {
            slot: Arc::new(Slot::new(Handle::ReadOnly(db))),
            path,
            queue: None,
            writer: None,
            config,
            counters: Arc::new(Counters::default()),
            read_only: true,
            locks: None,
            lock_queue: None,
            _copy: None,
        })
    }

    /// A file not closed cleanly (after a crash) cannot be opened read-only, and recovering
    /// it in place would modify it: read a recovered temporary copy instead.
    fn read_recovered_copy(path: PathBuf, config: RedbConfig) -> Result<RedbStore, StoreError> {
        tracing::info!(path = %path.display(), "the store was not closed cleanly: reading a recovered copy, the file is left as it is");
        let copy = TempCopy::of(&path)?;
        let recovering = RedbConfig {
            check_integrity_on_open: true,
            ..config.clone()
        };
        let db = handle::open_read_write(&copy.0, &recovering).map_err(|e| {
            StoreError::Backend(format!(
                "redb store {} was not closed cleanly and a copy of it cannot be recovered ({e}); run `container-kit-mcp sessions check`",
                path.display()
            ))
        })?;
        Ok(RedbStore {
            slot: Arc::new(Slot::new(Handle::ReadWrite(db))),
            path,
            queue: None,
            writer: None,
            config,
            counters: Arc::new(Counters::default()),
            read_only: true,
            locks: None,
            lock_queue: None,
            _copy: Some(copy),
        })
    }

    /// Transactions committed and the requests they carried: with many concurrent writers,
    /// `requests / transactions` is the group-commit factor.
    pub fn stats(&self) -> RedbStats {
        use std::sync::atomic::Ordering;
        RedbStats {
            transactions: self.counters.transactions.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }

    /// The step locks of a multi-process store (for this crate's tests).
    #[cfg(test)]
    pub(crate) fn redb_locks(&self) -> Option<Arc<RedbLocks>> {
        self.locks.clone()
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn submit(&self, job: Job) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::Backend(format!(
                "redb store {} is open read-only: this command cannot write",
                self.path.display()
            )));
        }
        let queue = self.queue.as_ref().ok_or(StoreError::Closed)?;
        let request = Request {
            job,
            deadline: Instant::now() + self.config.write_timeout,
        };
        match queue.try_send(request) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Overloaded(format!(
                "{} writes are already waiting for the redb writer",
                self.config.queue_capacity
            ))),
            Err(TrySendError::Disconnected(_)) => Err(StoreError::Closed),
        }
    }

    async fn write(
        &self,
        ops: Vec<WriteOp>,
        fence: Option<Fence>,
    ) -> Result<Vec<Option<Version>>, StoreError> {
        // Encode on the caller's thread so the single writer only checks and copies bytes;
        // a write superseded by a later one of the same key in this batch (a combined batch
        // of one hot session) never reaches the table (`apply.rs`), so it is not encoded.
        let superseded: Vec<bool> = if ops.len() > 1 {
            let mut seen = std::collections::HashSet::with_capacity(ops.len());
            let mut later: Vec<bool> = ops.iter().rev().map(|op| !seen.insert(op.id())).collect();
            later.reverse();
            later
        } else {
            vec![false; ops.len()]
        };
        let prepared = ops
            .into_iter()
            .zip(superseded)
            .map(|(op, superseded)| {
                if superseded {
                    Ok(Prepared { op, record: None })
                } else {
                    Prepared::new(op)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Apply {
            ops: prepared,
            fence,
            reply,
        })
        .await?;
        answer.await.map_err(|_| writer_gone())?
    }

    /// Runs a read transaction on the blocking pool: reads never wait for the writer and
    /// never block the async runtime.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&redb::ReadOnlyTable<&'static str, &'static [u8]>) -> Result<T, StoreError>
            + Send
            + 'static,
        T: Send + 'static,
    {
        let handle = self.slot.get()?;
        let path = self.path.clone();
        let run = move || {
            // redb may panic on a page damaged outside it: that read fails, the process lives.
            guarded(|| {
                let txn = handle
                    .begin_read()
                    .map_err(|e| errors::backend("begin read", e))?;
                let table = txn
                    .open_table(SESSIONS)
                    .map_err(|e| errors::backend("open table", e))?;
                f(&table)
            })
            .unwrap_or_else(|panic| Err(errors::damaged(&path, &panic)))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(run)
                .await
                .map_err(|e| StoreError::Backend(format!("read task failed: {e}")))?,
            Err(_) => run(),
        }
    }
}

fn writer_gone() -> StoreError {
    StoreError::Backend(
        "the redb writer stopped before answering; the write may not be applied".into(),
    )
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        // Parked step locks are released first, so this process leaves none to expire.
        if let Some(locks) = &self.locks {
            locks.release_parked();
        }
        // Closing the queue lets the writer drain what is queued, commit it and exit.
        if let Some(q) = self.lock_queue.take() {
            drop(q.lock().unwrap_or_else(|p| p.into_inner()).take());
        }
        drop(self.queue.take());
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!(path = %self.path.display(), "the redb writer panicked");
            }
        }
    }
}

#[async_trait]
impl SessionStore for RedbStore {
    fn backend_name(&self) -> &'static str {
        "redb"
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Versioned<Session>>, StoreError> {
        let id = id.clone();
        self.read(move |table| {
            let Some(bytes) = table
                .get(id.as_str())
                .map_err(|e| errors::backend("read", e))?
            else {
                return Ok(None);
            };
            decode_record(id.as_str(), bytes.value()).map(Some)
        })
        .await
    }

    async fn apply(&self, batch: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(batch, None).await
    }

    fn shared_locks(&self) -> Option<Arc<dyn SharedLocks>> {
        self.locks
            .as_ref()
            .map(|l| Arc::clone(l) as Arc<dyn SharedLocks>)
    }

    async fn apply_fenced(
        &self,
        batch: Vec<WriteOp>,
        fence: &Fence,
    ) -> Result<Vec<Option<Version>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let fence = self.locks.as_ref().map(|_| fence.clone());
        self.write(batch, fence).await
    }

    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage, StoreError> {
        let query = query.clone();
        self.read(move |table| {
            let start = query.start_bound().map(|s| s.to_owned());
            let range = table
                .range::<&str>((
                    start.as_ref().map(String::as_str),
                    std::ops::Bound::Unbounded,
                ))
                .map_err(|e| errors::backend("scan", e))?;
            query.collect_page(range.map(|entry| {
                let (k, v) = entry.map_err(|e| errors::backend("scan", e))?;
                decode_record(k.value(), v.value())
            }))
        })
        .await
    }

    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SessionId>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Purge { now, limit, reply }).await?;
        answer.await.map_err(|_| writer_gone())?
    }

    async fn count(&self) -> Result<u64, StoreError> {
        self.read(|table| table.len().map_err(|e| errors::backend("count", e)))
            .await
    }

    fn tasks(&self) -> Option<Arc<dyn session_core::TaskStore>> {
        Some(Arc::new(crate::tasks::RedbTasks::new(
            Arc::clone(&self.slot),
            self.path.clone(),
            self.config.durability,
            self.read_only,
        )))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        if let Some(locks) = &self.locks {
            locks.release_parked();
        }
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Flush { reply }).await?;
        answer.await.map_err(|_| writer_gone())?
    }
}
