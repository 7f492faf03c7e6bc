//! [`SledStore`]: opening, configuration, reads, transactions and the `SessionStore`
//! implementation.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use session_core::{
    decode_record, encode_record, expiry_key, expiry_range_end, parse_expiry_key, record_header,
    ScanPage, ScanQuery, Session, SessionId, SessionStore, StoreError, Version, Versioned, WriteOp,
};
use sled::transaction::{abort, ConflictableTransactionError, TransactionError};
use sled::Transactional;
use tokio::sync::oneshot;

use crate::errors;
use crate::sync::{Counters, SyncReply, Syncer};

const SESSIONS: &str = "sessions";
const EXPIRY: &str = "sessions_by_expiry";

/// When a write counts as acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SledDurability {
    /// After sled's flush and an `fdatasync` of its data file (shared by concurrent writers).
    /// The default.
    #[default]
    Immediate,
    /// When the transaction commits in memory; sled writes it out within ~500 ms (its
    /// `flush_every_ms`) and a crash may lose the last writes. For benchmarks.
    None,
}

/// The knobs of a [`SledStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct SledConfig {
    /// When a write counts as acknowledged. Default: on disk.
    pub durability: SledDurability,
    /// How long `open` retries while another process holds the directory, before `Locked`.
    /// Default zero: fail at once.
    pub lock_wait: Duration,
    /// sled's page cache, in bytes. Default 64 MiB.
    pub cache_capacity: u64,
}

impl Default for SledConfig {
    fn default() -> Self {
        SledConfig {
            durability: SledDurability::Immediate,
            lock_wait: Duration::ZERO,
            cache_capacity: 64 * 1024 * 1024,
        }
    }
}

/// A session store in one sled directory. See the crate docs.
///
/// Dropping it stops the sync thread after one last durable flush.
#[derive(Debug)]
pub struct SledStore {
    /// Owns the database; the trees and the sync thread hold handles of it too.
    _db: sled::Db,
    sessions: sled::Tree,
    expiry: sled::Tree,
    path: PathBuf,
    config: SledConfig,
    sync: Option<Sender<SyncReply>>,
    syncer: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
}

/// What a [`SledStore`]'s durability sync has done since it opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SledStats {
    /// Durable syncs (sled flush + `fdatasync`) run.
    pub syncs: u64,
    /// Acknowledgements those syncs answered: with many concurrent writers,
    /// `waiters / syncs` is how many writes share one sync.
    pub waiters: u64,
}

impl SledStore {
    /// Opens (or creates) the store directory at `path` with the default configuration.
    ///
    /// A plain function: callable inside or outside a tokio runtime.
    ///
    /// # Errors
    /// `Locked` if another process has it open; `Backend` if it cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        SledStore::open_with(path, SledConfig::default())
    }

    /// Opens (or creates) the store at `path`, waiting up to `config.lock_wait` for another
    /// process to release it.
    ///
    /// # Errors
    /// As [`SledStore::open`].
    pub fn open_with(path: impl AsRef<Path>, config: SledConfig) -> Result<SledStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if path.is_file() {
            return Err(StoreError::Backend(format!(
                "cannot open sled store {}: it is a file, and a sled store is a directory",
                path.display()
            )));
        }
        let db = open_waiting(&path, &config)?;
        let sessions = db
            .open_tree(SESSIONS)
            .map_err(|e| errors::backend("open tree", e))?;
        let expiry = db
            .open_tree(EXPIRY)
            .map_err(|e| errors::backend("open tree", e))?;
        // The directory entries of a new store must survive a crash too.
        sync_dir(&path);
        let (sync, queue) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let syncer = Syncer {
            db: db.clone(),
            dir: path.clone(),
            queue,
            counters: Arc::clone(&counters),
        };
        let syncer = std::thread::Builder::new()
            .name("session-sled-sync".into())
            .spawn(move || syncer.run())
            .map_err(|e| StoreError::Backend(format!("cannot start the sync thread: {e}")))?;
        Ok(SledStore {
            _db: db,
            sessions,
            expiry,
            path,
            config,
            sync: Some(sync),
            syncer: Some(syncer),
            counters,
        })
    }

    /// Syncs run and the acknowledgements they answered.
    pub fn stats(&self) -> SledStats {
        use std::sync::atomic::Ordering;
        SledStats {
            syncs: self.counters.syncs.load(Ordering::Relaxed),
            waiters: self.counters.waiters.load(Ordering::Relaxed),
        }
    }

    /// The directory this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until every write committed so far is durable (one shared sync).
    async fn durable(&self) -> Result<(), StoreError> {
        if self.config.durability == SledDurability::None {
            return Ok(());
        }
        self.sync_now().await
    }

    async fn sync_now(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sync
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(reply)
            .map_err(|_| StoreError::Closed)?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the sled sync thread stopped".into()))?
    }

    /// Runs blocking sled work on the blocking pool (or inline outside a runtime).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&sled::Tree, &sled::Tree) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (sessions, expiry) = (self.sessions.clone(), self.expiry.clone());
        let run = move || f(&sessions, &expiry);
        match tokio::runtime::Handle::try_current() {
            Ok(h) => h
                .spawn_blocking(run)
                .await
                .map_err(|e| StoreError::Backend(format!("sled task failed: {e}")))?,
            Err(_) => run(),
        }
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StoreError> {
        let records = ops.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
        let out = self
            .blocking(move |sessions, expiry| transact(sessions, expiry, &ops, &records))
            .await?;
        self.durable().await?;
        Ok(out)
    }
}

fn sync_dir(path: &Path) {
    if let Ok(d) = std::fs::File::open(path) {
        let _ = d.sync_all();
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
}

fn open_waiting(path: &Path, config: &SledConfig) -> Result<sled::Db, StoreError> {
    let deadline = Instant::now() + config.lock_wait;
    let mut pause = Duration::from_millis(5);
    loop {
        let result = sled::Config::new()
            .path(path)
            .cache_capacity(config.cache_capacity)
            .open();
        match result {
            Ok(db) => return Ok(db),
            Err(e) => match errors::open(path, e) {
                StoreError::Locked { .. } if Instant::now() < deadline => {
                    std::thread::sleep(
                        pause.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
                other => return Err(other),
            },
        }
    }
}

fn encode(op: &WriteOp) -> Result<Option<Vec<u8>>, StoreError> {
    match op {
        WriteOp::Insert(s) => encode_record(Version::FIRST, s).map(Some),
        WriteOp::Replace { expected, session } => encode_record(expected.next(), session).map(Some),
        WriteOp::Restore(r) => encode_record(r.version, &r.value).map(Some),
        WriteOp::Remove { .. } => Ok(None),
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// One sled transaction over both trees: check every write in order against what the
/// transaction sees (including the batch's earlier writes), then apply them all, or abort.
fn transact(
    sessions: &sled::Tree,
    expiry: &sled::Tree,
    ops: &[WriteOp],
    records: &[Option<Vec<u8>>],
) -> Result<Vec<Option<Version>>, StoreError> {
    let result = (sessions, expiry).transaction(|(s, e)| -> TxResult<Vec<Option<Version>>> {
        let mut out = Vec::with_capacity(ops.len());
        for (op, record) in ops.iter().zip(records) {
            let id = op.id();
            let stored = s.get(id.as_str().as_bytes())?;
            let header = stored
                .as_deref()
                .map(|b| record_header(id.as_str(), b))
                .transpose();
            // A corrupt record's index entry is unreadable: it stays until a purge drops it.
            let old_expiry = header.as_ref().ok().and_then(|h| h.map(|h| h.expires_at));
            let new = match op.check_header(header) {
                Ok(v) => v,
                Err(refused) => return abort(refused),
            };
            if let Some(old) = old_expiry {
                e.remove(expiry_key(old, id))?;
            }
            match (op.session(), record) {
                (Some(sess), Some(bytes)) => {
                    s.insert(id.as_str().as_bytes(), bytes.as_slice())?;
                    e.insert(expiry_key(sess.expires_at, id), &[] as &[u8])?;
                }
                _ => {
                    s.remove(id.as_str().as_bytes())?;
                }
            }
            out.push(new);
        }
        Ok(out)
    });
    result.map_err(|e| match e {
        TransactionError::Abort(refused) => refused,
        TransactionError::Storage(e) => errors::backend("transaction", e),
    })
}

/// Removes one expired session found in the index, if it is still there and still expires
/// at that time; a stale index entry is dropped alone. Returns whether a session went.
fn purge_one(sessions: &sled::Tree, expiry: &sled::Tree, key: &[u8]) -> Result<bool, StoreError> {
    let Some((at, id)) = parse_expiry_key(key) else {
        expiry
            .remove(key)
            .map_err(|e| errors::backend("purge", e))?;
        return Ok(false);
    };
    let result = (sessions, expiry).transaction(|(s, e)| -> TxResult<bool> {
        if e.get(key)?.is_none() {
            return Ok(false);
        }
        e.remove(key)?;
        let matches = s
            .get(id.as_str().as_bytes())?
            .and_then(|b| record_header(id.as_str(), &b).ok())
            .is_some_and(|h| h.expires_at == at);
        if matches {
            s.remove(id.as_str().as_bytes())?;
        }
        Ok(matches)
    });
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => errors::backend("purge", e),
    })
}

impl Drop for SledStore {
    fn drop(&mut self) {
        // Closing the queue makes the sync thread run one last durable flush and exit.
        drop(self.sync.take());
        if let Some(t) = self.syncer.take() {
            if t.join().is_err() {
                tracing::error!(path = %self.path.display(), "the sled sync thread panicked");
            }
        }
    }
}

#[async_trait]
impl SessionStore for SledStore {
    fn backend_name(&self) -> &'static str {
        "sled"
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Versioned<Session>>, StoreError> {
        let id = id.clone();
        self.blocking(move |sessions, _| {
            let bytes = sessions
                .get(id.as_str().as_bytes())
                .map_err(|e| errors::backend("read", e))?;
            bytes.map(|b| decode_record(id.as_str(), &b)).transpose()
        })
        .await
    }

    async fn apply(&self, batch: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(batch).await
    }

    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage, StoreError> {
        let query = query.clone();
        self.blocking(move |sessions, _| {
            use std::ops::Bound;
            let start: Bound<Vec<u8>> = match query.start_bound() {
                Bound::Included(k) => Bound::Included(k.as_bytes().to_vec()),
                Bound::Excluded(k) => Bound::Excluded(k.as_bytes().to_vec()),
                Bound::Unbounded => Bound::Unbounded,
            };
            let range = sessions
                .range::<Vec<u8>, _>((start, Bound::Unbounded))
                .map(|entry| {
                    let (k, v) = entry.map_err(|e| errors::backend("scan", e))?;
                    let key = String::from_utf8_lossy(&k).into_owned();
                    decode_record(&key, &v)
                });
            query.collect_page(range)
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
        let purged = self
            .blocking(move |sessions, expiry| {
                let end = expiry_range_end(now);
                let mut purged = Vec::new();
                while purged.len() < limit {
                    let keys: Vec<sled::IVec> = expiry
                        .range(..end.clone())
                        .keys()
                        .take(limit - purged.len())
                        .collect::<Result<_, _>>()
                        .map_err(|e| errors::backend("purge", e))?;
                    if keys.is_empty() {
                        break;
                    }
                    for key in keys {
                        if purge_one(sessions, expiry, &key)? {
                            if let Some((_, id)) = parse_expiry_key(&key) {
                                purged.push(id);
                            }
                        }
                    }
                }
                Ok(purged)
            })
            .await?;
        if !purged.is_empty() {
            self.durable().await?;
        }
        Ok(purged)
    }

    /// O(sessions): sled keeps no count.
    async fn count(&self) -> Result<u64, StoreError> {
        self.blocking(|sessions, _| Ok(sessions.len() as u64)).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.sync_now().await
    }
}
