//! Bad input gets a clear error and changes nothing in the store.

use serde_json::{json, Value};

use super::*;

async fn snapshot(tools: &Toolbox) -> Vec<(String, u64)> {
    let page = call(tools, "list_sessions", json!({"limit": 1000}))
        .await
        .unwrap()
        .structured;
    page["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["session_id"].as_str().unwrap().to_owned(),
                s["version"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "ok", "python");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("requirements.txt"), "flask\n").unwrap();
    let big = "x".repeat(300 * 1024);
    rt.block_on(async {
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "good"}),
        )
        .await
        .unwrap();
        let before = snapshot(&f.tools).await;
        let cases: Vec<(&str, Value, &str)> = vec![
            (
                "workflow_status",
                json!({"session_id": "nobody"}),
                "not found",
            ),
            (
                "analyze_repository",
                json!({"session_id": "nobody", "repo_path": repo}),
                "not found",
            ),
            (
                "workflow_status",
                json!({"session_id": "../etc/passwd"}),
                "invalid session id",
            ),
            (
                "get_session",
                json!({"session_id": ""}),
                "invalid session id",
            ),
            (
                "analyze_repository",
                json!({"session_id": "good"}),
                "missing field `repo_path`",
            ),
            (
                "tag_image",
                json!({"session_id": "good", "tag": 7}),
                "invalid type",
            ),
            (
                "tag_image",
                json!({"session_id": "good", "tag": "bad tag!"}),
                "not a valid image tag",
            ),
            (
                "analyze_repository",
                json!({"session_id": "good", "repo_path": outside.path()}),
                "outside the allowed roots",
            ),
            (
                "analyze_repository",
                // Outside the roots: the same error whether it exists or not (issue #18).
                json!({"session_id": "good", "repo_path": "/definitely/not/here"}),
                "outside the allowed roots",
            ),
            (
                "start_workflow",
                json!({"repo_path": outside.path()}),
                "outside the allowed roots",
            ),
            (
                "generate_dockerfile",
                json!({"session_id": "good", "dockerfile_content": big}),
                "over the limit",
            ),
            (
                "generate_k8s_manifests",
                json!({"session_id": "good", "manifests": big}),
                "over the limit",
            ),
            (
                "list_sessions",
                json!({"status": "zombie"}),
                "unknown session status",
            ),
            ("list_sessions", json!({"limit": 0}), "between 1 and 1000"),
            ("no_such_tool", json!({}), "unknown tool"),
            (
                "delete_session",
                json!({"session_id": "nobody"}),
                "not found",
            ),
        ];
        for (tool, args, expect) in cases {
            let err = call(&f.tools, tool, args.clone()).await.unwrap_err();
            assert!(err.message.contains(expect), "{tool} {args}: {err:?}");
        }
        assert_eq!(
            snapshot(&f.tools).await,
            before,
            "bad input changed the store"
        );
    });
}
