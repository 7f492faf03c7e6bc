//! One store, many processes (issue 14): `serve` on the default store with 20 concurrent
//! one-shot `tool` calls and `sessions list`, a second `serve`; ten `tool` processes running
//! different steps on one session (every success recorded, the runs serialized); a `tool`
//! process killed with -9 while it holds a step lock (another's step proceeds after the
//! lock's expiry, not later).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{scratch_repo, start_initialized, BIN, INITIALIZE};

/// The step-lock expiry of the default redb store (`RedbConfig::lock_expiry`).
const LOCK_EXPIRY: Duration = Duration::from_secs(10);

fn ckm(dir: &Path, store: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("MCP_STORE_PATH", store)
        .env("MCP_WORKSPACE_DIR", dir)
        .env_remove("MCP_STORE_BACKEND")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn ok(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Sends `notifications/initialized` and one `ping` call to an initialized server; its answer.
fn ping(stdin: &mut std::process::ChildStdin, stdout: &mut impl BufRead) -> Value {
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "ping", "arguments": {}}});
    writeln!(stdin, "{call}").unwrap();
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the server closed stdout"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 7 {
            return v;
        }
    }
}

#[test]
fn a_server_twenty_tool_calls_sessions_list_and_a_second_server_share_the_default_store() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("shared.redb");
    let (mut server, stdin, first) = start_initialized(|c| {
        c.args(["serve", "--store-path"])
            .arg(&store)
            .env("MCP_WORKSPACE_DIR", dir.path());
    });
    assert!(first.contains("\"result\""), "{first}");
    let started = Instant::now();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let id = format!("mp-{i:02}");
            let child = ckm(
                dir.path(),
                &store,
                &["tool", "start_workflow", "--session-id", &id, "--repo-path"],
            )
            .arg(&repo)
            .args(["--run", "--dry-run"])
            .spawn()
            .unwrap();
            (Instant::now(), child)
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for (at, child) in children {
        let out = child.wait_with_output().unwrap();
        let took = at.elapsed();
        slowest = slowest.max(took);
        let v = ok(&out, "tool start_workflow");
        assert_eq!(v["status"], "completed", "{v}");
        // "Each within a few seconds": no call waits for the server to let go of the file.
        assert!(took < Duration::from_secs(20), "a tool call took {took:?}");
    }
    let all = started.elapsed();
    eprintln!("20 concurrent `tool start_workflow --run` with a server running: {all:?} in all, slowest {slowest:?}");
    let listed = ckm(dir.path(), &store, &["sessions", "list", "--json"])
        .output()
        .unwrap();
    let list = ok(&listed, "sessions list");
    assert_eq!(list.as_array().unwrap().len(), 20, "{list}");
    // A second server on the same file answers too.
    let mut second = Command::new(BIN)
        .args(["serve", "--store-path"])
        .arg(&store)
        .env("MCP_WORKSPACE_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut second_in = second.stdin.take().unwrap();
    let mut second_out = BufReader::new(second.stdout.take().unwrap());
    writeln!(second_in, "{INITIALIZE}").unwrap();
    let mut second_first = String::new();
    second_out.read_line(&mut second_first).unwrap();
    assert!(second_first.contains("\"result\""), "{second_first}");
    let pong = ping(&mut second_in, &mut second_out);
    assert!(
        pong["result"].is_object() && pong["error"].is_null(),
        "{pong}"
    );
    assert_ne!(pong["result"]["isError"], true, "{pong}");
    drop(second_in);
    assert!(second.wait().unwrap().success());
    drop(stdin);
    assert!(server.wait().unwrap().success());
}

/// The step runs recorded in a session (`metadata.step_history` of its workflow state).
fn step_history(dir: &Path, store: &Path, id: &str) -> Vec<Value> {
    let out = ckm(dir, store, &["tool", "get_session", "--session-id", id])
        .output()
        .unwrap();
    let v = ok(&out, "tool get_session");
    fn find(v: &Value) -> Option<&Vec<Value>> {
        match v {
            Value::Object(m) => m
                .get("step_history")
                .and_then(Value::as_array)
                .or_else(|| m.values().find_map(find)),
            Value::Array(a) => a.iter().find_map(find),
            _ => None,
        }
    }
    find(&v).cloned().unwrap_or_default()
}

fn at(run: &Value, key: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(run[key].as_str().unwrap()).unwrap()
}

#[test]
fn ten_tool_processes_running_different_steps_on_one_session_are_serialized() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("steps.redb");
    let repo_s = repo.to_str().unwrap();
    let out = ckm(
        dir.path(),
        &store,
        &[
            "tool",
            "start_workflow",
            "--session-id",
            "one",
            "--repo-path",
            repo_s,
        ],
    )
    .output()
    .unwrap();
    ok(&out, "start_workflow");
    let steps = [
        "analyze_repository",
        "generate_dockerfile",
        "build_image",
        "scan_image",
        "tag_image",
        "push_image",
        "generate_k8s_manifests",
        "prepare_cluster",
        "deploy_application",
        "verify_deployment",
    ];
    let children: Vec<_> = steps
        .iter()
        .map(|step| {
            let mut args = vec!["tool", step, "--session-id", "one", "--dry-run"];
            if *step == "analyze_repository" {
                args.extend(["--repo-path", repo_s]);
            }
            (*step, ckm(dir.path(), &store, &args).spawn().unwrap())
        })
        .collect();
    let mut succeeded = Vec::new();
    for (step, child) in children {
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            succeeded.push(step);
        } else {
            // A step that ran out of prerequisites says so; it is never a store failure.
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert!(
                !String::from_utf8_lossy(&out.stderr).contains("locked"),
                "{step}: {v}"
            );
        }
    }
    assert!(!succeeded.is_empty(), "no step succeeded");
    eprintln!("steps that succeeded when started at once: {succeeded:?}");
    let history = step_history(dir.path(), &store, "one");
    // Every step that answered success is recorded.
    for step in &succeeded {
        assert!(
            history
                .iter()
                .any(|r| r["step"] == *step && r["success"] == true),
            "{step} answered success but is not recorded: {history:?}"
        );
    }
    // The runs did not overlap: each started after the one before it finished.
    let mut runs = history.clone();
    runs.sort_by_key(|r| at(r, "started_at"));
    for pair in runs.windows(2) {
        assert!(
            at(&pair[1], "started_at") >= at(&pair[0], "finished_at"),
            "step runs overlap: {} and {}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn a_tool_killed_while_holding_a_step_lock_holds_up_another_until_the_expiry_not_later() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("kill.redb");
    let repo_s = repo.to_str().unwrap();
    let mark = dir.path().join("building");
    // A container engine that says it started, then takes its time.
    let engine = dir.path().join("slow-engine");
    std::fs::write(
        &engine,
        format!("#!/bin/sh\necho $$ > '{}'\nexec sleep 30\n", mark.display()),
    )
    .unwrap();
    std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755)).unwrap();
    for args in [
        vec![
            "tool",
            "start_workflow",
            "--session-id",
            "k",
            "--repo-path",
            repo_s,
        ],
        vec![
            "tool",
            "analyze_repository",
            "--session-id",
            "k",
            "--repo-path",
            repo_s,
        ],
        vec!["tool", "generate_dockerfile", "--session-id", "k"],
    ] {
        ok(&ckm(dir.path(), &store, &args).output().unwrap(), args[1]);
    }
    let mut holder = ckm(
        dir.path(),
        &store,
        &["tool", "build_image", "--session-id", "k"],
    )
    .env("MCP_CONTAINER_ENGINE", &engine)
    .spawn()
    .unwrap();
    // The engine runs inside the step, under the session's step lock.
    let until = Instant::now() + Duration::from_secs(60);
    while !mark.exists() || std::fs::read_to_string(&mark).unwrap().trim().is_empty() {
        assert!(Instant::now() < until, "the build step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    holder.kill().unwrap(); // SIGKILL: the lock is not released
    holder.wait().unwrap();
    let killed = Instant::now();
    if let Ok(pid) = std::fs::read_to_string(&mark) {
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
    }
    let out = ckm(
        dir.path(),
        &store,
        &[
            "tool",
            "generate_dockerfile",
            "--session-id",
            "k",
            "--dry-run",
        ],
    )
    .output()
    .unwrap();
    let waited = killed.elapsed();
    ok(&out, "generate_dockerfile after the kill");
    // Renewed every third of the expiry while the holder lived: at least two thirds of it
    // were left at the kill, so the step waited for the lock, and no longer than it.
    assert!(
        waited >= LOCK_EXPIRY * 2 / 3 - Duration::from_millis(500),
        "the step did not wait for the dead holder's lock: {waited:?}"
    );
    assert!(
        waited <= LOCK_EXPIRY + Duration::from_secs(5),
        "the step waited past the lock's expiry: {waited:?}"
    );
    eprintln!("step after a kill -9 of the lock holder waited {waited:?} (expiry {LOCK_EXPIRY:?})");
}
