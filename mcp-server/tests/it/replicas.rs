//! Replicas behind a load balancer (issue 16): three `serve --transport http` processes on
//! one etcd, and clients that send each call of a workflow to the next replica in turn. A
//! legacy-protocol client (an MCP session from `initialize`) works because every replica
//! restores the session from etcd; a 2026-07-28 client works because that protocol has no
//! session. Every workflow completes, every call gets its progress notifications, and the
//! steps recorded in the store (read by a separate process) are all there; the same over a
//! TLS etcd with auth. Besides: a DELETE on one replica ends the session on all, a restore
//! takes a place under the cap, the lease of a session in use is renewed and an abandoned
//! one ends everywhere, and a roots answer sent to another replica breaks nothing. Raw
//! JSON-RPC over HTTP/1.1 on std's TcpStream, so the test decides where each request goes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{chrono_free_nanos, scratch_repo, BIN};

// Confirmations across replicas (issue 20).
#[path = "confirm_replicas.rs"]
mod confirm_replicas;

const STEPS: [&str; 10] = [
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

const LEGACY: &str = "2025-06-18";
const STATELESS: &str = "2026-07-28";

/// A running replica, killed when dropped.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The etcd the replicas share: its endpoints, the flags to reach it (TLS, auth), and the
/// key prefix a test may use there.
#[derive(Clone)]
struct Etcd {
    endpoints: String,
    flags: Vec<String>,
    prefix: &'static str,
}

impl Etcd {
    /// The plain etcd of `ETCD_ENDPOINTS`.
    fn plain() -> Result<Etcd, String> {
        let endpoints = session_core::testkit::service_env("ETCD_ENDPOINTS", "start etcd")?;
        Ok(Etcd {
            endpoints,
            flags: Vec::new(),
            prefix: "replicas",
        })
    }

    /// The TLS etcd with auth of `.ci/etcd-tls.sh`, whose user may use `test/` only.
    fn tls_with_auth() -> Result<Etcd, String> {
        let endpoints = session_core::testkit::service_env(
            "ETCD_AUTH_ENDPOINTS",
            "run `bash .ci/etcd-tls.sh start DIR && source DIR/env`",
        )?;
        let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} is not set"));
        let flags = [
            ("--etcd-ca", "ETCD_AUTH_CA"),
            ("--etcd-cert", "ETCD_AUTH_CERT"),
            ("--etcd-key", "ETCD_AUTH_KEY"),
            ("--etcd-user", "ETCD_AUTH_USER"),
            ("--etcd-password-file", "ETCD_AUTH_PASSWORD_FILE"),
        ]
        .into_iter()
        .flat_map(|(flag, env)| [flag.to_owned(), var(env)])
        .collect();
        Ok(Etcd {
            endpoints,
            flags,
            prefix: "test/replicas",
        })
    }
}

/// Three replicas (or `n`) on one etcd prefix, and what a test needs to check the store.
struct Cluster {
    replicas: Vec<Replica>,
    etcd: Etcd,
    prefix: String,
    workspace: PathBuf,
    repo: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(etcd: &Etcd, n: usize, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let repo = scratch_repo(dir.path());
        let prefix = format!(
            "{}-{}-{}/",
            etcd.prefix,
            std::process::id(),
            chrono_free_nanos()
        );
        let workspace = dir.path().to_path_buf();
        let replicas = (0..n)
            .map(|_| start_replica(etcd, &prefix, &workspace, extra))
            .collect();
        Cluster {
            replicas,
            etcd: etcd.clone(),
            prefix,
            workspace,
            repo,
            _dir: dir,
        }
    }

    fn addr(&self, turn: usize) -> SocketAddr {
        self.replicas[turn % self.replicas.len()].addr
    }

    /// The workflow session as stored, read by a separate one-shot process.
    fn stored(&self, session: &str) -> Value {
        let out = Command::new(BIN)
            .args(["tool", "get_session", "--session-id", session])
            .args(["--store", "etcd"])
            .args(&self.etcd.flags)
            .env("MCP_ETCD_ENDPOINTS", &self.etcd.endpoints)
            .env("MCP_ETCD_PREFIX", &self.prefix)
            .env("MCP_WORKSPACE_DIR", &self.workspace)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["session"]["metadata"]["workflow_state"].clone()
    }
}

fn start_replica(etcd: &Etcd, prefix: &str, workspace: &Path, extra: &[&str]) -> Replica {
    let mut child = Command::new(BIN)
        .args(["serve", "--transport", "http", "--listen", "127.0.0.1:0"])
        .args(["--store", "etcd", "--dry-run"])
        .args(&etcd.flags)
        .args(extra)
        .env("MCP_ETCD_ENDPOINTS", &etcd.endpoints)
        .env("MCP_ETCD_PREFIX", prefix)
        .env("MCP_WORKSPACE_DIR", workspace)
        .env_remove("MCP_AUTH_TOKEN")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
            // Keep draining stderr so the replica never blocks on a full pipe.
            std::thread::spawn(move || {
                let mut sink = String::new();
                while lines.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            return Replica { child, addr };
        }
        line.clear();
    }
    let status = child.wait().unwrap();
    panic!("a replica did not start ({status}): {seen}");
}

/// One HTTP response: status, headers, and the JSON-RPC messages of its body (a JSON body
/// or the `data:` lines of an SSE stream).
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn messages(&self) -> Vec<Value> {
        if let Ok(v) = serde_json::from_str::<Value>(&self.body) {
            return vec![v];
        }
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect()
    }
}

fn send(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut text = format!("{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    text.push_str(
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n",
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let mut body = body.to_owned();
    if chunked {
        let mut out = String::new();
        let mut s = body.as_str();
        while let Some((size, rest)) = s.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || rest.len() < n {
                break;
            }
            out.push_str(&rest[..n]);
            s = rest[n..].trim_start_matches("\r\n");
        }
        body = out;
    }
    Reply {
        status: status.parse().unwrap(),
        headers,
        body,
    }
}

/// A client that sends each request to the next replica in turn.
struct Client<'a> {
    cluster: &'a Cluster,
    turn: AtomicUsize,
    /// The legacy protocol's MCP session; `None` for the 2026-07-28 client.
    session: Option<String>,
    next_id: AtomicUsize,
}

impl<'a> Client<'a> {
    /// `initialize` on one replica and `notifications/initialized` on the next, for
    /// [`LEGACY`]; nothing for [`STATELESS`] (it has no handshake).
    fn new(cluster: &'a Cluster, version: &str, first: usize) -> Client<'a> {
        let mut client = Client {
            cluster,
            turn: AtomicUsize::new(first),
            session: None,
            next_id: AtomicUsize::new(1),
        };
        if version == LEGACY {
            let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion": LEGACY, "capabilities":{}, "clientInfo":{"name":"rr","version":"1"}}});
            let reply = send(client.next(), "POST", &[], &init.to_string());
            let id = reply.header("mcp-session-id").map(str::to_owned);
            let Some(id) = id else {
                panic!("no MCP session: {reply:?}")
            };
            let ack = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
            let reply = send(client.next(), "POST", &client.headers_for(&id), ack);
            assert_eq!(reply.status, 202, "{reply:?}");
            client.session = Some(id);
        }
        client
    }

    fn next(&self) -> SocketAddr {
        self.cluster.addr(self.turn.fetch_add(1, Ordering::Relaxed))
    }

    fn headers_for<'h>(&self, session: &'h str) -> Vec<(&'static str, &'h str)> {
        vec![
            ("Mcp-Session-Id", session),
            ("MCP-Protocol-Version", LEGACY),
        ]
    }

    /// Calls `tool` on the next replica with a progress token: its result (which must not
    /// be an error) and the number of progress notifications for that token.
    fn call(&self, tool: &str, arguments: Value) -> (Value, usize) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let token = format!("p-{id}");
        let mut meta = json!({"progressToken": token});
        let mut headers: Vec<(&str, &str)> = Vec::new();
        match &self.session {
            Some(session) => headers.extend(self.headers_for(session)),
            None => {
                meta["io.modelcontextprotocol/protocolVersion"] = json!(STATELESS);
                meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
                headers.extend([
                    ("MCP-Protocol-Version", STATELESS),
                    ("Mcp-Method", "tools/call"),
                    ("Mcp-Name", tool),
                ]);
            }
        }
        let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":tool,"arguments":arguments,"_meta":meta}});
        let addr = self.next();
        let reply = send(addr, "POST", &headers, &body.to_string());
        assert_eq!(reply.status, 200, "{tool} on {addr}: {reply:?}");
        let messages = reply.messages();
        let progress = messages
            .iter()
            .filter(|m| {
                m["method"] == "notifications/progress" && m["params"]["progressToken"] == token
            })
            .count();
        let Some(result) = messages.iter().find(|m| m["id"] == json!(id)) else {
            panic!("{tool} on {addr}: no answer in {reply:?}")
        };
        let result = result["result"].clone();
        assert_eq!(result["isError"], false, "{tool} on {addr}: {result}");
        (result, progress)
    }
}

/// The arguments of `step` on `session`.
fn step_args(step: &str, session: &str, repo: &str) -> Value {
    match step {
        "analyze_repository" => json!({"session_id": session, "repo_path": repo}),
        "tag_image" => json!({"session_id": session, "tag": "v2"}),
        _ => json!({"session_id": session}),
    }
}

/// Runs `start_workflow` and the ten steps, each call on the next replica: the number of
/// progress notifications received.
fn workflow(cluster: &Cluster, version: &str, n: usize, session: &str) -> usize {
    let client = Client::new(cluster, version, n);
    let repo = cluster.repo.to_str().unwrap();
    let (_, mut progress) = client.call(
        "start_workflow",
        json!({"session_id": session, "repo_path": repo}),
    );
    for step in STEPS {
        let (result, p) = client.call(step, step_args(step, session, repo));
        assert_eq!(result["structuredContent"]["step"], step, "{result}");
        assert!(p > 0, "{step}: no progress notification");
        progress += p;
    }
    progress
}

fn check_complete(cluster: &Cluster, session: &str, runs: u64) {
    let state = cluster.stored(session);
    assert_eq!(
        state["metadata"]["step_runs"], runs,
        "{session}: a step was lost: {state}"
    );
    assert_eq!(state["completed_steps"], json!(STEPS), "{session}: {state}");
}

fn round_robin(etcd: Result<Etcd, String>, version: &str) {
    let etcd = match etcd {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let cluster = Arc::new(Cluster::start(&etcd, 3, &[]));
    let started = Instant::now();
    let threads: Vec<_> = (0..20)
        .map(|n| {
            let cluster = Arc::clone(&cluster);
            let version = version.to_owned();
            std::thread::spawn(move || workflow(&cluster, &version, n, &format!("wf-{n}")))
        })
        .collect();
    // Every thread ends before any failure is reported, so the replicas are stopped (their
    // `Drop`) even when a workflow failed.
    let joined: Vec<_> = threads.into_iter().map(|t| t.join()).collect();
    let progress: usize = joined
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e)))
        .sum();
    let twenty = started.elapsed();
    for n in 0..20 {
        check_complete(&cluster, &format!("wf-{n}"), 10);
    }

    // All ten steps at once on one workflow session (and, for the legacy client, one MCP
    // session), after a run of the whole workflow: the steps' locks serialize them.
    let started = Instant::now();
    let client = Arc::new(Client::new(&cluster, version, 0));
    let repo = cluster.repo.to_str().unwrap().to_owned();
    client.call(
        "start_workflow",
        json!({"session_id": "shared", "repo_path": repo, "run": true}),
    );
    std::thread::scope(|scope| {
        for step in STEPS {
            let client = Arc::clone(&client);
            let repo = repo.clone();
            scope.spawn(move || {
                let (_, p) = client.call(step, step_args(step, "shared", &repo));
                assert!(p > 0, "{step}: no progress notification");
            });
        }
    });
    let shared = started.elapsed();
    check_complete(&cluster, "shared", 20);
    eprintln!(
        "round robin over 3 replicas on {}, protocol {version}: 20 workflows x 11 calls in {twenty:?} \
         (220 calls, {progress} progress notifications, 200 steps recorded); 10 steps at once \
         on one session in {shared:?} (20 step runs recorded)",
        etcd.endpoints
    );
}

#[test]
fn a_legacy_client_spread_over_three_replicas_loses_no_step() {
    round_robin(Etcd::plain(), LEGACY);
}

#[test]
fn a_2026_07_28_client_spread_over_three_replicas_loses_no_step() {
    round_robin(Etcd::plain(), STATELESS);
}

#[test]
fn three_replicas_on_one_tls_cluster_with_auth_lose_no_step() {
    round_robin(Etcd::tls_with_auth(), LEGACY);
}

/// A session closed on one replica is closed on every replica, those holding a restored
/// copy included; and a restored session takes a place under the replica's cap.
#[test]
fn a_closed_session_is_gone_everywhere_and_restores_count_against_the_cap() {
    let etcd = match Etcd::plain() {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let cluster = Cluster::start(&etcd, 3, &["--max-mcp-sessions", "1"]);
    let list = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
    // Created on replica 0, restored on replica 1 by its `initialized`.
    let client = Client::new(&cluster, LEGACY, 0);
    let session = client.session.clone().unwrap();
    let headers = client.headers_for(&session);
    assert_eq!(send(cluster.addr(1), "POST", &headers, list).status, 200);
    // Replica 2 holds a session of its own: its cap of 1 leaves no place for a restore.
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    let own = send(cluster.addr(2), "POST", &[], init);
    assert!(own.header("mcp-session-id").is_some(), "{own:?}");
    let refused = send(cluster.addr(2), "POST", &headers, list);
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.body.contains("--max-mcp-sessions"), "{refused:?}");
    // Closed on replica 1: replica 0 (the creator) and 1 answer 404 from now on.
    let deleted = send(cluster.addr(1), "DELETE", &headers, "");
    assert_eq!(deleted.status, 202, "{deleted:?}");
    for turn in [0, 1] {
        let gone = send(cluster.addr(turn), "POST", &headers, list);
        assert_eq!(gone.status, 404, "replica {turn}: {gone:?}");
    }
}

/// What the README says about the roots request behind a round-robin balancer: the client's
/// answer reaches another replica, which accepts it (202) without breaking anything; the
/// calling replica gives up waiting for it and the call completes within the workspace.
#[test]
fn a_roots_answer_sent_to_another_replica_does_not_break_the_call() {
    let etcd = match Etcd::plain() {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let cluster = Cluster::start(&etcd, 3, &[]);
    let init = json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
        "protocolVersion": LEGACY, "capabilities":{"roots":{}}, "clientInfo":{"name":"r","version":"1"}}});
    let reply = send(cluster.addr(0), "POST", &[], &init.to_string());
    let session = reply.header("mcp-session-id").unwrap().to_owned();
    let headers = [
        ("Mcp-Session-Id", session.as_str()),
        ("MCP-Protocol-Version", LEGACY),
    ];
    let ack = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    assert_eq!(send(cluster.addr(0), "POST", &headers, ack).status, 202);

    // The call goes to replica 1 (which restores the session); read its stream as it comes.
    let repo = cluster.repo.to_str().unwrap();
    let call = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{
        "name":"start_workflow","arguments":{"session_id":"roots","repo_path":repo}}});
    let call = call.to_string();
    let mut text = String::from("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    text.push_str(
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n",
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{call}", call.len()));
    let mut stream = TcpStream::connect(cluster.addr(1)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let mut lines = BufReader::new(stream);
    let mut answered = false;
    let mut result = None;
    let mut line = String::new();
    while lines.read_line(&mut line).unwrap() > 0 {
        let message = line
            .trim()
            .strip_prefix("data:")
            .and_then(|d| serde_json::from_str::<Value>(d.trim()).ok());
        line.clear();
        let Some(message) = message else { continue };
        if message["method"] == "roots/list" {
            // Answered through the balancer's next pick: replica 2.
            let answer = json!({"jsonrpc":"2.0","id":message["id"],
                "result":{"roots":[{"uri":format!("file://{repo}")}]}});
            let accepted = send(cluster.addr(2), "POST", &headers, &answer.to_string());
            assert_eq!(accepted.status, 202, "{accepted:?}");
            answered = true;
        } else if message["id"] == 1 {
            result = Some(message["result"].clone());
            break;
        }
    }
    assert!(answered, "the server asked for no roots");
    let result = result.expect("the call got no answer");
    assert_eq!(result["isError"], false, "{result}");
    assert_eq!(result["structuredContent"]["status"], "started", "{result}");
}

/// The shared entry of a session lives `--mcp-session-idle` past its last use on any
/// replica: a session used round robin for over twice that stays open (each replica renews
/// the lease), and once abandoned it is gone from every replica.
#[test]
fn a_session_in_use_outlives_its_idle_time_and_an_abandoned_one_ends_everywhere() {
    let etcd = match Etcd::plain() {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let idle = Duration::from_secs(4);
    let cluster = Cluster::start(&etcd, 3, &["--mcp-session-idle", "4s"]);
    let client = Client::new(&cluster, LEGACY, 0);
    let session = client.session.clone().unwrap();
    let headers = client.headers_for(&session);
    let list = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;
    let started = Instant::now();
    let mut turn = 0;
    while started.elapsed() < idle * 5 / 2 {
        let reply = send(cluster.addr(turn), "POST", &headers, list);
        assert_eq!(
            reply.status,
            200,
            "after {:?}: {reply:?}",
            started.elapsed()
        );
        turn += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    // Abandoned: every copy idles out and the entry's lease ends (etcd checks leases about
    // every 500 ms); no request may touch it meanwhile, or it would be renewed.
    std::thread::sleep(idle * 2);
    for turn in 0..3 {
        let gone = send(cluster.addr(turn), "POST", &headers, list);
        assert_eq!(gone.status, 404, "replica {turn}: {gone:?}");
    }
}
