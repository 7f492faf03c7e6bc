//! [`SledTasks`]: the task store of a sled directory — its own tree of task records (core's
//! task codec: format header, version, CRC) and a task expiry-index tree, beside the
//! sessions. Writes are sled transactions over the two trees, acknowledged after the same
//! shared durability sync as session writes (`sync.rs`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use session_core::adapter::{
    decode_task_record, encode_task_record, select_tasks, task_expiry_key, task_expiry_key_id,
    task_expiry_range_end, task_record_header,
};
use session_core::{SessionId, StoreError, TaskId, TaskRecord, TaskStore, Version, Versioned};
use sled::transaction::{abort, ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::config::SledDurability;
use crate::engine::{Engine, Shared};
use crate::errors;

/// The tree of task records: task id → record bytes.
const TASKS: &str = "tasks";
/// The task expiry index: `task_expiry_key(expires_at, id)` → nothing.
const TASK_EXPIRY: &str = "tasks_by_expiry";

/// The tasks of one sled store; made by `SledStore::tasks`.
#[derive(Debug)]
pub(crate) struct SledTasks {
    shared: Arc<Shared>,
}

impl SledTasks {
    pub(crate) fn new(shared: Arc<Shared>) -> SledTasks {
        SledTasks { shared }
    }

    /// Runs `f` on the two task trees on the blocking pool (or inline outside a runtime).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine, &sled::Tree, &sled::Tree) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let shared = Arc::clone(&self.shared);
        let run = move || {
            shared.run(|engine| {
                let db = engine.db();
                let tasks = db
                    .open_tree(TASKS)
                    .map_err(|e| errors::backend("open task tree", e))?;
                let expiry = db
                    .open_tree(TASK_EXPIRY)
                    .map_err(|e| errors::backend("open task tree", e))?;
                f(engine, &tasks, &expiry)
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => h
                .spawn_blocking(run)
                .await
                .map_err(|e| StoreError::Backend(format!("sled task failed: {e}")))?,
            Err(_) => run(),
        }
    }

    /// After a committed write: counts it as unsynced and, with immediate durability, waits
    /// for the shared sync.
    fn made_durable(shared: &Shared, engine: &Engine) -> Result<(), StoreError> {
        shared.counters.unsynced.fetch_add(1, Ordering::Relaxed);
        if shared.config.durability == SledDurability::Immediate {
            engine.sync_now(shared.config.flush_timeout)?;
        }
        Ok(())
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

#[async_trait]
impl TaskStore for SledTasks {
    async fn get_task(&self, id: &TaskId) -> Result<Option<Versioned<TaskRecord>>, StoreError> {
        let id = id.clone();
        self.blocking(move |_, tasks, _| {
            let bytes = tasks
                .get(id.as_str().as_bytes())
                .map_err(|e| errors::backend("read task", e))?;
            bytes
                .map(|b| decode_task_record(id.as_str(), &b))
                .transpose()
        })
        .await
    }

    async fn put_task(
        &self,
        expected: Option<Version>,
        task: TaskRecord,
    ) -> Result<Version, StoreError> {
        let version = expected.map_or(Version::FIRST, Version::next);
        let bytes = encode_task_record(version, &task)?;
        let id = task.id.clone();
        let new_expiry = task_expiry_key(task.expires_at, &id);
        let shared = Arc::clone(&self.shared);
        self.blocking(move |engine, tasks, expiry| {
            let key = id.as_str().as_bytes();
            let result = (tasks, expiry).transaction(|(t, e)| -> TxResult<()> {
                let stored = match t.get(key)? {
                    Some(old) => match task_record_header(id.as_str(), &old) {
                        Ok(h) => Some(h),
                        Err(corrupt) => return abort(corrupt),
                    },
                    None => None,
                };
                match (expected, stored) {
                    (None, Some(_)) => return abort(StoreError::TaskExists(id.to_string())),
                    (Some(_), None) => return abort(StoreError::TaskNotFound(id.to_string())),
                    (Some(v), Some(h)) if h.version != v => {
                        return abort(StoreError::Conflict {
                            expected: v,
                            actual: h.version,
                        })
                    }
                    (_, Some(h)) => {
                        e.remove(task_expiry_key(h.expires_at, &id))?;
                    }
                    (None, None) => {}
                }
                t.insert(key, bytes.as_slice())?;
                e.insert(new_expiry.as_slice(), &[] as &[u8])?;
                Ok(())
            });
            result.map_err(|e| match e {
                TransactionError::Abort(refused) => refused,
                TransactionError::Storage(e) => errors::backend("task transaction", e),
            })?;
            SledTasks::made_durable(&shared, engine)?;
            Ok(version)
        })
        .await
    }

    async fn list_tasks(
        &self,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Versioned<TaskRecord>>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let session = session.cloned();
        self.blocking(move |_, tasks, _| {
            // Tasks are purged after their TTL: a scan of them all is bounded by what is
            // live, so no per-session index is kept.
            let mut read = Vec::new();
            for entry in tasks.iter() {
                let (k, v) = entry.map_err(|e| errors::backend("list tasks", e))?;
                read.push(decode_task_record(&String::from_utf8_lossy(&k), &v)?);
            }
            Ok(select_tasks(read, session.as_ref(), limit))
        })
        .await
    }

    async fn purge_expired_tasks(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        let shared = Arc::clone(&self.shared);
        self.blocking(move |engine, tasks, expiry| {
            let end = task_expiry_range_end(now);
            let keys: Vec<sled::IVec> = expiry
                .range(..end)
                .keys()
                .take(limit)
                .collect::<Result<_, _>>()
                .map_err(|e| errors::backend("purge tasks", e))?;
            let mut purged = 0u64;
            for key in &keys {
                // The index names the record even if the record is unreadable. One
                // transaction per task: a concurrent write that moved its expiry keeps it.
                let gone = (tasks, expiry).transaction(|(t, e)| -> TxResult<bool> {
                    if e.remove(key)?.is_none() {
                        return Ok(false);
                    }
                    match task_expiry_key_id(key) {
                        Some(id) => Ok(t.remove(id.as_bytes())?.is_some()),
                        None => Ok(false),
                    }
                });
                let gone = gone.map_err(|e| match e {
                    TransactionError::Abort(e) => e,
                    TransactionError::Storage(e) => errors::backend("purge tasks", e),
                })?;
                purged += u64::from(gone);
            }
            if purged > 0 {
                SledTasks::made_durable(&shared, engine)?;
            }
            Ok(purged)
        })
        .await
    }
}
