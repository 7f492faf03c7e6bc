//! The one error type of the port, shared by every adapter and by [`crate::Sessions`].

use std::path::PathBuf;
use std::time::Duration;

use crate::{SessionId, Version};

/// What went wrong with a session-store operation.
///
/// Adapters translate their backend's errors into these variants at the boundary: nothing
/// above an adapter ever sees a redb or sled type. Messages are lowercase and say what the
/// caller can do next.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The text is not a valid session id.
    #[error("invalid session id {id:?}: {reason}; ids are 1-128 characters of A-Z a-z 0-9 . _ : - and start with a letter or digit")]
    InvalidId {
        /// The rejected input (truncated to 200 characters).
        id: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// No session with this id exists.
    #[error("session {0} not found; create it first (start_workflow or get_or_create)")]
    NotFound(SessionId),
    /// An insert found a session with this id already stored.
    #[error("session {0} already exists; read it and replace it with its version instead")]
    AlreadyExists(SessionId),
    /// A compare-and-swap found another version than the one it expected: someone else
    /// wrote the session first. Re-read and retry.
    #[error("version conflict: expected version {expected}, found {actual}; re-read the session and retry")]
    Conflict {
        /// The version the writer based its change on.
        expected: Version,
        /// The version actually stored.
        actual: Version,
    },
    /// The store holds `max_sessions` live sessions already.
    #[error("session limit reached ({max} live sessions); delete sessions or raise max_sessions")]
    CapacityExceeded {
        /// The configured limit.
        max: u64,
    },
    /// The session exists but its TTL has run out.
    #[error("session {0} has expired; start a new session")]
    Expired(SessionId),
    /// Another process holds the store file.
    #[error("store {path} is locked by another process; stop that process, point --store-path elsewhere, or configure a lock wait")]
    Locked {
        /// The store's path.
        path: PathBuf,
    },
    /// The session's lock was not free within the configured wait.
    #[error("session {id} is busy: another call held its lock for more than {waited:?}; retry when that call finishes")]
    Busy {
        /// The session whose lock was contended.
        id: SessionId,
        /// How long the caller waited.
        waited: Duration,
    },
    /// A write fenced by a shared lock found the lock lost (its holder's lease expired or
    /// another process took it over); nothing was written.
    #[error("the lock on session {0} was lost before the write (it expired or another process took it); nothing was written; run the step again")]
    LockLost(SessionId),
    /// A stored record could not be decoded. Only this session is affected.
    #[error(
        "session {id} is corrupt in the store ({reason}); delete it or restore it from a backup"
    )]
    Corrupt {
        /// The session whose record is unreadable (as stored: it may not be a valid id).
        id: String,
        /// Why decoding failed.
        reason: String,
    },
    /// An update closure refused to make its change; nothing was written.
    #[error("change rejected: {0}")]
    Rejected(String),
    /// Bad input to a store operation other than the id (for example an empty batch).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The write could not be queued or was not committed before its deadline.
    #[error("store overloaded: {0}; retry later")]
    Overloaded(String),
    /// The store has been closed.
    #[error("store is closed")]
    Closed,
    /// An error of the backend itself (I/O, full disk, internal error).
    #[error("storage backend error: {0}")]
    Backend(String),
    /// No task with this id exists (never created, or expired and purged).
    #[error("task {0} not found; it never existed or it expired and was purged; run the step again to get a new task")]
    TaskNotFound(String),
    /// A task insert found a task with this id already stored.
    #[error("task {0} already exists; generate a new task id, or read the task and write it with its version")]
    TaskExists(String),
    /// A stored task record could not be decoded. Only this task is affected.
    #[error("task {id} is corrupt in the store ({reason}); it is removed when it expires; run the step again for a new task")]
    TaskCorrupt {
        /// The task whose record is unreadable (as stored: it may not be a valid id).
        id: String,
        /// Why decoding failed.
        reason: String,
    },
}

impl StoreError {
    /// Whether retrying the same operation (after re-reading, for a conflict) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Conflict { .. }
                | StoreError::Busy { .. }
                | StoreError::Locked { .. }
                | StoreError::Overloaded(_)
        )
    }

    /// A short machine-readable name of the variant (`"conflict"`, `"busy"`, …), for logs,
    /// tool results and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::InvalidId { .. } => "invalid_id",
            StoreError::NotFound(_) => "not_found",
            StoreError::AlreadyExists(_) => "already_exists",
            StoreError::Conflict { .. } => "conflict",
            StoreError::CapacityExceeded { .. } => "capacity_exceeded",
            StoreError::Expired(_) => "expired",
            StoreError::Locked { .. } => "locked",
            StoreError::Busy { .. } => "busy",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::LockLost(_) => "lock_lost",
            StoreError::Rejected(_) => "rejected",
            StoreError::Invalid(_) => "invalid",
            StoreError::Overloaded(_) => "overloaded",
            StoreError::Closed => "closed",
            StoreError::Backend(_) => "backend",
            StoreError::TaskNotFound(_) => "task_not_found",
            StoreError::TaskExists(_) => "task_exists",
            StoreError::TaskCorrupt { .. } => "task_corrupt",
        }
    }
}
