//! A directory that is not one service is refused with a `not_a_service` tool error listing
//! the candidates — through `analyze_repository` and through `start_workflow run: true`,
//! which stops there (never "completed 100%") and records no failed run. The analysis reads
//! what the allowed root holds (above `repo_path` too) and nothing outside it.

use std::path::Path;

use serde_json::{json, Value};

use super::fixtures::repos;
use super::*;

/// Copies the fixture `name` of `tests/repos` into `root/name`.
fn copy_fixture(root: &Path, name: &str) -> PathBuf {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    let to = root.join(name);
    copy(&repos().join(name), &to);
    to
}

async fn status(tools: &Toolbox, id: &str) -> Value {
    call(tools, "workflow_status", json!({"session_id": id}))
        .await
        .unwrap()
        .structured
}

fn candidates(err: &mcp_tools::ToolError) -> Vec<String> {
    let details = err.to_json()["error"]["details"].clone();
    details["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_run_on_a_monorepo_root_stops_at_the_refusal_with_the_candidates() {
    let rt = rt();
    let f = fixture(dry());
    let root = copy_fixture(f.dir.path(), "monorepo-services");
    rt.block_on(async {
        let err = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": root, "session_id": "mono", "run": true}),
        )
        .await
        .unwrap_err();
        let json = err.to_json();
        assert_eq!(json["error"]["kind"], "not_a_service", "{json}");
        assert_eq!(json["error"]["next_tool"], "analyze_repository");
        assert_eq!(json["error"]["details"]["refusal"], "services");
        assert_eq!(
            candidates(&err),
            ["services/api", "services/web", "services/worker"]
        );
        for c in json["error"]["details"]["candidates"].as_array().unwrap() {
            let shown = format!(
                "{} [{}]",
                c["path"].as_str().unwrap(),
                c["stack"].as_str().unwrap()
            );
            assert!(
                err.message.contains(&shown),
                "{shown} not in {}",
                err.message
            );
        }
        // A refusal is no recorded failure: the workflow waits at step 1.
        let st = status(&f.tools, "mono").await;
        assert_ne!(st["status"], "completed", "{st}");
        assert_eq!(st["progress_percent"], 0.0, "{st}");
        assert_eq!(st["next_step"], "analyze_repository", "{st}");
        assert_eq!(st["steps"][0]["status"], "pending", "{st}");
        assert_eq!(st["error"], Value::Null, "{st}");
        // The assistant follows the refusal: one candidate, same session.
        let api = root.join("services/api");
        let out = call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "mono", "repo_path": api}),
        )
        .await
        .unwrap();
        assert_eq!(
            out.structured["artifact"]["language"], "go",
            "{}",
            out.structured
        );
        assert!(
            out.summary.contains("go") && out.summary.contains("port"),
            "{}",
            out.summary
        );
    });
}

#[test]
fn a_run_on_an_unknown_stack_stops_at_the_refusal() {
    let rt = rt();
    let f = fixture(dry());
    let root = copy_fixture(f.dir.path(), "unknown-stack");
    rt.block_on(async {
        let err = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": root, "session_id": "c", "run": true}),
        )
        .await
        .unwrap_err();
        let json = err.to_json();
        assert_eq!(json["error"]["kind"], "not_a_service", "{json}");
        assert_eq!(json["error"]["details"]["refusal"], "unknown", "{json}");
        assert_eq!(json["error"]["details"]["session_id"], "c", "{json}");
        assert!(
            err.message.contains("no supported stack"),
            "{}",
            err.message
        );
        assert!(
            !root.join("Dockerfile").exists(),
            "no placeholder Dockerfile"
        );
        let st = status(&f.tools, "c").await;
        assert_eq!(st["progress_percent"], 0.0, "{st}");
        assert_eq!(st["steps"][0]["status"], "pending", "{st}");
    });
}

#[test]
fn a_compose_stack_is_refused_with_its_build_contexts() {
    let rt = rt();
    let f = fixture(dry());
    let root = copy_fixture(f.dir.path(), "compose-fullstack");
    rt.block_on(async {
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": root, "session_id": "cf"}),
        )
        .await
        .unwrap();
        let err = call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "cf", "repo_path": root}),
        )
        .await
        .unwrap_err();
        assert_eq!(candidates(&err), ["backend", "frontend"], "{err:?}");
    });
}

#[test]
fn the_analysis_reads_the_allowed_root_above_repo_path_and_nothing_outside() {
    let rt = rt();
    let f = fixture(dry());
    let outside = tempfile::tempdir().unwrap();
    let pkg =
        r#"{"name":"shared","scripts":{"start":"node index.js"},"dependencies":{"express":"^4"}}"#;
    std::fs::create_dir_all(f.dir.path().join("shared")).unwrap();
    std::fs::write(f.dir.path().join("shared/package.json"), pkg).unwrap();
    std::fs::write(outside.path().join("package.json"), pkg).unwrap();
    let inside = f.dir.path().join("svc");
    let escaping = f.dir.path().join("escaping");
    for (dir, target) in [
        (&inside, f.dir.path().join("shared/package.json")),
        (&escaping, outside.path().join("package.json")),
    ] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("index.js"), "require('express')().listen(3000)\n").unwrap();
        std::os::unix::fs::symlink(target, dir.join("package.json")).unwrap();
    }
    rt.block_on(async {
        let out = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": inside, "session_id": "in"}),
        )
        .await
        .unwrap();
        assert_eq!(out.structured["next_step"], "analyze_repository");
        let out = call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "in", "repo_path": inside}),
        )
        .await
        .unwrap();
        assert_eq!(
            out.structured["artifact"]["language"], "javascript",
            "{}",
            out.structured
        );
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": escaping, "session_id": "out"}),
        )
        .await
        .unwrap();
        let err = call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "out", "repo_path": escaping}),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.to_json()["error"]["details"]["refusal"],
            "unknown",
            "{err:?}"
        );
    });
}

#[test]
fn the_step_summary_says_what_was_detected() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "py", "python");
    rt.block_on(async {
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "py"}),
        )
        .await
        .unwrap();
        let out = call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "py", "repo_path": repo}),
        )
        .await
        .unwrap();
        let a = &out.structured["artifact"];
        let expected = format!(
            "{}/{} {} service",
            a["language"].as_str().unwrap(),
            a["framework"].as_str().unwrap(),
            a["kind"].as_str().unwrap()
        );
        assert!(
            out.summary.contains(&expected),
            "{} vs {expected}",
            out.summary
        );
        assert!(
            out.summary.contains(&format!("port {}", a["port"])),
            "{}",
            out.summary
        );
        let fallbacks = a["facts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["fallback"] == true)
            .count();
        let checks = a["checks"].as_array().unwrap();
        assert!(
            checks.len() >= fallbacks,
            "a sentence per fallback fact: {a}"
        );
        assert!(
            out.summary.contains("next: generate_dockerfile"),
            "{}",
            out.summary
        );
    });
}

#[test]
fn a_compose_file_above_repo_path_gives_a_defaulted_port_through_the_tool() {
    let rt = rt();
    let f = fixture(dry());
    let root = f.dir.path().join("stack");
    let api = root.join("api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(api.join("requirements.txt"), "fastapi\nuvicorn\n").unwrap();
    std::fs::write(
        api.join("main.py"),
        "from fastapi import FastAPI\napp = FastAPI()\n",
    )
    .unwrap();
    std::fs::write(
        root.join("docker-compose.yml"),
        "services:\n  api:\n    build: ./api\n    ports:\n      - \"8080:9000\"\n",
    )
    .unwrap();
    rt.block_on(async {
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": api, "session_id": "api"}),
        )
        .await
        .unwrap();
        let out = call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "api", "repo_path": api}),
        )
        .await
        .unwrap();
        let a = &out.structured["artifact"];
        assert_eq!(a["port"], 9000, "{a}");
        let fact = a["facts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["fact"] == "port")
            .unwrap();
        assert_eq!(fact["fallback"], false, "{fact}");
        assert_eq!(fact["evidence"]["file"], "../docker-compose.yml", "{fact}");
        assert!(out.summary.contains("port 9000"), "{}", out.summary);
        call(
            &f.tools,
            "generate_dockerfile",
            json!({"session_id": "api"}),
        )
        .await
        .unwrap();
        let dockerfile = std::fs::read_to_string(api.join("Dockerfile")).unwrap();
        assert!(dockerfile.contains("EXPOSE 9000"), "{dockerfile}");
        assert!(
            !dockerfile.contains("8000"),
            "the defaulted port is gone: {dockerfile}"
        );
    });
}
