//! The tools' typed results, each sent as a JSON object (`structuredContent`) with its schema.
//! States are enums serialized to the wire names clients already read (`completed`,
//! `started`, …).

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use crate::state::{Step, StepState, WorkflowError, WorkflowStatus};

/// The result of a step tool; `A` is the step's artifact.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StepResult<A = Value> {
    /// The workflow's session id.
    pub session_id: String,
    /// The step that ran.
    pub step: Step,
    /// Always true in a result (a failed step is a tool error instead).
    pub success: bool,
    /// One line for humans: the step, whether it was a dry run, the next step.
    pub summary: String,
    /// What the step produced, as stored in the workflow under the step's artifact key
    /// (`analyze_result`, `build_result`, …) for later steps to read.
    pub artifact: A,
    /// The step tool to call next; absent when every step has completed.
    pub next_step: Option<Step>,
    /// Share of the ten steps completed or skipped after this call, 0-100.
    pub progress_percent: f64,
    /// True when the server runs with --dry-run: external commands were recorded in the
    /// artifact, not executed.
    pub dry_run: bool,
}

/// The result of `start_workflow`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StartWorkflowResult {
    /// The workflow's session id: pass it to every step tool.
    pub session_id: String,
    /// The repository, canonicalized.
    pub repo_path: String,
    /// The workflow's status after this call (`completed` after a successful `run: true`).
    pub status: WorkflowStatus,
    /// The step tool to call next; absent when every step has completed.
    pub next_step: Option<Step>,
    /// The steps this call ran, in order (empty unless `run: true`).
    pub steps_run: Vec<Step>,
    /// Share of the ten steps completed or skipped, 0-100.
    pub progress_percent: f64,
    /// True when this call created the session; false when it continued an existing one.
    pub created: bool,
    /// The step run last (empty before the first; the Go server's field).
    pub current_step: String,
    /// The Go server's field names, for prompts and scripts written for container-kit.
    #[serde(flatten)]
    pub go: GoWorkflowFields,
}

/// One step's state under the Go server's names (`step_statuses` in `workflow_status` and
/// `start_workflow`).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct GoStepStatus {
    /// The step (and the tool that runs it).
    pub step: Step,
    /// Where the step stands: `completed`, `failed`, `skipped` or `pending`.
    pub status: StepState,
}

/// The Go server's workflow fields that `workflow_status` and `start_workflow` answer with
/// beside their own (`session_id`, `repo_path`, `current_step` and `next_step` are shared).
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct GoWorkflowFields {
    /// Always true in a result (a failure is a tool error instead).
    pub success: bool,
    /// The workflow's overall status (the same value as `status`).
    pub current_status: WorkflowStatus,
    /// Steps completed, each once, in completion order.
    pub completed_steps: Vec<String>,
    /// Steps whose last run failed.
    pub failed_steps: Vec<String>,
    /// Every step in workflow order with its state (the same as `steps`, as `{step, status}`).
    pub step_statuses: Vec<GoStepStatus>,
    /// How many steps the workflow has (10).
    pub total_steps: u32,
    /// Share of the steps completed or skipped, 0-100, as a whole number (`progress_percent`
    /// rounded).
    pub progress_percentage: u32,
    /// When this answer was made, RFC 3339.
    pub timestamp: String,
}

/// One step's state in `workflow_status`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StepStatus {
    /// The step (and the tool that runs it).
    pub name: Step,
    /// Where the step stands.
    pub status: StepState,
}

/// The result of `workflow_status`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct WorkflowStatusResult {
    /// The workflow's session id.
    pub session_id: String,
    /// The repository being containerized.
    pub repo_path: String,
    /// The workflow's overall status.
    pub status: WorkflowStatus,
    /// The step run last (empty before the first).
    pub current_step: String,
    /// Share of the ten steps completed or skipped, 0-100.
    pub progress_percent: f64,
    /// Every step in workflow order, with its state.
    pub steps: Vec<StepStatus>,
    /// The step tool to call next; absent when every step has completed.
    pub next_step: Option<Step>,
    /// The last failure (`step`, `attempt`, `message`), when the last step run failed.
    pub error: Option<WorkflowError>,
    /// The artifact keys stored so far (`analyze_result`, `build_result`, …).
    pub artifacts: Vec<String>,
    /// The session record's version: it grows by one with every write.
    pub version: u64,
    /// The Go server's field names, for prompts and scripts written for container-kit.
    #[serde(flatten)]
    pub go: GoWorkflowFields,
}

/// A tool's description in `list_tools`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ToolInfo {
    /// The name to call it by.
    pub name: String,
    /// What it does and when to call it.
    pub description: String,
    /// True when it changes nothing.
    pub read_only: bool,
}

/// The result of `list_tools`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ListToolsResult {
    /// Every tool, in workflow order then utilities.
    pub tools: Vec<ToolInfo>,
}

/// The result of `ping`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PingResult {
    /// `pong`, or the echoed message.
    pub message: String,
    /// The server's clock, RFC 3339.
    pub timestamp: String,
}

/// The result of `server_status`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ServerStatusResult {
    /// The server's name.
    pub name: String,
    /// The server's version.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// The session store backend (`redb`, `sled`, `etcd`, `memory`).
    pub backend: String,
    /// Stored sessions (expired ones included until purged).
    pub session_count: u64,
    /// The session service's counters since start (commits, conflicts, retries, lock waits).
    pub stats: Value,
    /// True when external commands are only recorded (--dry-run).
    pub dry_run: bool,
    /// The loaded policy modules (`--policy`) and their `deny`/`warn` rules; empty without.
    pub policy_rules: Vec<crate::policy::PolicyRule>,
}

/// One session in `list_sessions`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionSummary {
    /// The session's id: pass it to workflow_status, get_session or a step tool.
    pub session_id: String,
    /// The session's status: `active`, `expired` or `suspended`.
    pub status: String,
    /// True when its time to live has run out (it is purged soon; reads fail as expired).
    pub expired: bool,
    /// The stage the session is in (`workflow` for sessions of start_workflow).
    pub stage: String,
    /// When it was created, RFC 3339.
    pub created_at: String,
    /// When it was last written, RFC 3339.
    pub updated_at: String,
    /// When it expires unless written again, RFC 3339.
    pub expires_at: String,
    /// The status of its workflow; absent when it holds none.
    pub workflow_status: Option<WorkflowStatus>,
    /// The step its workflow ran last; absent when it holds no workflow.
    pub current_step: Option<String>,
    /// Its labels (e.g. `source: mcp`), filterable with `label`.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its record version.
    pub version: u64,
}

/// The result of `list_sessions`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ListSessionsResult {
    /// One page of sessions, in id order.
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The result of `get_session`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct GetSessionResult {
    /// The session's id.
    pub session_id: String,
    /// Its record version.
    pub version: u64,
    /// The whole session as stored (the Go server's JSON field names), with the workflow
    /// state at `metadata.workflow_state`.
    pub session: Value,
}

/// The result of `delete_session`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DeleteSessionResult {
    /// The deleted session's id.
    pub session_id: String,
    /// Always true in a result (deleting an unknown session is an error).
    pub deleted: bool,
}

/// The result of `validate_dockerfile`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ValidateDockerfileResult {
    /// The Dockerfile checked (`None` for given text).
    pub path: Option<String>,
    /// 0–100: 100 less 20 per error, 8 per warning, 2 per info, 1 per style finding.
    pub score: u32,
    /// The number of errors (fix them before building).
    pub errors: usize,
    /// The number of warnings.
    pub warnings: usize,
    /// Every finding `{rule, severity, line, message, fix, source}`, by line.
    pub findings: Vec<crate::dockerfile::Finding>,
    /// Whether hadolint's findings are merged in (it was on PATH and ran).
    pub hadolint: bool,
    /// Whether the repository's analysis informed the rules (port, health path, toolchain).
    pub analysis: bool,
    /// What to call next.
    pub next: String,
    /// The organisation policy's `warn` messages for this Dockerfile (`--policy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_warnings: Vec<crate::policy::PolicyViolation>,
}

/// The result of `fix_dockerfile`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct FixDockerfileResult {
    /// Where the fixed Dockerfile was written (`None`: not written).
    pub path: Option<String>,
    /// Where the previous Dockerfile was moved.
    pub backup: Option<String>,
    /// Each change made, with its rule and line.
    pub changes: Vec<crate::dockerfile::Change>,
    /// What is left for a person: the findings on the fixed text.
    pub left: Vec<crate::dockerfile::Finding>,
    /// What to check after the changes (a new USER's write access, …).
    pub notes: Vec<String>,
    /// The score before and after.
    pub score_before: u32,
    pub score_after: u32,
    /// The errors left (0 unless a rule has no mechanical fix).
    pub errors_after: usize,
    /// The fixed Dockerfile's text.
    pub content: String,
    /// The change as a unified diff.
    pub diff: String,
    /// The organisation policy's `warn` messages for the fixed Dockerfile (`--policy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_warnings: Vec<crate::policy::PolicyViolation>,
}
