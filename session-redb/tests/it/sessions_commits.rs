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

#[test]
fn a_batch_of_replaces_of_one_session_leaves_one_record_and_one_index_entry() {
    use session_core::{Version, WriteOp};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let rt = rt();
    {
        let store = RedbStore::open(&path).unwrap();
        let id = SessionId::new("combined").unwrap();
        let t0 = chrono::DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let at = |secs: u64| Session::new(id.clone(), t0, std::time::Duration::from_secs(secs));
        rt.block_on(store.insert(at(10))).unwrap();
        // Three replaces of one session in one batch, each with a new expiry.
        let ops = (1..=3u64)
            .map(|i| WriteOp::Replace {
                expected: Version(i),
                session: {
                    let mut s = at(10 + 10 * i);
                    s.stage = format!("step-{i}");
                    s
                },
            })
            .collect();
        let versions = rt.block_on(store.apply(ops)).unwrap();
        assert_eq!(
            versions,
            vec![Some(Version(2)), Some(Version(3)), Some(Version(4))]
        );
        let got = rt.block_on(store.get(&id)).unwrap().unwrap();
        assert_eq!(
            (got.version, got.value.stage.as_str()),
            (Version(4), "step-3")
        );
        // Not expired at the intermediate expiries, expired at the last one.
        let purged = rt.block_on(store.purge_expired(t0 + chrono::Duration::seconds(35), 10));
        assert!(purged.unwrap().is_empty());
        rt.block_on(store.flush()).unwrap();
    }
    const EXPIRY: redb::TableDefinition<&[u8], ()> =
        redb::TableDefinition::new("sessions_by_expiry");
    use redb::{ReadableDatabase as _, ReadableTableMetadata as _};
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    let index = txn.open_table(EXPIRY).unwrap();
    assert_eq!(
        index.len().unwrap(),
        1,
        "the index kept superseded expiries"
    );
}
