//! `SessionStore` on [etcd](https://etcd.io): sessions on a replicated, Raft-based engine, so
//! several server replicas can share them.
//!
//! The adapter speaks etcd's v3 API through its JSON gateway (`POST /v3/kv/range`,
//! `/v3/kv/txn`), served by every etcd since 3.4 on the client port. Every write is one etcd
//! `Txn` guarded by the `mod_revision` of each key it read (`create_revision == 0` for a key
//! that must be absent), so a lost race is detected by etcd itself; the record keeps our own
//! [`session_core::Version`] in its header, so `Conflict` reads exactly as with the embedded
//! backends. A write whose outcome is unknown (a timeout, a node dying mid-request) is
//! re-read before it is answered: it succeeded if the keys hold exactly what it wrote.
//!
//! Keys: `<prefix>s/<id>` → the record (session-core's codec), `<prefix>x/<expiry key>` → empty
//! (the expiry index), `<prefix>t/<id>` → a task's record (session-core's task codec, each
//! write a txn guarded by the key's `mod_revision`), `<prefix>l/<id>` → a session lock, held under the store's lease (the
//! lock port, for steps run by several replicas), `<prefix>m/<name>` → a [`LeasedEntries`]
//! record, each under its own lease (the server's MCP sessions, so any replica behind a load
//! balancer can restore one). etcd keeps every revision until
//! compaction: run etcd with `--auto-compaction-mode periodic --auto-compaction-retention 1h`
//! (every CAS adds one).
//!
//! # `--max-txn-ops`
//!
//! A write of N sessions is one etcd txn, and etcd refuses a txn over its `--max-txn-ops`;
//! this adapter refuses such a batch first ([`StoreError::Invalid`](session_core::StoreError::Invalid),
//! from [`EtcdConfig::max_txn_ops`], which must match the cluster's flag). How many operations
//! a batch takes and what to run etcd with is stated once, in the repository's README
//! ("The `--max-txn-ops` budget").
//!
//! Upstream supports etcd 3.5 and 3.6 for production; the tests here run Debian's 3.4.
//!
//! # Production: TLS, auth, locks
//!
//! `https://` endpoints need [`EtcdTls::ca`], the CA bundle of the members' certificates
//! (and [`EtcdTls::cert`]/[`EtcdTls::key`] for mutual TLS); TLS is rustls on ring, handed
//! to reqwest as its config. With [`EtcdConfig::auth`] every request carries a token from
//! `/v3/auth/authenticate`, one per member, renewed when a member refuses it (simple tokens
//! expire after `--auth-token-ttl` unused). The user's role needs read and write on
//! [`EtcdConfig::prefix`]; a refusal names that prefix. etcd's gateway answers 400 to a
//! client certificate with a CommonName while auth is on: use one without a CN. A wrong CA,
//! a missing client certificate, a wrong password or a missing permission fails at once,
//! not after the retry deadline. The repository's README ("etcd in production") has the
//! role to create and the compaction settings.
//!
//! A lock waiter watches the holder's key (`/v3/watch`) from the revision it saw it held,
//! and tries again the moment the key is deleted (released, or its lease ended); it polls
//! only while the watch is broken ([`EtcdConfig::watch_locks`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), session_core::StoreError> {
//! use std::sync::Arc;
//! use session_core::{SessionStore, Sessions, SessionsConfig};
//! use session_etcd::{EtcdConfig, EtcdStore};
//!
//! let store = EtcdStore::connect(["http://127.0.0.1:2379"], EtcdConfig::default()).await?;
//! let sessions = Sessions::new(Arc::new(store) as Arc<dyn SessionStore>, SessionsConfig::default());
//! # Ok(())
//! # }
//! ```

mod auth;
mod config;
mod gateway;
mod keys;
mod leased;
mod locks;
mod store;
mod tasks;
mod tls;
mod txn;
mod watch;

pub use crate::config::{EtcdAuth, EtcdConfig, EtcdTls};
pub use crate::leased::{LeasedEntries, LeasedEntry};
pub use crate::store::EtcdStore;
