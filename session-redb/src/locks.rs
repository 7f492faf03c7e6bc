//! [`RedbLocks`]: the step-lock port ([`SharedLocks`]) on a multi-process redb file, for the
//! processes that share one store (`serve`, one-shot `tool` calls, a second `serve`).
//!
//! A lock is a record in the file's `step_locks` table: its fence token, the time it expires
//! and its holder (pid and command, for diagnostics). A lock is free when it has no record,
//! was released (expiry 0) or has expired; taking it writes the record with the next token
//! (one more than the record's last), so the token is the lock record's version and never
//! repeats for a session: records are released, never removed. The holder renews the expiry
//! every third of `lock_expiry` while it holds the lock; a killed holder stops renewing, and
//! its lock is taken over once it expires. A fenced write (`apply_fenced`) is checked
//! against the record in the writer's own transaction: applied only while the record still
//! carries the holder's token, so a holder whose lock was taken over cannot overwrite its
//! successor's work.
//!
//! Every lock operation (take, renew, release) is a job for the store's group-commit writer,
//! so many of them share one transaction and one fsync with the session writes waiting at
//! that moment; a release is queued without waiting for it (the store's `flush`, which
//! follows it through the same queue, waits), and rides the next write's commit (the writer
//! lingers up to `RELEASE_LINGER` for one) instead of an fsync of its own: a lost release
//! only lets the lock expire. This process's next take of the same lock queues behind its
//! release without polling, so `lock()` + one update costs two commits, not three. Waiting for a held lock is a poll (read
//! transactions, which write nothing) with backoff up to 50 ms, and never past the
//! holder's expiry.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::ReadableTable;
use session_core::adapter::shared_lock_handle;
use session_core::{Fence, SessionId, SharedLockHandle, SharedLocks, StoreError};

use tokio::sync::oneshot;

use crate::errors;
use crate::handle::{guarded, Slot};
use crate::tables::LOCKS;
use crate::writer::{Job, Request};

mod park;

/// The lock record: token, expiry (ms since the epoch, 0 once released), holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LockRecord {
    pub(crate) token: i64,
    pub(crate) expires_ms: i64,
    pub(crate) holder: String,
}

impl LockRecord {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.holder.len());
        out.extend_from_slice(&self.token.to_le_bytes());
        out.extend_from_slice(&self.expires_ms.to_le_bytes());
        out.extend_from_slice(self.holder.as_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<LockRecord> {
        let token = i64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
        let expires_ms = i64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
        let holder = String::from_utf8_lossy(bytes.get(16..)?).into_owned();
        Some(LockRecord {
            token,
            expires_ms,
            holder,
        })
    }

    /// Held by someone at `now_ms`.
    fn is_held(&self, now_ms: i64) -> bool {
        self.expires_ms > now_ms
    }
}

/// Whether `fence` still holds its lock in the transaction's view of the lock table: the
/// record carries its token and was not released. (An expired, not yet taken over record
/// still excludes every other holder at this commit, so it still fences.)
pub(crate) fn fence_holds(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    fence: &Fence,
) -> Result<bool, StoreError> {
    let record = table
        .get(fence.id.as_str())
        .map_err(|e| errors::backend("read lock", e))?
        .and_then(|v| LockRecord::decode(v.value()));
    Ok(record.is_some_and(|r| r.token == fence.token && r.expires_ms > 0))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A lock operation, run by the writer inside its transaction ([`run`]).
#[derive(Debug)]
pub(crate) enum LockOp {
    /// Take the lock of `id` for `expiry` unless another holds it.
    Take {
        id: String,
        holder: String,
        expiry: Duration,
    },
    /// Extend the holding `token` by `expiry` from now.
    Renew {
        id: String,
        token: i64,
        expiry: Duration,
    },
    /// End the holding `token` (a successor's holding is left alone).
    Release { id: String, token: i64 },
}

/// What a [`LockOp`] found.
#[derive(Debug)]
pub(crate) enum LockAnswer {
    Taken(i64),
    /// Held by another for about this much longer.
    Held(Duration),
    /// Whether the renewed holding was still this one.
    Renewed(bool),
    Released,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs `op` on the lock table inside the writer's transaction.
pub(crate) fn run(
    table: &mut redb::Table<'_, &'static str, &'static [u8]>,
    op: LockOp,
) -> Result<LockAnswer, StoreError> {
    let id = match &op {
        LockOp::Take { id, .. } | LockOp::Renew { id, .. } | LockOp::Release { id, .. } => {
            id.clone()
        }
    };
    let current = table
        .get(id.as_str())
        .map_err(|e| errors::backend("read lock", e))?
        .and_then(|v| LockRecord::decode(v.value()));
    let now = now_ms();
    let (next, answer) = match (op, current) {
        (LockOp::Take { .. }, Some(r)) if r.is_held(now) => (
            None,
            LockAnswer::Held(Duration::from_millis(
                u64::try_from(r.expires_ms - now).unwrap_or(0),
            )),
        ),
        (LockOp::Take { holder, expiry, .. }, current) => {
            let token = current.map_or(1, |r| r.token.saturating_add(1));
            let record = LockRecord {
                token,
                expires_ms: now.saturating_add(ms(expiry)),
                holder,
            };
            (Some(record), LockAnswer::Taken(token))
        }
        (LockOp::Renew { token, expiry, .. }, Some(r)) if r.token == token && r.expires_ms > 0 => (
            Some(LockRecord {
                expires_ms: now.saturating_add(ms(expiry)),
                ..r
            }),
            LockAnswer::Renewed(true),
        ),
        (LockOp::Renew { .. }, _) => (None, LockAnswer::Renewed(false)),
        (LockOp::Release { token, .. }, Some(r)) if r.token == token => (
            Some(LockRecord { expires_ms: 0, ..r }),
            LockAnswer::Released,
        ),
        (LockOp::Release { .. }, _) => (None, LockAnswer::Released),
    };
    if let Some(next) = next {
        table
            .insert(id.as_str(), next.encode().as_slice())
            .map_err(|e| errors::backend("write lock", e))?;
    }
    Ok(answer)
}

/// How lock operations reach the store's writer. Cleared when the store closes, so the
/// writer (which runs until every sender is gone) is never kept alive by a lock.
pub(crate) type LockQueue = Arc<Mutex<Option<SyncSender<Request>>>>;

/// Step locks in the store file. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct RedbLocks {
    slot: Arc<Slot>,
    path: PathBuf,
    queue: LockQueue,
    write_timeout: Duration,
    expiry: Duration,
    holder: String,
    /// Locks this process released whose release may not be committed yet: taking one
    /// again skips the read that would still see it held, and queues the take behind the
    /// release (both then share one commit).
    released: Arc<Mutex<HashSet<String>>>,
    /// Holdings this process ended recently, kept for its next lock of the same session.
    parked: Arc<park::Parked>,
}

/// The most ids remembered in [`RedbLocks::released`] (forgetting one only costs a read).
const RELEASED_CAPACITY: usize = 4096;

impl RedbLocks {
    pub(crate) fn new(
        slot: Arc<Slot>,
        path: PathBuf,
        queue: LockQueue,
        write_timeout: Duration,
        expiry: Duration,
    ) -> RedbLocks {
        let command: String = std::env::args()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(200)
            .collect();
        RedbLocks {
            slot,
            path,
            queue,
            write_timeout,
            expiry: expiry.max(Duration::from_millis(300)),
            holder: format!("pid {} ({command})", std::process::id()),
            released: Arc::default(),
            parked: Arc::default(),
        }
    }

    /// Queues `op` for the writer; its answer, once committed, when `wait`.
    async fn submit(&self, op: LockOp, wait: bool) -> Result<Option<LockAnswer>, StoreError> {
        let (reply, answer) = if wait {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let request = Request {
            job: Job::Lock { op, reply },
            deadline: Instant::now() + self.write_timeout,
        };
        {
            let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queue.as_ref().ok_or(StoreError::Closed)?;
            queue.try_send(request).map_err(|e| match e {
                TrySendError::Full(_) => StoreError::Overloaded(
                    "too many writes are waiting for the redb writer to take a step lock".into(),
                ),
                TrySendError::Disconnected(_) => StoreError::Closed,
            })?;
        }
        match answer {
            None => Ok(None),
            Some(rx) => rx
                .await
                .map_err(|_| {
                    StoreError::Backend("the redb writer stopped before answering a lock".into())
                })?
                .map(Some),
        }
    }

    /// The lock's record as the latest commit has it (a read: no write transaction).
    fn peek(&self, id: &str) -> Result<Option<LockRecord>, StoreError> {
        let handle = self.slot.get()?;
        guarded(|| {
            let txn = handle
                .begin_read()
                .map_err(|e| errors::backend("begin read (lock)", e))?;
            let table = match txn.open_table(LOCKS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(errors::backend("open lock table", e)),
            };
            Ok(table
                .get(id)
                .map_err(|e| errors::backend("read lock", e))?
                .and_then(|v| LockRecord::decode(v.value())))
        })
        .unwrap_or_else(|panic| Err(errors::damaged(&self.path, &panic)))
    }

    /// Takes the lock of `id` if it is free: its token, or how long it stays held.
    async fn try_take(&self, id: &str) -> Result<Result<i64, Duration>, StoreError> {
        let own_release = self
            .released
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if !own_release {
            let this = self.clone();
            let key = id.to_owned();
            let seen = tokio::task::spawn_blocking(move || this.peek(&key))
                .await
                .map_err(|e| StoreError::Backend(format!("lock task failed: {e}")))??;
            let now = now_ms();
            if let Some(r) = seen.filter(|r| r.is_held(now)) {
                return Ok(Err(Duration::from_millis(
                    u64::try_from(r.expires_ms - now).unwrap_or(0),
                )));
            }
        }
        let op = LockOp::Take {
            id: id.to_owned(),
            holder: self.holder.clone(),
            expiry: self.expiry,
        };
        match self.submit(op, true).await? {
            Some(LockAnswer::Taken(token)) => Ok(Ok(token)),
            Some(LockAnswer::Held(left)) => Ok(Err(left)),
            other => Err(StoreError::Backend(format!(
                "unexpected answer to a lock take: {other:?}"
            ))),
        }
    }
}

#[async_trait]
impl SharedLocks for RedbLocks {
    async fn acquire(
        &self,
        id: &SessionId,
        timeout: Duration,
    ) -> Result<SharedLockHandle, StoreError> {
        if let Some(holding) = self.unpark(id.as_str()) {
            tracing::debug!(session_id = %id, token = holding.token, "parked step lock reused");
            return Ok(self.handle(id, holding));
        }
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        let token = loop {
            let left = match self.try_take(id.as_str()).await? {
                Ok(token) => break token,
                Err(left) => left,
            };
            let remaining = timeout.saturating_sub(start.elapsed());
            if remaining.is_zero() {
                return Err(StoreError::Busy {
                    id: id.clone(),
                    waited: start.elapsed(),
                });
            }
            // Poll again soon (a release), and no later than the holder's expiry (a dead
            // holder's lock is taken over as soon as it expires).
            let wait = pause.min(left.max(Duration::from_millis(1))).min(remaining);
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        };
        tracing::debug!(session_id = %id, token, "step lock taken");
        // Renew while held; the release stops the renewal first.
        let renewer = {
            let (this, key) = (self.clone(), id.as_str().to_owned());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(this.expiry / 3).await;
                    let op = LockOp::Renew {
                        id: key.clone(),
                        token,
                        expiry: this.expiry,
                    };
                    match this.submit(op, true).await {
                        Ok(Some(LockAnswer::Renewed(true))) => {}
                        Ok(_) => {
                            tracing::warn!(session = %key, "step lock lost (taken over after its expiry); fenced writes under it will fail");
                            return;
                        }
                        Err(StoreError::Closed) => return,
                        Err(e) => tracing::warn!(error = %e, "cannot renew a step lock; retrying"),
                    }
                }
            })
        };
        Ok(self.handle(
            id,
            park::Holding {
                token,
                renewer,
                since: Instant::now(),
            },
        ))
    }
}

impl RedbLocks {
    /// The handle of `holding`; its drop parks the holding (`park.rs`) or releases it.
    fn handle(&self, id: &SessionId, holding: park::Holding) -> SharedLockHandle {
        let token = holding.token;
        let this = self.clone();
        let key = id.as_str().to_owned();
        shared_lock_handle(
            Fence {
                id: id.clone(),
                token,
            },
            move || this.park_or_release(key, holding),
        )
    }

    /// Ends `holding` of `key`'s lock: stops its renewal and queues the release (not
    /// awaited: the store's flush and close come after it in the queue); `remember` lets
    /// this process's next take of the lock skip its polling read.
    fn release(&self, key: String, holding: park::Holding, remember: bool) {
        holding.renewer.abort();
        let request = Request {
            job: Job::Lock {
                op: LockOp::Release {
                    id: key.clone(),
                    token: holding.token,
                },
                reply: None,
            },
            deadline: Instant::now() + self.write_timeout,
        };
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let sent = queue.as_ref().map(|q| q.try_send(request));
        if matches!(sent, Some(Ok(()))) {
            if remember {
                let mut released = self.released.lock().unwrap_or_else(|p| p.into_inner());
                if released.len() >= RELEASED_CAPACITY {
                    released.clear();
                }
                released.insert(key);
            }
        } else {
            tracing::warn!("cannot queue a step lock's release; it expires instead");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use std::sync::Arc;

    use session_core::{Session, SessionId, SessionStore, Sessions, SessionsConfig};

    use crate::RedbStore;

    fn bump(s: &mut Session) -> Result<u64, session_core::StoreError> {
        let n = s.metadata.get("n").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
        s.metadata.insert("n".into(), serde_json::json!(n));
        Ok(n)
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    /// Fails when a lock + update cycle takes its own take (or release) commit while this
    /// process keeps re-locking the session: its parked holding is reused.
    #[test]
    fn lock_and_one_update_cost_one_commit_and_the_lock_is_released_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(RedbStore::open(dir.path().join("s.redb")).unwrap());
        assert!(store.shared_locks().is_some());
        let port: Arc<dyn SessionStore> = store.clone();
        let sessions = Sessions::new(port, SessionsConfig::default());
        let id = SessionId::new("locked").unwrap();
        runtime().block_on(async {
            sessions.create(&id).await.unwrap();
            let before = store.stats().transactions;
            let started = std::time::Instant::now();
            for i in 1..=50u64 {
                let guard = sessions.lock(&id).await.unwrap();
                let (_, n) = guard.update(bump).await.unwrap();
                assert_eq!(n, i);
            }
            let cycles = store.stats().transactions - before;
            // One update each, plus a take (and a release) each time the holding reached
            // its longest hold and was released for real.
            let renewed = started.elapsed().as_millis() / super::park::MAX_HOLD.as_millis() + 1;
            let most = 50 + 2 * u64::try_from(renewed).unwrap();
            assert!(
                cycles <= most,
                "50 lock + update cycles took {cycles} commits (at most {most})"
            );
            // The last holding, parked, is released soon after; the release, with nothing
            // to ride, is committed on its own.
            let waited = std::time::Instant::now();
            let locks = store.redb_locks().unwrap();
            while locks.peek("locked").unwrap().unwrap().expires_ms != 0 {
                assert!(waited.elapsed() < std::time::Duration::from_secs(5));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
    }

    /// Fails when a parked lock outlives the store (a one-shot process would leave it to
    /// expire, and the next process would wait for it).
    #[test]
    fn closing_the_store_releases_a_parked_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let id = SessionId::new("parked").unwrap();
        runtime().block_on(async {
            let store: Arc<dyn SessionStore> = Arc::new(RedbStore::open(&path).unwrap());
            let sessions = Sessions::new(store, SessionsConfig::default());
            sessions.create(&id).await.unwrap();
            let guard = sessions.lock(&id).await.unwrap();
            guard.update(bump).await.unwrap();
            drop(guard);
            drop(sessions);
        });
        let store = RedbStore::open(&path).unwrap();
        let record = store.redb_locks().unwrap().peek("parked").unwrap().unwrap();
        assert_eq!(
            record.expires_ms, 0,
            "the parked lock was released at close"
        );
    }
}
