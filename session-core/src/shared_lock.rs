//! The cross-process lock port: for backends shared by several processes (etcd), where the
//! in-process lock table cannot exclude a holder in another replica.
//!
//! Embedded backends need none: their file is held by one process at a time. A shared backend
//! returns [`SharedLocks`] from [`crate::SessionStore::shared_locks`]; [`crate::Sessions::lock`]
//! then takes the shared lock after the local one, and every write made through the guard is
//! *fenced*: the backend applies it only while the lock is still held by that holder
//! ([`crate::SessionStore::apply_fenced`]), so a holder whose lock expired cannot overwrite its
//! successor's work. Correctness still comes from the version check; the shared lock keeps two
//! replicas from running the same step at once.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::{SessionId, StoreError};

/// Proof that a write is made under a shared lock: the session and the backend's token for
/// this holding of its lock (etcd: the lock key's create revision).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The locked session.
    pub id: SessionId,
    /// The backend's token of this holding.
    pub token: i64,
}

/// A held shared lock. Dropping it releases the lock (in the background).
pub struct SharedLockHandle {
    fence: Fence,
    release: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl SharedLockHandle {
    /// A handle for `fence` whose drop runs `release`; adapters reach it through
    /// [`crate::adapter::shared_lock_handle`].
    pub(crate) fn new(
        fence: Fence,
        release: impl FnOnce() + Send + Sync + 'static,
    ) -> SharedLockHandle {
        SharedLockHandle {
            fence,
            release: Some(Box::new(release)),
        }
    }

    /// The fence of this holding.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }
}

impl fmt::Debug for SharedLockHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedLockHandle")
            .field("fence", &self.fence)
            .finish()
    }
}

impl Drop for SharedLockHandle {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            release();
        }
    }
}

/// A lock service shared by every process of a backend.
#[async_trait]
pub trait SharedLocks: Send + Sync + 'static {
    /// Takes the lock of `id`, waiting at most `timeout`. The lock stays held until the
    /// handle is dropped, or until the backend declares the holder dead (etcd: its lease
    /// expired); writes fenced by a lost lock fail `LockLost`.
    ///
    /// Errors: `Busy` when the wait runs out; `Backend` when the service is unreachable.
    async fn acquire(
        &self,
        id: &SessionId,
        timeout: Duration,
    ) -> Result<SharedLockHandle, StoreError>;
}
