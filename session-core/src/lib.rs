//! The session domain and its port: validated ids, versioned records, the
//! [`SessionStore`] trait every backend implements, the retry policy, per-session locks and
//! the [`Sessions`] service that callers use.
//!
//! This crate does no file, network or database I/O. Backends live in adapter crates
//! (`session-redb`, `session-sled`, `session-etcd`); [`MemoryStore`] is the in-memory
//! reference. What only those crates need (the batch planner, the record codec, paging) is
//! in [`adapter`], apart from the names an embedding program uses.
//!
//! # Embedding
//!
//! ```
//! use std::sync::Arc;
//! use session_core::{MemoryStore, SessionId, SessionStore, Sessions, SessionsConfig, Session,
//!     StoreError, Versioned};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), StoreError> {
//! // Or `session_redb::RedbStore::open(path)?` for a durable store.
//! let store: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
//! let sessions = Sessions::new(store, SessionsConfig::default());
//! let id = SessionId::new("session-2024-01-15T10-30-45-abc123def")?;
//! let s: Versioned<Session> = sessions.get_or_create(&id).await?;
//! assert_eq!(s.version.get(), 1);
//! let (after, n): (Versioned<Session>, u64) = sessions
//!     .update(&id, |s: &mut Session| {
//!         s.metadata.insert("step".into(), serde_json::json!("analyze_repository"));
//!         Ok(42)
//!     })
//!     .await?;
//! assert_eq!((after.version.get(), n), (2, 42));
//! let guard = sessions.lock(&id).await?; // exclusive until dropped
//! guard.update(|s| { s.stage = "workflow".into(); Ok(()) }).await?;
//! drop(guard);
//! # Ok(())
//! # }
//! ```
//!
//! # Guarantees
//!
//! Every write is a compare-and-swap on the record's [`Version`]; a lost race is re-read and
//! re-run per the [`RetryPolicy`], so no update is lost. Locks only reduce conflicts and
//! wasted work. Lock waits are bounded (`Busy`), so no combination of `lock`, `update` and
//! `update_many` can deadlock.

pub mod adapter;
mod clock;
mod codec;
mod error;
mod id;
mod locks;
mod memory;
mod retry;
mod session;
mod sessions;
mod shared_lock;
mod store;
mod tasks;
pub mod telemetry;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use crate::error::StoreError;
pub use crate::id::{SessionId, MAX_ID_LEN};
pub use crate::memory::MemoryStore;
pub use crate::retry::RetryPolicy;
pub use crate::session::{Session, SessionStatus, Version, Versioned};
pub use crate::sessions::{
    MaintenanceHandle, MaintenanceReport, SessionGuard, Sessions, SessionsConfig, SessionsStats,
};
pub use crate::shared_lock::{Fence, SharedLockHandle, SharedLocks};
pub use crate::store::{ScanPage, ScanQuery, SessionStore, WriteOp};
pub use crate::tasks::{
    TaskId, TaskRecord, TaskRunner, TaskState, TaskStore, Tasks, MAX_TASK_ID_LEN,
};

// Re-exported so embedding programs name the same chrono and serde_json as the records.
pub use chrono;
pub use serde_json;
