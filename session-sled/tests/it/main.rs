//! Integration tests of the sled adapter: the conformance suite and model test, the kill -9
//! harness, the process lock, corrupt records and clear errors — the same as the redb
//! adapter's, so the two backends are held to one contract.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod adapter;
mod disk_full;
mod holder;
mod tasks;

use std::path::Path;
use std::sync::Arc;

use session_core::testkit::TestStore;
use session_core::{SessionStore, StoreError};
use session_sled::SledStore;

fn fresh() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStore::open(dir.path().join("sessions.sled")).expect("open sled store");
    TestStore::new(store, dir)
}

fn open_at(path: &Path) -> Result<Arc<dyn SessionStore>, StoreError> {
    Ok(Arc::new(SledStore::open(path)?))
}

session_core::session_store_conformance!(fresh);
session_core::session_store_crash_tests!(open_at);
