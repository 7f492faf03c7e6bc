//! What a step run leaves in the workflow's metadata besides its outcome: the run itself in
//! `step_history`, and the repair context it carried in `last_fix`.

use serde::Serialize;
use serde_json::Value;

use crate::params::FixParams;
use crate::state::{Step, WorkflowState};

/// The most step runs `metadata.step_history` keeps (the oldest are dropped).
const STEP_HISTORY_CAP: usize = 100;

/// Appends one step run — the step, when it started (its lock held) and finished (before
/// its outcome was recorded, in the same update), and whether it succeeded — to
/// `metadata.step_history`: what an operator (and a test) reads to see that the step runs
/// on one session did not overlap, across processes too.
pub(super) fn record_run(
    st: &mut WorkflowState,
    step: Step,
    started: chrono::DateTime<chrono::Utc>,
    finished: chrono::DateTime<chrono::Utc>,
    ok: bool,
) {
    let mut history = match st.metadata.remove("step_history") {
        Some(Value::Array(runs)) => runs,
        _ => Vec::new(),
    };
    let stamp =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    history.push(serde_json::json!({
        "step": step.name(),
        "started_at": stamp(started),
        "finished_at": stamp(finished),
        "success": ok,
    }));
    let excess = history.len().saturating_sub(STEP_HISTORY_CAP);
    history.drain(..excess);
    st.metadata
        .insert("step_history".into(), Value::Array(history));
}

/// The repair context of the last step call that carried one, kept at the workflow's
/// `metadata.last_fix` (the Go server's shape: the step and the three fix fields).
#[derive(Serialize)]
pub(super) struct LastFix<'a> {
    pub(super) step: Step,
    #[serde(flatten)]
    pub(super) fix: &'a FixParams,
}
