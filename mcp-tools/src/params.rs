//! The tools' typed parameters and results. Parameter names match the Go server's, so
//! existing clients and prompts keep working; every result is a JSON object with a schema.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The optional repair context every step tool accepts and records.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct FixParams {
    /// The call retries a step after a failure.
    #[serde(default)]
    pub fixing_mode: Option<bool>,
    /// The error the earlier attempt reported.
    #[serde(default)]
    pub previous_error: Option<String>,
    /// The tool that failed.
    #[serde(default)]
    pub failed_tool: Option<String>,
}

/// Parameters of a step tool that needs nothing but the session.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct StepParams {
    /// The workflow's session id (from start_workflow).
    pub session_id: String,
    /// Repair context.
    #[serde(flatten)]
    pub fix: FixParams,
}

/// `analyze_repository`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct AnalyzeParams {
    /// The workflow's session id.
    pub session_id: String,
    /// The repository to analyze (inside the workspace or the client's roots).
    pub repo_path: String,
    /// Repair context.
    #[serde(flatten)]
    pub fix: FixParams,
}

/// `generate_dockerfile`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct DockerfileParams {
    /// The workflow's session id.
    pub session_id: String,
    /// The Dockerfile to write; generated from the analysis when absent.
    #[serde(default)]
    pub dockerfile_content: Option<String>,
    /// Repair context.
    #[serde(flatten)]
    pub fix: FixParams,
}

/// `tag_image`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct TagParams {
    /// The workflow's session id.
    pub session_id: String,
    /// The tag to give the built image (e.g. `v1.2.0`).
    pub tag: String,
    /// Repair context.
    #[serde(flatten)]
    pub fix: FixParams,
}

/// `push_image`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct PushParams {
    /// The workflow's session id.
    pub session_id: String,
    /// Registry host (and namespace) to push to, e.g. `ghcr.io/acme`; the image's own name
    /// when absent.
    #[serde(default)]
    pub registry: Option<String>,
    /// Repair context.
    #[serde(flatten)]
    pub fix: FixParams,
}

/// `generate_k8s_manifests`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct ManifestParams {
    /// The workflow's session id.
    pub session_id: String,
    /// The manifests (YAML) to write; generated when absent.
    #[serde(default)]
    pub manifests: Option<String>,
    /// Repair context.
    #[serde(flatten)]
    pub fix: FixParams,
}

/// `start_workflow`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct StartWorkflowParams {
    /// The repository to containerize.
    pub repo_path: String,
    /// The session id to use; generated when absent.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Run every step in order now, reporting progress per step.
    #[serde(default)]
    pub run: Option<bool>,
}

/// Tools that take only a session id.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct SessionParams {
    /// The session id.
    pub session_id: String,
}

/// `list_sessions`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ListSessionsParams {
    /// Only sessions with this status: `active`, `expired`, `suspended`.
    #[serde(default)]
    pub status: Option<String>,
    /// Only sessions carrying this label, as `key=value`.
    #[serde(default)]
    pub label: Option<String>,
    /// Only ids starting with this.
    #[serde(default)]
    pub prefix: Option<String>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
}

/// `ping`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct PingParams {
    /// Echoed back.
    #[serde(default)]
    pub message: Option<String>,
}

/// Tools without parameters.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct NoParams {}

/// The result of a step tool.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StepResult {
    /// The session.
    pub session_id: String,
    /// The step that ran.
    pub step: String,
    /// Always true in a result (failures are tool errors).
    pub success: bool,
    /// One line for humans.
    pub summary: String,
    /// What the step produced, as stored under its artifact key.
    pub artifact: Value,
    /// The step to call next, if any remains.
    pub next_step: Option<String>,
    /// Workflow progress after this step, 0–100.
    pub progress_percent: f64,
    /// Whether external commands were only recorded.
    pub dry_run: bool,
}

/// The result of `start_workflow`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StartWorkflowResult {
    /// The workflow's session id: pass it to every step tool.
    pub session_id: String,
    /// The repository.
    pub repo_path: String,
    /// Workflow status.
    pub status: String,
    /// The step to call next.
    pub next_step: Option<String>,
    /// Steps run by this call (with `run: true`).
    pub steps_run: Vec<String>,
    /// Workflow progress, 0–100.
    pub progress_percent: f64,
    /// Whether the session was created by this call.
    pub created: bool,
}

/// One step's status in `workflow_status`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct StepStatus {
    /// The step (tool) name.
    pub name: String,
    /// `completed`, `failed`, `skipped` or `pending`.
    pub status: String,
}

/// The result of `workflow_status`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct WorkflowStatusResult {
    /// The session.
    pub session_id: String,
    /// The repository.
    pub repo_path: String,
    /// Workflow status.
    pub status: String,
    /// The step run last.
    pub current_step: String,
    /// 0–100.
    pub progress_percent: f64,
    /// Every step in order.
    pub steps: Vec<StepStatus>,
    /// The step to call next.
    pub next_step: Option<String>,
    /// The last failure.
    pub error: Option<Value>,
    /// Artifact keys present.
    pub artifacts: Vec<String>,
    /// The session record's version.
    pub version: u64,
}

/// A tool's description in `list_tools`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ToolInfo {
    /// Tool name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Whether it changes nothing.
    pub read_only: bool,
}

/// The result of `list_tools`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ListToolsResult {
    /// Every tool.
    pub tools: Vec<ToolInfo>,
}

/// The result of `ping`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct PingResult {
    /// `pong`, or the echoed message.
    pub message: String,
    /// Server time, RFC 3339.
    pub timestamp: String,
}

/// The result of `server_status`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ServerStatusResult {
    /// Server name.
    pub name: String,
    /// Server version.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// The session store backend.
    pub backend: String,
    /// Stored sessions (expired ones included until purged).
    pub session_count: u64,
    /// Session-service counters (commits, conflicts, retries, lock waits).
    pub stats: Value,
    /// Whether external commands are only recorded.
    pub dry_run: bool,
}

/// One session in `list_sessions`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct SessionSummary {
    /// Id.
    pub session_id: String,
    /// Session status.
    pub status: String,
    /// Whether its TTL has run out.
    pub expired: bool,
    /// Stage.
    pub stage: String,
    /// Created, RFC 3339.
    pub created_at: String,
    /// Last written, RFC 3339.
    pub updated_at: String,
    /// Expires, RFC 3339.
    pub expires_at: String,
    /// Workflow status, if it holds a workflow.
    pub workflow_status: Option<String>,
    /// The workflow's current step.
    pub current_step: Option<String>,
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Record version.
    pub version: u64,
}

/// The result of `list_sessions`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct ListSessionsResult {
    /// One page of sessions, by id.
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The result of `get_session`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct GetSessionResult {
    /// Id.
    pub session_id: String,
    /// Record version.
    pub version: u64,
    /// The whole session as stored (Go JSON field names).
    pub session: Value,
}

/// The result of `delete_session`.
#[derive(Clone, Debug, Serialize, JsonSchema)]
pub struct DeleteSessionResult {
    /// Id.
    pub session_id: String,
    /// Always true in a result.
    pub deleted: bool,
}
