//! [`Tasks`]: the service over a [`TaskStore`], mirroring [`crate::Sessions`]: creation,
//! reads that treat expired tasks as gone, optimistic read-modify-write with retries, and
//! purging.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::record::expiry;
use super::{TaskId, TaskRecord, TaskStore};
use crate::{Clock, RetryPolicy, SessionId, StoreError, Versioned};

/// The task service: what the MCP task handlers and the runner call.
///
/// Cheap to clone (`Arc`s inside). Every write stamps `updated_at` from the clock and sets
/// `expires_at = updated_at + ttl_ms` (sliding expiry, as sessions have: a task is kept
/// `ttl_ms` after its last write, so a terminal result stays for its TTL and a running task
/// whose runner writes is never purged under it). Correctness comes from the store's
/// version check; a lost race is re-read and re-run under the [`RetryPolicy`].
#[derive(Clone)]
pub struct Tasks {
    store: Arc<dyn TaskStore>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks")
            .field("retry", &self.retry)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Tasks {
    /// The service over `store`, retrying lost races per `retry`, reading time from `clock`.
    pub fn new(store: Arc<dyn TaskStore>, retry: RetryPolicy, clock: Arc<dyn Clock>) -> Tasks {
        Tasks {
            store,
            retry,
            clock,
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn TaskStore> {
        &self.store
    }

    /// The current time of the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Inserts `task`, stamping `created_at` and `updated_at` with now and `expires_at` with
    /// now + `ttl_ms`. Returns it as stored (version 1).
    ///
    /// Errors: `TaskExists` if its id is taken (nothing is written).
    pub async fn create(&self, mut task: TaskRecord) -> Result<Versioned<TaskRecord>, StoreError> {
        let now = self.now();
        task.created_at = now;
        stamp(&mut task, now);
        let version = self.store.put_task(None, task.clone()).await?;
        Ok(Versioned {
            version,
            value: task,
        })
    }

    /// Reads a live task.
    ///
    /// Errors: `TaskNotFound` if it is absent or expired (an expired task is as good as
    /// purged); `TaskCorrupt`.
    pub async fn get(&self, id: &TaskId) -> Result<Versioned<TaskRecord>, StoreError> {
        match self.store.get_task(id).await? {
            Some(t) if !t.value.is_expired_at(self.now()) => Ok(t),
            _ => Err(StoreError::TaskNotFound(id.to_string())),
        }
    }

    /// Live tasks of `session` (all when `None`), newest first, at most `limit` (expired
    /// ones not yet purged are left out, so a list may be shorter than `limit`).
    pub async fn list(
        &self,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Versioned<TaskRecord>>, StoreError> {
        let now = self.now();
        let mut tasks = self.store.list_tasks(session, limit).await?;
        tasks.retain(|t| !t.value.is_expired_at(now));
        Ok(tasks)
    }

    /// Removes up to `limit` expired tasks now; returns how many.
    pub async fn purge_expired(&self, limit: usize) -> Result<u64, StoreError> {
        self.store.purge_expired_tasks(self.now(), limit).await
    }

    /// Read-modify-write of one live task: reads it, runs `f` on a copy, and stores the copy
    /// with the version read (stamping `updated_at` and `expires_at`). When another writer
    /// came first (`Conflict`) it re-reads and re-runs `f` per the retry policy, so no
    /// update is lost; `f` may therefore run more than once. `f` cannot change the id, nor
    /// the state of a terminal task (`completed`, `failed`, `cancelled` are final: a runner
    /// finishing after a cancel cannot overwrite it). Returns the task as stored and what `f`
    /// returned.
    ///
    /// Errors: `TaskNotFound` if the task is absent or expired; the error `f` returns, with
    /// nothing written; `Rejected` if `f` changed a terminal task's state (nothing written);
    /// `Conflict` once the retries are used up.
    pub async fn update<R, F>(
        &self,
        id: &TaskId,
        mut f: F,
    ) -> Result<(Versioned<TaskRecord>, R), StoreError>
    where
        F: FnMut(&mut TaskRecord) -> Result<R, StoreError> + Send,
        R: Send,
    {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let current = self.get(id).await?;
            let mut next = current.value.clone();
            let out = f(&mut next)?;
            let was = current.value.state;
            if was.is_terminal() && next.state != was {
                return Err(StoreError::Rejected(format!(
                    "task {id} is already {was} and cannot become {}; a finished task keeps its outcome",
                    next.state
                )));
            }
            next.id = id.clone();
            stamp(&mut next, self.now());
            match self
                .store
                .put_task(Some(current.version), next.clone())
                .await
            {
                Ok(version) => {
                    return Ok((
                        Versioned {
                            version,
                            value: next,
                        },
                        out,
                    ))
                }
                Err(e @ StoreError::Conflict { .. }) => match self.retry.next_delay(attempt) {
                    Some(delay) => tokio::time::sleep(delay).await,
                    None => return Err(e),
                },
                Err(e) => return Err(e),
            }
        }
    }
}

/// Sets `updated_at` to `now` and `expires_at` to `now + ttl_ms`.
fn stamp(task: &mut TaskRecord, now: DateTime<Utc>) {
    task.updated_at = now;
    task.expires_at = expiry(now, task.ttl_ms);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{ManualClock, MemoryStore, SessionStore, Sessions, SessionsConfig, TaskState};

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000, 0).unwrap()
    }

    fn service() -> (Tasks, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(t0()));
        let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
        let sessions = Sessions::with_clock(store, SessionsConfig::default(), clock.clone());
        (sessions.tasks().unwrap(), clock)
    }

    fn task(name: &str) -> TaskRecord {
        TaskRecord::new(TaskId::new(name).unwrap(), "build_image", t0(), 10_000, 500)
    }

    #[test]
    fn the_port_is_object_safe() {
        fn takes(_: &dyn TaskStore) {}
        takes(&MemoryStore::new());
    }

    #[tokio::test]
    async fn writes_stamp_times_and_slide_expiry() {
        let (tasks, clock) = service();
        clock.advance(std::time::Duration::from_secs(5));
        let made = tasks.create(task("a")).await.unwrap();
        let at = t0() + chrono::Duration::seconds(5);
        assert_eq!(made.version.get(), 1);
        assert_eq!((made.value.created_at, made.value.updated_at), (at, at));
        assert_eq!(made.value.expires_at, at + chrono::Duration::seconds(10));
        clock.advance(std::time::Duration::from_secs(8));
        let (after, ()) = tasks
            .update(&made.value.id, |t| {
                t.state = TaskState::Completed;
                t.id = TaskId::new("other").unwrap();
                Ok(())
            })
            .await
            .unwrap();
        let later = at + chrono::Duration::seconds(8);
        assert_eq!(after.version.get(), 2);
        assert_eq!(after.value.id.as_str(), "a", "the id cannot be changed");
        assert_eq!(after.value.created_at, at);
        assert_eq!(after.value.updated_at, later);
        assert_eq!(
            after.value.expires_at,
            later + chrono::Duration::seconds(10)
        );
        assert_eq!(tasks.get(&after.value.id).await.unwrap(), after);
    }

    #[tokio::test]
    async fn expired_tasks_read_as_not_found_until_purged() {
        let (tasks, clock) = service();
        let made = tasks.create(task("a")).await.unwrap();
        tasks.create(task("b")).await.unwrap();
        clock.advance(std::time::Duration::from_secs(10));
        let id = made.value.id;
        assert!(matches!(
            tasks.get(&id).await,
            Err(StoreError::TaskNotFound(_))
        ));
        assert!(matches!(
            tasks.update(&id, |_| Ok(())).await,
            Err(StoreError::TaskNotFound(_))
        ));
        assert!(tasks.list(None, 10).await.unwrap().is_empty());
        assert_eq!(tasks.store().list_tasks(None, 10).await.unwrap().len(), 2);
        assert_eq!(tasks.purge_expired(1).await.unwrap(), 1);
        assert_eq!(tasks.purge_expired(10).await.unwrap(), 1);
        assert!(tasks.store().get_task(&id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sessions_without_a_task_store_offer_no_tasks() {
        #[derive(Debug)]
        struct NoTasks(MemoryStore);
        #[async_trait::async_trait]
        impl SessionStore for NoTasks {
            fn backend_name(&self) -> &'static str {
                "no-tasks"
            }
            async fn get(
                &self,
                id: &SessionId,
            ) -> Result<Option<Versioned<crate::Session>>, StoreError> {
                self.0.get(id).await
            }
            async fn apply(
                &self,
                batch: Vec<crate::WriteOp>,
            ) -> Result<Vec<Option<crate::Version>>, StoreError> {
                self.0.apply(batch).await
            }
            async fn scan(&self, q: &crate::ScanQuery) -> Result<crate::ScanPage, StoreError> {
                self.0.scan(q).await
            }
            async fn purge_expired(
                &self,
                now: DateTime<Utc>,
                limit: usize,
            ) -> Result<Vec<SessionId>, StoreError> {
                self.0.purge_expired(now, limit).await
            }
            async fn count(&self) -> Result<u64, StoreError> {
                self.0.count().await
            }
            async fn flush(&self) -> Result<(), StoreError> {
                Ok(())
            }
        }
        let sessions = Sessions::new(
            Arc::new(NoTasks(MemoryStore::new())),
            SessionsConfig::default(),
        );
        assert!(sessions.tasks().is_none());
    }
}
