//! The HTTP transport under abuse (issue 18, parts 6 and 7): slow and idle connections,
//! the MCP session cap and its per-client share, a public address without a token, the
//! bearer scheme in any case, a foreign Origin, and a client that disconnects mid-call.
//! Raw HTTP/1.1 over std's TcpStream, so each test controls exactly what is sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::BIN;

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// A running `serve --transport http`, killed when dropped.
pub(super) struct Server {
    child: Child,
    pub(super) addr: SocketAddr,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

/// Starts the server with `args` after `serve --transport http`; `--listen` defaults to an
/// ephemeral loopback port.
pub(super) fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--transport", "http"]);
    if !args.contains(&"--listen") {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    if !args.contains(&"--store") {
        cmd.args(["--store", "memory", "--dry-run"]);
    }
    cmd.args(args)
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
    let stderr = Arc::new(Mutex::new(String::new()));
    let mut addr = None;
    let mut line = String::new();
    while lines.read_line(&mut line).unwrap() > 0 {
        stderr.lock().unwrap().push_str(&line);
        if let Some(rest) = line
            .trim()
            .strip_prefix("container-kit-mcp: listening on http://")
        {
            addr = Some(rest.trim_end_matches("/mcp").parse().unwrap());
            break;
        }
        line.clear();
    }
    let Some(addr) = addr else {
        let status = child.wait().unwrap();
        panic!(
            "the server did not start ({status}): {}",
            stderr.lock().unwrap()
        );
    };
    let sink = Arc::clone(&stderr);
    std::thread::spawn(move || {
        let mut rest = String::new();
        while lines.read_line(&mut rest).unwrap_or(0) > 0 {
            sink.lock().unwrap().push_str(&rest);
            rest.clear();
        }
    });
    Server {
        child,
        addr,
        stderr,
    }
}

/// One HTTP response, its chunked body decoded.
#[derive(Debug)]
pub(super) struct Reply {
    pub(super) status: u16,
    headers: Vec<(String, String)>,
    pub(super) body: String,
}

impl Reply {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request_text(method: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut text = format!("{method} /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    text.push_str(
        "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n",
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text
}

pub(super) fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Sends one request on a new connection (`Connection: close`) and reads the whole reply.
fn send(addr: SocketAddr, method: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request_text(method, headers, body).as_bytes())
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

/// `initialize` then `notifications/initialized`: the MCP session id.
pub(super) fn open_session(addr: SocketAddr, extra: &[(&str, &str)]) -> Result<String, Reply> {
    let init = send(addr, "POST", extra, INIT);
    let Some(id) = init.header("mcp-session-id").map(str::to_owned) else {
        return Err(init);
    };
    assert!(init.body.contains("\"serverInfo\""), "{init:?}");
    let mut headers = extra.to_vec();
    headers.push(("Mcp-Session-Id", &id));
    let ack = send(addr, "POST", &headers, INITIALIZED);
    assert_eq!(ack.status, 202, "{ack:?}");
    Ok(id)
}

fn call(addr: SocketAddr, session: &str, id: u64, tool: &str, args: &str) -> Reply {
    call_with(addr, &[], session, id, tool, args)
}

pub(super) fn call_with(
    addr: SocketAddr,
    extra: &[(&str, &str)],
    session: &str,
    id: u64,
    tool: &str,
    args: &str,
) -> Reply {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{args}}}}}"#
    );
    let mut headers = extra.to_vec();
    headers.push(("Mcp-Session-Id", session));
    send(addr, "POST", &headers, &body)
}

/// Whether the server closed the connection (EOF or reset) within `bound`.
fn closed_within(mut s: &TcpStream, bound: Duration) -> bool {
    s.set_read_timeout(Some(bound)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn half_sent_and_idle_connections_do_not_starve_a_client_and_are_closed() {
    let server = start(
        &["--http-header-timeout", "2s", "--http-idle-timeout", "3s"],
        &[],
    );
    let addr = server.addr;
    let mut half_sent = Vec::new();
    for _ in 0..150 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: applic")
            .unwrap();
        half_sent.push(s);
    }
    let mut idle = Vec::new();
    for _ in 0..150 {
        let mut s = TcpStream::connect(addr).unwrap();
        // One whole request (404, empty body), then nothing: a keep-alive connection.
        one_request(&mut s);
        idle.push(s);
    }
    // With all 300 open, a legitimate client is served.
    let session = open_session(addr, &[]).expect("initialize refused");
    let ping = call(addr, &session, 2, "ping", "{}");
    assert_eq!(ping.status, 200, "{ping:?}");
    assert!(ping.body.contains("\"result\""), "{ping:?}");
    // Then the server closes every one of them (the bound is generous: the timeouts are
    // 2 s and 3 s).
    let bound = Duration::from_secs(20);
    let open_half = half_sent
        .iter()
        .filter(|s| !closed_within(s, bound))
        .count();
    let open_idle = idle.iter().filter(|s| !closed_within(s, bound)).count();
    assert_eq!((open_half, open_idle), (0, 0), "connections left open");
    // And still serves.
    let again = call(addr, &session, 3, "ping", "{}");
    assert!(again.body.contains("\"result\""), "{again:?}");
}

#[test]
fn a_call_in_flight_keeps_its_connection_past_both_timeouts() {
    // The build takes 3 s; both timeouts are 1 s.
    let f = build_fixture(
        "sleep 3; echo built",
        &["--http-header-timeout", "1s", "--http-idle-timeout", "1s"],
    );
    let session = open_session(f.server.addr, &[]).unwrap();
    let (mut conn, _) = start_build(&f, &session);
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let reply = parse(&raw);
    assert!(
        reply.body.contains("\"isError\":false"),
        "the call was cut: {reply:?}"
    );
}

/// Sends a whole request on `s` and reads its (empty-bodied) answer, leaving it open.
fn one_request(s: &mut TcpStream) {
    s.write_all(b"GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
}

// Which timer runs when is unit-tested in `http::conn` with a controlled clock; this checks
// the wiring: the first bytes of a second request on a keep-alive connection start the
// header timer (1 s), not the idle one (8 s).
#[test]
fn a_half_sent_second_request_on_a_keep_alive_connection_gets_the_header_timeout() {
    let server = start(
        &["--http-header-timeout", "1s", "--http-idle-timeout", "8s"],
        &[],
    );
    let mut t = TcpStream::connect(server.addr).unwrap();
    one_request(&mut t);
    t.write_all(b"GET /else").unwrap();
    let started = Instant::now();
    assert!(closed_within(&t, Duration::from_secs(30)));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "a half-sent request waited for the idle timeout"
    );
}

#[test]
fn the_mcp_session_cap_refuses_clearly_without_growing_and_frees_closed_and_idle_sessions() {
    let token = "cap-token";
    let bearer = format!("Bearer {token}");
    // Dual-stack on every address (so a token is needed): 127.0.0.1 and ::1 are two clients.
    let server = start(
        &[
            "--listen",
            "[::]:0",
            "--max-mcp-sessions",
            "4",
            "--max-mcp-sessions-per-client",
            "3",
            "--mcp-session-idle",
            "3s",
        ],
        &[("MCP_AUTH_TOKEN", token)],
    );
    let v4: SocketAddr = format!("127.0.0.1:{}", server.addr.port()).parse().unwrap();
    let v6: SocketAddr = format!("[::1]:{}", server.addr.port()).parse().unwrap();
    let auth = [("Authorization", bearer.as_str())];
    let mine: Vec<String> = (0..3).map(|_| open_session(v4, &auth).unwrap()).collect();
    // The fourth from the same address: over its share.
    let share = open_session(v4, &auth).unwrap_err();
    assert_eq!(share.status, 429, "{share:?}");
    assert!(
        share
            .body
            .contains("holds its maximum of 3 open MCP sessions"),
        "{share:?}"
    );
    // Another address may still open one, which fills the server.
    let other = open_session(v6, &auth).unwrap();
    let full = open_session(v6, &auth).unwrap_err();
    assert_eq!(full.status, 503, "{full:?}");
    assert!(
        full.body.contains("maximum of 4 open MCP sessions"),
        "{full:?}"
    );
    assert!(full.header("mcp-session-id").is_none());
    assert!(full.header("retry-after").is_some(), "{full:?}");
    // Refusals cost nothing: 1,000 more attempts do not grow the process.
    let before = server.rss_kib();
    for _ in 0..1000 {
        let r = send(v6, "POST", &auth, INIT);
        assert_eq!(r.status, 503);
    }
    let after = server.rss_kib();
    eprintln!("RSS over 1,000 refused sessions: {before} KiB -> {after} KiB");
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    // Closing a session frees its place at once.
    let del = send(v4, "DELETE", &[auth[0], ("Mcp-Session-Id", &mine[0])], "");
    assert!(del.status < 300, "{del:?}");
    let reopened = open_session(v4, &auth).unwrap();
    // Idle sessions expire (3 s without a message): their ids are gone, their places free.
    let deadline = Instant::now() + Duration::from_secs(30);
    let fresh = loop {
        match open_session(v6, &auth) {
            Ok(id) => break id,
            Err(r) => assert_eq!(r.status, 503, "{r:?}"),
        }
        assert!(Instant::now() < deadline, "idle sessions never expired");
        std::thread::sleep(Duration::from_millis(200));
    };
    let gone = call_with(v6, &auth, &other, 9, "ping", "{}");
    assert_eq!(gone.status, 404, "an expired session answered: {gone:?}");
    let live = call_with(v6, &auth, &fresh, 2, "ping", "{}");
    assert!(live.body.contains("\"result\""), "{live:?}");
    let _ = reopened;
}

#[test]
fn a_public_address_needs_a_token_or_an_explicit_insecure_flag() {
    let out = Command::new(BIN)
        .args([
            "serve",
            "--transport",
            "http",
            "--listen",
            "0.0.0.0:0",
            "--store",
            "memory",
        ])
        .env_remove("MCP_AUTH_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refusing to serve 0.0.0.0:0 without a token")
            && stderr.contains("--auth-token-file"),
        "{stderr}"
    );
    let open = start(&["--listen", "0.0.0.0:0", "--insecure-no-auth"], &[]);
    let local: SocketAddr = format!("127.0.0.1:{}", open.addr.port()).parse().unwrap();
    assert!(open_session(local, &[]).is_ok());
    assert!(
        open.stderr
            .lock()
            .unwrap()
            .contains("WARNING: serving 0.0.0.0:0 without a token"),
        "{}",
        open.stderr.lock().unwrap()
    );
}

#[test]
fn the_token_comes_from_a_file_and_the_bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "file-token-42\n").unwrap();
    let server = start(
        &[
            "--listen",
            "0.0.0.0:0",
            "--auth-token-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    let addr: SocketAddr = format!("127.0.0.1:{}", server.addr.port()).parse().unwrap();
    let lower = open_session(addr, &[("Authorization", "bearer file-token-42")]);
    assert!(lower.is_ok(), "lower-case bearer refused: {lower:?}");
    for bad in ["Bearer file-token-4", "Bearer wrong", "Basic file-token-42"] {
        let r = send(addr, "POST", &[("Authorization", bad)], INIT);
        assert_eq!(r.status, 401, "{bad}: {r:?}");
    }
    assert_eq!(send(addr, "POST", &[], INIT).status, 401);
    // An empty token file is refused at startup.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "--transport",
            "http",
            "--store",
            "memory",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--auth-token-file")
        .arg(&empty)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is empty"));
}

#[test]
fn a_foreign_origin_is_refused() {
    let server = start(&["--allowed-origin", "https://app.example.com"], &[]);
    let addr = server.addr;
    let evil = send(addr, "POST", &[("Origin", "https://evil.example")], INIT);
    assert_eq!(evil.status, 403, "{evil:?}");
    assert!(evil.header("mcp-session-id").is_none());
    for ok in [
        "http://localhost:5173",
        "http://127.0.0.1:8080",
        "https://app.example.com",
    ] {
        let r = send(addr, "POST", &[("Origin", ok)], INIT);
        assert_eq!(r.status, 200, "{ok}: {r:?}");
    }
    // No Origin (a non-browser client): allowed.
    assert!(open_session(addr, &[]).is_ok());
}

fn tool(store: &Path, engine: &Path, workspace: &Path, args: &[&str]) {
    let out = Command::new(BIN)
        .arg("tool")
        .args(args)
        .env("MCP_STORE_PATH", store)
        .env("MCP_WORKSPACE_DIR", workspace)
        .env("MCP_CONTAINER_ENGINE", engine)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A workflow session `dc` ready for `build_image`, in a redb store, and a server on it
/// whose container engine runs `first` on its first build (then succeeds at once).
struct BuildFixture {
    _dir: tempfile::TempDir,
    server: Server,
    pidfile: std::path::PathBuf,
}

fn build_fixture(first: &str, args: &[&str]) -> BuildFixture {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let repo = super::scratch_repo(dir.path());
    let repo_s = repo.to_str().unwrap();
    let store = dir.path().join("s.redb");
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
    let ws = dir.path();
    tool(
        &store,
        &engine,
        ws,
        &[
            "start_workflow",
            "--repo-path",
            repo_s,
            "--session-id",
            "dc",
        ],
    );
    tool(
        &store,
        &engine,
        ws,
        &[
            "analyze_repository",
            "--repo-path",
            repo_s,
            "--session-id",
            "dc",
        ],
    );
    tool(
        &store,
        &engine,
        ws,
        &["generate_dockerfile", "--session-id", "dc"],
    );
    let mut all = vec!["--store", "redb", "--store-path", store.to_str().unwrap()];
    all.extend_from_slice(args);
    let server = start(
        &all,
        &[
            ("MCP_WORKSPACE_DIR", ws.to_str().unwrap()),
            ("MCP_CONTAINER_ENGINE", engine.to_str().unwrap()),
        ],
    );
    BuildFixture {
        _dir: dir,
        server,
        pidfile,
    }
}

const BUILD: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"build_image","arguments":{"session_id":"dc"}}}"#;

/// Sends `build_image` on a new connection and waits until its program runs: the connection
/// and the program's pid.
fn start_build(f: &BuildFixture, session: &str) -> (TcpStream, u32) {
    let mut conn = TcpStream::connect(f.server.addr).unwrap();
    conn.write_all(request_text("POST", &[("Mcp-Session-Id", session)], BUILD).as_bytes())
        .unwrap();
    // The script writes its pid once it runs the build.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        let text = std::fs::read_to_string(&f.pidfile).unwrap_or_default();
        if let Ok(pid) = text.trim().parse() {
            break pid;
        }
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    (conn, pid)
}

#[test]
fn a_client_disconnect_cancels_its_running_call_and_releases_the_session() {
    let f = build_fixture("exec sleep 300", &[]);
    let addr = f.server.addr;
    let session = open_session(addr, &[]).unwrap();
    let (first, pid) = start_build(&f, &session);
    drop(first);
    // A second call on the same session gets the lock: it is not refused as busy (the lock
    // wait is 30 s; the first build would hold it for 300 s).
    let second = call(addr, &session, 8, "build_image", r#"{"session_id":"dc"}"#);
    assert_eq!(second.status, 200, "{second:?}");
    assert!(
        !second.body.contains("busy"),
        "the session stayed locked: {second:?}"
    );
    assert!(second.body.contains("\"isError\":false"), "{second:?}");
    // The hanging program was stopped with its call.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid) {
        assert!(
            Instant::now() < deadline,
            "the first build's program still runs"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_lets_a_running_call_finish_then_exits_zero() {
    let mut f = build_fixture("sleep 2; echo built", &[]);
    let session = open_session(f.server.addr, &[]).unwrap();
    let (mut conn, _) = start_build(&f, &session);
    let kill = Command::new("kill")
        .args(["-TERM", &f.server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let reply = parse(&raw);
    assert!(
        reply.body.contains("\"isError\":false"),
        "the call was cut: {reply:?}"
    );
    let status = f.server.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        f.server.stderr.lock().unwrap()
    );
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("State:") && l.contains('Z'))
        })
        .unwrap_or(true)
}
