//! The open sled database behind a [`crate::SledStore`]: one [`Engine`] per open of the
//! directory (database, trees, sync thread), and the [`Shared`] slot that retires an engine
//! after a backend error (sled latches its first I/O error until the directory is reopened)
//! and opens a fresh one at the next operation. Waits for the sync thread are bounded.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use session_core::StoreError;

use crate::config::SledConfig;
use crate::errors;
use crate::sync::{Counters, SyncReply, Syncer};

const SESSIONS: &str = "sessions";
const EXPIRY: &str = "sessions_by_expiry";

/// The state the blocking-pool closures share with the store.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The open database; `None` after a backend error (sled latches I/O errors until it is
    /// reopened) until the next operation reopens it.
    pub(crate) engine: RwLock<Option<Arc<Engine>>>,
    /// The engine closed after an error, until every operation that held it has ended.
    pub(crate) retired: Mutex<Option<Weak<Engine>>>,
    pub(crate) path: PathBuf,
    pub(crate) config: SledConfig,
    pub(crate) counters: Arc<Counters>,
}

/// One open of the directory: the database, its trees and its sync thread.
#[derive(Debug)]
pub(crate) struct Engine {
    /// Owns the database; the trees and the sync thread hold handles of it too.
    _db: sled::Db,
    pub(crate) sessions: sled::Tree,
    pub(crate) expiry: sled::Tree,
    sync: Option<Sender<SyncReply>>,
    syncer: Option<JoinHandle<()>>,
    /// Closed by the sync thread when it exits, so a close can wait for it with a bound.
    stopped: Mutex<Receiver<()>>,
    path: PathBuf,
    close_timeout: Duration,
}

impl Shared {
    /// Runs `f` on the open engine; a backend error retires the engine so the next
    /// operation reopens the directory (sled keeps failing with its first I/O error until
    /// then).
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let engine = self.engine()?;
        let result = f(&engine);
        if let Err(e @ StoreError::Backend(_)) = &result {
            tracing::error!(error = %e, path = %self.path.display(), "sled store failed; reopening it at the next operation");
            if let Ok(mut slot) = self.engine.write() {
                if slot.as_ref().is_some_and(|cur| Arc::ptr_eq(cur, &engine)) {
                    *slot = None;
                    if let Ok(mut retired) = self.retired.lock() {
                        *retired = Some(Arc::downgrade(&engine));
                    }
                }
            }
        }
        result
    }

    /// The open engine, reopening the directory first after a backend error (once every
    /// operation on the retired engine has ended, bounded).
    fn engine(&self) -> Result<Arc<Engine>, StoreError> {
        if let Some(e) = self.engine.read().map_err(|_| poisoned())?.as_ref() {
            return Ok(Arc::clone(e));
        }
        let mut slot = self.engine.write().map_err(|_| poisoned())?;
        if let Some(e) = slot.as_ref() {
            return Ok(Arc::clone(e));
        }
        let retired = self.retired.lock().map_err(|_| poisoned())?.take();
        if let Some(old) = retired {
            let until = Instant::now() + self.config.close_timeout;
            while old.strong_count() > 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let engine = Arc::new(Engine::open(&self.path, &self.config, &self.counters)?);
        tracing::info!(path = %self.path.display(), "sled store reopened after an error");
        *slot = Some(Arc::clone(&engine));
        Ok(engine)
    }
}

pub(crate) fn poisoned() -> StoreError {
    StoreError::Backend("the sled store's engine lock is poisoned".into())
}

impl Engine {
    /// Hook (issue #20, taskstore): the database, for `tasks.rs` to open its own trees.
    pub(crate) fn db(&self) -> &sled::Db {
        &self._db
    }

    pub(crate) fn open(
        path: &Path,
        config: &SledConfig,
        counters: &Arc<Counters>,
    ) -> Result<Engine, StoreError> {
        let db = open_dir(path, config)?;
        let sessions = db
            .open_tree(SESSIONS)
            .map_err(|e| errors::backend("open tree", e))?;
        let expiry = db
            .open_tree(EXPIRY)
            .map_err(|e| errors::backend("open tree", e))?;
        // The directory entries of a new store must survive a crash too.
        sync_dir(path);
        let (sync, queue) = mpsc::channel();
        let (stopped_tx, stopped) = mpsc::channel();
        let syncer = Syncer {
            db: db.clone(),
            dir: path.to_path_buf(),
            queue,
            counters: Arc::clone(counters),
            stopped: stopped_tx,
        };
        let syncer = std::thread::Builder::new()
            .name("session-sled-sync".into())
            .spawn(move || syncer.run())
            .map_err(|e| StoreError::Backend(format!("cannot start the sync thread: {e}")))?;
        Ok(Engine {
            _db: db,
            sessions,
            expiry,
            sync: Some(sync),
            syncer: Some(syncer),
            stopped: Mutex::new(stopped),
            path: path.to_path_buf(),
            close_timeout: config.close_timeout,
        })
    }

    /// Waits, at most `timeout`, until every write committed so far is durable (one shared
    /// sync). Blocking: call it on the blocking pool.
    pub(crate) fn sync_now(&self, timeout: Duration) -> Result<(), StoreError> {
        let (reply, answer) = mpsc::channel();
        self.sync
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(reply)
            .map_err(|_| StoreError::Closed)?;
        match answer.recv_timeout(timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(StoreError::Backend(format!(
                "the sled flush of {} did not finish within {timeout:?} (a full or hung disk?): the write is committed but may not be durable",
                self.path.display()
            ))),
            Err(RecvTimeoutError::Disconnected) => {
                Err(StoreError::Backend("the sled sync thread stopped".into()))
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Closing the queue makes the sync thread run one last durable flush and exit; a flush
        // that hangs (a dead disk) must not hang the close: wait for it at most close_timeout.
        drop(self.sync.take());
        let stopped = match self.stopped.get_mut() {
            Ok(rx) => rx.recv_timeout(self.close_timeout),
            Err(_) => Err(RecvTimeoutError::Disconnected),
        };
        match stopped {
            Err(RecvTimeoutError::Timeout) => tracing::error!(
                path = %self.path.display(),
                "the last sled flush did not finish within {:?}; closing without it",
                self.close_timeout
            ),
            _ => {
                if let Some(t) = self.syncer.take() {
                    if t.join().is_err() {
                        tracing::error!(path = %self.path.display(), "the sled sync thread panicked");
                    }
                }
            }
        }
    }
}

fn sync_dir(path: &Path) {
    if let Ok(d) = std::fs::File::open(path) {
        let _ = d.sync_all();
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(parent) {
            let _ = d.sync_all();
        }
    }
}

fn open_dir(path: &Path, config: &SledConfig) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(path)
        .cache_capacity(config.cache_capacity)
        .open()
        .map_err(|e| errors::open(path, e))
}
