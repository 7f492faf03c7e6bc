//! The open database file, shared by the readers and the writer, and how it is opened:
//! read-write (refusing a 0-byte file, checking integrity when asked) or read-only (redb's
//! `ReadOnlyDatabase`, which never writes to the file). The writer swaps in a fresh handle
//! after an I/O error (`Slot::reopen`): redb latches an I/O failure until the file is reopened.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use redb::ReadableDatabase;
use session_core::StoreError;

use crate::config::RedbConfig;
use crate::errors;
use crate::tables::{EXPIRY, LOCKS, SESSIONS};

/// A database opened one way or the other.
pub(crate) enum Handle {
    ReadWrite(redb::Database),
    ReadOnly(redb::ReadOnlyDatabase),
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Handle::ReadWrite(_) => "Handle::ReadWrite",
            Handle::ReadOnly(_) => "Handle::ReadOnly",
        })
    }
}

impl Handle {
    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Handle::ReadWrite(db) => db.begin_read(),
            Handle::ReadOnly(db) => db.begin_read(),
        }
    }

    pub(crate) fn writable(&self) -> Option<&redb::Database> {
        match self {
            Handle::ReadWrite(db) => Some(db),
            Handle::ReadOnly(_) => None,
        }
    }
}

/// The current handle; `None` while the writer reopens the file after an I/O error (and
/// until a reopen succeeds, e.g. while the disk is still full).
#[derive(Debug)]
pub(crate) struct Slot {
    current: RwLock<Option<Arc<Handle>>>,
    /// Why the slot is empty, for the readers' error.
    broken: RwLock<Option<String>>,
}

impl Slot {
    pub(crate) fn new(handle: Handle) -> Slot {
        Slot {
            current: RwLock::new(Some(Arc::new(handle))),
            broken: RwLock::new(None),
        }
    }

    /// The handle to read (or write) with, or a clear error while the file is being reopened.
    pub(crate) fn get(&self) -> Result<Arc<Handle>, StoreError> {
        let current = self.current.read().map_err(|_| poisoned())?;
        match current.as_ref() {
            Some(h) => Ok(Arc::clone(h)),
            None => {
                let why = self
                    .broken
                    .read()
                    .ok()
                    .and_then(|b| b.clone())
                    .unwrap_or_else(|| "an I/O error".into());
                Err(StoreError::Backend(format!(
                    "the redb store is reopening its file after {why}; retry once the cause (e.g. a full disk) is fixed"
                )))
            }
        }
    }

    /// Closes the current handle (waiting, bounded, for the reads that hold it) and opens the
    /// file again: redb repairs what the failed commit left. On failure the slot stays empty
    /// and the next call tries again.
    pub(crate) fn reopen(
        &self,
        path: &Path,
        config: &RedbConfig,
        why: &str,
    ) -> Result<(), StoreError> {
        let old = {
            let mut current = self.current.write().map_err(|_| poisoned())?;
            if let Ok(mut b) = self.broken.write() {
                *b = Some(why.to_owned());
            }
            current.take()
        };
        if let Some(old) = old {
            let gone = Arc::downgrade(&old);
            drop(old);
            // Reads hold the handle only for one read transaction: this ends quickly.
            let until = Instant::now() + Duration::from_secs(10);
            while gone.strong_count() > 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if gone.strong_count() > 0 {
                return Err(StoreError::Backend(
                    "cannot reopen the redb store: reads still hold the old file".into(),
                ));
            }
        }
        let db = open_read_write(path, config)?;
        *self.current.write().map_err(|_| poisoned())? = Some(Arc::new(Handle::ReadWrite(db)));
        if let Ok(mut b) = self.broken.write() {
            *b = None;
        }
        tracing::info!(path = %path.display(), "redb store reopened after an I/O error");
        Ok(())
    }

    pub(crate) fn is_open(&self) -> bool {
        self.current.read().is_ok_and(|c| c.is_some())
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("the redb store's handle lock is poisoned".into())
}

/// How long a 0-byte file may stay empty before it is refused: another process that is
/// creating the store has made the file and not yet written redb's header (ten processes
/// started at once on a new path meet this), which takes milliseconds; a truncated file stays
/// empty.
const CREATION_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether `path` is a 0-byte regular file throughout [`CREATION_GRACE`].
fn stays_empty(path: &Path) -> bool {
    let deadline = std::time::Instant::now() + CREATION_GRACE;
    loop {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() && m.len() == 0 => {}
            _ => return false,
        }
        if std::time::Instant::now() >= deadline {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An existing file of 0 bytes is not a store: redb would silently initialise it as an empty
/// one, hiding that it was truncated. One that gains redb's header within
/// [`CREATION_GRACE`] was being created by another process, and is opened.
pub(crate) fn refuse_empty_file(path: &Path) -> Result<bool, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() == 0 && !stays_empty(path) => refuse_empty_file(path),
        Ok(m) if m.is_file() && m.len() == 0 => Err(StoreError::Backend(format!(
            "redb store {} is an empty (0-byte) file: it was truncated or is not a store; restore it from a backup, or remove it to start an empty store",
            path.display()
        ))),
        Ok(m) if !m.is_file() => Err(StoreError::Backend(format!(
            "redb store {} is not a regular file",
            path.display()
        ))),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::Backend(format!(
            "cannot open redb store {}: {e}",
            path.display()
        ))),
    }
}

/// Opens (or creates) the file for reading and writing and makes sure both tables exist.
/// An existing file is opened, never re-created; with `config.check_integrity_on_open`, redb
/// verifies every page's checksum first, so a damaged file fails here with a clear error
/// instead of panicking at a later read.
pub(crate) fn open_read_write(
    path: &Path,
    config: &RedbConfig,
) -> Result<redb::Database, StoreError> {
    let exists = refuse_empty_file(path)?;
    let mut builder = redb::Builder::new();
    builder.set_cache_size(config.cache_size);
    builder.set_concurrency_mode(config.concurrency_mode());
    builder.set_check_integrity_on_open(config.check_integrity_on_open);
    let opened = guarded(|| {
        if exists {
            builder.open(path)
        } else {
            builder.create(path)
        }
    });
    let db = match opened {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => return Err(errors::open(path, e)),
        Err(panic) => return Err(errors::damaged(path, &panic)),
    };
    // Create the tables up front so readers never meet a missing table; a file that has
    // them already is not written to (an open commits nothing, so it does not wait for, or
    // hold up, another process's writes).
    if has_tables(&db) {
        return Ok(db);
    }
    let txn = db
        .begin_write()
        .map_err(|e| errors::backend("begin write", e))?;
    {
        txn.open_table(SESSIONS)
            .map_err(|e| errors::backend("open table", e))?;
        txn.open_table(EXPIRY)
            .map_err(|e| errors::backend("open table", e))?;
        txn.open_table(LOCKS)
            .map_err(|e| errors::backend("open table", e))?;
    }
    txn.commit().map_err(|e| errors::backend("commit", e))?;
    Ok(db)
}

/// Whether the file has every table already (a read, no write transaction).
fn has_tables(db: &redb::Database) -> bool {
    guarded(|| {
        db.begin_read().is_ok_and(|txn| {
            txn.open_table(SESSIONS).is_ok()
                && txn.open_table(EXPIRY).is_ok()
                && txn.open_table(LOCKS).is_ok()
        })
    })
    .unwrap_or(false)
}

/// What a read-only open found.
pub(crate) enum ReadOnlyOpen {
    /// The file, opened with redb's `ReadOnlyDatabase`.
    Clean(redb::ReadOnlyDatabase),
    /// The file was not closed cleanly (a crash or a kill): a read-only open cannot recover
    /// it, and recovering it in place would modify it.
    NeedsRecovery,
}

/// Opens an existing file read-only: redb's `ReadOnlyDatabase` neither writes to the file nor
/// repairs it.
pub(crate) fn open_read_only(path: &Path, config: &RedbConfig) -> Result<ReadOnlyOpen, StoreError> {
    if !refuse_empty_file(path)? {
        return Err(StoreError::Backend(format!(
            "no redb store at {}: check --store-path",
            path.display()
        )));
    }
    let mut builder = redb::Builder::new();
    builder.set_cache_size(config.cache_size);
    builder.set_concurrency_mode(config.concurrency_mode());
    match guarded(|| builder.open_read_only(path)) {
        Ok(Ok(db)) => Ok(ReadOnlyOpen::Clean(db)),
        Ok(Err(redb::DatabaseError::RepairAborted)) => Ok(ReadOnlyOpen::NeedsRecovery),
        Ok(Err(e)) => Err(errors::open(path, e)),
        Err(panic) => Err(errors::damaged(path, &panic)),
    }
}

thread_local! {
    /// Set while this thread runs [`guarded`]: its panics are caught and reported as errors.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once, a panic hook that stays quiet for panics [`guarded`] catches (they become
/// a clear error instead of a "panicked at" line on stderr) and hands every other panic to
/// the hook that was there before.
fn quiet_guarded_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(|g| g.get()) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic inside redb (which it documents for files damaged outside it)
/// into the panic's message.
pub(crate) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    quiet_guarded_panics();
    let outer = GUARDED.with(|g| g.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(outer));
    result.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic inside redb".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten processes opening a new path at once: one has created the file and not yet written
    /// redb's header when another looks. That file is opened, not refused as truncated.
    #[test]
    fn a_file_another_process_is_creating_is_not_refused_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        std::fs::write(&path, b"").unwrap();
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(100));
                std::fs::write(&path, b"header").unwrap();
            })
        };
        assert!(matches!(refuse_empty_file(&path), Ok(true)));
        writer.join().unwrap();
    }

    #[test]
    fn a_file_that_stays_empty_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        std::fs::write(&path, b"").unwrap();
        let Err(StoreError::Backend(message)) = refuse_empty_file(&path) else {
            panic!("a 0-byte file was accepted");
        };
        assert!(message.contains("empty (0-byte) file"), "{message}");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }
}
