//! The holder's cache: the last record this process committed for a session, so an update
//! under the session's lock needs no store read.
//!
//! Every write path of [`super::Sessions`] keeps it true: updates (under the lock) put what
//! they committed; a conflict, a creation, a deletion and a purge drop the session's entry.
//! A put is refused when any entry was dropped since the writer captured the generation
//! (before its write), so an invalidation racing a commit can never leave a stale record
//! behind. The version check still guards every write: a record changed behind the service
//! (by another process, or through the raw store) makes the next write conflict, which drops
//! the entry and re-reads.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::{Session, SessionId, Versioned};

/// The most records kept; a put beyond it evicts an arbitrary entry.
pub(super) const CACHE_CAPACITY: usize = 1024;

/// A cached record and the serial number of the guard that committed it under a shared
/// lock (`None`: not under a shared lock).
type Entry = (Versioned<Session>, Option<u64>);

#[derive(Debug, Default)]
pub(super) struct RecordCache {
    /// Each record with the serial number of the guard that committed it under a shared
    /// lock (`None`: not under a shared lock).
    records: Mutex<HashMap<SessionId, Entry>>,
    generation: AtomicU64,
}

impl RecordCache {
    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Entry>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The generation to pass to [`RecordCache::put`]; capture it before the write.
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A copy of the cached record of `id`.
    pub(super) fn get(&self, id: &SessionId) -> Option<Versioned<Session>> {
        self.records().get(id).map(|(r, _)| r.clone())
    }

    /// A copy of the cached record of `id` if the guard numbered `token` committed it.
    pub(super) fn get_fenced(&self, id: &SessionId, token: u64) -> Option<Versioned<Session>> {
        match self.records().get(id) {
            Some((r, Some(t))) if *t == token => Some(r.clone()),
            _ => None,
        }
    }

    /// Takes the cached record of `id` out (the lock holder's, to change in place; it puts
    /// the result back after its commit).
    pub(super) fn take(&self, id: &SessionId) -> Option<Versioned<Session>> {
        self.records().remove(id).map(|(r, _)| r)
    }

    /// Caches `record` unless an entry was dropped since `generation` was captured.
    pub(super) fn put(&self, generation: u64, record: Versioned<Session>) {
        self.put_fenced(generation, record, None);
    }

    /// [`RecordCache::put`] of a record the guard numbered `token` committed.
    pub(super) fn put_fenced(
        &self,
        generation: u64,
        record: Versioned<Session>,
        token: Option<u64>,
    ) {
        let mut records = self.records();
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if records.len() >= CACHE_CAPACITY && !records.contains_key(&record.value.id) {
            if let Some(victim) = records.keys().next().cloned() {
                records.remove(&victim);
            }
        }
        records.insert(record.value.id.clone(), (record, token));
    }

    /// Drops the entry of `id` (the store may hold something else now).
    pub(super) fn invalidate(&self, id: &SessionId) {
        let mut records = self.records();
        self.generation.fetch_add(1, Ordering::SeqCst);
        records.remove(id);
    }

    /// Drops the entry of `id` after a failed write by the lock holder (the only one who
    /// puts it, so no racing put needs refusing).
    pub(super) fn forget(&self, id: &SessionId) {
        self.records().remove(id);
    }

    /// Drops every entry of `ids`.
    pub(super) fn invalidate_all<'a>(&self, ids: impl IntoIterator<Item = &'a SessionId>) {
        let mut records = self.records();
        self.generation.fetch_add(1, Ordering::SeqCst);
        for id in ids {
            records.remove(id);
        }
    }

    /// The number of cached records.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.records().len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use std::time::Duration;

    use super::*;
    use crate::Version;

    fn record(name: &str) -> Versioned<Session> {
        let id = SessionId::new(name).unwrap();
        Versioned {
            version: Version(3),
            value: Session::new(id, chrono::Utc::now(), Duration::from_secs(60)),
        }
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = RecordCache::default();
        for i in 0..CACHE_CAPACITY + 100 {
            cache.put(cache.generation(), record(&format!("s-{i}")));
        }
        assert_eq!(cache.len(), CACHE_CAPACITY);
    }

    #[test]
    fn a_put_racing_an_invalidation_is_refused() {
        let cache = RecordCache::default();
        let r = record("raced");
        let generation = cache.generation();
        cache.invalidate(&r.value.id);
        cache.put(generation, r.clone());
        assert!(cache.get(&r.value.id).is_none());
        cache.put(cache.generation(), r.clone());
        assert_eq!(cache.get(&r.value.id), Some(r.clone()));
        cache.forget(&r.value.id);
        assert!(cache.get(&r.value.id).is_none());
    }
}
