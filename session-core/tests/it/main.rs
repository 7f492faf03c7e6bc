//! Integration tests of session-core: the conformance suite against `MemoryStore` and the
//! record-format golden bytes (sessions and tasks).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod golden;
mod task_golden;

use session_core::testkit::TestStore;
use session_core::MemoryStore;

fn memory() -> TestStore {
    TestStore::new(MemoryStore::new(), ())
}

session_core::session_store_conformance!(memory);

#[test]
fn the_port_is_object_safe() {
    fn takes(_: &dyn session_core::SessionStore) {}
    takes(&MemoryStore::new());
}
