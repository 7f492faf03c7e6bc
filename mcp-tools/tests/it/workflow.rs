//! Whole workflows in dry-run mode on repositories of several languages.

use serde_json::json;

use super::*;

#[test]
fn a_full_dry_run_workflow_completes_for_every_language() {
    let rt = rt();
    for language in ["node", "python", "go", "java", "rust", "dotnet"] {
        let f = fixture(dry());
        let repo = repo(f.dir.path(), &format!("{language}-app"), language);
        rt.block_on(async {
            let out = call(
                &f.tools,
                "start_workflow",
                json!({"repo_path": repo, "run": true}),
            )
            .await
            .unwrap();
            let s = &out.structured;
            assert_eq!(s["status"], "completed", "{language}: {s}");
            assert_eq!(s["steps_run"].as_array().unwrap().len(), 10);
            assert_eq!(s["progress_percent"], 100.0);
            let id = s["session_id"].as_str().unwrap().to_owned();
            let status = call(&f.tools, "workflow_status", json!({"session_id": id}))
                .await
                .unwrap()
                .structured;
            assert!(
                status["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|st| st["status"] == "completed"),
                "{status}"
            );
            assert_eq!(status["next_step"], serde_json::Value::Null);
            // Real files, recorded commands.
            let dockerfile = std::fs::read_to_string(repo.join("Dockerfile")).unwrap();
            assert!(dockerfile.contains("EXPOSE"), "{language}: {dockerfile}");
            let session = call(&f.tools, "get_session", json!({"session_id": id}))
                .await
                .unwrap()
                .structured;
            let artifacts = &session["session"]["metadata"]["workflow_state"]["artifacts"];
            let manifest = artifacts["k8s_result"]["path"].as_str().unwrap();
            let yaml = std::fs::read_to_string(manifest).unwrap();
            assert!(yaml.contains("kind: Deployment") && yaml.contains("kind: Service"));
            let build = artifacts["build_result"]["commands"][0]["command"]
                .as_str()
                .unwrap();
            assert!(build.starts_with("docker build -t "), "{build}");
            assert_eq!(artifacts["build_result"]["commands"][0]["executed"], false);
            // A dry run claims nothing it did not do.
            assert_eq!(artifacts["verify_result"]["ready"], false);
            assert_eq!(artifacts["cluster_result"]["created"], false);
            let expected_language = match language {
                "node" => "javascript",
                "dotnet" => "csharp",
                other => other,
            };
            assert_eq!(artifacts["analyze_result"]["language"], expected_language);
        });
    }
}

#[test]
fn steps_can_be_called_one_by_one_and_report_the_next() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "py", "python");
    rt.block_on(async {
        let start = call(&f.tools, "start_workflow", json!({"repo_path": repo, "session_id": "session-2024-01-15T10-30-45-abc123def"})).await.unwrap();
        assert_eq!(start.structured["next_step"], "analyze_repository");
        assert_eq!(start.structured["created"], true);
        let id = "session-2024-01-15T10-30-45-abc123def";
        let a = call(&f.tools, "analyze_repository", json!({"session_id": id, "repo_path": repo, "fixing_mode": true, "previous_error": "x", "failed_tool": "build_image"})).await.unwrap();
        assert_eq!(a.structured["next_step"], "generate_dockerfile");
        assert_eq!(a.structured["artifact"]["framework"], "flask");
        // Out of order: build before a Dockerfile exists names the tool to call.
        let err = call(&f.tools, "build_image", json!({"session_id": id})).await.unwrap_err();
        assert_eq!(err.next_tool.as_deref(), Some("generate_dockerfile"), "{err:?}");
        let custom = "FROM python:3.12-slim\nCMD [\"python\", \"app.py\"]\n";
        call(&f.tools, "generate_dockerfile", json!({"session_id": id, "dockerfile_content": custom})).await.unwrap();
        assert_eq!(std::fs::read_to_string(repo.join("Dockerfile")).unwrap(), custom);
        call(&f.tools, "build_image", json!({"session_id": id})).await.unwrap();
        let tag = call(&f.tools, "tag_image", json!({"session_id": id, "tag": "v1.2.3"})).await.unwrap();
        assert_eq!(tag.structured["artifact"]["target"], "py:v1.2.3");
        let push = call(&f.tools, "push_image", json!({"session_id": id, "registry": "registry.example:5000/team"})).await.unwrap();
        assert_eq!(push.structured["artifact"]["image"], "registry.example:5000/team/py:v1.2.3");
        let status = call(&f.tools, "workflow_status", json!({"session_id": id})).await.unwrap().structured;
        assert_eq!(status["progress_percent"], 50.0);
        assert_eq!(status["next_step"], "scan_image");
        let session = call(&f.tools, "get_session", json!({"session_id": id})).await.unwrap().structured;
        assert_eq!(session["session"]["metadata"]["workflow_state"]["metadata"]["last_fix"]["failed_tool"], "build_image");
    });
}

#[test]
fn a_users_dockerfile_is_never_silently_replaced() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "node", "node");
    std::fs::write(repo.join("Dockerfile"), "FROM my-own-base\n").unwrap();
    rt.block_on(async {
        let out = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "run": true}),
        )
        .await
        .unwrap();
        assert_eq!(out.structured["status"], "completed");
    });
    // Since issue #22 the default is to keep it (generate_dockerfile mode "keep"): it is
    // left as it is, nothing is moved aside, and the workflow builds it.
    assert_eq!(
        std::fs::read_to_string(repo.join("Dockerfile")).unwrap(),
        "FROM my-own-base\n"
    );
    assert!(!repo.join("Dockerfile.orig").exists());
}

#[test]
fn utilities_answer() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "go", "go");
    rt.block_on(async {
        assert_eq!(
            call(&f.tools, "ping", json!({})).await.unwrap().structured["message"],
            "pong"
        );
        let tools = call(&f.tools, "list_tools", json!({}))
            .await
            .unwrap()
            .structured;
        // 18 tools, plus validate_dockerfile and fix_dockerfile (issue #22).
        assert_eq!(tools["tools"].as_array().unwrap().len(), 20);
        for i in 0..3 {
            call(
                &f.tools,
                "start_workflow",
                json!({"repo_path": repo, "session_id": format!("wf-{i}")}),
            )
            .await
            .unwrap();
        }
        let status = call(&f.tools, "server_status", json!({}))
            .await
            .unwrap()
            .structured;
        assert_eq!(
            (status["backend"].as_str(), status["session_count"].as_u64()),
            (Some("memory"), Some(3))
        );
        let page = call(&f.tools, "list_sessions", json!({"limit": 2}))
            .await
            .unwrap()
            .structured;
        assert_eq!(page["sessions"].as_array().unwrap().len(), 2);
        let rest = call(
            &f.tools,
            "list_sessions",
            json!({"cursor": page["next_cursor"]}),
        )
        .await
        .unwrap()
        .structured;
        assert_eq!(rest["sessions"][0]["session_id"], "wf-2");
        assert_eq!(rest["sessions"][0]["workflow_status"], "started");
        call_confirmed(&f.tools, "delete_session", json!({"session_id": "wf-1"}))
            .await
            .unwrap();
        let err = call(&f.tools, "workflow_status", json!({"session_id": "wf-1"}))
            .await
            .unwrap_err();
        assert_eq!(err.kind, mcp_tools::ToolErrorKind::SessionNotFound);
        for d in mcp_tools::catalogue() {
            assert_eq!(d.input_schema["type"], "object", "{}", d.name);
            assert_eq!(d.output_schema["type"], "object", "{}", d.name);
        }
    });
}

#[test]
fn a_no_op_retag_is_refused_and_a_push_names_its_registry() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "web", "node");
    std::fs::write(repo.join(".dockerignore"), "mine\n").unwrap();
    rt.block_on(async {
        let id = "tags";
        started_and_analyzed(&f.tools, id, &repo).await;
        // Only analyze_repository takes repo_path: another tool refuses it as unknown.
        for step in ["generate_dockerfile", "build_image"] {
            call(&f.tools, step, json!({"session_id": id}))
                .await
                .unwrap();
        }
        let err = call(
            &f.tools,
            "tag_image",
            json!({"session_id": id, "tag": "latest"}),
        )
        .await
        .unwrap_err();
        assert!(
            err.message.contains("retag web:latest as itself"),
            "{err:?}"
        );
        let bad = call(
            &f.tools,
            "tag_image",
            json!({"session_id": id, "tag": "-x"}),
        )
        .await;
        assert!(bad.is_err());
        call(
            &f.tools,
            "tag_image",
            json!({"session_id": id, "tag": "1.0"}),
        )
        .await
        .unwrap();
        let hub = call(&f.tools, "push_image", json!({"session_id": id}))
            .await
            .unwrap()
            .structured;
        let a = &hub["artifact"];
        assert_eq!(a["image"], "web:1.0");
        assert_eq!(a["destination"], "docker.io");
        assert!(a["note"].as_str().unwrap().contains("Docker Hub"), "{a}");
        let local = call(
            &f.tools,
            "push_image",
            json!({"session_id": id, "registry": "localhost:5001/"}),
        )
        .await
        .unwrap()
        .structured;
        let a = &local["artifact"];
        let cmds: Vec<&str> = a["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["command"].as_str().unwrap())
            .collect();
        assert_eq!(
            cmds,
            [
                "docker tag web:1.0 localhost:5001/web:1.0",
                "docker push localhost:5001/web:1.0"
            ]
        );
        assert_eq!(a["destination"], "localhost:5001");
        assert_eq!(a["note"], serde_json::Value::Null);
        // The manifests deploy the pushed reference, with the local pull policy.
        let m = call(
            &f.tools,
            "generate_k8s_manifests",
            json!({"session_id": id}),
        )
        .await
        .unwrap()
        .structured;
        let yaml = m["artifact"]["content"].as_str().unwrap();
        assert!(yaml.contains("image: \"localhost:5001/web:1.0\""), "{yaml}");
        assert!(yaml.contains("imagePullPolicy: IfNotPresent"), "{yaml}");
        // The Dockerfile came with its .dockerignore; the user's one is kept as a backup.
        let ignore = std::fs::read_to_string(repo.join(".dockerignore")).unwrap();
        assert!(ignore.contains("**/node_modules"), "{ignore}");
        let mine = std::fs::read_to_string(repo.join(".dockerignore.orig")).unwrap();
        assert_eq!(mine, "mine\n");
    });
}

/// Records every progress report of one call.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<(f64, Option<f64>, String)>>);

#[async_trait::async_trait]
impl mcp_tools::ProgressSink for Recorder {
    async fn report(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        self.0
            .lock()
            .unwrap()
            .push((progress, total, message.unwrap_or_default()));
    }
}

/// The MCP specification: the progress of one token increases with each notification. A
/// `run: true` workflow used to send the step count and then restart at 0.0 for each step.
#[test]
fn workflow_progress_only_goes_up_and_a_single_step_reports_zero_to_one() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "node-app", "node");
    rt.block_on(async {
        let rec = std::sync::Arc::new(Recorder::default());
        let ctx = mcp_tools::CallContext {
            progress: Some(rec.clone()),
            ..Default::default()
        };
        let out = f
            .tools
            .call(
                "start_workflow",
                json!({"repo_path": repo, "run": true}),
                &ctx,
            )
            .await
            .unwrap();
        let id = out.structured["session_id"].as_str().unwrap().to_owned();
        let seen = rec.0.lock().unwrap().clone();
        // Every step reports its start and end, and the workflow each step and its end.
        assert!(seen.len() >= 31, "{seen:?}");
        for w in seen.windows(2) {
            assert!(
                w[1].0 > w[0].0,
                "progress went from {:?} to {:?}",
                w[0],
                w[1]
            );
        }
        assert!(seen.iter().all(|p| p.1 == Some(10.0)), "{seen:?}");
        assert_eq!(seen.last().unwrap().0, 10.0);
        // A step called on its own reports 0..1 of 1.
        let rec = std::sync::Arc::new(Recorder::default());
        let ctx = mcp_tools::CallContext {
            progress: Some(rec.clone()),
            ..Default::default()
        };
        f.tools
            .call("build_image", json!({"session_id": id}), &ctx)
            .await
            .unwrap();
        let seen = rec.0.lock().unwrap().clone();
        let values: Vec<f64> = seen.iter().map(|p| p.0).collect();
        assert_eq!(values, vec![0.0, 1.0], "{seen:?}");
    });
}
