//! `SessionStore` on [redb](https://docs.rs/redb): the default backend.
//!
//! One file. Writes are durable when acknowledged (`Durability::Immediate`) and go through a
//! single writer thread that *group-commits*: it gathers every write waiting at that moment,
//! from any number of sessions, applies each with its own version check inside one write
//! transaction, commits once, then answers each caller. A failed check fails only its own
//! write. Reads use redb's MVCC read transactions on the blocking pool and never wait for the
//! writer. An expiry index table makes `purge_expired` cost O(expired).
//!
//! Faults: after an I/O error (a full disk) the writer answers the waiting writes with the
//! error and reopens the file, so writes succeed again once the cause is gone. A 0-byte file
//! is refused, a damaged one fails with a clear error (integrity checked at open, a panic in
//! a read caught), [`RedbStore::open_read_only`] never modifies the file, and [`check`] /
//! [`repair`] run redb's integrity check (on a copy / after keeping a backup).
//!
//! ```no_run
//! use std::sync::Arc;
//! use session_core::{SessionStore, Sessions, SessionsConfig};
//! use session_redb::RedbStore;
//!
//! # fn main() -> Result<(), session_core::StoreError> {
//! let store: Arc<dyn SessionStore> = Arc::new(RedbStore::open("sessions.redb")?);
//! let sessions = Sessions::new(store, SessionsConfig::default());
//! # Ok(())
//! # }
//! ```

mod apply;
mod config;
mod errors;
mod handle;
mod locks;
mod maintenance;
mod store;
mod tables;
mod tasks;
mod writer;

pub use crate::config::{RedbConfig, RedbDurability, RedbSharing};
pub use crate::maintenance::{check, repair, CheckReport, RepairReport};
pub use crate::store::{RedbStats, RedbStore};
