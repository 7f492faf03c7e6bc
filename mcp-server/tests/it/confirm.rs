//! Confirmation before destructive tools over MCP (issue 20), driven by a JSON-RPC test
//! client over stdio: a 2026-07-28 client is answered `input_required` with a sealed
//! request state; its answer runs (or, declined, does not run) the tool; a tampered,
//! replayed or moved state is refused; a client that can ask nobody gets a clear tool error;
//! `--confirm never` runs without asking.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

use super::*;

/// Stand-ins for docker, trivy, kubectl and kind in `bin`, logging their arguments.
fn stand_ins(bin: &Path) -> PathBuf {
    let log = bin.join("calls.log");
    for program in ["docker", "trivy", "kubectl", "kind"] {
        let output = if program == "trivy" {
            r#"out=; prev=; for a in "$@"; do [ "$prev" = --output ] && out=$a; prev=$a; done
echo '{"Results":[]}' > "$out""#
        } else {
            "true"
        };
        let p = bin.join(program);
        let script = format!(
            "#!/bin/sh\necho \"{program} $*\" >> '{}'\n{output}\n",
            log.display()
        );
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    log
}

struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
    dir: tempfile::TempDir,
    log: PathBuf,
}

const V2026: &str = "2026-07-28";

impl Server {
    fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let log = stand_ins(&bin);
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--store", "memory"])
            .args(extra)
            .arg("--container-engine")
            .arg(bin.join("docker"))
            .arg("--trivy")
            .arg(bin.join("trivy"))
            .arg("--kubectl")
            .arg(bin.join("kubectl"))
            .arg("--kind")
            .arg(bin.join("kind"))
            .env("MCP_WORKSPACE_DIR", dir.path())
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server {
            child,
            stdin,
            stdout,
            next_id: 1,
            dir,
            log,
        }
    }

    /// Sends `method` with `params` and returns the response with its id.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        writeln!(self.stdin, "{msg}").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the server closed stdout"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    }

    /// A 2026-07-28 `tools/call` (per-request metadata, no initialize); `elicitation`: the
    /// client declares it. `extra` is merged into the params (inputResponses, requestState).
    fn call(&mut self, name: &str, args: Value, elicitation: bool, extra: Value) -> Value {
        let caps = if elicitation {
            json!({"elicitation": {"form": {}}})
        } else {
            json!({})
        };
        let mut params = json!({
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": V2026,
                "io.modelcontextprotocol/clientInfo": {"name": "confirm-test", "version": "1"},
                "io.modelcontextprotocol/clientCapabilities": caps,
            },
            "name": name,
            "arguments": args,
        });
        if let Value::Object(o) = extra {
            params.as_object_mut().unwrap().extend(o);
        }
        self.request("tools/call", params)
    }

    /// A workflow run up to push_image on session `s` (nothing destructive asked).
    fn up_to_push(&mut self) {
        let repo = scratch_repo(self.dir.path());
        let ok = |r: Value| {
            assert!(
                r["result"]["isError"] != true && r["error"].is_null(),
                "{r}"
            );
        };
        ok(self.call(
            "start_workflow",
            json!({"repo_path": repo, "session_id": "s"}),
            true,
            json!({}),
        ));
        ok(self.call(
            "analyze_repository",
            json!({"session_id": "s", "repo_path": repo}),
            true,
            json!({}),
        ));
        for step in ["generate_dockerfile", "build_image", "scan_image"] {
            ok(self.call(step, json!({"session_id": "s"}), true, json!({})));
        }
        ok(self.call(
            "tag_image",
            json!({"session_id": "s", "tag": "1.0.0"}),
            true,
            json!({}),
        ));
    }

    fn pushes(&self) -> usize {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("docker push"))
            .count()
    }

    fn confirmations(&mut self) -> Value {
        let r = self.call("get_session", json!({"session_id": "s"}), true, json!({}));
        r["result"]["structuredContent"]["session"]["metadata"]["workflow_state"]["metadata"]
            ["confirmations"]
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answer(yes: bool) -> Value {
    json!({"confirm": {"action": "accept", "content": {"confirm": yes}}})
}

fn error_kind(r: &Value) -> Value {
    assert_eq!(r["result"]["isError"], true, "{r}");
    r["result"]["structuredContent"]["error"]["kind"].clone()
}

/// The input_required answer to a first push_image call, and its request state.
fn asked(server: &mut Server, args: &Value) -> (Value, String) {
    let r = server.call("push_image", args.clone(), true, json!({}));
    let result = r["result"].clone();
    assert_eq!(result["resultType"], "input_required", "{r}");
    let state = result["requestState"].as_str().unwrap().to_owned();
    (result, state)
}

#[test]
fn a_2026_client_is_asked_with_input_required_and_its_yes_runs_the_push_once() {
    let mut s = Server::start(&[]);
    s.up_to_push();
    let args = json!({"session_id": "s", "registry": "localhost:5001"});
    let (result, state) = asked(&mut s, &args);
    let request = &result["inputRequests"]["confirm"];
    assert_eq!(request["method"], "elicitation/create", "{result}");
    let message = request["params"]["message"].as_str().unwrap();
    assert!(
        message.contains("push_image will push the image"),
        "{message}"
    );
    assert_eq!(
        request["params"]["requestedSchema"]["properties"]["confirm"]["type"], "boolean",
        "{result}"
    );
    assert_eq!(s.pushes(), 0, "asking runs nothing");
    // The answer runs it.
    let r = s.call(
        "push_image",
        args.clone(),
        true,
        json!({"inputResponses": answer(true), "requestState": state}),
    );
    assert!(r["result"]["isError"] != true, "{r}");
    assert_eq!(
        r["result"]["structuredContent"]["artifact"]["destination"], "localhost:5001",
        "{r}"
    );
    assert_eq!(s.pushes(), 1);
    // The same answer again is a replay.
    let r = s.call(
        "push_image",
        args,
        true,
        json!({"inputResponses": answer(true), "requestState": state}),
    );
    assert_eq!(error_kind(&r), "confirmation_required");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("already used"), "{text}");
    assert_eq!(s.pushes(), 1, "a replay pushes nothing");
    let records = s.confirmations();
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    assert_eq!(records[0]["decision"], "accepted");
    assert_eq!(records[0]["reason"], "input_required");
}

#[test]
fn a_no_runs_nothing_and_is_recorded() {
    let mut s = Server::start(&[]);
    s.up_to_push();
    let args = json!({"session_id": "s"});
    let (_, state) = asked(&mut s, &args);
    let r = s.call(
        "push_image",
        args,
        true,
        json!({"inputResponses": answer(false), "requestState": state}),
    );
    assert_eq!(error_kind(&r), "confirmation_declined");
    assert_eq!(s.pushes(), 0);
    let records = s.confirmations();
    assert_eq!(records[0]["decision"], "declined", "{records}");
}

#[test]
fn a_tampered_or_moved_request_state_is_refused() {
    let mut s = Server::start(&[]);
    s.up_to_push();
    let args = json!({"session_id": "s"});
    let (_, state) = asked(&mut s, &args);
    let mut tampered = state.clone().into_bytes();
    let at = tampered.len() - 3;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let r = s.call(
        "push_image",
        args,
        true,
        json!({"inputResponses": answer(true), "requestState": tampered}),
    );
    assert_eq!(error_kind(&r), "confirmation_required");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("tampered"), "{text}");
    // The genuine state with other arguments (another registry) is refused too.
    let r = s.call(
        "push_image",
        json!({"session_id": "s", "registry": "ghcr.io/evil"}),
        true,
        json!({"inputResponses": answer(true), "requestState": state}),
    );
    assert_eq!(error_kind(&r), "confirmation_required");
    assert_eq!(s.pushes(), 0);
    assert!(s.confirmations().is_null(), "nothing was decided");
}

#[test]
fn a_client_without_elicitation_gets_a_clear_tool_error() {
    let mut s = Server::start(&[]);
    s.up_to_push();
    let r = s.call("push_image", json!({"session_id": "s"}), false, json!({}));
    assert_eq!(error_kind(&r), "confirmation_required");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("nobody could be asked"), "{text}");
    assert!(text.contains("declared no elicitation"), "{text}");
    assert!(text.contains("--confirm never"), "{text}");
    assert_eq!(s.pushes(), 0);
}

#[test]
fn a_2026_workflow_run_stops_at_push_image_saying_to_call_it_directly() {
    let mut s = Server::start(&[]);
    let repo = scratch_repo(s.dir.path());
    let r = s.call(
        "start_workflow",
        json!({"repo_path": repo, "session_id": "run", "run": true}),
        true,
        json!({}),
    );
    assert_eq!(error_kind(&r), "confirmation_required");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("push_image") && text.contains("directly"),
        "{text}"
    );
    assert_eq!(s.pushes(), 0);
}

#[test]
fn a_classic_client_without_elicitation_gets_the_same_error_and_the_instructions_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let mut child = Command::new(BIN)
        .args(["serve", "--store", "memory"])
        .env("MCP_WORKSPACE_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut read = |id: u64| -> Value {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(stdout.read_line(&mut line).unwrap() > 0, "stdout closed");
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return v;
            }
        }
    };
    writeln!(stdin, "{INITIALIZE}").unwrap();
    let init = read(1);
    let instructions = init["result"]["instructions"].as_str().unwrap();
    assert!(
        instructions.contains("ask the user for a confirmation first"),
        "{instructions}"
    );
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    let call = |id: u64, name: &str, args: Value| json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":name,"arguments":args}});
    writeln!(
        stdin,
        "{}",
        call(
            2,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "c"})
        )
    )
    .unwrap();
    assert!(read(2)["result"]["isError"] != true);
    writeln!(
        stdin,
        "{}",
        call(3, "delete_session", json!({"session_id": "c"}))
    )
    .unwrap();
    let r = read(3);
    assert_eq!(error_kind(&r), "confirmation_required");
    writeln!(
        stdin,
        "{}",
        call(4, "workflow_status", json!({"session_id": "c"}))
    )
    .unwrap();
    assert!(
        read(4)["result"]["isError"] != true,
        "the session is still there"
    );
    drop(stdin);
    let _ = child.wait();
}

#[test]
fn confirm_never_runs_without_asking_and_records_the_skip() {
    let mut s = Server::start(&["--confirm", "never"]);
    s.up_to_push();
    let r = s.call("push_image", json!({"session_id": "s"}), true, json!({}));
    assert!(
        r["result"]["isError"] != true && r["result"]["resultType"] != "input_required",
        "{r}"
    );
    assert_eq!(s.pushes(), 1);
    let records = s.confirmations();
    assert_eq!(records[0]["decision"], "skipped", "{records}");
    assert_eq!(records[0]["reason"], "confirm_never");
}

#[test]
fn a_state_from_a_server_with_another_key_is_refused_saying_to_share_the_key() {
    let mut a = Server::start(&[]);
    a.up_to_push();
    let args = json!({"session_id": "s"});
    let (_, state) = asked(&mut a, &args);
    let mut b = Server::start(&[]);
    let r = b.call(
        "push_image",
        args.clone(),
        true,
        json!({"inputResponses": answer(true), "requestState": state}),
    );
    assert_eq!(error_kind(&r), "confirmation_required");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("--request-state-key-file"), "{text}");
    // With one shared key the other server opens it (and, its store not holding the
    // session, the push fails as an unknown session, not as a refused confirmation).
    let key = a.dir.path().join("key");
    std::fs::write(&key, [9u8; 32]).unwrap();
    let key = key.display().to_string();
    let mut c = Server::start(&["--request-state-key-file", &key]);
    c.up_to_push();
    let (_, state) = asked(&mut c, &args);
    let mut d = Server::start(&["--request-state-key-file", &key]);
    let r = d.call(
        "push_image",
        args,
        true,
        json!({"inputResponses": answer(true), "requestState": state}),
    );
    assert_eq!(error_kind(&r), "session_not_found", "{r}");
}

#[test]
fn a_short_request_state_key_stops_the_server_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, b"short").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--store", "memory", "--request-state-key-file"])
        .arg(&key)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 32"), "{err}");
}

#[test]
fn tool_mode_without_a_terminal_refuses_and_takes_yes_or_confirm_never() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("s.redb");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("tool")
            .args(args)
            .arg("--store-path")
            .arg(&store)
            .env("MCP_WORKSPACE_DIR", dir.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    for id in ["t1", "t2", "t3"] {
        let repo = repo.display().to_string();
        let ok = run(&["start_workflow", "--session-id", id, "--repo-path", &repo]);
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }
    let refused = run(&["delete_session", "--session-id", "t1"]);
    assert_eq!(refused.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "confirmation_required", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not a terminal") && message.contains("--yes"),
        "{message}"
    );
    let still = run(&["workflow_status", "--session-id", "t1"]);
    assert!(still.status.success(), "a refused delete deletes nothing");
    for args in [
        &["delete_session", "--session-id", "t2", "--yes"][..],
        &["--yes", "delete_session", "--session-id", "t3"][..],
        &["delete_session", "--session-id", "t1", "--confirm", "never"][..],
    ] {
        let out = run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["deleted"], true, "{v}");
    }
}

/// Tool mode on a terminal (a pseudo-terminal from util-linux `script`): the question is
/// asked, `n` runs nothing, `y` runs the tool.
#[test]
fn tool_mode_on_a_terminal_asks_and_follows_the_answer() {
    if !Path::new("/usr/bin/script").exists() {
        return eprintln!("skipped: util-linux script (a pseudo-terminal) is not installed");
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("s.redb");
    let tool = |args: &str| format!("{BIN} tool {args} --store-path {}", store.display());
    let start = Command::new("sh")
        .arg("-c")
        .arg(tool(&format!(
            "start_workflow --session-id tty --repo-path {}",
            repo.display()
        )))
        .env("MCP_WORKSPACE_DIR", dir.path())
        .output()
        .unwrap();
    assert!(start.status.success());
    let on_terminal = |answer: &str| {
        // The answer arrives after the question is asked.
        let mut child = Command::new("script")
            .args([
                "-qec",
                &tool("delete_session --session-id tty"),
                "/dev/null",
            ])
            .env("MCP_WORKSPACE_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        writeln!(stdin, "{answer}").unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let no = on_terminal("n");
    assert!(
        no.contains("delete_session will delete session tty"),
        "{no}"
    );
    assert!(
        no.contains("[y/N]") && no.contains("confirmation_declined"),
        "{no}"
    );
    let yes = on_terminal("y");
    assert!(yes.contains("\"deleted\": true"), "{yes}");
}
