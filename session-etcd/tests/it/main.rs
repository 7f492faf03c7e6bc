//! Integration tests of the etcd adapter against a real etcd: the conformance suite, the
//! model test, and multi-process behaviour; and (`fake_gateway`, no etcd needed) against
//! scripted gateway answers a healthy etcd never gives.
//!
//! The real-etcd tests need `ETCD_ENDPOINTS` (e.g. `http://127.0.0.1:23790`); `.ci/run`
//! installs etcd and starts one on loopback. Without it they are skipped with a message —
//! except under `CI`, where a missing etcd fails them.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod adapter;
mod fake_gateway;
mod handover;
mod leased;
mod tasks;
mod tls;

use std::sync::atomic::{AtomicU64, Ordering};

use session_core::testkit::TestStore;
use session_etcd::{EtcdConfig, EtcdStore};

/// The endpoints, or why the tests cannot run.
pub fn endpoints() -> Result<Vec<String>, String> {
    let e = session_core::testkit::service_env("ETCD_ENDPOINTS", START_ETCD)?;
    Ok(e.split(',').map(|s| s.trim().to_owned()).collect())
}

/// How a developer gets etcd for these tests.
pub const START_ETCD: &str =
    "start etcd (apt-get install etcd-server) and export ETCD_ENDPOINTS=http://127.0.0.1:2379";

pub fn available() -> Result<(), String> {
    endpoints().map(drop)
}

/// A prefix no other test uses, so every case starts from an empty store.
pub fn unique_prefix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "test/{}-{nanos}-{}/",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn config() -> EtcdConfig {
    EtcdConfig {
        prefix: unique_prefix(),
        max_txn_ops: 4096,
        ..EtcdConfig::default()
    }
}

fn fresh() -> TestStore {
    let store = EtcdStore::new(endpoints().unwrap(), config()).unwrap();
    TestStore::new(store, ())
}

session_core::session_store_conformance!(fresh, available = available);
