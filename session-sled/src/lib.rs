//! `SessionStore` on [sled](https://docs.rs/sled/0.34.7): the second backend, same contract
//! and the same record bytes as the redb adapter (the codec is session-core's).
//!
//! Writes are sled transactions over the sessions tree and the expiry-index tree, so every
//! write — and every `apply` batch — is all-or-nothing. **Durability is real:** sled 0.34's
//! own `flush` ends in `sync_file_range`, which neither flushes the device cache nor the file's
//! metadata, and it fsyncs only every 500 ms and on close. So an acknowledged write here
//! waits for one sync thread that runs sled's flush and then `fdatasync`s the data file (and
//! any new blob files); every writer waiting at that moment shares that one sync.
//!
//! One process at a time: sled's engine admits no other. A second process's open fails at
//! once with an error naming the holder (pid and command, from a holder record the holding
//! process writes into the store directory) and suggesting redb, which processes share.
//!
//! ```no_run
//! use std::sync::Arc;
//! use session_core::{SessionStore, Sessions, SessionsConfig};
//! use session_sled::SledStore;
//!
//! # fn main() -> Result<(), session_core::StoreError> {
//! let store: Arc<dyn SessionStore> = Arc::new(SledStore::open("sessions.sled")?);
//! let sessions = Sessions::new(store, SessionsConfig::default());
//! # Ok(())
//! # }
//! ```

mod config;
mod engine;
mod errors;
mod holder;
mod store;
mod sync;
mod tasks;

pub use crate::config::{SledConfig, SledDurability};
pub use crate::store::{SledStats, SledStore};
