//! Tasks in a redb file: a task survives close and reopen (and reads from a read-only open,
//! which refuses task writes), and two processes on one file see each other's tasks and lose
//! none of each other's updates of one task; a damaged task record is refused as `TaskCorrupt`
//! and still purged when it expires.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use session_core::{
    ManualClock, RetryPolicy, SessionStore, StoreError, TaskId, TaskRecord, TaskState, Tasks,
};
use session_redb::{RedbConfig, RedbStore};

const CHILD_ENV: &str = "SESSION_REDB_TASK_CHILD";
/// Updates each process makes to the shared task.
const INCREMENTS: u64 = 20;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn tasks_of(store: &RedbStore) -> Tasks {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let retry = RetryPolicy {
        max_attempts: 1_000,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        jitter: 1.0,
    };
    Tasks::new(store.tasks().expect("redb keeps tasks"), retry, clock)
}

fn tid(s: &str) -> TaskId {
    TaskId::new(s).unwrap()
}

fn task(name: &str) -> TaskRecord {
    TaskRecord::new(tid(name), "build_image", chrono::Utc::now(), 3_600_000, 500)
}

async fn increment(tasks: &Tasks, name: &str) {
    for _ in 0..INCREMENTS {
        tasks
            .update(&tid(name), |t| {
                t.progress = Some(t.progress.unwrap_or(0.0) + 1.0);
                Ok(())
            })
            .await
            .unwrap();
    }
}

#[test]
fn a_completed_task_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let rt = rt();
    let written = {
        let store = RedbStore::open(&path).unwrap();
        let tasks = tasks_of(&store);
        rt.block_on(async {
            tasks.create(task("done")).await.unwrap();
            let (after, ()) = tasks
                .update(&tid("done"), |t| {
                    t.state = TaskState::Completed;
                    t.result = Some(serde_json::json!({"content": [], "isError": false}));
                    Ok(())
                })
                .await
                .unwrap();
            after
        })
    };
    let store = RedbStore::open(&path).unwrap();
    let back = rt
        .block_on(store.tasks().unwrap().get_task(&tid("done")))
        .unwrap();
    assert_eq!(back.as_ref(), Some(&written));
    drop(store);
    // A read-only open reads tasks and refuses to write them.
    let ro = RedbStore::open_read_only(&path, RedbConfig::default()).unwrap();
    let ro_tasks = ro.tasks().unwrap();
    assert_eq!(
        rt.block_on(ro_tasks.get_task(&tid("done"))).unwrap(),
        Some(written)
    );
    let refused = rt.block_on(ro_tasks.put_task(None, task("new")));
    assert!(
        matches!(&refused, Err(StoreError::Backend(m)) if m.contains("read-only")),
        "{refused:?}"
    );
}

/// A child process (this binary, re-run): on the file in `CHILD_ENV`, updates the parent's
/// task `shared` while the parent does, marks `from-parent` cancelled, and creates
/// `from-child`.
#[test]
fn task_child_process() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = RedbStore::open(&path).unwrap();
    let tasks = tasks_of(&store);
    rt().block_on(async {
        tasks
            .update(&tid("from-parent"), |t| {
                t.cancel_requested = true;
                Ok(())
            })
            .await
            .unwrap();
        tasks.create(task("from-child")).await.unwrap();
        increment(&tasks, "shared").await;
    });
}

fn child_on(path: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "tasks::task_child_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

#[test]
fn two_processes_on_one_file_see_each_others_tasks_and_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = RedbStore::open(&path).unwrap();
    let tasks = tasks_of(&store);
    let rt = rt();
    rt.block_on(async {
        tasks.create(task("from-parent")).await.unwrap();
        tasks.create(task("shared")).await.unwrap();
    });
    let mut child = child_on(&path);
    // Both processes update `shared` at once.
    rt.block_on(increment(&tasks, "shared"));
    assert!(child.wait().unwrap().success(), "the child process failed");
    rt.block_on(async {
        let shared = tasks.get(&tid("shared")).await.unwrap();
        assert_eq!(shared.value.progress, Some((2 * INCREMENTS) as f64));
        assert_eq!(shared.version.get(), 1 + 2 * INCREMENTS);
        let parent = tasks.get(&tid("from-parent")).await.unwrap();
        assert!(
            parent.value.cancel_requested,
            "the child's write is not seen"
        );
        assert_eq!(parent.version.get(), 2);
        let from_child = tasks.get(&tid("from-child")).await.unwrap();
        assert_eq!(from_child.value.tool, "build_image");
        assert_eq!(tasks.list(None, 10).await.unwrap().len(), 3);
    });
}

#[test]
fn a_corrupt_task_record_is_refused_clearly_and_still_purged() {
    use redb::ReadableDatabase;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let rt = rt();
    let start = chrono::Utc::now();
    {
        let store = RedbStore::open(&path).unwrap();
        let tasks = store.tasks().unwrap();
        rt.block_on(async {
            for (name, ttl_ms) in [("bad", 10_000), ("good", 600_000)] {
                let t = TaskRecord::new(tid(name), "scan_image", start, ttl_ms, 500);
                tasks.put_task(None, t).await.unwrap();
            }
        });
    }
    {
        // Flip one byte of the body of `bad`'s record, behind the store's back.
        const TASKS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("tasks");
        let db = redb::Database::open(&path).unwrap();
        let mut bytes = {
            let read = db.begin_read().unwrap();
            let table = read.open_table(TASKS).unwrap();
            let value = table.get("bad").unwrap().unwrap();
            value.value().to_vec()
        };
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        let write = db.begin_write().unwrap();
        write
            .open_table(TASKS)
            .unwrap()
            .insert("bad", bytes.as_slice())
            .unwrap();
        write.commit().unwrap();
    }
    let store = RedbStore::open(&path).unwrap();
    let tasks = store.tasks().unwrap();
    rt.block_on(async {
        let err = tasks.get_task(&tid("bad")).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::TaskCorrupt { id, reason } if id == "bad" && reason.contains("checksum")),
            "{err:?}"
        );
        assert!(matches!(
            tasks.list_tasks(None, 10).await,
            Err(StoreError::TaskCorrupt { .. })
        ));
        assert!(tasks.get_task(&tid("good")).await.unwrap().is_some());
        // The expiry index names it, so it is purged once expired; then lists work again.
        let later = start + chrono::Duration::seconds(11);
        assert_eq!(tasks.purge_expired_tasks(later, 100).await.unwrap(), 1);
        assert!(tasks.get_task(&tid("bad")).await.unwrap().is_none());
        assert_eq!(tasks.list_tasks(None, 10).await.unwrap().len(), 1);
    });
}
