//! The shared durability sync: one thread answers every waiting writer with one sled flush
//! plus one `fdatasync` of the data file (and of blob files written since the last sync).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;

use session_core::StoreError;

use crate::errors;

pub(crate) type SyncReply = Sender<Result<(), StoreError>>;

pub(crate) struct Syncer {
    pub(crate) db: sled::Db,
    pub(crate) dir: PathBuf,
    pub(crate) queue: Receiver<SyncReply>,
    pub(crate) counters: Arc<Counters>,
    /// Dropped when the thread ends, so a close can wait for it with a bound.
    pub(crate) stopped: Sender<()>,
}

/// What the sync thread has done, for [`crate::SledStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) syncs: AtomicU64,
    pub(crate) waiters: AtomicU64,
    /// Writes committed whose durability sync has not succeeded yet.
    pub(crate) unsynced: AtomicU64,
}

impl Syncer {
    /// Runs until every sender is gone; then makes everything durable once more.
    pub(crate) fn run(self) {
        let mut synced_blobs = HashSet::new();
        // One handle of sled's data file, opened once, for every fdatasync.
        let data = File::open(self.dir.join("db"));
        while let Ok(first) = self.queue.recv() {
            let mut waiting = vec![first];
            while let Ok(more) = self.queue.try_recv() {
                waiting.push(more);
            }
            // Every write committed before this flush starts is durable when it succeeds.
            let pending = self.counters.unsynced.swap(0, Ordering::Relaxed);
            let result = match &data {
                Ok(file) => durable_flush(&self.db, file, &self.dir, &mut synced_blobs),
                Err(e) => Err(errors::sync(
                    &self.dir,
                    std::io::Error::new(e.kind(), e.to_string()),
                )),
            };
            let result = result.map_err(|e| {
                let total = self.counters.unsynced.fetch_add(pending, Ordering::Relaxed) + pending;
                tracing::error!(error = %e, unsynced = total, "sled durability sync failed");
                match e {
                    StoreError::Backend(m) => StoreError::Backend(format!(
                        "{m}; {total} committed writes are not durable yet: retry once the cause (e.g. a full disk) is fixed"
                    )),
                    other => other,
                }
            });
            if result.is_ok() {
                self.counters.syncs.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .waiters
                    .fetch_add(waiting.len() as u64, Ordering::Relaxed);
            }
            for w in waiting {
                let _ = w.send(result.clone());
            }
        }
        if let Ok(file) = &data {
            let pending = self.counters.unsynced.swap(0, Ordering::Relaxed);
            if let Err(e) = durable_flush(&self.db, file, &self.dir, &mut synced_blobs) {
                self.counters.unsynced.fetch_add(pending, Ordering::Relaxed);
                tracing::error!(error = %e, unsynced = pending, "final sled sync failed");
            }
        }
        drop(self.stopped);
    }
}

/// sled's flush (writes the log with `sync_file_range`), then a real `fdatasync` of the data
/// file, then fsync of new blob files and the blob directory. After this returns `Ok`, every
/// write committed before it started survives a crash or power loss.
pub(crate) fn durable_flush(
    db: &sled::Db,
    data: &File,
    dir: &std::path::Path,
    synced_blobs: &mut HashSet<OsString>,
) -> Result<(), StoreError> {
    db.flush().map_err(|e| errors::backend("flush", e))?;
    data.sync_data().map_err(|e| errors::sync(dir, e))?;
    let blobs = dir.join("blobs");
    if let Ok(entries) = std::fs::read_dir(&blobs) {
        let mut new_blob = false;
        let mut present = HashSet::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            present.insert(name.clone());
            if synced_blobs.contains(&name) {
                continue;
            }

            if let Ok(f) = File::open(entry.path()) {
                f.sync_all().map_err(|e| errors::sync(dir, e))?;
                synced_blobs.insert(name);
                new_blob = true;
            }
        }
        synced_blobs.retain(|n| present.contains(n));
        if new_blob {
            File::open(&blobs)
                .and_then(|d| d.sync_all())
                .map_err(|e| errors::sync(dir, e))?;
        }
    }
    Ok(())
}
