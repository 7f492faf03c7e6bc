//! A second process on a sled store fails at once, naming the holding process (from the
//! holder record) and suggesting redb.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use session_sled::{SledConfig, SledStore};

const CHILD_ENV: &str = "SESSION_SLED_HOLDER_CHILD";

/// The child (this binary, re-run): opens the store, says so, sleeps until killed.
#[test]
fn holder_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let _store = SledStore::open(&path).unwrap();
    println!("OPEN");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn a_second_process_is_told_at_once_which_process_holds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sled");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "holder::holder_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let opened = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|l| l.ends_with("OPEN"));
    assert!(opened, "the child did not open the store");
    let start = Instant::now();
    let err = SledStore::open_with(&path, SledConfig::default())
        .unwrap_err()
        .to_string();
    let elapsed = start.elapsed();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        err.contains(&format!("in use by process {}", child.id())),
        "{err}"
    );
    assert!(err.contains("holder_child"), "the command is named: {err}");
    assert!(err.contains("redb"), "{err}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}
