//! Purging expired sessions and tasks and evicting idle lock entries: one pass on demand, or a
//! background task that runs a pass every `maintenance_interval`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use serde::Serialize;

use super::stats::bump;
use super::{Inner, Sessions};
use crate::{SessionId, StoreError};

/// Stops the maintenance task when dropped.
#[derive(Debug)]
pub struct MaintenanceHandle {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one maintenance pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MaintenanceReport {
    /// Expired sessions removed.
    pub purged: usize,
    /// Idle lock entries evicted.
    pub evicted_locks: usize,
    /// Expired tasks removed (0 when the backend keeps no tasks).
    pub purged_tasks: u64,
}

impl Sessions {
    /// Removes up to `purge_batch` expired sessions now; returns their ids.
    pub async fn purge_expired(&self) -> Result<Vec<SessionId>, StoreError> {
        let purged = self
            .inner
            .store
            .purge_expired(self.now(), self.inner.config.purge_batch)
            .await?;
        bump(&self.inner.counters.purged, purged.len() as u64);
        self.inner.cache.invalidate_all(&purged);
        Ok(purged)
    }

    /// One maintenance pass: purge expired sessions, then up to `purge_batch` expired tasks
    /// (when the backend keeps tasks), evict idle lock entries.
    pub async fn run_maintenance(&self) -> Result<MaintenanceReport, StoreError> {
        let purged = self.purge_expired().await?.len();
        let purged_tasks = match self.tasks() {
            Some(tasks) => tasks.purge_expired(self.inner.config.purge_batch).await?,
            None => 0,
        };
        let evicted_locks = self.inner.locks.evict_idle();
        Ok(MaintenanceReport {
            purged,
            evicted_locks,
            purged_tasks,
        })
    }

    /// Starts the maintenance task on the current tokio runtime: a pass every
    /// `maintenance_interval` until the handle is dropped or every `Sessions` clone is.
    pub fn spawn_maintenance(&self) -> MaintenanceHandle {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = self
            .inner
            .config
            .maintenance_interval
            .max(Duration::from_millis(10));
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let sessions = Sessions { inner };
                match sessions.run_maintenance().await {
                    Ok(r) if r.purged > 0 || r.evicted_locks > 0 || r.purged_tasks > 0 => {
                        tracing::info!(
                            purged = r.purged,
                            purged_tasks = r.purged_tasks,
                            evicted_locks = r.evicted_locks,
                            "maintenance"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "maintenance pass failed"),
                }
            }
        });
        MaintenanceHandle { task }
    }
}
