//! The kill -9 harness, generic over adapters: a child process runs concurrent updates on
//! many sessions and prints each acknowledged `(id, version, n)` as soon as it is
//! acknowledged; the parent kills it with SIGKILL at random moments, reopens the store and
//! checks that every acknowledged write is there and the file opens cleanly.
//!
//! The child is the adapter's own test binary, re-run with a filter naming the child test.
//! Use it through [`crate::session_store_crash_tests!`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::{SessionId, SessionStore, Sessions, SessionsConfig, StoreError};

const STORE_ENV: &str = "SESSION_CRASH_HARNESS_STORE";

/// How hard to crash the store.
#[derive(Clone, Debug)]
pub struct CrashConfig {
    /// Kill-and-reopen cycles.
    pub cycles: usize,
    /// Concurrent writer tasks in the child.
    pub writers: usize,
    /// Sessions each writer updates in turn.
    pub sessions_per_writer: usize,
    /// The child runs between this and `max_run` after its first acknowledgement.
    pub min_run: Duration,
    /// See `min_run`.
    pub max_run: Duration,
    /// Child processes run at once on the store, each with `writers` writers on the same
    /// sessions, all killed together (a store shared by several processes). Default 1.
    pub processes: usize,
}

impl Default for CrashConfig {
    fn default() -> Self {
        CrashConfig {
            cycles: 20,
            writers: 16,
            sessions_per_writer: 4,
            min_run: Duration::from_millis(20),
            max_run: Duration::from_millis(300),
            processes: 1,
        }
    }
}

/// The child's entry point: when the harness started this process, runs writers against the
/// store `open` returns until killed (never returns); otherwise returns at once.
pub fn child_main(open: impl Fn(&Path) -> Result<Arc<dyn SessionStore>, StoreError>) {
    let Ok(path) = std::env::var(STORE_ENV) else {
        return;
    };
    let config: CrashConfig = CrashConfig::default();
    let store = open(Path::new(&path)).expect("child: open store");
    let rt = super::runtime();
    rt.block_on(async move {
        let sessions = Sessions::new(store, SessionsConfig::default());
        let payload = "x".repeat(1024);
        let mut tasks = Vec::new();
        for w in 0..config.writers {
            let (sessions, payload) = (sessions.clone(), payload.clone());
            tasks.push(tokio::spawn(async move {
                let ids: Vec<SessionId> = (0..config.sessions_per_writer)
                    .map(|k| SessionId::new(format!("crash-w{w}-s{k}")).unwrap())
                    .collect();
                for id in &ids {
                    let s = sessions.get_or_create(id).await.expect("child: create");
                    ack(id, s.version.get(), n_of(&s.value));
                }
                for round in 0u64.. {
                    let id = &ids[(round as usize) % ids.len()];
                    let (after, n) = sessions
                        .update(id, |s| {
                            let n = n_of(s) + 1;
                            s.metadata.insert("n".into(), json!(n));
                            s.metadata.insert("payload".into(), json!(payload));
                            Ok(n)
                        })
                        .await
                        .expect("child: update");
                    ack(id, after.version.get(), n);
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    unreachable!("crash child writers never stop");
}

fn n_of(s: &crate::Session) -> u64 {
    s.metadata.get("n").and_then(|v| v.as_u64()).unwrap_or(0)
}

#[allow(clippy::print_stdout)] // the acknowledgement channel to the parent process
fn ack(id: &SessionId, version: u64, n: u64) {
    println!("ACK {id} {version} {n}");
}

/// The parent: runs `config.cycles` kill cycles of the child test `child_test` (its full
/// name in the test binary) and checks every acknowledged write after each.
pub fn kill_cycles(
    child_test: &str,
    open: impl Fn(&Path) -> Result<Arc<dyn SessionStore>, StoreError>,
    config: CrashConfig,
) {
    let dir = scratch_dir();
    let path = dir.join("store");
    let exe = std::env::current_exe().unwrap();
    let mut acked: HashMap<String, (u64, u64)> = HashMap::new();
    let mut rng = seed();
    let rt = super::runtime();
    let mut total_acks = 0usize;
    for cycle in 0..config.cycles {
        let mut children = Vec::new();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for _ in 0..config.processes.max(1) {
            let mut child = Command::new(&exe)
                .args([child_test, "--exact", "--nocapture", "--test-threads=1"])
                .env(STORE_ENV, &path)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let tx = tx.clone();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.starts_with("ACK ") && tx.send(line).is_err() {
                        break;
                    }
                }
            });
            children.push((child, reader));
        }
        drop(tx);
        let first = rx.recv_timeout(Duration::from_secs(60));
        assert!(
            first.is_ok(),
            "cycle {cycle}: the child acknowledged nothing within 60 s"
        );
        let span = config.max_run.saturating_sub(config.min_run).as_micros() as u64;
        let run = config.min_run + Duration::from_micros(next(&mut rng) % span.max(1));
        let until = Instant::now() + run;
        let mut lines: Vec<String> = first.into_iter().collect();
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        for (child, _) in &mut children {
            child.kill().unwrap(); // SIGKILL
        }
        for (child, _) in &mut children {
            child.wait().unwrap();
        }
        // Lines already written to the pipes were acknowledged before the kill.
        lines.extend(rx.iter());
        for (_, reader) in children {
            reader.join().unwrap();
        }
        total_acks += lines.len();
        for line in lines {
            let mut parts = line.split(' ').skip(1);
            let id = parts.next().unwrap().to_owned();
            let version: u64 = parts.next().unwrap().parse().unwrap();
            let n: u64 = parts.next().unwrap().parse().unwrap();
            let e = acked.entry(id).or_insert((0, 0));
            if version > e.0 {
                *e = (version, n);
            }
        }
        let store = open(&path).unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
        rt.block_on(async {
            for (id, (version, n)) in &acked {
                let got = store
                    .get(&SessionId::new(id.as_str()).unwrap())
                    .await
                    .unwrap_or_else(|e| panic!("cycle {cycle}: {id} unreadable: {e}"))
                    .unwrap_or_else(|| panic!("cycle {cycle}: acknowledged session {id} lost"));
                let stored_n = n_of(&got.value);
                assert!(
                    got.version.get() >= *version,
                    "cycle {cycle}: {id} acknowledged at version {version}, found {}",
                    got.version
                );
                assert_eq!(
                    stored_n,
                    got.version.get() - 1,
                    "cycle {cycle}: {id} content torn"
                );
                if got.version.get() == *version {
                    assert_eq!(stored_n, *n, "cycle {cycle}: {id} content differs");
                }
            }
        });
        drop(store);
    }
    assert!(
        total_acks > config.cycles,
        "the children acknowledged too little to prove anything"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn scratch_dir() -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("session-crash-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    nanos | 1
}

fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
