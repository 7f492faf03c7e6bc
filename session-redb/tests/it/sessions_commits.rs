//! The commit counts through `Sessions` on a real redb file, read from the store's
//! own transaction counter (each transaction one fsync with the default durability): the
//! service's write paths must reach the writer thread concurrently to share its commits.

use std::sync::Arc;

use session_core::{Session, SessionId, SessionStore, Sessions, SessionsConfig, StoreError};
use session_redb::RedbStore;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

fn bump(s: &mut Session) -> Result<u64, StoreError> {
    let n = s.metadata.get("n").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
    s.metadata.insert("n".into(), serde_json::json!(n));
    Ok(n)
}

fn service(cap: Option<u64>) -> (Arc<RedbStore>, Sessions, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path().join("s.redb")).unwrap());
    let config = SessionsConfig {
        max_sessions: cap,
        ..SessionsConfig::default()
    };
    let port: Arc<dyn SessionStore> = store.clone();
    (store, Sessions::new(port, config), dir)
}

#[test]
fn a_hundred_concurrent_creations_take_under_fifty_transactions() {
    for cap in [None, Some(10_000)] {
        let (store, sessions, _dir) = service(cap);
        rt().block_on(async {
            let tasks: Vec<_> = (0..100)
                .map(|i| {
                    let s = sessions.clone();
                    let id = SessionId::new(format!("c-{i}")).unwrap();
                    tokio::spawn(async move { s.create(&id).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        });
        let stats = store.stats();
        assert!(stats.transactions < 50, "cap {cap:?}: {stats:?}");
    }
}

#[test]
fn six_hundred_forty_hot_updates_take_under_two_hundred_transactions() {
    let (store, sessions, _dir) = service(None);
    let hot = SessionId::new("hot").unwrap();
    let rt = rt();
    rt.block_on(sessions.create(&hot)).unwrap();
    let before = store.stats().transactions;
    rt.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (s, id) = (sessions.clone(), hot.clone());
                tokio::spawn(async move {
                    for _ in 0..10 {
                        s.update(&id, bump).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let transactions = store.stats().transactions - before;
    assert!(transactions < 200, "640 hot updates took {transactions}");
    let got = rt.block_on(store.get(&hot)).unwrap().unwrap();
    assert_eq!(got.version.get(), 641);
}
