//! [`SessionGuard`]: exclusive hold of one session's lock, and the writes its holder makes
//! through it without taking the lock again.

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
    /// The record this service committed last is returned from its cache without a store
    /// read, on every backend: under the lock nobody else in the process can have changed
    /// it. On a backend shared by several processes another process may still have written
    /// it (one that bypassed the step lock, or before this holding began); the next
    /// [`SessionGuard::update`] then conflicts on the version, drops the cached record,
    /// re-reads and re-runs its closure, so such a write is never overwritten.
    pub async fn get(&self) -> Result<Versioned<Session>, StoreError> {
        self.sessions.current(&self.id).await
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
            Some(handle) => Commit::Fenced(handle.fence()),
        };
        self.sessions
            .update_one(&self.id, f, &span, commit)
            .instrument(span.clone())
            .await
    }
}
