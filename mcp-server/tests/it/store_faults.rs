//! The store's faults through the binary: read-only `sessions list/show` modify nothing,
//! `sessions check/repair`, a 0-byte and a damaged file refused clearly, and a full disk
//! under `serve` (redb and sled): writes fail clearly, succeed once space is freed, and
//! SIGTERM ends the server within a few seconds.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::tmpfs::Tmpfs;
use crate::{scratch_repo, BIN, INITIALIZE};

fn ckm(store: &Path, workspace: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("MCP_STORE_PATH", store)
        .env("MCP_WORKSPACE_DIR", workspace)
        .env_remove("MCP_STORE_BACKEND")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn fingerprint(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (
        std::fs::read(path).unwrap(),
        std::fs::metadata(path).unwrap().modified().unwrap(),
    )
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn read_only_commands_modify_nothing_and_check_and_repair_say_what_they_did() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("ops.redb");
    let out = ckm(
        &store,
        dir.path(),
        &[
            "tool",
            "start_workflow",
            "--repo-path",
            repo.to_str().unwrap(),
            "--session-id",
            "keep",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let before = fingerprint(&store);
    std::thread::sleep(Duration::from_millis(20)); // an mtime change would be visible
    for args in [
        &["sessions", "list"][..],
        &["sessions", "list", "--json"],
        &["sessions", "show", "keep"],
        &["tool", "get_session", "--session-id", "keep"],
        &["tool", "list_sessions"],
        &["tool", "workflow_status", "--session-id", "keep"],
    ] {
        let out = ckm(&store, dir.path(), args);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            before == fingerprint(&store),
            "{args:?} modified the store file"
        );
    }
    let check = ckm(&store, dir.path(), &["sessions", "check", "--json"]);
    assert!(check.status.success(), "{}", text(&check));
    let v: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["sessions"].as_u64()),
        (Some(true), Some(1)),
        "{v}"
    );
    assert!(
        before == fingerprint(&store),
        "check modified the store file"
    );
    // The probe can fail: a command that writes does change the file.
    assert!(ckm(&store, dir.path(), &["sessions", "purge"])
        .status
        .success());
    assert!(before != fingerprint(&store));
    let repair = ckm(&store, dir.path(), &["sessions", "repair"]);
    assert!(repair.status.success(), "{}", text(&repair));
    let said = String::from_utf8_lossy(&repair.stdout);
    assert!(
        said.contains("backup of the file as it was: ") && said.contains("no damage"),
        "{said}"
    );
    let backup = said
        .lines()
        .find_map(|l| l.strip_prefix("backup of the file as it was: "))
        .unwrap();
    assert!(Path::new(backup).exists());
    assert!(ckm(&store, dir.path(), &["sessions", "show", "keep"])
        .status
        .success());
}

#[test]
fn an_empty_or_damaged_store_file_is_refused_clearly_and_left_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("bad.redb");
    std::fs::write(&store, b"").unwrap();
    for args in [
        &["sessions", "list"][..],
        &["sessions", "purge"],
        &["sessions", "check"],
    ] {
        let out = ckm(&store, dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out).contains("empty (0-byte) file"),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert_eq!(
        std::fs::metadata(&store).unwrap().len(),
        0,
        "the empty file was reinitialised"
    );
    // A real store, then most of it flipped (pages in use and not).
    std::fs::remove_file(&store).unwrap();
    for i in 0..3 {
        let out = ckm(
            &store,
            dir.path(),
            &[
                "tool",
                "start_workflow",
                "--repo-path",
                repo.to_str().unwrap(),
                "--session-id",
                &format!("s{i}"),
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
    }
    let mut bytes = std::fs::read(&store).unwrap();
    for b in &mut bytes[4096..] {
        *b ^= 0x5A;
    }
    std::fs::write(&store, &bytes).unwrap();
    for args in [
        &["sessions", "list"][..],
        &["sessions", "show", "s1"],
        &["sessions", "check"],
        &["tool", "get_session", "--session-id", "s1"],
    ] {
        let out = ckm(&store, dir.path(), args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {said}");
        assert!(
            said.contains("damaged") || said.contains("DAMAGED"),
            "{args:?}: {said}"
        );
        assert!(!said.contains("panicked"), "{args:?}: {said}");
    }
    assert!(
        std::fs::read(&store).unwrap() == bytes,
        "a damaged file was modified"
    );
}

/// A `serve` process on stdio, answering JSON-RPC lines.
struct Server {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
    next_id: u64,
}

impl Server {
    fn start(store_args: &[&str], store: &Path, workspace: &Path) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(store_args)
            .arg("--store-path")
            .arg(store)
            .env("MCP_WORKSPACE_DIR", workspace)
            .env_remove("MCP_STORE_BACKEND")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        writeln!(stdin, "{INITIALIZE}").unwrap();
        let mut server = Server {
            child,
            stdin,
            lines,
            next_id: 1,
        };
        server.answer(1);
        writeln!(
            server.stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        server
    }

    fn answer(&mut self, id: u64) -> serde_json::Value {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("the server answers");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            if v["id"].as_u64() == Some(id) {
                return v;
            }
        }
    }

    /// Calls `tool` and returns the result (`isError` set on a tool error).
    fn call(&mut self, tool: &str, args: serde_json::Value) -> serde_json::Value {
        self.next_id += 1;
        let id = self.next_id;
        let req = serde_json::json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":tool,"arguments":args}});
        writeln!(self.stdin, "{req}").unwrap();
        self.answer(id)
    }
}

fn failed(answer: &serde_json::Value) -> bool {
    answer.get("error").is_some() || answer["result"]["isError"].as_bool() == Some(true)
}

fn disk_full_under_serve(store_args: &[&str], store_name: &str) {
    let fs = match Tmpfs::mount("16m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = fs.path().join(store_name);
    let mut server = Server::start(store_args, &store, dir.path());
    let start = |server: &mut Server, id: &str| {
        server.call(
            "start_workflow",
            serde_json::json!({"repo_path": repo, "session_id": id}),
        )
    };
    let first = start(&mut server, "before");
    assert!(!failed(&first), "{first}");
    let filler = fs.fill();
    let mut failure = None;
    for i in 0..200 {
        let answer = start(&mut server, &format!("full-{i}"));
        if failed(&answer) {
            failure = Some(answer);
            break;
        }
    }
    let failure = failure.expect("a write on a full disk must fail");
    let said = failure.to_string();
    eprintln!("{}: on a full disk: {said}", store_args.join(" "));
    assert!(said.contains("No space left on device"), "{said}");
    std::fs::remove_file(&filler).unwrap();
    let after = start(&mut server, "after");
    assert!(!failed(&after), "after freeing space: {after}");
    let got = server.call("get_session", serde_json::json!({"session_id": "before"}));
    assert!(!failed(&got), "{got}");
    // Fill again and stop: SIGTERM must end the process within a few seconds.
    let _filler = fs.fill();
    let _ = start(&mut server, "while-full");
    let asked = Instant::now();
    let kill = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (tx, done) = mpsc::channel();
    let child = server.child;
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = done
        .recv_timeout(Duration::from_secs(15))
        .expect("SIGTERM must end the server");
    let out = out.unwrap();
    eprintln!(
        "{}: SIGTERM on a full disk ended the server in {:?} with {:?}: {}",
        store_args.join(" "),
        asked.elapsed(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
    drop(server.stdin);
}

#[test]
fn a_full_disk_under_serve_on_redb_fails_writes_then_recovers_and_sigterm_ends_it() {
    disk_full_under_serve(&[], "s.redb");
}

#[test]
fn a_full_disk_under_serve_on_sled_fails_writes_then_recovers_and_sigterm_ends_it() {
    disk_full_under_serve(&["--store", "sled"], "s.sled");
}

/// An HTTP server whose shutdown cannot finish on its own (a client left its request headers
/// half-sent, and the graceful shutdown waits for that connection).
fn http_server_with_a_half_open_connection(
    store: &Path,
) -> (std::process::Child, std::net::TcpStream) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args(["serve", "--transport", "http", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--store-path")
        .arg(store)
        .env_remove("MCP_STORE_BACKEND")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(_) if started.elapsed() < Duration::from_secs(30) => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("the server does not listen: {e}"),
        }
    };
    conn.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    (child, conn)
}

fn sigterm(child: &std::process::Child) {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
}

/// Waits at most `bound` for `child` to exit; its status and stderr.
fn exits_within(child: std::process::Child, bound: Duration) -> (Option<i32>, String) {
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = done
        .recv_timeout(bound)
        .unwrap_or_else(|_| panic!("the server did not exit within {bound:?} of the signal"))
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sigterm_ends_the_server_within_a_few_seconds_even_when_its_shutdown_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _conn) = http_server_with_a_half_open_connection(&dir.path().join("s.redb"));
    sigterm(&child);
    let (code, err) = exits_within(child, Duration::from_secs(12));
    // Either the shutdown finished, or its bound ended it with status 1 and said why.
    assert!(
        code == Some(0) || (code == Some(1) && err.contains("did not finish within")),
        "{code:?}: {err}"
    );
}

#[test]
fn a_second_sigterm_ends_a_hanging_shutdown_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _conn) = http_server_with_a_half_open_connection(&dir.path().join("s.redb"));
    sigterm(&child);
    std::thread::sleep(Duration::from_millis(500));
    // The process may have ended already (nothing hung); if not, the second signal ends it.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let (code, err) = exits_within(child, Duration::from_secs(4));
    assert!(
        code == Some(0) || (code == Some(1) && err.contains("a second signal")),
        "{code:?}: {err}"
    );
}

#[test]
fn after_a_kill_the_read_only_commands_read_a_recovered_copy_and_leave_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("killed.redb");
    let mut server = Server::start(&[], &store, dir.path());
    let made = server.call(
        "start_workflow",
        serde_json::json!({"repo_path": repo, "session_id": "survivor"}),
    );
    assert!(!failed(&made), "{made}");
    server.child.kill().unwrap(); // SIGKILL: the file is not closed cleanly
    server.child.wait().unwrap();
    let before = fingerprint(&store);
    std::thread::sleep(Duration::from_millis(20));
    let list = ckm(&store, dir.path(), &["sessions", "list"]);
    assert!(list.status.success(), "{}", text(&list));
    assert!(text(&list).contains("survivor"), "{}", text(&list));
    let check = ckm(&store, dir.path(), &["sessions", "check"]);
    assert!(check.status.success(), "{}", text(&check));
    // The probe saw what it claims: the file needed recovery.
    assert!(
        text(&check).contains("not closed cleanly"),
        "{}",
        text(&check)
    );
    assert!(
        before == fingerprint(&store),
        "a read-only command modified the killed file"
    );
}
