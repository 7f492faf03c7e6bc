//! The Go server's stored sessions decode: sessions, workflow states, float64 numbers.

use mcp_tools::{AnalyzeResult, Step, WorkflowState, WorkflowStatus};
use session_core::Session;

const FIXTURE: &str = include_str!("../data/container-kit-sessions.jsonl");

#[test]
fn every_go_session_and_workflow_state_decodes() {
    let mut with_error = 0;
    let mut n = 0;
    for line in FIXTURE.lines().filter(|l| !l.trim().is_empty()) {
        let session: Session = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let state = WorkflowState::from_session(&session)
            .unwrap()
            .expect("every fixture session holds a workflow");
        assert_eq!(state.session_id, session.id.as_str());
        assert!(matches!(
            state.status,
            WorkflowStatus::Running
                | WorkflowStatus::Error
                | WorkflowStatus::Completed
                | WorkflowStatus::Started
                | WorkflowStatus::Initialized
        ));
        for step in &state.completed_steps {
            assert!(Step::from_name(step).is_some(), "unknown step {step}");
        }
        let analysis: AnalyzeResult = state
            .artifact(Step::AnalyzeRepository)
            .expect("analyze_result decodes");
        assert!(
            analysis.port > 0,
            "float64 port decoded as {}",
            analysis.port
        );
        if let Some(e) = &state.error {
            assert!(e.attempt >= 1 && !e.message.is_empty());
            with_error += 1;
        }
        // Re-encoding keeps the Go field names.
        let mut copy = session.clone();
        state.store_into(&mut copy);
        let v = serde_json::to_value(&copy).unwrap();
        for key in [
            "session_id",
            "repo_path",
            "status",
            "current_step",
            "completed_steps",
            "failed_steps",
            "skip_steps",
            "artifacts",
            "metadata",
        ] {
            assert!(
                v["metadata"]["workflow_state"].get(key).is_some(),
                "{key} missing"
            );
        }
        n += 1;
    }
    assert_eq!(n, 60);
    assert!(
        with_error > 0,
        "the fixture's error objects were not exercised"
    );
}

#[test]
fn go_status_and_attempt_numbers_are_read() {
    let line = FIXTURE.lines().find(|l| l.contains("\"error\":{")).unwrap();
    let session: Session = serde_json::from_str(line).unwrap();
    let state = WorkflowState::from_session(&session).unwrap().unwrap();
    assert_eq!(state.status, WorkflowStatus::Error);
    assert!(state.error.unwrap().attempt >= 1);
}
