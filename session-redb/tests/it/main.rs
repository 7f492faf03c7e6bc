//! Integration tests of the redb adapter: the conformance suite and model test, the kill -9
//! harness, the process lock, corrupt records, graceful close and tasks.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod adapter;
mod damage;
mod disk_full;
mod multiproc;
mod sessions_commits;
mod tasks;

use std::path::Path;
use std::sync::Arc;

use session_core::testkit::TestStore;
use session_core::{SessionStore, StoreError};
use session_redb::RedbStore;

fn fresh() -> TestStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path().join("sessions.redb")).expect("open redb store");
    TestStore::new(store, dir)
}

fn open_at(path: &Path) -> Result<Arc<dyn SessionStore>, StoreError> {
    Ok(Arc::new(RedbStore::open(path)?))
}

session_core::session_store_conformance!(fresh);
session_core::session_store_crash_tests!(open_at);
