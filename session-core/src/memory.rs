//! [`MemoryStore`]: the in-memory reference implementation of the port.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::adapter::{plan_batch, RecordHeader, ScanQueryExt};
use crate::store::{ScanPage, ScanQuery, SessionStore, WriteOp};
use crate::tasks::MemoryTasks;
use crate::{Session, SessionId, StoreError, TaskId, TaskRecord, TaskStore, Version, Versioned};

/// Sessions in a `BTreeMap` behind a mutex, with an expiry index like the durable
/// adapters'. The reference model of the conformance suite; also `--store memory` and a
/// store for embedding programs that need no durability. Nothing survives the process.
/// Its tasks ([`TaskStore`], also offered through [`SessionStore::tasks`]) are the reference
/// model of the task store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    tasks: Arc<MemoryTasks>,
}

#[derive(Debug, Default)]
struct State {
    sessions: BTreeMap<SessionId, Versioned<Session>>,
    by_expiry: BTreeSet<(DateTime<Utc>, SessionId)>,
}

impl State {
    fn put(&mut self, version: Version, session: Session) {
        let id = session.id.clone();
        self.by_expiry.insert((session.expires_at, id.clone()));
        if let Some(old) = self.sessions.insert(
            id.clone(),
            Versioned {
                version,
                value: session,
            },
        ) {
            if old.value.expires_at != self.sessions[&id].value.expires_at {
                self.by_expiry.remove(&(old.value.expires_at, id));
            }
        }
    }

    fn delete(&mut self, id: &SessionId) {
        if let Some(old) = self.sessions.remove(id) {
            self.by_expiry.remove(&(old.value.expires_at, id.clone()));
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied write: every write
        // below checks everything before it mutates.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn backend_name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Versioned<Session>>, StoreError> {
        Ok(self.state().sessions.get(id).cloned())
    }

    async fn apply(&self, batch: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StoreError> {
        let mut state = self.state();
        // Check the whole batch first; mutate only if every write passes.
        let planned = plan_batch(&batch, |id| {
            Ok::<_, StoreError>(Ok(state.sessions.get(id).map(|s| RecordHeader {
                version: s.version,
                expires_at: s.value.expires_at,
            })))
        })?;
        let results: Vec<Option<Version>> = planned.iter().map(|p| p.version).collect();
        for (op, new) in batch.into_iter().zip(&results) {
            match (op, new) {
                (WriteOp::Insert(s) | WriteOp::Replace { session: s, .. }, Some(v)) => {
                    state.put(*v, s)
                }
                (WriteOp::Restore(r), _) => state.put(r.version, r.value),
                (op, _) => state.delete(op.id()),
            }
        }
        Ok(results)
    }

    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage, StoreError> {
        use std::ops::Bound;
        let state = self.state();
        let start = match query.start_bound() {
            Bound::Included(k) => Bound::Included(k.to_owned()),
            Bound::Excluded(k) => Bound::Excluded(k.to_owned()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let range = state
            .sessions
            .range::<str, _>((start.as_ref().map(String::as_str), Bound::Unbounded))
            .map(|(_, s)| Ok(s.clone()));
        query.collect_page(range)
    }

    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut state = self.state();
        let ids: Vec<SessionId> = state
            .by_expiry
            .iter()
            .take_while(|(t, _)| *t <= now)
            .take(limit)
            .map(|(_, id)| id.clone())
            .collect();
        for id in &ids {
            state.delete(id);
        }
        Ok(ids)
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.state().sessions.len() as u64)
    }

    fn tasks(&self) -> Option<Arc<dyn TaskStore>> {
        Some(self.tasks.clone())
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl TaskStore for MemoryStore {
    async fn get_task(&self, id: &TaskId) -> Result<Option<Versioned<TaskRecord>>, StoreError> {
        self.tasks.get_task(id).await
    }

    async fn put_task(
        &self,
        expected: Option<Version>,
        task: TaskRecord,
    ) -> Result<Version, StoreError> {
        self.tasks.put_task(expected, task).await
    }

    async fn list_tasks(
        &self,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Versioned<TaskRecord>>, StoreError> {
        self.tasks.list_tasks(session, limit).await
    }

    async fn purge_expired_tasks(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        self.tasks.purge_expired_tasks(now, limit).await
    }
}
