//! `workflow_status` and `start_workflow` also answer with the Go server's field names
//! (issue 14, part 5), each with the value the workflow holds, beside the current fields, and
//! their output schemas list them.

use mcp_tools::Step;
use serde_json::{json, Value};

use super::*;

const GO_FIELDS: [&str; 12] = [
    "success",
    "session_id",
    "repo_path",
    "current_status",
    "current_step",
    "completed_steps",
    "failed_steps",
    "step_statuses",
    "total_steps",
    "progress_percentage",
    "next_step",
    "timestamp",
];

/// `step_statuses` as `(step, status)` pairs, checked to be `[{step, status}]` objects.
fn statuses(v: &Value) -> Vec<(String, String)> {
    v["step_statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let o = s.as_object().unwrap();
            assert_eq!(o.len(), 2, "{s}");
            (
                o["step"].as_str().unwrap().to_owned(),
                o["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn timestamp(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let raw = v["timestamp"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("timestamp {raw:?} is not RFC 3339: {e}"))
        .into()
}

#[test]
fn workflow_status_and_start_workflow_carry_every_go_field_with_its_value() {
    let rt = rt();
    let f = fixture(ExecConfig {
        // No such engine: build_image fails and is recorded as failed.
        container_engine: "/nonexistent/docker".into(),
        ..ExecConfig::default()
    });
    let repo = repo(f.dir.path(), "api", "go");
    let before = chrono::Utc::now();
    rt.block_on(async {
        let start = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "go-fields"}),
        )
        .await
        .unwrap()
        .structured;
        for field in GO_FIELDS {
            assert!(
                start.get(field).is_some(),
                "start_workflow lacks {field}: {start}"
            );
        }
        assert_eq!(start["success"], true);
        assert_eq!(start["session_id"], "go-fields");
        assert_eq!(start["current_status"], start["status"]);
        assert_eq!(start["current_status"], "started");
        assert_eq!(start["current_step"], "");
        assert_eq!(start["completed_steps"], json!([]));
        assert_eq!(start["failed_steps"], json!([]));
        assert_eq!(start["total_steps"], 10);
        assert_eq!(start["progress_percentage"], 0);
        assert_eq!(start["next_step"], "analyze_repository");
        let pending = statuses(&start);
        assert_eq!(pending.len(), 10);
        assert!(pending.iter().all(|(_, s)| s == "pending"), "{start}");
        assert!(timestamp(&start) >= before - chrono::Duration::seconds(1));
        let repo_path = start["repo_path"].as_str().unwrap().to_owned();

        let id = json!({"session_id": "go-fields"});
        call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "go-fields", "repo_path": repo}),
        )
        .await
        .unwrap();
        call(&f.tools, "generate_dockerfile", id.clone())
            .await
            .unwrap();
        let failed = call(&f.tools, "build_image", id.clone()).await.unwrap_err();
        assert!(
            failed.message.contains("build_image failed"),
            "{}",
            failed.message
        );

        let s = call(&f.tools, "workflow_status", id)
            .await
            .unwrap()
            .structured;
        for field in GO_FIELDS {
            assert!(s.get(field).is_some(), "workflow_status lacks {field}: {s}");
        }
        assert_eq!(s["success"], true);
        assert_eq!(s["session_id"], "go-fields");
        assert_eq!(s["repo_path"], repo_path.as_str());
        assert_eq!(s["current_status"], "error");
        assert_eq!(s["current_status"], s["status"]);
        assert_eq!(s["current_step"], "build_image");
        assert_eq!(
            s["completed_steps"],
            json!(["analyze_repository", "generate_dockerfile"])
        );
        assert_eq!(s["failed_steps"], json!(["build_image"]));
        assert_eq!(s["total_steps"], 10);
        assert_eq!(s["progress_percentage"], 20);
        assert_eq!(s["progress_percent"], 20.0);
        assert_eq!(s["next_step"], "build_image");
        let got = statuses(&s);
        let names: Vec<&str> = got.iter().map(|(step, _)| step.as_str()).collect();
        assert_eq!(names, Step::ALL.map(Step::name));
        let states: Vec<&str> = got.iter().map(|(_, st)| st.as_str()).collect();
        assert_eq!(states[..4], ["completed", "completed", "failed", "pending"]);
        assert!(states[4..].iter().all(|st| *st == "pending"));
        // The same states as the current `steps` field.
        for (go, cur) in got.iter().zip(s["steps"].as_array().unwrap()) {
            assert_eq!(go.0, cur["name"].as_str().unwrap());
            assert_eq!(go.1, cur["status"].as_str().unwrap());
        }
        assert!(timestamp(&s) >= timestamp(&start));
    });
}

#[test]
fn the_output_schemas_list_the_go_fields() {
    let catalogue = mcp_tools::catalogue();
    for tool in ["workflow_status", "start_workflow"] {
        let d = catalogue.iter().find(|d| d.name == tool).unwrap();
        let schema = &d.output_schema;
        assert_eq!(schema["type"], "object", "{tool}");
        for field in GO_FIELDS {
            assert!(
                schema["properties"].get(field).is_some(),
                "{tool}'s output schema lacks {field}: {schema}"
            );
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        for field in [
            "success",
            "current_status",
            "step_statuses",
            "total_steps",
            "timestamp",
        ] {
            assert!(
                required.contains(&field),
                "{tool}: {field} not required: {required:?}"
            );
        }
    }
}
