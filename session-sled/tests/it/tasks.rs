//! Tasks in a sled directory: a task survives close and reopen, and a damaged task record is
//! refused with a clear `TaskCorrupt` error naming it — never a panic, never made-up data —
//! while the other tasks stay readable and the damaged one is still purged when it expires.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use session_core::{
    ManualClock, RetryPolicy, SessionStore, StoreError, TaskId, TaskRecord, TaskState, Tasks,
};
use session_sled::SledStore;

fn tid(s: &str) -> TaskId {
    TaskId::new(s).unwrap()
}

fn tasks_of(store: &SledStore, clock: Arc<ManualClock>) -> Tasks {
    Tasks::new(store.tasks().unwrap(), RetryPolicy::default(), clock)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_task_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sled");
    let rt = rt();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let written = {
        let store = SledStore::open(&path).unwrap();
        let tasks = tasks_of(&store, clock.clone());
        rt.block_on(async {
            let t = TaskRecord::new(tid("kept"), "push_image", clock_now(&clock), 60_000, 500);
            tasks.create(t).await.unwrap();
            tasks
                .update(&tid("kept"), |t| {
                    t.state = TaskState::Failed;
                    t.error = Some(serde_json::json!({"code": -32603, "message": "boom"}));
                    Ok(())
                })
                .await
                .unwrap()
                .0
        })
    };
    let store = SledStore::open(&path).unwrap();
    let back = rt
        .block_on(store.tasks().unwrap().get_task(&tid("kept")))
        .unwrap();
    assert_eq!(back, Some(written));
}

fn clock_now(clock: &ManualClock) -> chrono::DateTime<Utc> {
    session_core::Clock::now(clock)
}

#[test]
fn a_corrupt_task_record_is_refused_clearly_and_still_purged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sled");
    let rt = rt();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    {
        let store = SledStore::open(&path).unwrap();
        let tasks = tasks_of(&store, clock.clone());
        rt.block_on(async {
            for (name, ttl_ms) in [("bad", 10_000), ("good", 600_000)] {
                let t = TaskRecord::new(tid(name), "scan_image", clock_now(&clock), ttl_ms, 500);
                tasks.create(t).await.unwrap();
            }
        });
    }
    {
        // Flip one byte of the body of `bad`'s record, behind the store's back.
        let db = sled::open(&path).unwrap();
        let tree = db.open_tree("tasks").unwrap();
        let mut bytes = tree.get("bad").unwrap().unwrap().to_vec();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        tree.insert("bad", bytes).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(&path).unwrap();
    let tasks = tasks_of(&store, clock.clone());
    rt.block_on(async {
        let err = tasks.get(&tid("bad")).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::TaskCorrupt { id, reason } if id == "bad" && reason.contains("checksum")),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("task bad is corrupt"), "{err}");
        assert!(matches!(
            tasks.list(None, 10).await,
            Err(StoreError::TaskCorrupt { .. })
        ));
        // A write over it is refused too, and changes nothing.
        let over = tasks.update(&tid("bad"), |_| Ok(())).await;
        assert!(matches!(over, Err(StoreError::TaskCorrupt { .. })), "{over:?}");
        assert_eq!(tasks.get(&tid("good")).await.unwrap().version.get(), 1);
        // The expiry index names it, so it is purged once expired; then lists work again.
        clock.advance(Duration::from_secs(11));
        assert_eq!(tasks.purge_expired(100).await.unwrap(), 1);
        assert!(store.tasks().unwrap().get_task(&tid("bad")).await.unwrap().is_none());
        assert_eq!(tasks.list(None, 10).await.unwrap().len(), 1);
    });
}
