//! Behaviour specific to the redb adapter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::{Session, SessionId, SessionStore, StoreError, Version};
use session_redb::{RedbConfig, RedbDurability, RedbSharing, RedbStore};

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

/// The exclusive mode: one process holds the file (the default shares it, `multiproc.rs`).
fn exclusive() -> RedbConfig {
    RedbConfig {
        sharing: RedbSharing::Exclusive,
        ..RedbConfig::default()
    }
}

#[test]
fn a_second_open_of_one_file_is_locked_and_harms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let first = RedbStore::open_with(&path, exclusive()).unwrap();
    let rt = rt();
    rt.block_on(first.insert(session("kept"))).unwrap();
    match RedbStore::open_with(&path, exclusive()) {
        Err(StoreError::Locked { path: p }) => assert_eq!(p, path),
        other => panic!("expected Locked, got {other:?}"),
    }
    let err = RedbStore::open_with(&path, exclusive())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("locked by another process") && err.contains("s.redb"),
        "{err}"
    );
    // The first store is unharmed and still writes.
    rt.block_on(async {
        assert!(first.get(&id("kept")).await.unwrap().is_some());
        first.insert(session("after")).await.unwrap();
    });
    drop(first);
    let reopened = RedbStore::open_with(&path, exclusive()).unwrap();
    assert_eq!(rt.block_on(reopened.count()).unwrap(), 2);
}

#[test]
fn a_lock_wait_outlasts_a_holder_that_exits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let holder = RedbStore::open_with(&path, exclusive()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let releaser = std::thread::spawn(move || {
        rx.recv().unwrap();
        drop(holder);
    });
    let config = RedbConfig {
        lock_wait: Duration::from_secs(20),
        ..exclusive()
    };
    let p = path.clone();
    let opener = std::thread::spawn(move || RedbStore::open_with(&p, config));
    // Let the opener meet the lock at least once, then release it.
    std::thread::sleep(Duration::from_millis(100));
    tx.send(()).unwrap();
    releaser.join().unwrap();
    assert!(
        opener.join().unwrap().is_ok(),
        "the waiting open did not get the file"
    );
    // And a short wait still ends in Locked while the holder stays.
    let _holder = RedbStore::open_with(&path, exclusive());
    let start = Instant::now();
    let short = RedbConfig {
        lock_wait: Duration::from_millis(200),
        ..exclusive()
    };
    if _holder.is_ok() {
        assert!(matches!(
            RedbStore::open_with(&path, short),
            Err(StoreError::Locked { .. })
        ));
        assert!(start.elapsed() >= Duration::from_millis(200));
    }
}

#[test]
fn a_corrupt_record_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let rt = rt();
    {
        let store = RedbStore::open(&path).unwrap();
        rt.block_on(async {
            for name in ["a", "b", "c"] {
                store.insert(session(name)).await.unwrap();
            }
        });
    }
    {
        // Damage b's record behind the adapter's back.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("sessions");
            let mut t = txn.open_table(table).unwrap();
            t.insert("b", b"CKSR\x01garbage".as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    rt.block_on(async {
        assert!(matches!(store.get(&id("b")).await, Err(StoreError::Corrupt { ref id, .. }) if id == "b"));
        let err = store.replace(Version(1), session("b")).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        // Every other session stays readable and writable.
        assert!(store.get(&id("a")).await.unwrap().is_some());
        assert_eq!(store.replace(Version(1), session("c")).await.unwrap(), Version(2));
        let page = store.scan(&Default::default()).await.unwrap();
        let ids: Vec<_> = page.items.iter().map(|s| s.value.id.to_string()).collect();
        assert_eq!(ids, ["a", "c"]);
        // The operator's way out: remove it.
        store.remove(&id("b"), None).await.unwrap();
        store.insert(session("b")).await.unwrap();
        assert!(store.get(&id("b")).await.unwrap().is_some());
        // The stale index entry of the corrupt record never purges the new session.
        assert!(store.purge_expired(chrono::Utc::now(), 100).await.unwrap().is_empty());
    });
}

#[test]
fn dropping_the_store_commits_every_queued_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let rt = rt();
    let store = Arc::new(
        RedbStore::open_with(
            &path,
            RedbConfig {
                durability: RedbDurability::None,
                ..Default::default()
            },
        )
        .unwrap(),
    );
    let acked = rt.block_on(async {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.insert(session(&format!("q{i}"))).await.is_ok() })
            })
            .collect();
        let mut acked = 0;
        for t in tasks {
            acked += usize::from(t.await.unwrap());
        }
        acked
    });
    assert_eq!(acked, 200);
    drop(store); // not durable on acknowledge: the close must make them durable
    let reopened = RedbStore::open(&path).unwrap();
    assert_eq!(rt.block_on(reopened.count()).unwrap(), 200);
}

#[test]
fn a_full_queue_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let config = RedbConfig {
        queue_capacity: 1,
        max_batch: 1,
        ..Default::default()
    };
    let store = Arc::new(RedbStore::open_with(dir.path().join("s.redb"), config).unwrap());
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.insert(session(&format!("f{i}"))).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let overloaded = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::Overloaded(_))))
        .count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok + overloaded, 64, "{results:?}");
    assert!(ok >= 1);
    // Every refused write is really absent, every acknowledged one present.
    assert_eq!(rt.block_on(store.count()).unwrap(), ok as u64);
}

#[test]
fn opening_a_file_that_is_not_a_store_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"these are my notes, not a database").unwrap();
    let err = RedbStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"these are my notes, not a database"
    );
}

#[test]
fn concurrent_writes_share_transactions() {
    // The group-commit claim: writes waiting at once go into one transaction (one fsync).
    // Were each write its own transaction, transactions would equal requests.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("s.redb")).unwrap());
    let rt = rt();
    rt.block_on(async {
        let tasks: Vec<_> = (0..400)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.insert(session(&format!("g{i}"))).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    let stats = store.stats();
    assert_eq!(stats.requests, 400);
    assert!(
        stats.transactions < stats.requests / 2,
        "no group commit: {stats:?}"
    );
    assert_eq!(rt.block_on(store.count()).unwrap(), 400);
}
