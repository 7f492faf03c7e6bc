//! [`SledStore`]: opening, reads, transactions and the `SessionStore` implementation.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use session_core::adapter::{
    decode_record, expiry_key, expiry_range_end, open_waiting, parse_expiry_key, plan_batch,
    record_header, PlanError, ScanQueryExt,
};
use session_core::{
    ScanPage, ScanQuery, Session, SessionId, SessionStore, StoreError, Version, Versioned, WriteOp,
};
use sled::transaction::{
    abort, ConflictableTransactionError, TransactionError, UnabortableTransactionError,
};
use sled::Transactional;

use crate::config::{SledConfig, SledDurability};
use crate::engine::{Engine, Shared};
use crate::errors;
use crate::sync::Counters;

/// A session store in one sled directory. See the crate docs.
///
/// Dropping it stops the sync thread after one last durable flush, waiting at most
/// `config.close_timeout` for it.
#[derive(Debug)]
pub struct SledStore {
    shared: Arc<Shared>,
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
    /// Writes committed in memory whose durability sync has not succeeded yet (after a failed
    /// or timed-out flush: the writes a crash now would lose).
    pub unsynced: u64,
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
        let counters = Arc::new(Counters::default());
        let engine =
            match open_waiting(config.lock_wait, || Engine::open(&path, &config, &counters)) {
                Ok(engine) => engine,
                Err(StoreError::Locked { .. }) => return Err(crate::holder::locked_error(&path)),
                Err(e) => return Err(e),
            };
        crate::holder::record(&path);
        Ok(SledStore {
            shared: Arc::new(Shared {
                engine: RwLock::new(Some(Arc::new(engine))),
                retired: Mutex::new(None),
                path,
                config,
                counters,
            }),
        })
    }

    /// Syncs run and the acknowledgements they answered.
    pub fn stats(&self) -> SledStats {
        use std::sync::atomic::Ordering;
        let c = &self.shared.counters;
        SledStats {
            syncs: c.syncs.load(Ordering::Relaxed),
            waiters: c.waiters.load(Ordering::Relaxed),
            unsynced: c.unsynced.load(Ordering::Relaxed),
        }
    }

    /// The directory this store lives in.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `f` on the engine on the blocking pool (or inline outside a runtime).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = Arc::clone(&self.shared);
        let run = move || shared.run(f);
        match tokio::runtime::Handle::try_current() {
            Ok(h) => h
                .spawn_blocking(run)
                .await
                .map_err(|e| StoreError::Backend(format!("sled task failed: {e}")))?,
            Err(_) => run(),
        }
    }

    async fn write(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StoreError> {
        let records = ops
            .iter()
            .map(WriteOp::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let durable = self.shared.config.durability == SledDurability::Immediate;
        let timeout = self.shared.config.flush_timeout;
        let counters = Arc::clone(&self.shared.counters);
        // The transaction and the wait for its durability sync run on one blocking thread:
        // the wait is bounded by `flush_timeout` even if sled's flush hangs.
        self.blocking(move |engine| {
            let out = transact(&engine.sessions, &engine.expiry, &ops, &records)?;
            counters
                .unsynced
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if durable {
                engine.sync_now(timeout)?;
            }
            Ok(out)
        })
        .await
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// One sled transaction over both trees: plan the batch against what the transaction sees
/// (each key read once, later writes checked against earlier ones), then apply it all, or
/// abort. sled re-runs the closure on a conflict, and with it the plan.
fn transact(
    sessions: &sled::Tree,
    expiry: &sled::Tree,
    ops: &[WriteOp],
    records: &[Option<Vec<u8>>],
) -> Result<Vec<Option<Version>>, StoreError> {
    let result = (sessions, expiry).transaction(|(s, e)| -> TxResult<Vec<Option<Version>>> {
        let planned = plan_batch(ops, |id| {
            let stored: Option<sled::IVec> = s.get(id.as_str().as_bytes())?;
            Ok::<_, UnabortableTransactionError>(
                stored
                    .as_deref()
                    .map(|b| record_header(id.as_str(), b))
                    .transpose(),
            )
        });
        let planned = match planned {
            Ok(planned) => planned,
            Err(PlanError::Refused(refused)) => return abort(refused),
            Err(PlanError::Backend(e)) => return Err(e.into()),
        };
        for ((op, record), plan) in ops.iter().zip(records).zip(&planned) {
            let id = op.id();
            if plan.old_expiry != plan.new_expiry {
                if let Some(old) = plan.old_expiry {
                    e.remove(expiry_key(old, id))?;
                }
                if let Some(new) = plan.new_expiry {
                    e.insert(expiry_key(new, id), &[] as &[u8])?;
                }
            }
            match record {
                Some(bytes) => {
                    s.insert(id.as_str().as_bytes(), bytes.as_slice())?;
                }
                None => {
                    s.remove(id.as_str().as_bytes())?;
                }
            }
        }
        Ok(planned.iter().map(|p| p.version).collect())
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
        let engine = self.shared.engine.write().ok().and_then(|mut e| e.take());
        drop(engine);
    }
}

#[async_trait]
impl SessionStore for SledStore {
    fn backend_name(&self) -> &'static str {
        "sled"
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Versioned<Session>>, StoreError> {
        let id = id.clone();
        self.blocking(move |engine| {
            let bytes = engine
                .sessions
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
        self.blocking(move |engine| {
            let sessions = &engine.sessions;
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
        let durable = self.shared.config.durability == SledDurability::Immediate;
        let timeout = self.shared.config.flush_timeout;
        self.blocking(move |engine| {
            let (sessions, expiry) = (&engine.sessions, &engine.expiry);
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
            if durable && !purged.is_empty() {
                engine.sync_now(timeout)?;
            }
            Ok(purged)
        })
        .await
    }

    /// O(sessions): sled keeps no count.
    async fn count(&self) -> Result<u64, StoreError> {
        self.blocking(|engine| Ok(engine.sessions.len() as u64))
            .await
    }

    fn tasks(&self) -> Option<Arc<dyn session_core::TaskStore>> {
        Some(Arc::new(crate::tasks::SledTasks::new(Arc::clone(
            &self.shared,
        ))))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let timeout = self.shared.config.flush_timeout;
        self.blocking(move |engine| engine.sync_now(timeout)).await
    }
}
