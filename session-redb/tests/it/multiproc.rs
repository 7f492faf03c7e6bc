//! One file, many processes (redb's `MultiWriter`, the default): the conformance suite in the
//! exclusive mode too, the kill -9 harness with writers in two processes at once, a commit
//! of one process visible to another at once, and step locks across processes — a killed
//! holder's lock taken over after its expiry (not later), its stale fence refused, and a
//! process cycling on a lock (parked locks) starving no other.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use session_core::testkit::crash::{kill_cycles, CrashConfig};
use session_core::testkit::TestStore;
use session_core::{Fence, Session, SessionId, SessionStore, StoreError, WriteOp};
use session_redb::{RedbConfig, RedbSharing, RedbStore};

const CHILD_ENV: &str = "SESSION_REDB_LOCK_CHILD";
/// The step-lock expiry of these tests.
const EXPIRY: Duration = Duration::from_secs(3);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn config() -> RedbConfig {
    RedbConfig {
        lock_expiry: EXPIRY,
        ..RedbConfig::default()
    }
}

mod exclusive {
    use super::*;

    fn fresh() -> TestStore {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = RedbConfig {
            sharing: RedbSharing::Exclusive,
            ..RedbConfig::default()
        };
        let store = RedbStore::open_with(dir.path().join("sessions.redb"), config)
            .expect("open redb store");
        assert!(store.shared_locks().is_none());
        TestStore::new(store, dir)
    }

    session_core::session_store_conformance!(fresh);
}

#[test]
fn kill_9_of_writers_in_two_processes_loses_no_acknowledged_write() {
    let open = |p: &Path| -> Result<Arc<dyn SessionStore>, StoreError> {
        Ok(Arc::new(RedbStore::open(p)?))
    };
    kill_cycles(
        "session_store_crash::crash_child_process",
        open,
        CrashConfig {
            cycles: 10,
            processes: 2,
            ..CrashConfig::default()
        },
    );
}

/// A child process (this binary, re-run): takes the step lock of `held`, prints its token,
/// then sleeps until killed.
#[test]
fn lock_holder_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = RedbStore::open_with(&path, config()).unwrap();
    let rt = rt();
    rt.block_on(async {
        let locks = store.shared_locks().unwrap();
        let id = SessionId::new("held").unwrap();
        store
            .insert(Session::new(
                id.clone(),
                chrono::Utc::now(),
                Duration::from_secs(3600),
            ))
            .await
            .unwrap();
        let handle = locks.acquire(&id, Duration::from_secs(5)).await.unwrap();
        println!("HELD {}", handle.fence().token);
        tokio::time::sleep(Duration::from_secs(600)).await;
    });
}

/// Starts [`lock_holder_child`] on `path` and returns it once it holds the lock, with the
/// lock's token.
fn holder_at(path: &Path) -> (std::process::Child, i64) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "multiproc::lock_holder_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let token = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.split_once("HELD ")
                .map(|(_, t)| t.trim().parse::<i64>().unwrap())
        })
        .expect("the child took the lock");
    (child, token)
}

#[test]
fn a_killed_holders_step_lock_is_taken_over_after_its_expiry_not_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = RedbStore::open_with(&path, config()).unwrap();
    let (mut child, dead_token) = holder_at(&path);
    let rt = rt();
    let locks = store.shared_locks().unwrap();
    let id = SessionId::new("held").unwrap();
    rt.block_on(async {
        // Held in the other process: this one waits for it, bounded.
        let busy = locks.acquire(&id, Duration::from_millis(300)).await;
        assert!(matches!(busy, Err(StoreError::Busy { .. })), "{busy:?}");
        // The holder renews while alive: after more than one expiry it still holds.
        tokio::time::sleep(EXPIRY + Duration::from_millis(500)).await;
        let busy = locks.acquire(&id, Duration::from_millis(300)).await;
        assert!(matches!(busy, Err(StoreError::Busy { .. })), "{busy:?}");
    });
    child.kill().unwrap(); // SIGKILL: no release
    child.wait().unwrap();
    let killed = Instant::now();
    let handle = rt
        .block_on(locks.acquire(&id, Duration::from_secs(30)))
        .unwrap();
    let waited = killed.elapsed();
    // Renewed every third of the expiry: at the kill at least two thirds of it were left.
    assert!(
        waited >= EXPIRY * 2 / 3 - Duration::from_millis(200),
        "taken over before the dead holder's lock expired: {waited:?}"
    );
    assert!(
        waited <= EXPIRY + Duration::from_secs(1),
        "taken over later than the expiry: {waited:?}"
    );
    assert!(handle.fence().token > dead_token);
    rt.block_on(async {
        let current = store.get(&id).await.unwrap().unwrap();
        let write = |fence: Fence| {
            let mut s = current.value.clone();
            s.metadata
                .insert("by".into(), serde_json::json!(fence.token));
            let op = WriteOp::Replace {
                expected: current.version,
                session: s,
            };
            let store = &store;
            async move { store.apply_fenced(vec![op], &fence).await }
        };
        // The dead holder's fence no longer writes; the successor's does.
        let stale = write(Fence {
            id: id.clone(),
            token: dead_token,
        })
        .await;
        assert!(matches!(stale, Err(StoreError::LockLost(_))), "{stale:?}");
        write(handle.fence().clone()).await.unwrap();
    });
}

#[test]
fn a_commit_in_one_process_is_read_at_once_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = RedbStore::open_with(&path, config()).unwrap();
    let rt = rt();
    // The child inserts `held` before it takes the lock.
    let (mut child, _) = holder_at(&path);
    let got = rt
        .block_on(store.get(&SessionId::new("held").unwrap()))
        .unwrap();
    assert!(got.is_some(), "the other process's commit is not visible");
    child.kill().unwrap();
    child.wait().unwrap();
    // And the file reopens after the kill with the session in it.
    drop(store);
    let store = RedbStore::open_with(&path, config()).unwrap();
    assert_eq!(rt.block_on(store.count()).unwrap(), 1);
}

const CYCLER_ENV: &str = "SESSION_REDB_CYCLER_CHILD";

/// A child process (this binary, re-run): takes and ends the step lock of `hot` as fast as it
/// can for 6 s, as a process running one step after another on one session does, printing
/// `CYCLING` once it has the lock the first time.
#[test]
fn lock_cycler_child() {
    let Ok(path) = std::env::var(CYCLER_ENV) else {
        return;
    };
    let store = RedbStore::open_with(&path, config()).unwrap();
    let rt = rt();
    rt.block_on(async {
        let locks = store.shared_locks().unwrap();
        let id = SessionId::new("hot").unwrap();
        let until = Instant::now() + Duration::from_secs(6);
        let mut first = true;
        while Instant::now() < until {
            let Ok(handle) = locks.acquire(&id, Duration::from_secs(10)).await else {
                continue;
            };
            if first {
                println!("CYCLING");
                first = false;
            }
            drop(handle);
        }
    });
}

/// Parked step locks (a lock this process ends is kept for its next lock of the same session)
/// must not starve another process: while one process takes and ends the lock of a session
/// back to back, another one waiting for it gets it within its wait.
#[test]
fn a_process_cycling_on_a_session_lock_does_not_starve_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sessions.redb");
    drop(RedbStore::open_with(&path, config()).unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "multiproc::lock_cycler_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CYCLER_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let started = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("CYCLING"));
    assert!(started, "the cycling child never took the lock");
    let store = RedbStore::open_with(&path, config()).unwrap();
    let rt = rt();
    let got = rt.block_on(async {
        let locks = store.shared_locks().unwrap();
        let id = SessionId::new("hot").unwrap();
        let mut got = 0;
        for _ in 0..3 {
            match locks.acquire(&id, Duration::from_secs(3)).await {
                Ok(handle) => {
                    got += 1;
                    drop(handle);
                }
                Err(e) => eprintln!("not taken while the other process cycles: {e}"),
            }
        }
        got
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        got, 3,
        "a process waiting for the lock was starved by one cycling on it"
    );
}
