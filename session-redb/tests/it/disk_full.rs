//! A full disk, for real (a small tmpfs): writes fail with a clear error, and once space is
//! freed the same store writes again; close after the error is clean.

use std::time::Duration;

use session_core::{Session, SessionId, SessionStore, StoreError};
use session_redb::RedbStore;

use crate::tmpfs::Tmpfs;

fn big_session(name: &str, kb: usize) -> Session {
    let mut s = Session::new(
        SessionId::new(name).unwrap(),
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    s.metadata.insert(
        "payload".into(),
        serde_json::Value::String("x".repeat(kb * 1024)),
    );
    s
}

#[test]
fn a_full_disk_fails_writes_clearly_and_the_store_writes_again_once_space_is_freed() {
    let fs = match Tmpfs::mount("8m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let path = fs.path().join("s.redb");
    let store = RedbStore::open(&path).unwrap();
    rt.block_on(store.insert(big_session("before", 4))).unwrap();
    let filler = fs.fill();
    // Write until the disk refuses: redb's file grows in steps, so a few writes may still fit.
    let mut failure = None;
    for i in 0..200 {
        if let Err(e) = rt.block_on(store.insert(big_session(&format!("full-{i}"), 64))) {
            failure = Some(e);
            break;
        }
    }
    let failure = failure.expect("a write on a full disk must fail");
    let text = failure.to_string();
    eprintln!("first failure: {text}");
    assert!(matches!(failure, StoreError::Backend(_)), "{failure:?}");
    // Another write while the disk is still full fails the same clear way (not "stopped").
    let again = rt
        .block_on(store.insert(big_session("still-full", 64)))
        .unwrap_err();
    eprintln!("second failure: {again}");
    assert!(!again.to_string().contains("stopped"), "{again}");
    std::fs::remove_file(&filler).unwrap();
    // Space is back: the next write succeeds, and what was acknowledged before is there.
    rt.block_on(store.insert(big_session("after", 4))).unwrap();
    assert!(rt
        .block_on(store.get(&SessionId::new("before").unwrap()))
        .unwrap()
        .is_some());
    rt.block_on(store.flush()).unwrap();
    drop(store);
    let reopened = RedbStore::open(&path).unwrap();
    for name in ["before", "after"] {
        assert!(
            rt.block_on(reopened.get(&SessionId::new(name).unwrap()))
                .unwrap()
                .is_some(),
            "{name} lost"
        );
    }
}
