//! Long steps as durable MCP Tasks (issue 20, SEP-2663): `build_image` from a client that
//! declares the `io.modelcontextprotocol/tasks` extension is answered with a task handle,
//! polled with `tasks/get` to its result, cancelled with `tasks/cancel` — through a
//! different replica than the one running it — and reported failed, naming its runner,
//! when that runner is killed. No official SDK speaks SEP-2663 yet (the TypeScript SDK
//! 1.32.2 has the older experimental tasks; Python `mcp` 2.3.0 has no `tasks/update`), so
//! this is a small JSON-RPC client of protocol 2026-07-28 over HTTP/1.1 on std's
//! TcpStream. The container engine is a shell script that writes its pid and sleeps.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{chrono_free_nanos, scratch_repo, BIN};

const PROTOCOL: &str = "2026-07-28";
const TASKS: &str = "io.modelcontextprotocol/tasks";

/// A running `serve --transport http`, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(store: &[String], env: &[(&str, &Path)], extra: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--transport", "http", "--listen", "127.0.0.1:0"])
            .args(store)
            .args(extra)
            .env_remove("MCP_AUTH_TOKEN")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let mut line = String::new();
        while lines.read_line(&mut line).unwrap() > 0 {
            seen.push_str(&line);
            if let Some(rest) = line
                .trim()
                .strip_prefix("container-kit-mcp: listening on http://")
            {
                let addr = rest.trim_end_matches("/mcp").parse().unwrap();
                std::thread::spawn(move || {
                    let mut sink = String::new();
                    while lines.read_line(&mut sink).unwrap_or(0) > 0 {
                        eprint!("server: {sink}");
                        sink.clear();
                    }
                });
                return Server { child, addr };
            }
            line.clear();
        }
        let status = child.wait().unwrap();
        panic!("the server did not start ({status}): {seen}");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One JSON-RPC request of protocol 2026-07-28 (no session: version and capabilities in
/// `_meta`, the method and name in headers): the response message.
fn rpc(addr: SocketAddr, method: &str, name: &str, mut params: Value, tasks: bool) -> Value {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let capabilities = if tasks {
        json!({"extensions": {TASKS: {}}})
    } else {
        json!({})
    };
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": PROTOCOL,
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    });
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
    let mut text = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: {PROTOCOL}\r\nMcp-Method: {method}\r\n"
    );
    if !name.is_empty() {
        text.push_str(&format!("Mcp-Name: {name}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw);
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // A JSON body, or the `data:` lines of an SSE stream (chunked or not).
    let messages: Vec<Value> = std::iter::once(body)
        .chain(body.lines())
        .filter_map(|l| {
            let l = l.trim();
            serde_json::from_str(l.strip_prefix("data:").unwrap_or(l).trim()).ok()
        })
        .collect();
    let Some(answer) = messages.into_iter().find(|m| m["id"] == json!(id)) else {
        panic!("{method} on {addr}: no answer in {raw}")
    };
    answer
}

fn call(addr: SocketAddr, tool: &str, args: Value, tasks: bool) -> Value {
    rpc(
        addr,
        "tools/call",
        tool,
        json!({"name": tool, "arguments": args}),
        tasks,
    )
}

fn task_rpc(addr: SocketAddr, method: &str, task: &str, extra: Value) -> Value {
    let mut params = json!({"taskId": task});
    if let Value::Object(o) = extra {
        params.as_object_mut().unwrap().extend(o);
    }
    rpc(addr, method, task, params, true)
}

fn get(addr: SocketAddr, task: &str) -> Value {
    let answer = task_rpc(addr, "tasks/get", task, json!({}));
    assert!(answer["error"].is_null(), "tasks/get: {answer}");
    answer["result"].clone()
}

/// Polls `tasks/get` on `addr` until the task is in `status` (or ended): that answer.
fn poll_until(addr: SocketAddr, task: &str, status: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let t = get(addr, task);
        let s = t["status"].as_str().unwrap_or_default();
        if s == status || ["completed", "failed", "cancelled"].contains(&s) {
            return t;
        }
        assert!(Instant::now() < deadline, "still {s} after {within:?}: {t}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A workspace with a repository, a fake container engine and the store flags.
struct Fixture {
    dir: tempfile::TempDir,
    store: Vec<String>,
    repo: PathBuf,
    engine: PathBuf,
    pidfile: PathBuf,
}

impl Fixture {
    /// `first` is what the engine's first build runs after writing its pid (later builds
    /// succeed at once).
    fn new(store: impl FnOnce(&Path) -> Vec<String>, first: &str) -> Fixture {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let repo = scratch_repo(dir.path());
        let marker = dir.path().join("first-build");
        let pidfile = dir.path().join("pid");
        let engine = dir.path().join("engine");
        std::fs::write(
            &engine,
            format!(
                "#!/bin/sh\nif [ -e '{m}' ]; then echo built; exit 0; fi\ntouch '{m}'\necho $$ > '{p}'\n{first}\n",
                m = marker.display(),
                p = pidfile.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&engine, std::fs::Permissions::from_mode(0o755)).unwrap();
        Fixture {
            dir,
            store,
            repo,
            engine,
            pidfile,
        }
    }

    /// Makes the session `tk` ready for `build_image`, through the server at `addr`.
    fn prepare(&self, addr: SocketAddr) {
        let repo = self.repo.to_str().unwrap();
        for (tool, args) in [
            (
                "start_workflow",
                json!({"session_id": "tk", "repo_path": repo}),
            ),
            (
                "analyze_repository",
                json!({"session_id": "tk", "repo_path": repo}),
            ),
            ("generate_dockerfile", json!({"session_id": "tk"})),
        ] {
            let answer = call(addr, tool, args, false);
            assert_eq!(answer["result"]["isError"], false, "{tool}: {answer}");
        }
    }

    fn env(&self) -> [(&'static str, &Path); 2] {
        [
            ("MCP_WORKSPACE_DIR", self.dir.path()),
            ("MCP_CONTAINER_ENGINE", self.engine.as_path()),
        ]
    }

    fn server(&self, extra: &[&str]) -> Server {
        Server::start(&self.store, &self.env(), extra)
    }

    /// The pid the engine's first build wrote, once it runs.
    fn build_pid(&self) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.pidfile).unwrap_or_default();
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
            assert!(Instant::now() < deadline, "the build never started");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn memory(_: &Path) -> Vec<String> {
    vec!["--store".into(), "memory".into()]
}

fn redb(dir: &Path) -> Vec<String> {
    let path = dir.join("s.redb").to_str().unwrap().to_owned();
    vec!["--store".into(), "redb".into(), "--store-path".into(), path]
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// Starts `build_image` on `tk` as a task on `addr`: the task id, after checking the
/// handle's shape.
fn start_build(addr: SocketAddr) -> String {
    let answer = call(addr, "build_image", json!({"session_id": "tk"}), true);
    let handle = &answer["result"];
    assert_eq!(handle["resultType"], "task", "{answer}");
    assert_eq!(handle["status"], "working", "{answer}");
    assert!(handle["pollIntervalMs"].as_u64().is_some(), "{answer}");
    handle["taskId"].as_str().unwrap().to_owned()
}

#[test]
fn build_image_runs_as_a_task_polled_to_its_result_and_tools_declare_task_support() {
    let f = Fixture::new(memory, "sleep 3; echo built");
    let server = f.server(&[]);
    f.prepare(server.addr);
    let listed = rpc(server.addr, "tools/list", "", json!({}), true);
    let tools = listed["result"]["tools"].as_array().unwrap();
    let support = |name: &str| {
        let t = tools.iter().find(|t| t["name"] == name).unwrap();
        t["_meta"]["execution"]["taskSupport"].clone()
    };
    assert_eq!(support("build_image"), "optional");
    assert_eq!(support("deploy_application"), "optional");
    assert_eq!(support("ping"), Value::Null);
    let task = start_build(server.addr);
    // The step's progress reaches the record (the runner writes it within 500 ms) while it
    // works: its message becomes the task's statusMessage.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = get(server.addr, &task);
        assert_eq!(t["status"], "working", "the progress never showed: {t}");
        if t["statusMessage"] == "build_image: running" {
            break;
        }
        assert!(Instant::now() < deadline, "{t}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = poll_until(server.addr, &task, "completed", Duration::from_secs(60));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["isError"], false, "{done}");
    assert_eq!(
        done["result"]["structuredContent"]["step"], "build_image",
        "{done}"
    );
    // A tool's failure is a completed task whose result is an error (SEP-2663): scan_image
    // with no scanner installed.
    let answer = call(server.addr, "scan_image", json!({"session_id": "tk"}), true);
    let scan = answer["result"]["taskId"].as_str().unwrap().to_owned();
    let scanned = poll_until(server.addr, &scan, "completed", Duration::from_secs(60));
    assert_eq!(
        (
            scanned["status"].clone(),
            scanned["result"]["isError"].clone()
        ),
        (json!("completed"), json!(true)),
        "{scanned}"
    );
    // Unknown ids and cancelling an ended task: SEP-2663's -32602.
    let unknown = task_rpc(server.addr, "tasks/get", "no-such-task", json!({}));
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    let again = task_rpc(server.addr, "tasks/cancel", &task, json!({}));
    assert_eq!(again["error"]["code"], -32602, "{again}");
    assert!(
        again["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already ended"),
        "{again}"
    );
}

#[test]
fn a_client_without_the_tasks_extension_gets_the_synchronous_result() {
    let f = Fixture::new(memory, "sleep 1; echo built");
    let server = f.server(&[]);
    f.prepare(server.addr);
    let answer = call(
        server.addr,
        "build_image",
        json!({"session_id": "tk"}),
        false,
    );
    let result = &answer["result"];
    assert_eq!(result["taskId"], Value::Null, "{answer}");
    assert_eq!(result["isError"], false, "{answer}");
    assert_eq!(
        result["structuredContent"]["step"], "build_image",
        "{answer}"
    );
    // And the tasks methods ask for the capability (-32021, rmcp's gate).
    let refused = rpc(server.addr, "tasks/get", "x", json!({"taskId": "x"}), false);
    assert_eq!(refused["error"]["code"], -32021, "{refused}");
}

#[test]
fn on_redb_a_finished_task_survives_a_restart_and_two_servers_see_each_others_tasks() {
    let f = Fixture::new(redb, "sleep 1; echo built");
    let a = f.server(&[]);
    let b = f.server(&[]);
    f.prepare(a.addr);
    let task = start_build(a.addr);
    // The other process sees the running task, then its result.
    assert_eq!(get(b.addr, &task)["status"], "working");
    let done = poll_until(b.addr, &task, "completed", Duration::from_secs(60));
    assert_eq!(done["status"], "completed", "{done}");
    drop(a);
    drop(b);
    let restarted = f.server(&[]);
    let after = get(restarted.addr, &task);
    assert_eq!(after["status"], "completed", "{after}");
    assert_eq!(after["result"], done["result"]);
}

/// The etcd of `ETCD_ENDPOINTS` and a fresh prefix, as store flags.
fn etcd() -> Option<impl FnOnce(&Path) -> Vec<String>> {
    let endpoints = match session_core::testkit::service_env("ETCD_ENDPOINTS", "start etcd") {
        Ok(e) => e,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    let prefix = format!("tasks-{}-{}/", std::process::id(), chrono_free_nanos());
    Some(move |_: &Path| {
        vec![
            "--store".into(),
            "etcd".into(),
            "--etcd-endpoints".into(),
            endpoints,
            "--etcd-prefix".into(),
            prefix,
        ]
    })
}

#[test]
fn a_task_started_on_one_replica_is_polled_and_cancelled_through_another() {
    let Some(store) = etcd() else { return };
    let f = Fixture::new(store, "exec sleep 300");
    let replicas: Vec<Server> = (0..3).map(|_| f.server(&[])).collect();
    f.prepare(replicas[0].addr);
    let task = start_build(replicas[0].addr);
    let pid = f.build_pid();
    assert!(alive(pid));
    assert_eq!(get(replicas[1].addr, &task)["status"], "working");
    let ack = task_rpc(replicas[1].addr, "tasks/cancel", &task, json!({}));
    assert!(ack["error"].is_null(), "{ack}");
    let ended = poll_until(
        replicas[2].addr,
        &task,
        "cancelled",
        Duration::from_secs(30),
    );
    assert_eq!(ended["status"], "cancelled", "{ended}");
    // The engine was killed with the call...
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the build's program {pid} still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...and the step lock released: another step on the session runs (not refused busy).
    let next = call(
        replicas[1].addr,
        "build_image",
        json!({"session_id": "tk"}),
        false,
    );
    assert_eq!(next["result"]["isError"], false, "{next}");
}

#[test]
fn a_replica_killed_while_running_a_task_is_reported_failed_by_another_naming_it() {
    let Some(store) = etcd() else { return };
    let f = Fixture::new(store, "exec sleep 300");
    let a = f.server(&["--task-lease", "3s"]);
    let b = f.server(&["--task-lease", "3s"]);
    f.prepare(b.addr);
    let task = start_build(a.addr);
    let engine = f.build_pid();
    let a_pid = a.pid();
    drop(a); // SIGKILL
             // The orphaned engine would outlive the test.
    let _ = Command::new("kill")
        .args(["-9", &engine.to_string()])
        .status();
    // Lease 3 s and a 2 s grace: failed within them (the deadline leaves room for a slow CI).
    let failed = poll_until(b.addr, &task, "failed", Duration::from_secs(20));
    assert_eq!(failed["status"], "failed", "{failed}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("runner {a_pid}@")), "{message}");
    assert!(message.contains("call build_image again"), "{message}");
    // Another replica agrees: the outcome is stored, not computed per replica.
    let c = f.server(&[]);
    assert_eq!(get(c.addr, &task)["error"], failed["error"]);
}

/// `push_image` run as a task asks first: `input_required` with an `elicitation/create`
/// request; `tasks/update` with a yes runs the push (the engine records it), a no runs
/// nothing, and an answer to a key never asked is ignored.
#[test]
fn a_destructive_step_run_as_a_task_asks_through_input_required_and_runs_on_yes_only() {
    let f = Fixture::new(memory, "echo built");
    let log = f.dir.path().join("engine.log");
    // The engine logs every command after the first build.
    let script = std::fs::read_to_string(&f.engine).unwrap().replace(
        "then echo built;",
        &format!("then echo \"$*\" >> '{}'; echo built;", log.display()),
    );
    std::fs::write(&f.engine, script).unwrap();
    let server = f.server(&[]);
    f.prepare(server.addr);
    for (tool, args) in [
        ("build_image", json!({"session_id": "tk"})),
        ("tag_image", json!({"session_id": "tk", "tag": "1.0.0"})),
    ] {
        let answer = call(server.addr, tool, args, false);
        assert_eq!(answer["result"]["isError"], false, "{tool}: {answer}");
    }
    let pushes = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("push"))
            .count()
    };
    let push = |yes: bool| {
        let args = json!({"session_id": "tk", "registry": "localhost:5001"});
        let answer = call(server.addr, "push_image", args, true);
        let task = answer["result"]["taskId"].as_str().unwrap().to_owned();
        let asked = poll_until(
            server.addr,
            &task,
            "input_required",
            Duration::from_secs(30),
        );
        assert_eq!(asked["status"], "input_required", "{asked}");
        let request = &asked["inputRequests"]["confirm-1"];
        assert_eq!(request["method"], "elicitation/create", "{asked}");
        let message = request["params"]["message"].as_str().unwrap();
        assert!(message.contains("push_image will push"), "{message}");
        assert_eq!(pushes(), 0, "asking runs nothing");
        let ignored = json!({"inputResponses": {"no-such-key": {"action": "accept"}}});
        let ack = task_rpc(server.addr, "tasks/update", &task, ignored);
        assert!(ack["error"].is_null(), "{ack}");
        let reply = json!({"confirm-1": {"action": "accept", "content": {"confirm": yes}}});
        let ack = task_rpc(
            server.addr,
            "tasks/update",
            &task,
            json!({"inputResponses": reply}),
        );
        assert!(ack["error"].is_null(), "{ack}");
        poll_until(server.addr, &task, "completed", Duration::from_secs(30))
    };
    let declined = push(false);
    assert_eq!(declined["status"], "completed", "{declined}");
    assert_eq!(pushes(), 0, "declined: {declined}");
    let accepted = push(true);
    assert_eq!(accepted["result"]["isError"], false, "{accepted}");
    assert_eq!(pushes(), 1, "accepted: {accepted}");
}

/// A runner that stalls (SIGSTOP) past its lease loses the task: another process reports it
/// failed, and when the runner resumes it sees the task is no longer its own, stops the
/// work (the engine is killed) and leaves the stored outcome as it is.
#[test]
fn a_stalled_runner_that_lost_its_lease_stops_the_work_and_keeps_the_failure() {
    let f = Fixture::new(redb, "exec sleep 300");
    let a = f.server(&["--task-lease", "3s"]);
    let b = f.server(&["--task-lease", "3s"]);
    f.prepare(a.addr);
    let task = start_build(a.addr);
    let engine = f.build_pid();
    let signal = |sig: &str| {
        let ok = Command::new("kill")
            .args([sig, &a.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {sig}");
    };
    signal("-STOP");
    let failed = poll_until(b.addr, &task, "failed", Duration::from_secs(20));
    signal("-CONT");
    assert_eq!(failed["status"], "failed", "{failed}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(engine) {
        assert!(
            Instant::now() < deadline,
            "the resumed runner kept the build {engine} running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = get(a.addr, &task);
    assert_eq!(after["status"], "failed", "{after}");
    assert_eq!(after["error"], failed["error"]);
}

/// SIGTERM stops the tasks a server runs (their programs killed) and records them failed
/// with the reason at once, rather than leaving clients to wait for the lease; the server
/// still exits 0.
#[test]
fn sigterm_fails_the_running_tasks_at_once_saying_the_server_shut_down() {
    let f = Fixture::new(redb, "exec sleep 300");
    let mut a = f.server(&[]);
    let b = f.server(&[]);
    f.prepare(a.addr);
    let task = start_build(a.addr);
    let engine = f.build_pid();
    let term = Command::new("kill")
        .args(["-TERM", &a.pid().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = a.child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!alive(engine), "the build's program outlived its server");
    let failed = get(b.addr, &task);
    assert_eq!(failed["status"], "failed", "{failed}");
    let message = failed["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("shut down before it finished")
            && message.contains("call build_image again"),
        "{message}"
    );
}

/// A session-mode client on stdio that declared the extension at `initialize` (not per
/// request) gets tasks too, and polls them on the same connection.
#[test]
fn a_stdio_client_that_declared_the_extension_at_initialize_gets_a_task() {
    let f = Fixture::new(memory, "sleep 1; echo built");
    let mut child = Command::new(BIN)
        .arg("serve")
        .args(&f.store)
        .envs(f.env())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut next = 0u64;
    let mut send = |method: &str, params: Value| -> Value {
        next += 1;
        let request = json!({"jsonrpc": "2.0", "id": next, "method": method, "params": params});
        writeln!(stdin, "{request}").unwrap();
        loop {
            let mut line = String::new();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "the server closed stdout"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == json!(next) {
                return v;
            }
        }
    };
    let init = send(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {"extensions": {TASKS: {}}},
            "clientInfo": {"name": "t", "version": "1"}}),
    );
    assert!(
        init["result"]["capabilities"]["extensions"][TASKS].is_object(),
        "the server declares the extension: {init}"
    );
    let repo = f.repo.to_str().unwrap().to_owned();
    for (tool, args) in [
        (
            "start_workflow",
            json!({"session_id": "tk", "repo_path": repo}),
        ),
        (
            "analyze_repository",
            json!({"session_id": "tk", "repo_path": repo}),
        ),
        ("generate_dockerfile", json!({"session_id": "tk"})),
    ] {
        let r = send("tools/call", json!({"name": tool, "arguments": args}));
        assert_eq!(r["result"]["isError"], false, "{tool}: {r}");
    }
    let handle = send(
        "tools/call",
        json!({"name": "build_image", "arguments": {"session_id": "tk"}}),
    );
    assert_eq!(handle["result"]["resultType"], "task", "{handle}");
    let task = handle["result"]["taskId"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let t = send("tasks/get", json!({"taskId": task}))["result"].clone();
        if t["status"] != "working" {
            break t;
        }
        assert!(Instant::now() < deadline, "{t}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["structuredContent"]["step"], "build_image");
    drop(stdin);
    let _ = child.wait();
}
