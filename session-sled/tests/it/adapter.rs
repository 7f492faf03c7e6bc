//! Behaviour specific to the sled adapter.

use std::time::Duration;

use session_core::adapter::encode_record;
use session_core::{Session, SessionId, SessionStore, StoreError, Version};
use session_sled::{SledConfig, SledStore};

fn id(s: &str) -> SessionId {
    SessionId::new(s).unwrap()
}

fn session(name: &str) -> Session {
    Session::new(id(name), chrono::Utc::now(), Duration::from_secs(3600))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_second_open_of_one_store_is_locked_and_harms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sled");
    let first = SledStore::open(&path).unwrap();
    let rt = rt();
    rt.block_on(first.insert(session("kept"))).unwrap();
    match SledStore::open(&path) {
        Err(StoreError::Locked { path: p }) => assert_eq!(p, path),
        other => panic!("expected Locked, got {other:?}"),
    }
    let short = SledConfig {
        lock_wait: Duration::from_millis(150),
        ..SledConfig::default()
    };
    assert!(matches!(
        SledStore::open_with(&path, short),
        Err(StoreError::Locked { .. })
    ));
    rt.block_on(async {
        assert!(first.get(&id("kept")).await.unwrap().is_some());
        first.insert(session("after")).await.unwrap();
    });
    drop(first);
    // sled lets go of its file lock when the last write it queued on its global I/O thread
    // pool (sled 0.34 `threadpool::spawn`, not awaited by the drop; the job holds the file)
    // has run, which may be just after the drop returns: the reopen waits for it (CI once saw
    // `Locked` here with no wait).
    let patient = SledConfig {
        lock_wait: Duration::from_secs(5),
        ..SledConfig::default()
    };
    let reopened = SledStore::open_with(&path, patient).unwrap();
    assert_eq!(rt.block_on(reopened.count()).unwrap(), 2);
}

#[test]
fn a_corrupt_record_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sled");
    let rt = rt();
    {
        let store = SledStore::open(&path).unwrap();
        rt.block_on(async {
            for name in ["a", "b", "c"] {
                store.insert(session(name)).await.unwrap();
            }
        });
    }
    {
        let db = sled::open(&path).unwrap();
        db.open_tree("sessions")
            .unwrap()
            .insert("b", b"CKSR\x01garbage".as_slice())
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(&path).unwrap();
    rt.block_on(async {
        assert!(matches!(store.get(&id("b")).await, Err(StoreError::Corrupt { ref id, .. }) if id == "b"));
        assert!(matches!(store.replace(Version(1), session("b")).await, Err(StoreError::Corrupt { .. })));
        assert!(store.get(&id("a")).await.unwrap().is_some());
        assert_eq!(store.replace(Version(1), session("c")).await.unwrap(), Version(2));
        let page = store.scan(&Default::default()).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|s| s.value.id.to_string()).collect();
        assert_eq!(ids, ["a", "c"]);
        store.remove(&id("b"), None).await.unwrap();
        store.insert(session("b")).await.unwrap();
        assert!(store.purge_expired(chrono::Utc::now(), 100).await.unwrap().is_empty());
    });
}

#[test]
fn both_backends_hold_the_same_record_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sled");
    let rt = rt();
    let s = session("same-bytes");
    {
        let store = SledStore::open(&path).unwrap();
        rt.block_on(store.insert(s.clone())).unwrap();
    }
    // sled's flusher thread lets go of the file lock shortly after the last handle drops,
    // not at the drop: wait for it (bounded) instead of racing it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let db = loop {
        match sled::open(&path) {
            Ok(db) => break db,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("could not acquire lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("the store file stayed locked after the store was dropped: {e}"),
        }
    };
    let stored = db
        .open_tree("sessions")
        .unwrap()
        .get("same-bytes")
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.as_ref(),
        encode_record(Version(1), &s).unwrap().as_slice()
    );
}

#[test]
fn opening_a_file_that_is_not_a_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"my notes").unwrap();
    let err = SledStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::Backend(_)) && err.to_string().contains("notes.txt"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"my notes");
}

#[test]
fn concurrent_writers_share_one_sync() {
    // The shared-durability claim: writers waiting at once are answered by one fdatasync.
    // Were each write synced alone, syncs would equal waiters.
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SledStore::open(dir.path().join("s.sled")).unwrap());
    let rt = rt();
    rt.block_on(async {
        let tasks: Vec<_> = (0..400)
            .map(|i| {
                let store = std::sync::Arc::clone(&store);
                tokio::spawn(async move { store.insert(session(&format!("g{i}"))).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    let stats = store.stats();
    assert_eq!(stats.waiters, 400);
    assert!(
        stats.syncs < stats.waiters / 2,
        "writers did not share syncs: {stats:?}"
    );
}
