//! Durable tasks: the [`TaskRecord`] of one long step run in the background, the
//! [`TaskStore`] port every backend implements beside its sessions, and the [`Tasks`]
//! service over it.
//!
//! A task is written under the same rule as a session: every write is a compare-and-swap
//! on the record's [`Version`], durable when it returns, so any process or replica sharing
//! the store answers `tasks/get`, `tasks/update` and `tasks/cancel` from it. A backend
//! offers its task store through [`crate::SessionStore::tasks`].

mod codec;
mod memory;
mod record;
mod service;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{SessionId, StoreError, Version, Versioned};

pub use self::codec::{
    decode_task_record, encode_task_record, task_expiry_key, task_expiry_key_id,
    task_expiry_range_end, task_record_header, TASK_FORMAT_VERSION,
};
pub(crate) use self::memory::MemoryTasks;
pub use self::record::{TaskId, TaskRecord, TaskRunner, TaskState, MAX_TASK_ID_LEN};
pub use self::service::Tasks;

/// The task-store port. Implemented by `MemoryStore` (the reference model) and by the
/// redb, sled and etcd adapters; held as `Arc<dyn TaskStore>`.
///
/// Every implementation passes the task cases of the conformance suite in
/// `session_core::testkit`, the executable form of the contracts below. Like session
/// stores, task stores do not interpret TTLs on reads: an expired task is returned like any
/// other until it is purged, and [`Tasks`] decides what expiry means. A dropped future
/// either committed its write or did not; it never leaves half a write.
#[async_trait]
pub trait TaskStore: Send + Sync + 'static {
    /// Reads a task. `Ok(None)` if no task has this id.
    ///
    /// Never waits for writers. Errors: `TaskCorrupt` if this task's record is unreadable
    /// (other tasks and all sessions are unaffected), `Backend` on I/O failure.
    async fn get_task(&self, id: &TaskId) -> Result<Option<Versioned<TaskRecord>>, StoreError>;

    /// Writes a task under the version rule. `expected` `None`: insert, refused with
    /// `TaskExists` if a task with this id is stored. `Some(v)`: replace only if the stored
    /// version is `v` — `Conflict { expected: v, actual }` otherwise, `TaskNotFound` if
    /// absent. Returns the new version ([`Version::FIRST`] on insert, `v.next()` on
    /// replace). On every error nothing is written. Durable when it returns, like session
    /// writes. Only the stored record's header (version, expiry) is checked, so a write at
    /// the version of a record whose body is damaged replaces it.
    async fn put_task(
        &self,
        expected: Option<Version>,
        task: TaskRecord,
    ) -> Result<Version, StoreError>;

    /// Tasks of one session (all tasks when `session` is `None`), newest first (by
    /// `created_at`, ties by id descending), at most `limit`. Expired tasks not yet purged
    /// are included. Errors: `TaskCorrupt` if a record on the way is unreadable.
    async fn list_tasks(
        &self,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Versioned<TaskRecord>>, StoreError>;

    /// Removes at most `limit` tasks whose `expires_at <= now`, whatever their state, and
    /// returns how many it removed. Tasks not yet expired are never removed, nor is a task
    /// rewritten (with a later expiry) while the purge runs.
    async fn purge_expired_tasks(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError>;
}

/// The rule of [`TaskStore::list_tasks`], written once for every backend: of `tasks` (the
/// records an adapter read), those of `session` (all when `None`), newest `created_at` first
/// (ties by id, descending), at most `limit`.
pub fn select_tasks(
    tasks: impl IntoIterator<Item = Versioned<TaskRecord>>,
    session: Option<&SessionId>,
    limit: usize,
) -> Vec<Versioned<TaskRecord>> {
    let mut out: Vec<Versioned<TaskRecord>> = tasks
        .into_iter()
        .filter(|t| session.is_none_or(|s| t.value.session_id.as_ref() == Some(s)))
        .collect();
    out.sort_by(|a, b| (b.value.created_at, &b.value.id).cmp(&(a.value.created_at, &a.value.id)));
    out.truncate(limit);
    out
}
