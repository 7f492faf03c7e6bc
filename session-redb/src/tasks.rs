//! [`RedbTasks`]: the task store of a redb file — its own table of task records (core's task
//! codec: format header, version, CRC) and a task expiry index, beside the sessions.
//!
//! Task writes are their own write transactions, run on the blocking pool through the
//! shared handle, not through the sessions' writer thread: tasks are written a few times a
//! second at most, and keeping them apart leaves the writer's batching untouched. redb runs
//! one write transaction at a time per file (across processes in
//! [`crate::RedbSharing::MultiProcess`], through its file locks), so a task write waits for
//! the writer's commit in progress, and its compare-and-swap reads and writes under that one
//! transaction. Durable when acknowledged under [`crate::RedbDurability::Immediate`]; with
//! `None` it reaches disk with the next durable commit or a flush, like session writes.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableTable, TableError};
use session_core::adapter::{
    decode_task_record, encode_task_record, select_tasks, task_expiry_key, task_expiry_key_id,
    task_expiry_range_end, task_record_header,
};
use session_core::{SessionId, StoreError, TaskId, TaskRecord, TaskStore, Version, Versioned};

use crate::config::RedbDurability;
use crate::errors;
use crate::handle::{guarded, Slot};
use crate::tables::{TASKS, TASK_EXPIRY};

/// The tasks of one redb store file; made by `RedbStore::tasks`.
#[derive(Debug)]
pub(crate) struct RedbTasks {
    slot: Arc<Slot>,
    path: PathBuf,
    durability: RedbDurability,
    read_only: bool,
}

impl RedbTasks {
    pub(crate) fn new(
        slot: Arc<Slot>,
        path: PathBuf,
        durability: RedbDurability,
        read_only: bool,
    ) -> RedbTasks {
        RedbTasks {
            slot,
            path,
            durability,
            read_only,
        }
    }

    /// Runs `f` on the blocking pool (or here, outside a runtime), turning a panic inside
    /// redb on a damaged page into a clear error.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&redb::ReadTransaction, Option<&redb::Database>) -> Result<T, StoreError>,
        F: Send + 'static,
        T: Send + 'static,
    {
        let handle = self.slot.get()?;
        let path = self.path.clone();
        let run = move || {
            guarded(|| {
                let txn = handle
                    .begin_read()
                    .map_err(|e| errors::backend("begin read", e))?;
                f(&txn, handle.writable())
            })
            .unwrap_or_else(|panic| Err(errors::damaged(&path, &panic)))
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt
                .spawn_blocking(run)
                .await
                .map_err(|e| StoreError::Backend(format!("task read or write failed: {e}")))?,
            Err(_) => run(),
        }
    }

    /// Runs `f` in one write transaction and commits it with the store's durability.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&redb::WriteTransaction) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        if self.read_only {
            return Err(StoreError::Backend(format!(
                "redb store {} is open read-only: tasks cannot be written",
                self.path.display()
            )));
        }
        let durability = match self.durability {
            RedbDurability::Immediate => redb::Durability::Immediate,
            RedbDurability::None => redb::Durability::None,
        };
        self.blocking(move |_, db| {
            let db = db.ok_or_else(|| StoreError::Backend("the redb store is read-only".into()))?;
            let mut txn = db
                .begin_write()
                .map_err(|e| errors::backend("begin write", e))?;
            txn.set_durability(durability)
                .map_err(|e| StoreError::Backend(format!("redb durability: {e}")))?;
            // An error drops (aborts) the transaction: nothing of it is written.
            let out = f(&txn)?;
            txn.commit().map_err(|e| errors::backend("commit", e))?;
            Ok(out)
        })
        .await
    }
}

/// Opens the task table for reading; `None` in a file written before tasks existed (the
/// table is created by the first task write).
fn read_table(
    txn: &redb::ReadTransaction,
) -> Result<Option<redb::ReadOnlyTable<&'static str, &'static [u8]>>, StoreError> {
    match txn.open_table(TASKS) {
        Ok(t) => Ok(Some(t)),
        Err(TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(errors::backend("open task table", e)),
    }
}

#[async_trait]
impl TaskStore for RedbTasks {
    async fn get_task(&self, id: &TaskId) -> Result<Option<Versioned<TaskRecord>>, StoreError> {
        let id = id.clone();
        self.blocking(move |txn, _| {
            let Some(table) = read_table(txn)? else {
                return Ok(None);
            };
            let Some(bytes) = table
                .get(id.as_str())
                .map_err(|e| errors::backend("read task", e))?
            else {
                return Ok(None);
            };
            decode_task_record(id.as_str(), bytes.value()).map(Some)
        })
        .await
    }

    async fn put_task(
        &self,
        expected: Option<Version>,
        task: TaskRecord,
    ) -> Result<Version, StoreError> {
        let version = expected.map_or(Version::FIRST, Version::next);
        // Encoded here, outside the write transaction.
        let bytes = encode_task_record(version, &task)?;
        let key = task.id.clone();
        let new_expiry = task_expiry_key(task.expires_at, &key);
        self.write(move |txn| {
            let mut table = txn
                .open_table(TASKS)
                .map_err(|e| errors::backend("open task table", e))?;
            let mut expiry = txn
                .open_table(TASK_EXPIRY)
                .map_err(|e| errors::backend("open task table", e))?;
            let stored = match table
                .get(key.as_str())
                .map_err(|e| errors::backend("read task", e))?
            {
                Some(old) => Some(task_record_header(key.as_str(), old.value())?),
                None => None,
            };
            match (expected, stored) {
                (None, Some(_)) => return Err(StoreError::TaskExists(key.to_string())),
                (Some(_), None) => return Err(StoreError::TaskNotFound(key.to_string())),
                (Some(v), Some(h)) if h.version != v => {
                    return Err(StoreError::Conflict {
                        expected: v,
                        actual: h.version,
                    })
                }
                (_, Some(h)) => {
                    expiry
                        .remove(task_expiry_key(h.expires_at, &key).as_slice())
                        .map_err(|e| errors::backend("write task", e))?;
                }
                (None, None) => {}
            }
            table
                .insert(key.as_str(), bytes.as_slice())
                .map_err(|e| errors::backend("write task", e))?;
            expiry
                .insert(new_expiry.as_slice(), ())
                .map_err(|e| errors::backend("write task", e))?;
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
        self.blocking(move |txn, _| {
            let Some(table) = read_table(txn)? else {
                return Ok(Vec::new());
            };
            // Tasks live minutes to hours and are purged after their TTL: a scan of them all
            // is bounded by what is live, so no per-session index is kept.
            let mut tasks = Vec::new();
            for entry in table.iter().map_err(|e| errors::backend("list tasks", e))? {
                let (k, v) = entry.map_err(|e| errors::backend("list tasks", e))?;
                tasks.push(decode_task_record(k.value(), v.value())?);
            }
            Ok(select_tasks(tasks, session.as_ref(), limit))
        })
        .await
    }

    async fn purge_expired_tasks(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        if limit == 0 || self.read_only {
            return Ok(0);
        }
        // Nothing to do (or no task table yet): answer from a read, without a write
        // transaction that would wait for, and hold up, other writers.
        let end = task_expiry_range_end(now);
        let due = {
            let end = end.clone();
            self.blocking(move |txn, _| {
                let expiry = match txn.open_table(TASK_EXPIRY) {
                    Ok(t) => t,
                    Err(TableError::TableDoesNotExist(_)) => return Ok(false),
                    Err(e) => return Err(errors::backend("open task table", e)),
                };
                let mut range = expiry
                    .range::<&[u8]>(..end.as_slice())
                    .map_err(|e| errors::backend("purge tasks", e))?;
                Ok(range.next().is_some())
            })
            .await?
        };
        if !due {
            return Ok(0);
        }
        self.write(move |txn| {
            let mut table = txn
                .open_table(TASKS)
                .map_err(|e| errors::backend("open task table", e))?;
            let mut expiry = txn
                .open_table(TASK_EXPIRY)
                .map_err(|e| errors::backend("open task table", e))?;
            let keys: Vec<Vec<u8>> = expiry
                .range::<&[u8]>(..end.as_slice())
                .map_err(|e| errors::backend("purge tasks", e))?
                .take(limit)
                .map(|entry| entry.map(|(k, _)| k.value().to_vec()))
                .collect::<Result<_, _>>()
                .map_err(|e| errors::backend("purge tasks", e))?;
            for key in &keys {
                expiry
                    .remove(key.as_slice())
                    .map_err(|e| errors::backend("purge tasks", e))?;
                // The index names the record even if the record is unreadable.
                if let Some(id) = task_expiry_key_id(key) {
                    table
                        .remove(id)
                        .map_err(|e| errors::backend("purge tasks", e))?;
                }
            }
            Ok(keys.len() as u64)
        })
        .await
    }
}
