//! A full disk, for real (a small tmpfs): writes fail with a clear error within a bounded
//! time, the store writes again once space is freed, and close is bounded.

use std::time::{Duration, Instant};

use session_core::{Session, SessionId, SessionStore};
use session_sled::{SledConfig, SledStore};

use crate::tmpfs::Tmpfs;

fn big_session(name: &str, kb: usize) -> Session {
    let mut s = Session::new(
        SessionId::new(name).unwrap(),
        chrono::Utc::now(),
        Duration::from_secs(3600),
    );
    s.metadata.insert(
        "payload".into(),
        serde_json::Value::String("y".repeat(kb * 1024)),
    );
    s
}

#[test]
fn a_full_disk_fails_writes_clearly_and_the_store_writes_again_once_space_is_freed() {
    let fs = match Tmpfs::mount("16m") {
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
    let path = fs.path().join("s.sled");
    let store = SledStore::open_with(&path, SledConfig::default()).unwrap();
    rt.block_on(store.insert(big_session("before", 4))).unwrap();
    let filler = fs.fill();
    let mut failure = None;
    for i in 0..400 {
        if let Err(e) = rt.block_on(store.insert(big_session(&format!("full-{i}"), 64))) {
            failure = Some(e);
            break;
        }
    }
    let failure = failure.expect("a write on a full disk must fail");
    let text = failure.to_string();
    eprintln!("first failure: {text}");
    assert!(
        text.contains("No space left on device") && text.contains("retry"),
        "{text}"
    );
    std::fs::remove_file(&filler).unwrap();
    // Space is back: the same store writes again (it reopens sled, which latches I/O errors).
    rt.block_on(store.insert(big_session("after", 4))).unwrap();
    rt.block_on(store.flush()).unwrap();
    assert_eq!(store.stats().unsynced, 0);
    for name in ["before", "after"] {
        assert!(
            rt.block_on(store.get(&SessionId::new(name).unwrap()))
                .unwrap()
                .is_some(),
            "{name} lost"
        );
    }
    let started = Instant::now();
    drop(store);
    let reopened = SledStore::open(&path).unwrap();
    eprintln!("closed and reopened in {:?}", started.elapsed());
    assert!(rt
        .block_on(reopened.get(&SessionId::new("after").unwrap()))
        .unwrap()
        .is_some());
}

/// The wait for a durability sync is bounded: with a zero bound the write cannot see its
/// sync finish, fails saying so (it is committed, not yet durable), and a later flush with
/// time to finish makes it durable.
#[test]
fn a_sync_that_does_not_finish_in_time_fails_the_write_and_says_so() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sled");
    let config = SledConfig {
        flush_timeout: Duration::ZERO,
        ..SledConfig::default()
    };
    let store = SledStore::open_with(&path, config).unwrap();
    let err = rt
        .block_on(store.insert(big_session("unbounded", 1)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("did not finish within"), "{err}");
    drop(store);
    let store = SledStore::open(&path).unwrap();
    rt.block_on(store.flush()).unwrap();
    assert_eq!(store.stats().unsynced, 0);
}
