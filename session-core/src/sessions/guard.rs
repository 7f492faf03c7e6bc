//! [`SessionGuard`]: exclusive hold of one session's lock, and the writes its holder makes
//! through it without taking the lock again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::Instrument;

use super::update::{update_span, Commit};
use super::Sessions;
use crate::locks::HeldLock;
use crate::shared_lock::SharedLockHandle;
use crate::{Session, SessionId, StoreError, Versioned};

/// Exclusive hold of one session's lock, from [`Sessions::lock`] until dropped.
///
/// Dropping releases it, also when the holding task panics or is cancelled. The holder
/// writes through [`SessionGuard::update`], which does not take the lock again.
#[derive(Debug)]
pub struct SessionGuard {
    pub(super) sessions: Sessions,
    pub(super) id: SessionId,
    pub(super) waited: Duration,
    /// The cross-process lock, when the backend is shared (released before the local one).
    pub(super) shared: Option<SharedLockHandle>,
    /// This guard's number, unique in the process: its updates mark the cached record
    /// with it, and on a shared backend its reads serve only a record so marked.
    pub(super) serial: u64,
    pub(super) _held: HeldLock,
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
    ///
    /// On a backend one process owns, the record this service committed last is returned
    /// from its cache without a store read: under the lock nobody else can have changed it.
    /// On a backend shared by several processes the cached record is returned only when this
    /// guard committed it (another process's holder may have written the session before
    /// this guard took the lock): the first read of a guard comes from the store, the reads
    /// after its own updates from the cache.
    pub async fn get(&self) -> Result<Versioned<Session>, StoreError> {
        match &self.shared {
            None if self.sessions.store().shared_locks().is_none() => {
                self.sessions.current(&self.id).await
            }
            Some(_) => self.sessions.current_fenced(&self.id, self.serial).await,
            None => self.sessions.get(&self.id).await,
        }
    }

    /// Updates the locked session: the same contract as [`Sessions::update`], under the lock
    /// this guard holds.
    pub async fn update<R, F>(&self, f: F) -> Result<(Versioned<Session>, R), StoreError>
    where
        F: FnMut(&mut Session) -> Result<R, StoreError> + Send,
        R: Send,
    {
        self.try_update(f).await
    }

    /// [`SessionGuard::update`] with a closure that refuses a change with its own error type
    /// `E`; store failures arrive as `E::from(StoreError)`. The same contract as
    /// [`Sessions::try_update`], under the lock this guard holds.
    pub async fn try_update<R, E, F>(&self, f: F) -> Result<(Versioned<Session>, R), E>
    where
        F: FnMut(&mut Session) -> Result<R, E> + Send,
        E: From<StoreError> + Send,
        R: Send,
    {
        let span = update_span(&self.id);
        let commit = match &self.shared {
            None => Commit::Replace,
            Some(handle) => Commit::Fenced(handle.fence(), self.serial),
        };
        self.sessions
            .update_one(&self.id, f, &span, commit)
            .instrument(span.clone())
            .await
    }
}

/// The next [`SessionGuard`]'s serial number.
static NEXT_GUARD: AtomicU64 = AtomicU64::new(1);

/// A new guard serial number.
pub(super) fn next_serial() -> u64 {
    NEXT_GUARD.fetch_add(1, Ordering::Relaxed)
}
