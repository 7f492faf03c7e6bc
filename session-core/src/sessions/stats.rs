//! The service's counters: bumped with relaxed atomics on the hot path, read as one
//! [`SessionsStats`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::Sessions;

/// A snapshot of the service's counters since it was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SessionsStats {
    /// Writes committed by `create`, `update`, `update_many` and `delete` (a combined batch
    /// of updates is one commit).
    pub commits: u64,
    /// Compare-and-swap attempts that found another version.
    pub conflicts: u64,
    /// Re-runs of an update closure after a conflict.
    pub retries: u64,
    /// Updates whose closure refused the change.
    pub rejected: u64,
    /// Locks taken (explicitly or by an update).
    pub lock_acquisitions: u64,
    /// Lock acquisitions that had to wait for another holder.
    pub lock_waits: u64,
    /// Total time spent waiting for locks, in microseconds.
    pub lock_wait_total_us: u64,
    /// The longest single lock wait, in microseconds.
    pub lock_wait_max_us: u64,
    /// Lock waits that ran out (`Busy`).
    pub lock_timeouts: u64,
    /// Sessions removed by purges.
    pub purged: u64,
    /// Commits that carried more than one combined update of a hot session.
    pub combined_batches: u64,
    /// Updates written by those commits.
    pub combined_updates: u64,
    /// The most updates one commit carried.
    pub batch_max: u64,
    /// Entries in the lock table now.
    pub lock_entries: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) commits: AtomicU64,
    pub(super) conflicts: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) rejected: AtomicU64,
    pub(super) lock_acquisitions: AtomicU64,
    pub(super) lock_waits: AtomicU64,
    pub(super) lock_wait_total_us: AtomicU64,
    pub(super) lock_wait_max_us: AtomicU64,
    pub(super) lock_timeouts: AtomicU64,
    pub(super) purged: AtomicU64,
    pub(super) combined_batches: AtomicU64,
    pub(super) combined_updates: AtomicU64,
    pub(super) batch_max: AtomicU64,
}

pub(super) fn bump(c: &AtomicU64, by: u64) {
    c.fetch_add(by, Ordering::Relaxed);
}

impl Sessions {
    /// A snapshot of the counters.
    pub fn stats(&self) -> SessionsStats {
        let c = &self.inner.counters;
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SessionsStats {
            commits: r(&c.commits),
            conflicts: r(&c.conflicts),
            retries: r(&c.retries),
            rejected: r(&c.rejected),
            lock_acquisitions: r(&c.lock_acquisitions),
            lock_waits: r(&c.lock_waits),
            lock_wait_total_us: r(&c.lock_wait_total_us),
            lock_wait_max_us: r(&c.lock_wait_max_us),
            lock_timeouts: r(&c.lock_timeouts),
            purged: r(&c.purged),
            combined_batches: r(&c.combined_batches),
            combined_updates: r(&c.combined_updates),
            batch_max: r(&c.batch_max),
            lock_entries: self.inner.locks.len() as u64,
        }
    }
}
