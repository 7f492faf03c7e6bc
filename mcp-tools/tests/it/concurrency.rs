//! Concurrent workflows lose no step; concurrent steps on one session lose no step.

use serde_json::json;

use super::*;

#[test]
fn twenty_concurrent_workflows_all_complete() {
    let rt = rt();
    let f = fixture(dry());
    let languages = ["node", "python", "go", "java", "rust", "dotnet"];
    let repos: Vec<_> = (0..20)
        .map(|i| {
            repo(
                f.dir.path(),
                &format!("app-{i}"),
                languages[i % languages.len()],
            )
        })
        .collect();
    rt.block_on(async {
        let tasks: Vec<_> = repos
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let (tools, r) = (f.tools.clone(), r.clone());
                tokio::spawn(async move {
                    call(
                        &tools,
                        "start_workflow",
                        json!({"repo_path": r, "session_id": format!("wf-{i}"), "run": true}),
                    )
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap().structured["status"], "completed");
        }
        for i in 0..20 {
            let s = call(
                &f.tools,
                "workflow_status",
                json!({"session_id": format!("wf-{i}")}),
            )
            .await
            .unwrap()
            .structured;
            assert_eq!(s["progress_percent"], 100.0);
        }
    });
}

#[test]
fn all_ten_steps_called_at_once_on_one_session_are_all_recorded() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "shared", "node");
    rt.block_on(async {
        let out = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "shared", "run": true}),
        )
        .await
        .unwrap();
        assert_eq!(out.structured["status"], "completed");
        let runs_before = step_runs(&f.tools).await;
        assert_eq!(runs_before, 10);
        for _round in 0..3 {
            let calls = [
                (
                    "analyze_repository",
                    json!({"session_id": "shared", "repo_path": repo}),
                ),
                ("generate_dockerfile", json!({"session_id": "shared"})),
                ("build_image", json!({"session_id": "shared"})),
                ("scan_image", json!({"session_id": "shared"})),
                ("tag_image", json!({"session_id": "shared", "tag": "v2"})),
                ("push_image", json!({"session_id": "shared"})),
                ("generate_k8s_manifests", json!({"session_id": "shared"})),
                ("prepare_cluster", json!({"session_id": "shared"})),
                ("deploy_application", json!({"session_id": "shared"})),
                ("verify_deployment", json!({"session_id": "shared"})),
            ];
            let tasks: Vec<_> = calls
                .into_iter()
                .map(|(name, args)| {
                    let tools = f.tools.clone();
                    tokio::spawn(async move { call(&tools, name, args).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        }
        assert_eq!(
            step_runs(&f.tools).await,
            10 + 30,
            "a step's record was lost"
        );
        let status = call(&f.tools, "workflow_status", json!({"session_id": "shared"}))
            .await
            .unwrap()
            .structured;
        assert_eq!(status["progress_percent"], 100.0);
        assert_eq!(
            status["version"].as_u64().unwrap(),
            1 + 1 + 40,
            "one create, one init, forty step records: the twelve skipped confirmations (push, prepare and deploy four times each, dry run) ride their steps' own updates"
        );
        let s = call(&f.tools, "get_session", json!({"session_id": "shared"}))
            .await
            .unwrap()
            .structured;
        let confirmations = s["session"]["metadata"]["workflow_state"]["metadata"]
            ["confirmations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(confirmations.len(), 12, "{confirmations:?}");
        assert!(confirmations
            .iter()
            .all(|c| c["decision"] == "skipped" && c["reason"] == "dry_run"));
    });
}

async fn step_runs(tools: &Toolbox) -> u64 {
    let s = call(tools, "get_session", json!({"session_id": "shared"}))
        .await
        .unwrap()
        .structured;
    s["session"]["metadata"]["workflow_state"]["metadata"]["step_runs"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_busy_session_is_a_clear_tool_error_and_other_sessions_do_not_wait() {
    let rt = rt();
    let f = fixture_with(
        dry(),
        SessionsConfig {
            lock_timeout: SHORT,
            ..SessionsConfig::default()
        },
    );
    let repo = repo(f.dir.path(), "busy", "go");
    rt.block_on(async {
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "held"}),
        )
        .await
        .unwrap();
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "free"}),
        )
        .await
        .unwrap();
        let guard = f
            .tools
            .sessions()
            .lock(&session_core::SessionId::new("held").unwrap())
            .await
            .unwrap();
        let err = call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "held", "repo_path": repo}),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, mcp_tools::ToolErrorKind::SessionBusy);
        assert!(err.message.contains("busy"), "{}", err.message);
        // Reads take no lock; other sessions do not wait.
        call(&f.tools, "workflow_status", json!({"session_id": "held"}))
            .await
            .unwrap();
        call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "free", "repo_path": repo}),
        )
        .await
        .unwrap();
        drop(guard);
        call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "held", "repo_path": repo}),
        )
        .await
        .unwrap();
    });
}
