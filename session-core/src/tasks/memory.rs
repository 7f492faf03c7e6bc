//! [`MemoryTasks`]: the in-memory reference implementation of [`TaskStore`], held by
//! [`crate::MemoryStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{select_tasks, TaskId, TaskRecord, TaskStore};
use crate::{SessionId, StoreError, Version, Versioned};

/// Tasks in a `BTreeMap` behind a mutex, with an expiry index. Nothing survives the
/// process.
#[derive(Debug, Default)]
pub(crate) struct MemoryTasks {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    tasks: BTreeMap<TaskId, Versioned<TaskRecord>>,
    by_expiry: BTreeSet<(DateTime<Utc>, TaskId)>,
}

impl MemoryTasks {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Every write checks before it mutates, so a poisoned lock holds no half write.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl TaskStore for MemoryTasks {
    async fn get_task(&self, id: &TaskId) -> Result<Option<Versioned<TaskRecord>>, StoreError> {
        Ok(self.state().tasks.get(id).cloned())
    }

    async fn put_task(
        &self,
        expected: Option<Version>,
        task: TaskRecord,
    ) -> Result<Version, StoreError> {
        let mut state = self.state();
        let stored = state.tasks.get(&task.id);
        let version = match (expected, stored) {
            (None, None) => Version::FIRST,
            (None, Some(_)) => return Err(StoreError::TaskExists(task.id.to_string())),
            (Some(_), None) => return Err(StoreError::TaskNotFound(task.id.to_string())),
            (Some(v), Some(s)) if s.version != v => {
                return Err(StoreError::Conflict {
                    expected: v,
                    actual: s.version,
                })
            }
            (Some(v), Some(_)) => v.next(),
        };
        let id = task.id.clone();
        state.by_expiry.insert((task.expires_at, id.clone()));
        let old = state.tasks.insert(
            id.clone(),
            Versioned {
                version,
                value: task,
            },
        );
        if let Some(old) = old {
            if state.tasks.get(&id).map(|t| t.value.expires_at) != Some(old.value.expires_at) {
                state.by_expiry.remove(&(old.value.expires_at, id));
            }
        }
        Ok(version)
    }

    async fn list_tasks(
        &self,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Versioned<TaskRecord>>, StoreError> {
        let state = self.state();
        Ok(select_tasks(state.tasks.values().cloned(), session, limit))
    }

    async fn purge_expired_tasks(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        let mut state = self.state();
        let due: Vec<(DateTime<Utc>, TaskId)> = state
            .by_expiry
            .iter()
            .take_while(|(t, _)| *t <= now)
            .take(limit)
            .cloned()
            .collect();
        for key in &due {
            state.by_expiry.remove(key);
            state.tasks.remove(&key.1);
        }
        Ok(due.len() as u64)
    }
}
