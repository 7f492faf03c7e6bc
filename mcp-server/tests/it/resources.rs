//! A session's artifacts as MCP resources (issue #20), over stdio and over streamable HTTP:
//! a dry-run workflow, then every template listed and read, the list, and the errors — a
//! malformed URI, an invalid id, an unknown session, an artifact not produced yet, a file
//! gone from disk, and a Dockerfile replaced by a symlink out of the workspace (refused, its
//! target's contents never sent).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use super::http_hardening::{open_session, parse, start};
use super::{BIN, INITIALIZE};

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-WORKSPACE";

/// One JSON-RPC peer: sends a request, returns the response message with its id.
trait Rpc {
    fn request(&mut self, id: u64, method: &str, params: Value) -> Value;
}

struct StdioPeer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for StdioPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl StdioPeer {
    fn start(workspace: &Path) -> StdioPeer {
        let mut child = Command::new(BIN)
            .args(["serve", "--store", "memory", "--dry-run"])
            .env("MCP_WORKSPACE_DIR", workspace)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        writeln!(stdin, "{INITIALIZE}").unwrap();
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let init: Value = serde_json::from_str(&line).unwrap();
        assert!(
            init["result"]["capabilities"]["resources"].is_object(),
            "the resources capability is declared: {init}"
        );
        writeln!(
            stdin,
            r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
        )
        .unwrap();
        StdioPeer {
            child,
            stdin,
            stdout,
        }
    }
}

impl Rpc for StdioPeer {
    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params});
        writeln!(self.stdin, "{body}").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the server closed stdout"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == json!(id) {
                return v;
            }
        }
    }
}

struct Http {
    addr: SocketAddr,
    session: String,
}

impl Rpc for Http {
    fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}).to_string();
        let text = format!(
            "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {}\r\nContent-Length: {}\r\n\r\n{body}",
            self.session,
            body.len()
        );
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s.write_all(text.as_bytes()).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let reply = parse(&raw);
        assert_eq!(reply.status, 200, "{method}: {reply:?}");
        let messages: Vec<Value> = match serde_json::from_str::<Value>(&reply.body) {
            Ok(v) => vec![v],
            Err(_) => (reply.body.lines())
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str(d.trim()).ok())
                .collect(),
        };
        let found = messages.into_iter().find(|m| m["id"] == json!(id));
        found.unwrap_or_else(|| panic!("{method}: no answer in {reply:?}"))
    }
}

/// A node repository (app name `web`) in `workspace`.
fn repo(workspace: &Path) -> PathBuf {
    let repo = workspace.join("web");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("package.json"),
        r#"{"name":"web","scripts":{"start":"node index.js"},"dependencies":{"express":"^4"}}"#,
    )
    .unwrap();
    std::fs::write(repo.join("index.js"), "require('express')().listen(3000)\n").unwrap();
    repo
}

fn read(rpc: &mut dyn Rpc, id: u64, uri: &str) -> Value {
    rpc.request(id, "resources/read", json!({ "uri": uri }))
}

/// The one content of a successful read of `uri`, checked for its uri and mime type.
fn one_content(rpc: &mut dyn Rpc, id: u64, uri: &str, mime: &str) -> String {
    let r = read(rpc, id, uri);
    let contents = r["result"]["contents"].as_array().cloned();
    let Some([c]) = contents.as_deref() else {
        panic!("{uri}: {r}")
    };
    assert_eq!(c["uri"], uri);
    assert_eq!(c["mimeType"], mime, "{uri}");
    c["text"].as_str().unwrap().to_owned()
}

/// The error of a failed read of `uri`: its code, message and data.
fn read_error(rpc: &mut dyn Rpc, id: u64, uri: &str) -> (i64, String, Value) {
    let r = read(rpc, id, uri);
    let e = &r["error"];
    assert!(e.is_object(), "{uri} was expected to fail: {r}");
    assert!(!r.to_string().contains(SECRET), "{r}");
    (
        e["code"].as_i64().unwrap(),
        e["message"].as_str().unwrap().to_owned(),
        e["data"].clone(),
    )
}

const INVALID_PARAMS: i64 = -32602;
const NOT_FOUND: i64 = -32002;

/// The whole scenario, on any transport.
fn every_template_and_error(rpc: &mut dyn Rpc, workspace: &Path, secret: &Path) {
    let repo = repo(workspace);
    let started = rpc.request(
        1,
        "tools/call",
        json!({"name":"start_workflow","arguments":{"session_id":"res-1","repo_path":repo,"run":true}}),
    );
    assert_eq!(
        started["result"]["structuredContent"]["status"], "completed",
        "{started}"
    );

    let templates = rpc.request(2, "resources/templates/list", json!({}));
    let listed = templates["result"]["resourceTemplates"].as_array().unwrap();
    let uris: Vec<&str> = listed
        .iter()
        .map(|t| t["uriTemplate"].as_str().unwrap())
        .collect();
    assert_eq!(
        uris,
        [
            "container-kit://sessions/{session_id}/dockerfile",
            "container-kit://sessions/{session_id}/manifests",
            "container-kit://sessions/{session_id}/manifests/{file}",
            "container-kit://sessions/{session_id}/scan-report",
            "container-kit://sessions/{session_id}/workflow",
        ]
    );
    assert!(listed
        .iter()
        .all(|t| t["title"].is_string() && t["description"].is_string()));

    let base = "container-kit://sessions/res-1";
    let dockerfile = one_content(rpc, 3, &format!("{base}/dockerfile"), "text/x-dockerfile");
    assert_eq!(
        dockerfile,
        std::fs::read_to_string(repo.join("Dockerfile")).unwrap()
    );
    assert!(dockerfile.contains("FROM "), "{dockerfile}");
    let manifest_uri = format!("{base}/manifests/web.yaml");
    let all = read(rpc, 4, &format!("{base}/manifests"));
    assert_eq!(
        all["result"]["contents"][0]["uri"],
        manifest_uri.as_str(),
        "{all}"
    );
    let manifest = one_content(rpc, 5, &manifest_uri, "application/yaml");
    assert_eq!(
        manifest,
        std::fs::read_to_string(repo.join("k8s/web.yaml")).unwrap()
    );
    assert_eq!(all["result"]["contents"][0]["text"], manifest.as_str());
    let scan = one_content(rpc, 6, &format!("{base}/scan-report"), "application/json");
    let scan: Value = serde_json::from_str(&scan).unwrap();
    assert!(
        scan["image"].as_str().is_some_and(|i| i.contains("web")),
        "{scan}"
    );
    let workflow = one_content(rpc, 7, &format!("{base}/workflow"), "application/json");
    let workflow: Value = serde_json::from_str(&workflow).unwrap();
    assert_eq!(workflow["status"], "completed");
    assert_eq!(workflow["session_id"], "res-1");

    let list = rpc.request(8, "resources/list", json!({}));
    let listed: Vec<&str> = list["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    for what in ["dockerfile", "manifests", "scan-report", "workflow"] {
        assert!(
            listed.contains(&format!("{base}/{what}").as_str()),
            "{list}"
        );
    }

    // The request's faults.
    let (code, message, _) = read_error(rpc, 10, "file:///etc/passwd");
    assert_eq!(code, INVALID_PARAMS);
    assert!(message.contains("malformed"), "{message}");
    let (code, message, _) = read_error(rpc, 11, "container-kit://sessions/res-1/secrets");
    assert_eq!(code, INVALID_PARAMS, "{message}");
    let (code, message, _) = read_error(rpc, 12, "container-kit://sessions/a%20b/workflow");
    assert_eq!(code, INVALID_PARAMS);
    assert!(message.contains("invalid session id"), "{message}");
    // What is not there.
    let (code, message, data) = read_error(rpc, 13, "container-kit://sessions/nobody/workflow");
    assert_eq!(code, NOT_FOUND);
    assert!(message.contains("nobody was not found"), "{message}");
    assert_eq!(data["next_tool"], "start_workflow");
    let fresh = rpc.request(
        14,
        "tools/call",
        json!({"name":"start_workflow","arguments":{"session_id":"res-2","repo_path":repo}}),
    );
    assert_eq!(fresh["result"]["isError"], false, "{fresh}");
    let (code, message, data) = read_error(rpc, 15, "container-kit://sessions/res-2/dockerfile");
    assert_eq!(code, NOT_FOUND);
    assert!(
        message.ends_with("call generate_dockerfile first"),
        "{message}"
    );
    assert_eq!(data["kind"], "not_produced");
    let (code, message, _) = read_error(rpc, 16, "container-kit://sessions/res-2/scan-report");
    assert_eq!(code, NOT_FOUND);
    assert!(message.ends_with("call scan_image first"), "{message}");
    // A manifest removed from disk.
    std::fs::remove_file(repo.join("k8s/web.yaml")).unwrap();
    let (code, message, _) = read_error(rpc, 17, &manifest_uri);
    assert_eq!(code, NOT_FOUND);
    assert!(message.contains("no longer exists"), "{message}");
    // The Dockerfile replaced by a symlink to a file outside the workspace.
    std::fs::remove_file(repo.join("Dockerfile")).unwrap();
    std::os::unix::fs::symlink(secret, repo.join("Dockerfile")).unwrap();
    let (code, message, data) = read_error(rpc, 18, &format!("{base}/dockerfile"));
    assert_eq!(code, NOT_FOUND);
    assert!(message.contains("symlink"), "{message}");
    assert_eq!(data["kind"], "file_refused");
}

fn scratch() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
    let workspace = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    (workspace, outside, secret)
}

#[test]
fn every_resource_template_reads_over_stdio_with_clear_errors() {
    let (workspace, _outside, secret) = scratch();
    let mut rpc = StdioPeer::start(workspace.path());
    every_template_and_error(&mut rpc, workspace.path(), &secret);
}

#[test]
fn every_resource_template_reads_over_streamable_http_with_clear_errors() {
    let (workspace, _outside, secret) = scratch();
    let dir = workspace.path().display().to_string();
    let server = start(&["--workspace-dir", &dir], &[]);
    let session = open_session(server.addr, &[]).unwrap();
    let mut rpc = Http {
        addr: server.addr,
        session,
    };
    every_template_and_error(&mut rpc, workspace.path(), &secret);
}

/// The store is shared: a workflow run through one server process is read as resources
/// through another on the same redb file (the workspace path is the session's own).
#[test]
fn a_second_server_on_the_shared_store_reads_the_first_ones_artifacts() {
    let (workspace, _outside, _secret) = scratch();
    let dir = workspace.path().display().to_string();
    let store = workspace.path().join("shared.redb").display().to_string();
    let args = [
        "--store",
        "redb",
        "--store-path",
        &store,
        "--dry-run",
        "--workspace-dir",
        &dir,
    ];
    let (a, b) = (start(&args, &[]), start(&args, &[]));
    let peer = |addr| Http {
        addr,
        session: open_session(addr, &[]).unwrap(),
    };
    let (mut on_a, mut on_b) = (peer(a.addr), peer(b.addr));
    let repo = repo(workspace.path());
    let started = on_a.request(
        1,
        "tools/call",
        json!({"name":"start_workflow","arguments":{"session_id":"shared-1","repo_path":repo,"run":true}}),
    );
    assert_eq!(
        started["result"]["structuredContent"]["status"],
        "completed"
    );
    let base = "container-kit://sessions/shared-1";
    let dockerfile = one_content(
        &mut on_b,
        2,
        &format!("{base}/dockerfile"),
        "text/x-dockerfile",
    );
    assert_eq!(
        dockerfile,
        std::fs::read_to_string(repo.join("Dockerfile")).unwrap()
    );
    let workflow = one_content(
        &mut on_b,
        3,
        &format!("{base}/workflow"),
        "application/json",
    );
    let workflow: Value = serde_json::from_str(&workflow).unwrap();
    assert_eq!(workflow["status"], "completed");
    one_content(
        &mut on_b,
        4,
        &format!("{base}/manifests/web.yaml"),
        "application/yaml",
    );
    one_content(
        &mut on_b,
        5,
        &format!("{base}/scan-report"),
        "application/json",
    );
}
