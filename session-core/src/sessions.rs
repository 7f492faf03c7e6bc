//! [`Sessions`]: the service every caller uses: TTLs, capacity, per-session locks,
//! optimistic read-modify-write with retries, statistics and maintenance.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::field::Empty;
use tracing::Instrument;

use crate::clock::{Clock, SystemClock};
use crate::locks::{HeldLock, LockTable};
use crate::session::expiry_after;
use crate::shared_lock::SharedLockHandle;
use crate::store::{ScanPage, ScanQuery, SessionStore, WriteOp};
use crate::{Fence, RetryPolicy, Session, SessionId, StoreError, Versioned};

/// Knobs of [`Sessions`]. `SessionsConfig::default()` suits servers and embedding programs.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionsConfig {
    /// How long a session lives after its last write (sliding expiry). Default 24 h.
    pub ttl: Duration,
    /// The most live sessions; creating one more fails `CapacityExceeded` (expired sessions
    /// are purged first and never count). `None` (the default) means no cap.
    pub max_sessions: Option<u64>,
    /// Retries of an update that lost a version race (to a writer in another process, or one
    /// that bypassed the lock).
    pub retry: RetryPolicy,
    /// The longest wait for a session's lock before `Busy`. Default 30 s.
    pub lock_timeout: Duration,
    /// How often the maintenance task purges expired sessions and evicts idle lock entries.
    /// Default 60 s.
    pub maintenance_interval: Duration,
    /// The most sessions one maintenance pass purges. Default 1,000.
    pub purge_batch: usize,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig {
            ttl: Duration::from_secs(24 * 60 * 60),
            max_sessions: None,
            retry: RetryPolicy::default(),
            lock_timeout: Duration::from_secs(30),
            maintenance_interval: Duration::from_secs(60),
            purge_batch: 1_000,
        }
    }
}

/// A snapshot of the service's counters since it was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SessionsStats {
    /// Writes committed by `create`, `update`, `update_many` and `delete`.
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
    /// Entries in the lock table now.
    pub lock_entries: u64,
}

#[derive(Debug, Default)]
struct Counters {
    commits: AtomicU64,
    conflicts: AtomicU64,
    retries: AtomicU64,
    rejected: AtomicU64,
    lock_acquisitions: AtomicU64,
    lock_waits: AtomicU64,
    lock_wait_total_us: AtomicU64,
    lock_wait_max_us: AtomicU64,
    lock_timeouts: AtomicU64,
    purged: AtomicU64,
}

fn bump(c: &AtomicU64, by: u64) {
    c.fetch_add(by, Ordering::Relaxed);
}

/// The session service: what the tools, the server and embedding programs call.
///
/// Cheap to clone (an `Arc` inside). Correctness comes from the store's version check: every
/// write is a compare-and-swap, and a lost race is re-read and re-run. Per-session locks
/// serialize this process's writers of one session before their compare-and-swap, so a hot
/// session costs waiting, not failed attempts; a lock lost or evicted costs time, never data.
#[derive(Clone, Debug)]
pub struct Sessions {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn SessionStore>,
    config: SessionsConfig,
    clock: Arc<dyn Clock>,
    locks: Arc<LockTable>,
    counters: Counters,
    /// Serializes this process's creations so `max_sessions` holds exactly in-process.
    create_gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("backend", &self.store.backend_name())
            .field("config", &self.config)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Exclusive hold of one session's lock, from [`Sessions::lock`] until dropped.
///
/// Dropping releases it, also when the holding task panics or is cancelled. The holder
/// writes through [`SessionGuard::update`], which does not take the lock again.
#[derive(Debug)]
pub struct SessionGuard {
    sessions: Sessions,
    id: SessionId,
    waited: Duration,
    /// The cross-process lock, when the backend is shared (released before the local one).
    shared: Option<SharedLockHandle>,
    _held: HeldLock,
}

impl SessionGuard {
    /// The locked session's id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// How long taking the lock waited.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// Reads the locked session (`NotFound`, `Expired` as [`Sessions::get`]).
    pub async fn get(&self) -> Result<Versioned<Session>, StoreError> {
        self.sessions.get(&self.id).await
    }

    /// Updates the locked session: the same contract as [`Sessions::update`], under the lock
    /// this guard holds.
    pub async fn update<R, F>(&self, f: F) -> Result<(Versioned<Session>, R), StoreError>
    where
        F: FnMut(&mut Session) -> Result<R, StoreError> + Send,
        R: Send,
    {
        let span = update_span(&self.id);
        let fence = self.shared.as_ref().map(SharedLockHandle::fence);
        self.sessions
            .update_locked(&self.id, f, &span, fence)
            .instrument(span.clone())
            .await
    }
}

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
}

fn update_span(id: &SessionId) -> tracing::Span {
    tracing::debug_span!(
        "session_update",
        session_id = %id,
        attempts = Empty,
        lock_wait_us = Empty,
        duration_us = Empty,
        outcome = Empty
    )
}

impl Sessions {
    /// The service over `store`, on the system clock.
    pub fn new(store: Arc<dyn SessionStore>, config: SessionsConfig) -> Sessions {
        Sessions::with_clock(store, config, Arc::new(SystemClock))
    }

    /// The service over `store`, reading time from `clock` (a `ManualClock` in tests).
    pub fn with_clock(
        store: Arc<dyn SessionStore>,
        config: SessionsConfig,
        clock: Arc<dyn Clock>,
    ) -> Sessions {
        Sessions {
            inner: Arc::new(Inner {
                store,
                config,
                clock,
                locks: Arc::new(LockTable::default()),
                counters: Counters::default(),
                create_gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &SessionsConfig {
        &self.inner.config
    }

    /// The current time of the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Creates a new session with the configured TTL.
    ///
    /// Errors: `AlreadyExists`, `CapacityExceeded`.
    pub async fn create(&self, id: &SessionId) -> Result<Versioned<Session>, StoreError> {
        self.create_with(id, |_| {}).await
    }

    /// Creates a new session, letting `init` fill in labels, stage or metadata first.
    ///
    /// Errors: `AlreadyExists`, `CapacityExceeded`.
    pub async fn create_with(
        &self,
        id: &SessionId,
        init: impl FnOnce(&mut Session) + Send,
    ) -> Result<Versioned<Session>, StoreError> {
        let now = self.now();
        let mut session = Session::new(id.clone(), now, self.inner.config.ttl);
        init(&mut session);
        session.id = id.clone();
        let _gate = self.inner.create_gate.lock().await;
        self.check_capacity(now).await?;
        let version = self.inner.store.insert(session.clone()).await?;
        bump(&self.inner.counters.commits, 1);
        Ok(Versioned {
            version,
            value: session,
        })
    }

    async fn check_capacity(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let Some(max) = self.inner.config.max_sessions else {
            return Ok(());
        };
        let store = &self.inner.store;
        if store.count().await? < max {
            return Ok(());
        }
        // Expired sessions never count: purge them, then look again.
        let purged = store.purge_expired(now, usize::MAX).await?;
        bump(&self.inner.counters.purged, purged.len() as u64);
        if store.count().await? < max {
            Ok(())
        } else {
            Err(StoreError::CapacityExceeded { max })
        }
    }

    /// Reads a live session.
    ///
    /// Errors: `NotFound`; `Expired` if its TTL has run out (expired data is never returned
    /// as live); `Corrupt`.
    pub async fn get(&self, id: &SessionId) -> Result<Versioned<Session>, StoreError> {
        match self.inner.store.get(id).await? {
            None => Err(StoreError::NotFound(id.clone())),
            Some(s) if s.value.is_expired_at(self.now()) => Err(StoreError::Expired(id.clone())),
            Some(s) => Ok(s),
        }
    }

    /// Reads the session, creating it if absent. Race-safe: concurrent callers for one new id
    /// all succeed and all see the same session. An expired session is replaced by a fresh
    /// one (its old contents are discarded, as a purge would have done).
    ///
    /// Errors: `CapacityExceeded` when it must create and the cap is reached.
    pub async fn get_or_create(&self, id: &SessionId) -> Result<Versioned<Session>, StoreError> {
        let attempts = self.inner.config.retry.max_attempts.max(1) + 2;
        let mut last = StoreError::NotFound(id.clone());
        for _ in 0..attempts {
            match self.inner.store.get(id).await? {
                Some(s) if !s.value.is_expired_at(self.now()) => return Ok(s),
                Some(expired) => match self.inner.store.remove(id, Some(expired.version)).await {
                    Ok(()) => bump(&self.inner.counters.purged, 1),
                    Err(e @ (StoreError::Conflict { .. } | StoreError::NotFound(_))) => last = e,
                    Err(e) => return Err(e),
                },
                None => match self.create(id).await {
                    Ok(s) => return Ok(s),
                    Err(e @ StoreError::AlreadyExists(_)) => last = e,
                    Err(e) => return Err(e),
                },
            }
        }
        Err(last)
    }

    /// Takes the session's lock for exclusive work, waiting at most `lock_timeout` in all.
    /// On a backend shared by several processes (one with [`SessionStore::shared_locks`])
    /// it also takes the cross-process lock, and the guard's writes are fenced by it.
    ///
    /// The session need not exist. Errors: `Busy` when the wait runs out.
    pub async fn lock(&self, id: &SessionId) -> Result<SessionGuard, StoreError> {
        let start = Instant::now();
        let (held, _) = self.acquire(id).await?;
        let shared = match self.inner.store.shared_locks() {
            None => None,
            Some(locks) => {
                let left = self
                    .inner
                    .config
                    .lock_timeout
                    .saturating_sub(start.elapsed());
                match locks.acquire(id, left).await {
                    Ok(handle) => Some(handle),
                    Err(e) => {
                        if matches!(e, StoreError::Busy { .. }) {
                            bump(&self.inner.counters.lock_timeouts, 1);
                        }
                        return Err(e);
                    }
                }
            }
        };
        Ok(SessionGuard {
            sessions: self.clone(),
            id: id.clone(),
            waited: start.elapsed(),
            shared,
            _held: held,
        })
    }

    async fn acquire(&self, id: &SessionId) -> Result<(HeldLock, Duration), StoreError> {
        let c = &self.inner.counters;
        let span = tracing::trace_span!("session_lock_wait", session_id = %id, wait_us = Empty);
        let result = self
            .inner
            .locks
            .acquire(id, self.inner.config.lock_timeout)
            .instrument(span.clone())
            .await;
        match &result {
            Ok((_, waited)) => {
                let us = waited.as_micros() as u64;
                span.record("wait_us", us);
                bump(&c.lock_acquisitions, 1);
                if !waited.is_zero() {
                    bump(&c.lock_waits, 1);
                    bump(&c.lock_wait_total_us, us);
                    c.lock_wait_max_us.fetch_max(us, Ordering::Relaxed);
                }
            }
            Err(StoreError::Busy { waited, .. }) => {
                span.record("wait_us", waited.as_micros() as u64);
                bump(&c.lock_timeouts, 1);
                tracing::debug!(session_id = %id, ?waited, "lock wait timed out");
            }
            Err(_) => {}
        }
        result
    }

    /// Optimistic read-modify-write of one session. Takes the session's lock (bounded wait),
    /// reads it, runs `f` on a copy, and writes the copy back with a compare-and-swap. On a
    /// conflict it re-reads and re-runs `f` per the retry policy, so no update is ever lost.
    /// Every write slides the session's expiry to `now + ttl`.
    ///
    /// `f` refuses a change by returning an error (e.g. `StoreError::Rejected`); nothing is
    /// written and that error is returned. `f` may run more than once.
    ///
    /// Errors: `NotFound`, `Expired`, `Busy`, `Conflict` (retries exhausted), `f`'s error.
    pub async fn update<R, F>(
        &self,
        id: &SessionId,
        f: F,
    ) -> Result<(Versioned<Session>, R), StoreError>
    where
        F: FnMut(&mut Session) -> Result<R, StoreError> + Send,
        R: Send,
    {
        let span = update_span(id);
        async {
            let (_held, waited) = self.acquire(id).await?;
            span.record("lock_wait_us", waited.as_micros() as u64);
            self.update_locked(id, f, &span, None).await
        }
        .instrument(span.clone())
        .await
    }

    async fn update_locked<R, F>(
        &self,
        id: &SessionId,
        mut f: F,
        span: &tracing::Span,
        fence: Option<&Fence>,
    ) -> Result<(Versioned<Session>, R), StoreError>
    where
        F: FnMut(&mut Session) -> Result<R, StoreError> + Send,
        R: Send,
    {
        let start = Instant::now();
        let c = &self.inner.counters;
        let mut attempt = 0u32;
        let result = loop {
            attempt += 1;
            let current = match self.get(id).await {
                Ok(s) => s,
                Err(e) => break Err(e),
            };
            let mut next = current.value.clone();
            let out = match f(&mut next) {
                Ok(out) => out,
                Err(e) => {
                    bump(&c.rejected, 1);
                    break Err(e);
                }
            };
            if let Err(e) = self.stamp(&current.value, &mut next) {
                bump(&c.rejected, 1);
                break Err(e);
            }
            let written = match fence {
                None => {
                    self.inner
                        .store
                        .replace(current.version, next.clone())
                        .await
                }
                Some(fence) => {
                    let op = WriteOp::Replace {
                        expected: current.version,
                        session: next.clone(),
                    };
                    let out = self.inner.store.apply_fenced(vec![op], fence).await;
                    out.map(|mut v| v.pop().flatten().unwrap_or(current.version.next()))
                }
            };
            match written {
                Ok(version) => {
                    bump(&c.commits, 1);
                    break Ok((
                        Versioned {
                            version,
                            value: next,
                        },
                        out,
                    ));
                }
                Err(e @ StoreError::Conflict { .. }) => {
                    bump(&c.conflicts, 1);
                    match self.inner.config.retry.next_delay(attempt) {
                        Some(delay) => {
                            bump(&c.retries, 1);
                            tokio::time::sleep(delay).await;
                        }
                        None => break Err(e),
                    }
                }
                Err(e) => break Err(e),
            }
        };
        span.record("attempts", attempt);
        span.record("duration_us", start.elapsed().as_micros() as u64);
        span.record(
            "outcome",
            result.as_ref().map_or_else(|e| e.kind(), |_| "committed"),
        );
        result
    }

    /// Checks what a closure may not change and stamps the write time and sliding expiry.
    fn stamp(&self, before: &Session, after: &mut Session) -> Result<(), StoreError> {
        if after.id != before.id {
            return Err(StoreError::Rejected(format!(
                "an update may not change the session id ({} -> {})",
                before.id, after.id
            )));
        }
        let now = self.now();
        after.updated_at = now;
        after.expires_at = expiry_after(now, self.inner.config.ttl);
        Ok(())
    }

    /// Read-modify-write of several sessions at once, all or nothing: takes their locks in
    /// sorted id order (so batches in any order never deadlock), reads them, runs `f` on
    /// copies given in the order of `ids`, and writes them in one atomic `apply`, retrying on
    /// conflict as [`Sessions::update`].
    ///
    /// Errors: `Invalid` for an empty or repeated id list; otherwise as `update`.
    pub async fn update_many<R, F>(
        &self,
        ids: &[SessionId],
        mut f: F,
    ) -> Result<(Vec<Versioned<Session>>, R), StoreError>
    where
        F: FnMut(&mut [Session]) -> Result<R, StoreError> + Send,
        R: Send,
    {
        let sorted: BTreeSet<&SessionId> = ids.iter().collect();
        if ids.is_empty() || sorted.len() != ids.len() {
            return Err(StoreError::Invalid(
                "update_many needs distinct session ids".into(),
            ));
        }
        let mut held = Vec::with_capacity(sorted.len());
        for id in sorted {
            held.push(self.acquire(id).await?);
        }
        let c = &self.inner.counters;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut current = Vec::with_capacity(ids.len());
            for id in ids {
                current.push(self.get(id).await?);
            }
            let mut next: Vec<Session> = current.iter().map(|s| s.value.clone()).collect();
            let out = f(&mut next).inspect_err(|_| bump(&c.rejected, 1))?;
            for (before, after) in current.iter().zip(next.iter_mut()) {
                self.stamp(&before.value, after)
                    .inspect_err(|_| bump(&c.rejected, 1))?;
            }
            let batch = current
                .iter()
                .zip(&next)
                .map(|(cur, s)| WriteOp::Replace {
                    expected: cur.version,
                    session: s.clone(),
                })
                .collect();
            match self.inner.store.apply(batch).await {
                Ok(_) => {
                    bump(&c.commits, 1);
                    let written = current
                        .into_iter()
                        .zip(next)
                        .map(|(cur, value)| Versioned {
                            version: cur.version.next(),
                            value,
                        })
                        .collect();
                    return Ok((written, out));
                }
                Err(e @ StoreError::Conflict { .. }) => {
                    bump(&c.conflicts, 1);
                    let delay = self.inner.config.retry.next_delay(attempt).ok_or(e)?;
                    bump(&c.retries, 1);
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Deletes a session (expired or not).
    ///
    /// Errors: `NotFound`.
    pub async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.store.remove(id, None).await?;
        bump(&self.inner.counters.commits, 1);
        Ok(())
    }

    /// One page of sessions (expired ones included; check `expires_at` against
    /// [`Sessions::now`]).
    pub async fn list(&self, query: &ScanQuery) -> Result<ScanPage, StoreError> {
        self.inner.store.scan(query).await
    }

    /// The number of stored sessions, expired ones included.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.inner.store.count().await
    }

    /// Removes up to `purge_batch` expired sessions now; returns their ids.
    pub async fn purge_expired(&self) -> Result<Vec<SessionId>, StoreError> {
        let purged = self
            .inner
            .store
            .purge_expired(self.now(), self.inner.config.purge_batch)
            .await?;
        bump(&self.inner.counters.purged, purged.len() as u64);
        Ok(purged)
    }

    /// One maintenance pass: purge expired sessions, evict idle lock entries.
    pub async fn run_maintenance(&self) -> Result<MaintenanceReport, StoreError> {
        let purged = self.purge_expired().await?.len();
        let evicted_locks = self.inner.locks.evict_idle();
        Ok(MaintenanceReport {
            purged,
            evicted_locks,
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
                    Ok(r) if r.purged > 0 || r.evicted_locks > 0 => {
                        tracing::info!(
                            purged = r.purged,
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
            lock_entries: self.inner.locks.len() as u64,
        }
    }
}
