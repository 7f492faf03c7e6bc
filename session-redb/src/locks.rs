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
//! Every lock operation is one small write transaction of its own (on the blocking pool),
//! serialized with every other process's writes by redb. Waiting is a poll (read
//! transactions, which cost no write) with backoff up to 50 ms.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::ReadableTable;
use session_core::adapter::shared_lock_handle;
use session_core::{Fence, SessionId, SharedLockHandle, SharedLocks, StoreError};

use crate::errors;
use crate::handle::{guarded, Slot};
use crate::tables::LOCKS;

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

/// What a try to take a lock found.
enum Take {
    Taken(i64),
    /// Held by `holder` for about `left` more.
    Held {
        left: Duration,
    },
}

/// Step locks in the store file. See the module docs.
#[derive(Clone, Debug)]
pub(crate) struct RedbLocks {
    slot: Arc<Slot>,
    path: PathBuf,
    expiry: Duration,
    holder: String,
    /// Releases under way; [`RedbLocks::finish_releases`] waits for them so a process that
    /// exits right after a step does not leave its lock to expire.
    pending: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl RedbLocks {
    pub(crate) fn new(slot: Arc<Slot>, path: PathBuf, expiry: Duration) -> RedbLocks {
        let command = std::env::args().take(3).collect::<Vec<_>>().join(" ");
        RedbLocks {
            slot,
            path,
            expiry: expiry.max(Duration::from_millis(300)),
            holder: format!("pid {} ({command})", std::process::id()),
            pending: Arc::default(),
        }
    }

    /// Waits for the releases under way (the store's `flush`).
    pub(crate) async fn finish_releases(&self) {
        let tasks: Vec<_> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }

    /// One write transaction on the lock record of `id`: `f` sees the record and returns
    /// the record to store (if any) and its answer.
    fn transact<T>(
        slot: &Slot,
        path: &std::path::Path,
        id: &str,
        f: impl FnOnce(Option<LockRecord>) -> (Option<LockRecord>, T),
    ) -> Result<T, StoreError> {
        let handle = slot.get()?;
        let db = handle.writable().ok_or_else(|| {
            StoreError::Backend(format!(
                "redb store {} is open read-only: it takes no step locks",
                path.display()
            ))
        })?;
        guarded(|| {
            let txn = db
                .begin_write()
                .map_err(|e| errors::backend("begin write (lock)", e))?;
            let answer = {
                let mut table = txn
                    .open_table(LOCKS)
                    .map_err(|e| errors::backend("open lock table", e))?;
                let current = table
                    .get(id)
                    .map_err(|e| errors::backend("read lock", e))?
                    .and_then(|v| LockRecord::decode(v.value()));
                let unchanged = current.clone();
                let (next, answer) = f(current);
                if let Some(next) = next.filter(|n| Some(n) != unchanged.as_ref()) {
                    table
                        .insert(id, next.encode().as_slice())
                        .map_err(|e| errors::backend("write lock", e))?;
                }
                answer
            };
            txn.commit()
                .map_err(|e| errors::backend("commit lock", e))?;
            Ok(answer)
        })
        .unwrap_or_else(|panic| Err(errors::damaged(path, &panic)))
    }

    /// The lock's record as the latest commit has it (a read: no write transaction).
    fn peek(
        slot: &Slot,
        path: &std::path::Path,
        id: &str,
    ) -> Result<Option<LockRecord>, StoreError> {
        let handle = slot.get()?;
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
        .unwrap_or_else(|panic| Err(errors::damaged(path, &panic)))
    }

    fn try_take(&self, id: &str) -> Result<Take, StoreError> {
        let now = now_ms();
        if let Some(r) = Self::peek(&self.slot, &self.path, id)? {
            if r.is_held(now) {
                return Ok(Take::Held {
                    left: Duration::from_millis(u64::try_from(r.expires_ms - now).unwrap_or(0)),
                });
            }
        }
        let expires_ms =
            now.saturating_add(i64::try_from(self.expiry.as_millis()).unwrap_or(i64::MAX));
        let holder = self.holder.clone();
        Self::transact(&self.slot, &self.path, id, move |current| match current {
            Some(r) if r.is_held(now_ms()) => {
                let left =
                    Duration::from_millis(u64::try_from(r.expires_ms - now_ms()).unwrap_or(0));
                (None, Take::Held { left })
            }
            other => {
                let token = other.map_or(1, |r| r.token.saturating_add(1));
                let record = LockRecord {
                    token,
                    expires_ms,
                    holder,
                };
                (Some(record), Take::Taken(token))
            }
        })
    }

    /// Extends the expiry of the holding `token`; `false` when it is no longer held by it.
    fn renew(
        slot: &Slot,
        path: &std::path::Path,
        id: &str,
        token: i64,
        expiry: Duration,
    ) -> Result<bool, StoreError> {
        let expires_ms =
            now_ms().saturating_add(i64::try_from(expiry.as_millis()).unwrap_or(i64::MAX));
        Self::transact(slot, path, id, move |current| match current {
            Some(r) if r.token == token && r.expires_ms > 0 => {
                (Some(LockRecord { expires_ms, ..r }), true)
            }
            _ => (None, false),
        })
    }

    /// Releases the holding `token` (a successor's holding is left alone).
    fn release(
        slot: &Slot,
        path: &std::path::Path,
        id: &str,
        token: i64,
    ) -> Result<(), StoreError> {
        Self::transact(slot, path, id, move |current| match current {
            Some(r) if r.token == token => (Some(LockRecord { expires_ms: 0, ..r }), ()),
            _ => (None, ()),
        })
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Backend(format!("lock task failed: {e}")))?
}

#[async_trait]
impl SharedLocks for RedbLocks {
    async fn acquire(
        &self,
        id: &SessionId,
        timeout: Duration,
    ) -> Result<SharedLockHandle, StoreError> {
        let start = Instant::now();
        // This process's own release of a lock may still be in flight: let it land first.
        self.finish_releases().await;
        let mut pause = Duration::from_millis(2);
        let token = loop {
            let this = self.clone();
            let key = id.as_str().to_owned();
            let left = match blocking(move || this.try_take(&key)).await? {
                Take::Taken(token) => break token,
                Take::Held { left } => left,
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
            let (slot, path, key, expiry) = (
                Arc::clone(&self.slot),
                self.path.clone(),
                id.as_str().to_owned(),
                self.expiry,
            );
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(expiry / 3).await;
                    let (s, p, k) = (Arc::clone(&slot), path.clone(), key.clone());
                    match blocking(move || RedbLocks::renew(&s, &p, &k, token, expiry)).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(session = %key, "step lock lost (taken over after expiry); fenced writes under it will fail");
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot renew a step lock; retrying"),
                    }
                }
            })
        };
        let (slot, path, key, pending) = (
            Arc::clone(&self.slot),
            self.path.clone(),
            id.as_str().to_owned(),
            Arc::clone(&self.pending),
        );
        let release = move || {
            renewer.abort();
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                // No runtime (the process is ending): the lock expires instead.
                return;
            };
            let task = rt.spawn_blocking(move || {
                if let Err(e) = RedbLocks::release(&slot, &path, &key, token) {
                    tracing::warn!(error = %e, "cannot release a step lock; it expires instead");
                }
            });
            let mut tasks = pending.lock().unwrap_or_else(|p| p.into_inner());
            tasks.retain(|t| !t.is_finished());
            tasks.push(task);
        };
        Ok(shared_lock_handle(
            Fence {
                id: id.clone(),
                token,
            },
            release,
        ))
    }
}
