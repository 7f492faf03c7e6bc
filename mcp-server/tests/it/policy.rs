//! `--policy`: a file that does not parse stops the server at start with the file, line and
//! reason; a good one is listed by server_status over MCP (and `MCP_POLICY` works as well).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::*;

#[test]
fn a_policy_that_does_not_parse_stops_the_server_with_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rego");
    std::fs::write(
        &bad,
        "package containerkit.bad\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n}\n",
    )
    .unwrap();
    for via_env in [false, true] {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--store", "memory"])
            .env("MCP_WORKSPACE_DIR", dir.path())
            .stdin(Stdio::null());
        if via_env {
            cmd.env("MCP_POLICY", &bad);
        } else {
            cmd.arg("--policy").arg(&bad);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "nothing on the MCP channel");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err
            .lines()
            .find(|l| l.contains("--policy"))
            .unwrap_or_default();
        assert!(line.contains(&format!("policy {}", bad.display())), "{err}");
        assert!(
            line.contains(" line 6") || line.contains(" line 7"),
            "{err}"
        );
    }
}

#[test]
fn server_status_lists_the_loaded_rules_over_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let policies = workspace_root().join("policies");
    let mut child = Command::new(BIN)
        .args(["serve", "--store", "memory", "--policy"])
        .arg(&policies)
        .env("MCP_WORKSPACE_DIR", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}});
    writeln!(stdin, "{init}").unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    writeln!(
        stdin,
        r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#
    )
    .unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"server_status","arguments":{{}}}}}}"#).unwrap();
    let answer: Value = loop {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "the server closed stdout"
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 2 {
            break v;
        }
    };
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let rules = answer["result"]["structuredContent"]["policy_rules"]
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), 5, "{answer}");
    assert!(
        rules
            .iter()
            .any(|r| r["package"] == "containerkit.no_latest"),
        "{answer}"
    );
}
