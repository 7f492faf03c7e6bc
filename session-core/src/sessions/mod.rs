//! [`Sessions`]: the service every caller uses: TTLs, capacity, per-session locks,
//! optimistic read-modify-write with retries (`update.rs`), the lock guard (`guard.rs`),
//! statistics (`stats.rs`) and maintenance (`maintenance.rs`). This file holds the
//! service, its configuration, creation, reads and locking. Hot-session combining is in
//! `combine.rs`, the holder's record cache in `cache.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::field::Empty;
use tracing::Instrument;

use crate::clock::{Clock, SystemClock};
use crate::locks::{HeldLock, LockTable};
use crate::store::{ScanPage, ScanQuery, SessionStore};
use crate::{RetryPolicy, Session, SessionId, StoreError, Versioned};

mod cache;
mod combine;
mod guard;
mod maintenance;
mod stats;
mod update;

pub use self::guard::SessionGuard;
pub use self::maintenance::{MaintenanceHandle, MaintenanceReport};
pub use self::stats::SessionsStats;

pub(crate) use self::combine::OpenBatch;

use self::cache::RecordCache;
use self::stats::{bump, Counters};

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
    /// With `max_sessions`: serializes the capacity checks (not the writes) of this
    /// process's creations, so the cap holds exactly in-process.
    /// It holds the last count of stored sessions, reused while fresh.
    create_gate: tokio::sync::Mutex<Option<StoredCount>>,
    /// Creations that passed the capacity check and are being written.
    creating: AtomicU64,
    /// Capped creations written so far (taken before the reservation is freed).
    created_total: AtomicU64,
    /// Woken when one of them finishes.
    created: tokio::sync::Notify,
    /// The last committed record of recently updated sessions (see `cache.rs`).
    cache: RecordCache,
}

/// A count of stored sessions taken by a capacity check: `stored` when `created_total` read
/// `since` (read just before the count), at `at`.
#[derive(Clone, Copy, Debug)]
struct StoredCount {
    stored: u64,
    since: u64,
    at: Instant,
}

/// How long a capacity check reuses a count while far from the cap (other processes may
/// create sessions on a shared backend; this process's own creations are added to it).
const COUNT_FRESH_FOR: Duration = Duration::from_secs(1);

/// A slot of the cap reserved by a creation while it is written; dropping it (after the
/// write, or when the creation fails or is cancelled) frees it.
struct Reservation<'a>(&'a Inner);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.0.creating.fetch_sub(1, Ordering::SeqCst);
        self.0.created.notify_waiters();
    }
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
                create_gate: tokio::sync::Mutex::new(None),
                creating: AtomicU64::new(0),
                created_total: AtomicU64::new(0),
                created: tokio::sync::Notify::new(),
                cache: RecordCache::default(),
            }),
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.inner.store
    }

    /// The task service over the store's tasks, with this service's retry policy and clock;
    /// `None` when the backend keeps no tasks ([`SessionStore::tasks`]).
    pub fn tasks(&self) -> Option<crate::Tasks> {
        let store = self.inner.store.tasks()?;
        Some(crate::Tasks::new(
            store,
            self.inner.config.retry.clone(),
            Arc::clone(&self.inner.clock),
        ))
    }

    /// The TTL, capacity, retry policy and lock timeout this service was built with.
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
    /// Errors: `AlreadyExists` (also at the cap: existence is checked before capacity),
    /// `CapacityExceeded` when the id is new and the cap is reached.
    pub async fn create_with(
        &self,
        id: &SessionId,
        init: impl FnOnce(&mut Session) + Send,
    ) -> Result<Versioned<Session>, StoreError> {
        let now = self.now();
        let mut session = Session::new(id.clone(), now, self.inner.config.ttl);
        init(&mut session);
        session.id = id.clone();
        // No gate around the durable write: concurrent creations share the store's group
        // commit. With a cap, a slot is reserved in memory first and freed after the write.
        let _slot = match self.inner.config.max_sessions {
            None => None,
            Some(max) => Some(self.reserve(id, max, now).await?),
        };
        let version = self.inner.store.insert(session.clone()).await?;
        if _slot.is_some() {
            // Before the reservation is freed, so a check counts this creation at least once.
            self.inner.created_total.fetch_add(1, Ordering::SeqCst);
        }
        bump(&self.inner.counters.commits, 1);
        Ok(Versioned {
            version,
            value: session,
        })
    }

    /// Reserves a slot of the cap for creating `id`. The check adds the creations being
    /// written to the stored sessions (read after them, so a creation finishing in between
    /// is counted at least once). The stored count is a recent one (under
    /// `COUNT_FRESH_FOR`) plus this process's creations since, which can only overestimate
    /// within the process; a check that would refuse counts again, and at the cap with
    /// creations in flight it waits for them, so a refusal is exact within the process.
    /// (Creations by other processes on a shared backend may go unseen for up to
    /// `COUNT_FRESH_FOR`.)
    ///
    /// Errors: `AlreadyExists` when `id` is stored and the cap is reached (existence is
    /// checked before capacity), `CapacityExceeded`.
    async fn reserve(
        &self,
        id: &SessionId,
        max: u64,
        now: DateTime<Utc>,
    ) -> Result<Reservation<'_>, StoreError> {
        let inner = &*self.inner;
        let store = &inner.store;
        let mut last = inner.create_gate.lock().await;
        let mut fresh = false;
        loop {
            let finished = inner.created.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let in_flight = inner.creating.load(Ordering::SeqCst);
            // Far from the cap a recent count plus this process's creations since is
            // enough (it can only overestimate: deletions are not subtracted); at the cap the
            // decision is always taken on a new count.
            let mut stored = match *last {
                Some(c) if !fresh && c.at.elapsed() < COUNT_FRESH_FOR => {
                    c.stored + (inner.created_total.load(Ordering::SeqCst) - c.since)
                }
                _ => {
                    fresh = true;
                    let since = inner.created_total.load(Ordering::SeqCst);
                    let stored = store.count().await?;
                    *last = Some(StoredCount {
                        stored,
                        since,
                        at: Instant::now(),
                    });
                    stored
                }
            };
            if stored + in_flight >= max && !fresh {
                fresh = true;
                continue;
            }
            if stored + in_flight >= max && in_flight == 0 {
                // Expired sessions never count: purge them, then look again.
                let purged = store.purge_expired(now, usize::MAX).await?;
                bump(&inner.counters.purged, purged.len() as u64);
                inner.cache.invalidate_all(&purged);
                let since = inner.created_total.load(Ordering::SeqCst);
                stored = store.count().await?;
                *last = Some(StoredCount {
                    stored,
                    since,
                    at: Instant::now(),
                });
            }
            if stored + in_flight < max {
                inner.creating.fetch_add(1, Ordering::SeqCst);
                return Ok(Reservation(inner));
            }
            if in_flight == 0 {
                // Existence before capacity: creating an id that is already stored fails as
                // `AlreadyExists` at the cap too, so `get_or_create` and a continued workflow
                // reach the existing session instead of failing `CapacityExceeded`.
                if store.get(id).await?.is_some() {
                    return Err(StoreError::AlreadyExists(id.clone()));
                }
                return Err(StoreError::CapacityExceeded { max });
            }
            finished.await;
            fresh = false;
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
                    Ok(()) => {
                        self.inner.cache.invalidate(id);
                        bump(&self.inner.counters.purged, 1);
                    }
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
        let (mut held, _) = self.acquire(id).await?;
        // A guard excludes combining: updates combined before it are committed first.
        self.settle(id, &mut held).await;
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
            serial: guard::next_serial(),
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

    /// Deletes a session (expired or not).
    ///
    /// Errors: `NotFound`.
    pub async fn delete(&self, id: &SessionId) -> Result<(), StoreError> {
        self.inner.cache.invalidate(id);
        let removed = self.inner.store.remove(id, None).await;
        self.inner.cache.invalidate(id);
        removed?;
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
}
