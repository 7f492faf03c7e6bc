//! Bounded input over the binary's real channels (issue 18, parts 9, 10 and 12): over MCP an
//! unknown parameter and a huge one are refused as in tool mode, and a session id or tool
//! name holding a newline (or 10 KB) cannot forge or flood a log line.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::{BIN, INITIALIZE};

/// Serves MCP on stdio over a memory store, sends `initialize` and then each call in
/// `calls` (tools/call `[name, arguments]`), and returns each call's response and everything
/// the server logged on stderr.
fn over_stdio(calls: &[(&str, Value)]) -> (Vec<Value>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--store", "memory", "--log-level", "info"])
        .env("MCP_WORKSPACE_DIR", dir.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let logged = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    writeln!(stdin, "{INITIALIZE}").unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    let mut answers = Vec::new();
    for (i, (name, args)) in calls.iter().enumerate() {
        let id = i + 2;
        let request = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": args}});
        writeln!(stdin, "{request}").unwrap();
        loop {
            line.clear();
            assert!(
                stdout.read_line(&mut line).unwrap() > 0,
                "the server closed stdout"
            );
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                answers.push(v);
                break;
            }
        }
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    (answers, logged.join().unwrap())
}

fn error_text(answer: &Value) -> String {
    let result = &answer["result"];
    assert_eq!(result["isError"], true, "{answer}");
    assert_eq!(
        result["structuredContent"]["error"]["kind"], "invalid_params",
        "{answer}"
    );
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

#[test]
fn over_mcp_an_unknown_or_huge_parameter_is_refused_and_logs_stay_one_line_each() {
    let forged = "s1\nERROR forged=line";
    let long_id = "i".repeat(10_000);
    let (answers, log) = over_stdio(&[
        (
            "workflow_status",
            json!({"session_id": "s1", "sesion": "x"}),
        ),
        ("ping", json!({"message": "m".repeat(100_000)})),
        ("ping", json!({"message": "hello"})),
        ("workflow_status", json!({"session_id": forged})),
        ("workflow_status", json!({"session_id": long_id})),
        ("no\nINFO tool call ok", json!({})),
    ]);
    let unknown = error_text(&answers[0]);
    assert!(
        unknown.contains(
            "workflow_status takes no parameter \"sesion\"; its parameters are session_id"
        ),
        "{unknown}"
    );
    let huge = error_text(&answers[1]);
    assert!(
        huge.contains("message is 100000 characters long, over its limit of 65536"),
        "{huge}"
    );
    assert_eq!(answers[2]["result"]["isError"], false, "{}", answers[2]);
    // The log: no line was forged and no 10 KB id was written whole.
    for line in log.lines() {
        assert!(!line.starts_with("ERROR forged"), "forged line:\n{log}");
        assert!(
            !line.starts_with("INFO tool call ok"),
            "forged line:\n{log}"
        );
        assert!(line.len() < 2_000, "a {} byte log line", line.len());
    }
    assert!(
        log.contains(r#"session_id="s1\nERROR forged=line""#),
        "{log}"
    );
    assert!(log.contains("…(+9872 chars)"), "{log}");
    assert!(log.contains(r#"tool="no\nINFO tool call ok""#), "{log}");
}

#[test]
fn tool_mode_refuses_an_unknown_parameter_in_tool_params_as_mcp_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["tool", "ping", "--store", "memory"])
        .env("TOOL_PARAMS", r#"{"mesage": "hi"}"#)
        .env("MCP_WORKSPACE_DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "invalid_params", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("ping takes no parameter \"mesage\""),
        "{message}"
    );
}
