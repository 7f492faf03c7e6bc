//! Per-session locks: a table of async mutexes keyed by session id, with bounded waits and
//! eviction of idle entries so the table never outgrows the sessions in use.
//!
//! Each mutex guards the session's open combining batch (`sessions/combine.rs`): updates
//! applied in memory and not yet committed. Only a holder of the lock reads or changes it,
//! and the entry counts the callers queued for it, so a holder can tell whether someone
//! will come after it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::sessions::OpenBatch;
use crate::{SessionId, StoreError};

/// One session's lock: the mutex over its open batch, and the callers queued for it.
#[derive(Debug, Default)]
pub(crate) struct LockEntry {
    mutex: Arc<AsyncMutex<Option<OpenBatch>>>,
    queued: AtomicUsize,
}

type Entry = Arc<LockEntry>;

/// The lock table. An entry is idle when only the table refers to it: nobody holds it and
/// nobody waits for it (a waiter holds a clone of the `Arc` while it waits).
#[derive(Debug, Default)]
pub(crate) struct LockTable {
    entries: Mutex<HashMap<SessionId, Entry>>,
}

/// A held lock. Dropping it releases the lock and, if nobody else wants it, the entry.
#[derive(Debug)]
pub(crate) struct HeldLock {
    held: Option<OwnedMutexGuard<Option<OpenBatch>>>,
    /// `None` only inside `drop`, which gives the reference up under the table's mutex.
    entry: Option<Entry>,
    id: SessionId,
    table: Arc<LockTable>,
}

/// Counts a caller as queued for an entry until dropped (also when its wait is cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn new(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::SeqCst);
        Queued(n)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl LockTable {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the lock of `id`, waiting at most `timeout`. Returns the held lock and how long
    /// the caller waited. Cancel-safe: dropping the future gives up the wait. While it
    /// waits the caller counts as queued ([`HeldLock::others_queued`]).
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        id: &SessionId,
        timeout: Duration,
    ) -> Result<(HeldLock, Duration), StoreError> {
        let entry = self.entries().entry(id.clone()).or_default().clone();
        let start = Instant::now();
        let held = match Arc::clone(&entry.mutex).try_lock_owned() {
            Ok(held) => held,
            Err(_) => {
                let queued = Queued::new(&entry.queued);
                let waited =
                    tokio::time::timeout(timeout, Arc::clone(&entry.mutex).lock_owned()).await;
                drop(queued);
                match waited {
                    Ok(held) => held,
                    Err(_) => {
                        self.release(id, entry);
                        return Err(StoreError::Busy {
                            id: id.clone(),
                            waited: start.elapsed(),
                        });
                    }
                }
            }
        };
        let waited = start.elapsed();
        Ok((
            HeldLock {
                held: Some(held),
                entry: Some(entry),
                id: id.clone(),
                table: Arc::clone(self),
            },
            waited,
        ))
    }

    /// Takes the lock of an entry the caller already refers to (a combining member waiting
    /// for its batch), without counting as queued and without a timeout: the caller races
    /// this wait against its batch's answer. Cancel-safe.
    pub(crate) async fn relock(&self, entry: &EntryRef) -> HeldLock {
        let Some(e) = &entry.entry else {
            // Only inside `EntryRef::drop`: never polled then.
            return std::future::pending().await;
        };
        let held = Arc::clone(&e.mutex).lock_owned().await;
        HeldLock {
            held: Some(held),
            entry: Some(Arc::clone(e)),
            id: entry.id.clone(),
            table: Arc::clone(&entry.table),
        }
    }

    /// Gives up one reference to `entry`, and removes the entry if only the table refers to
    /// it then. Both happen under the table's mutex, so of several references given up at
    /// once the last one always sees the entry idle (a new reference is only ever taken
    /// under that mutex, or from a live one).
    fn release(&self, id: &SessionId, entry: Entry) {
        let mut entries = self.entries();
        if Arc::strong_count(&entry) == 2 && entries.get(id).is_some_and(|e| Arc::ptr_eq(e, &entry))
        {
            entries.remove(id);
        }
        drop(entry);
    }

    /// Removes every idle entry; returns how many were removed.
    pub(crate) fn evict_idle(&self) -> usize {
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|_, e| Arc::strong_count(e) > 1);
        before - entries.len()
    }

    /// The number of entries (held, waited for, or idle and not yet evicted).
    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }
}

impl HeldLock {
    /// The session's open combining batch, which only the holder may read or change.
    pub(crate) fn batch(&mut self) -> &mut Option<OpenBatch> {
        match self.held.as_mut() {
            Some(guard) => guard,
            // `held` is only taken in `drop`.
            None => unreachable!("a held lock always holds its guard until dropped"),
        }
    }

    /// Whether other callers are queued for this lock now.
    pub(crate) fn others_queued(&self) -> bool {
        self.entry
            .as_ref()
            .is_some_and(|e| e.queued.load(Ordering::SeqCst) > 0)
    }

    /// A reference to the entry, for [`LockTable::relock`].
    pub(crate) fn entry(&self) -> EntryRef {
        EntryRef {
            entry: self.entry.clone(),
            id: self.id.clone(),
            table: Arc::clone(&self.table),
        }
    }
}

/// A reference to a lock entry held without the lock (a combining member waiting for its
/// answer); it keeps the entry in the table, and dropping it removes the entry if idle.
#[derive(Debug)]
pub(crate) struct EntryRef {
    entry: Option<Entry>,
    id: SessionId,
    table: Arc<LockTable>,
}

impl Drop for EntryRef {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.table.release(&self.id, entry);
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        drop(self.held.take());
        if let Some(entry) = self.entry.take() {
            self.table.release(&self.id, entry);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    #[tokio::test]
    async fn released_entries_leave_the_table() {
        let table = Arc::new(LockTable::default());
        for i in 0..100 {
            let (held, _) = table
                .acquire(&id(&format!("s{i}")), Duration::from_secs(1))
                .await
                .unwrap();
            drop(held);
        }
        assert_eq!(table.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_lock_times_out_a_second_taker_and_is_then_free() {
        let table = Arc::new(LockTable::default());
        let (held, _) = table
            .acquire(&id("a"), Duration::from_secs(1))
            .await
            .unwrap();
        let err = table
            .acquire(&id("a"), Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Busy { .. }));
        // The timed-out waiter left no reference behind: only the table and the holder.
        assert_eq!(table.len(), 1);
        drop(held);
        assert_eq!(table.len(), 0);
        assert!(table
            .acquire(&id("a"), Duration::from_millis(50))
            .await
            .is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_waiter_leaves_an_idle_entry_that_eviction_removes() {
        let table = Arc::new(LockTable::default());
        let (held, _) = table
            .acquire(&id("a"), Duration::from_secs(1))
            .await
            .unwrap();
        let t2 = Arc::clone(&table);
        let waiter = tokio::spawn(async move {
            t2.acquire(&id("a"), Duration::from_secs(60))
                .await
                .map(drop)
        });
        tokio::task::yield_now().await;
        waiter.abort();
        assert!(waiter.await.unwrap_err().is_cancelled());
        drop(held);
        assert_eq!(
            table.evict_idle(),
            0,
            "the holder's drop already removed the idle entry"
        );
        assert_eq!(table.len(), 0);
    }
}
