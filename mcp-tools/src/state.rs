//! The typed workflow state, kept at `metadata["workflow_state"]` of a session with the Go
//! server's field names, and the ten steps of the workflow.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use session_core::{Session, SessionId, StoreError};

/// The metadata key the workflow state lives under.
pub const STATE_KEY: &str = "workflow_state";

/// The ten steps, in workflow order.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Detect language, framework, port, build and start commands.
    AnalyzeRepository,
    /// Write a Dockerfile.
    GenerateDockerfile,
    /// Build the image.
    BuildImage,
    /// Scan the image for vulnerabilities.
    ScanImage,
    /// Tag the image.
    TagImage,
    /// Push the image to a registry.
    PushImage,
    /// Write Kubernetes manifests.
    GenerateK8sManifests,
    /// Make a cluster ready.
    PrepareCluster,
    /// Apply the manifests.
    DeployApplication,
    /// Wait for the rollout and check the pods.
    VerifyDeployment,
}

impl Step {
    /// Every step in workflow order.
    pub const ALL: [Step; 10] = [
        Step::AnalyzeRepository,
        Step::GenerateDockerfile,
        Step::BuildImage,
        Step::ScanImage,
        Step::TagImage,
        Step::PushImage,
        Step::GenerateK8sManifests,
        Step::PrepareCluster,
        Step::DeployApplication,
        Step::VerifyDeployment,
    ];

    /// The tool name, which is also the step name in the state: the one place a step tool's
    /// name is written (the tool registry reads it from here).
    pub const fn name(self) -> &'static str {
        match self {
            Step::AnalyzeRepository => "analyze_repository",
            Step::GenerateDockerfile => "generate_dockerfile",
            Step::BuildImage => "build_image",
            Step::ScanImage => "scan_image",
            Step::TagImage => "tag_image",
            Step::PushImage => "push_image",
            Step::GenerateK8sManifests => "generate_k8s_manifests",
            Step::PrepareCluster => "prepare_cluster",
            Step::DeployApplication => "deploy_application",
            Step::VerifyDeployment => "verify_deployment",
        }
    }

    /// The step named `name`, if any.
    pub fn from_name(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The artifact key the step's result is stored under.
    pub fn artifact_key(self) -> &'static str {
        match self {
            Step::AnalyzeRepository => "analyze_result",
            Step::GenerateDockerfile => "dockerfile_result",
            Step::BuildImage => "build_result",
            Step::ScanImage => "scan_result",
            Step::TagImage => "tag_result",
            Step::PushImage => "push_result",
            Step::GenerateK8sManifests => "k8s_result",
            Step::PrepareCluster => "cluster_result",
            Step::DeployApplication => "deploy_result",
            Step::VerifyDeployment => "verify_result",
        }
    }

    /// The step whose tool to call when this step fails because of an earlier one (as the
    /// Go server advised).
    pub fn remedy(self) -> Step {
        match self {
            Step::AnalyzeRepository | Step::GenerateDockerfile | Step::GenerateK8sManifests => {
                Step::AnalyzeRepository
            }
            Step::BuildImage => Step::GenerateDockerfile,
            Step::ScanImage | Step::TagImage => Step::BuildImage,
            Step::PushImage => Step::TagImage,
            Step::PrepareCluster => Step::PrepareCluster,
            Step::DeployApplication => Step::GenerateK8sManifests,
            Step::VerifyDeployment => Step::DeployApplication,
        }
    }

    /// Position in the workflow, 0-based.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where one step stands in a workflow, as `workflow_status` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// The step's last run succeeded; its artifact is stored.
    Completed,
    /// The step's last run failed; call it again (with the repair context) after fixing
    /// the cause.
    Failed,
    /// The user chose to skip the step.
    Skipped,
    /// Not run yet.
    Pending,
}

impl StepState {
    /// The wire name (`completed`, `failed`, `skipped`, `pending`).
    pub const fn as_str(self) -> &'static str {
        match self {
            StepState::Completed => "completed",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::Pending => "pending",
        }
    }
}

/// Compares with the wire name, so `state == "completed"` reads as the JSON does.
impl PartialEq<&str> for StepState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The workflow's overall status (Go: `initialized|started|running|error|completed`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    /// Created, no step run.
    #[default]
    Initialized,
    /// Started by `start_workflow`.
    Started,
    /// Steps are being run.
    Running,
    /// The last step run failed.
    Error,
    /// Every step completed.
    Completed,
}

impl WorkflowStatus {
    /// The wire name (`initialized`, `started`, `running`, `error`, `completed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Initialized => "initialized",
            WorkflowStatus::Started => "started",
            WorkflowStatus::Running => "running",
            WorkflowStatus::Error => "error",
            WorkflowStatus::Completed => "completed",
        }
    }
}

impl std::fmt::Display for WorkflowStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the workflow state of a session cannot be read or changed. The domain error of this
/// module; the tools turn it into a [`crate::ToolError`] once, at their edge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The stored `workflow_state` does not decode (hand-edited, or from an unknown
    /// version): the session must be deleted or repaired.
    #[error("session {session} holds a workflow_state that cannot be read: {source}")]
    Unreadable {
        /// The session whose metadata holds the unreadable state.
        session: SessionId,
        /// What the decoder said.
        source: serde_json::Error,
    },
    /// `start_workflow` named a session that already runs a workflow for another
    /// repository.
    #[error("session {session} already runs a workflow for {running}; use another session_id for {requested}")]
    OtherRepository {
        /// The session asked for.
        session: SessionId,
        /// The repository its workflow is for.
        running: String,
        /// The repository the call asked for.
        requested: String,
    },
    /// The session store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The last failure of the workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowError {
    /// The step that failed.
    #[serde(default)]
    pub step: String,
    /// How many times it has failed in a row.
    #[serde(default, deserialize_with = "lenient_u32")]
    pub attempt: u32,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}

/// The workflow state, field for field as the Go server stored it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WorkflowState {
    /// The session this state belongs to.
    #[serde(default)]
    pub session_id: String,
    /// The repository being containerized.
    #[serde(default)]
    pub repo_path: String,
    /// Where the workflow stands as a whole (`started`, `running`, `error`, `completed`).
    #[serde(default)]
    pub status: WorkflowStatus,
    /// The step run last.
    #[serde(default)]
    pub current_step: String,
    /// Steps completed (each once, in completion order).
    #[serde(default, deserialize_with = "null_as_default")]
    pub completed_steps: Vec<String>,
    /// Steps whose last run failed.
    #[serde(default, deserialize_with = "null_as_default")]
    pub failed_steps: Vec<String>,
    /// Steps the user chose to skip.
    #[serde(default, deserialize_with = "null_as_default")]
    pub skip_steps: Vec<String>,
    /// Step results by artifact key (`analyze_result`, `dockerfile_result`, …).
    #[serde(default, deserialize_with = "null_as_default")]
    pub artifacts: Map<String, Value>,
    /// Free-form workflow metadata (attempt counters, the last fix request, …).
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Map<String, Value>,
    /// The last failure, if the last step run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WorkflowError>,
}

impl WorkflowState {
    /// A fresh state for `session_id` on `repo_path`.
    pub fn new(session_id: &str, repo_path: &str) -> WorkflowState {
        WorkflowState {
            session_id: session_id.to_owned(),
            repo_path: repo_path.to_owned(),
            status: WorkflowStatus::Started,
            ..WorkflowState::default()
        }
    }

    /// Reads the state from a session; `Ok(None)` if the session has none.
    ///
    /// # Errors
    /// [`StateError::Unreadable`] if the stored state cannot be decoded.
    pub fn from_session(session: &Session) -> Result<Option<WorkflowState>, StateError> {
        match session.metadata.get(STATE_KEY) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|source| StateError::Unreadable {
                    session: session.id.clone(),
                    source,
                }),
        }
    }

    /// Writes the state into a session's metadata.
    pub fn store_into(&self, session: &mut Session) {
        // Serializing plain data to a Value cannot fail.
        let value = serde_json::to_value(self).unwrap_or(Value::Null);
        session.metadata.insert(STATE_KEY.to_owned(), value);
    }

    /// Whether `step` has completed.
    pub fn is_completed(&self, step: Step) -> bool {
        self.completed_steps.iter().any(|s| s == step.name())
    }

    /// Where `step` stands: completed, failed (its last run), skipped or pending.
    pub fn step_state(&self, step: Step) -> StepState {
        if self.is_completed(step) {
            StepState::Completed
        } else if self.failed_steps.iter().any(|f| f == step.name()) {
            StepState::Failed
        } else if self.is_skipped(step) {
            StepState::Skipped
        } else {
            StepState::Pending
        }
    }

    /// Whether `step` is to be skipped.
    pub fn is_skipped(&self, step: Step) -> bool {
        self.skip_steps.iter().any(|s| s == step.name())
    }

    /// The first step in order that is neither completed nor skipped.
    pub fn next_step(&self) -> Option<Step> {
        Step::ALL
            .into_iter()
            .find(|s| !self.is_completed(*s) && !self.is_skipped(*s))
    }

    /// Completed or skipped steps as a percentage of all ten.
    pub fn progress_percent(&self) -> f64 {
        let done = Step::ALL
            .iter()
            .filter(|s| self.is_completed(**s) || self.is_skipped(**s))
            .count();
        (done as f64) * 100.0 / (Step::ALL.len() as f64)
    }

    /// A step's artifact, decoded as `T`.
    pub fn artifact<T: for<'de> Deserialize<'de>>(&self, step: Step) -> Option<T> {
        self.artifacts
            .get(step.artifact_key())
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Records a completed step and its artifact.
    pub fn record_success(&mut self, step: Step, artifact: Value) {
        let name = step.name().to_owned();
        if !self.completed_steps.contains(&name) {
            self.completed_steps.push(name.clone());
        }
        self.failed_steps.retain(|s| *s != name);
        self.artifacts
            .insert(step.artifact_key().to_owned(), artifact);
        self.current_step = name;
        self.error = None;
        self.status = if self.next_step().is_none() {
            WorkflowStatus::Completed
        } else {
            WorkflowStatus::Running
        };
    }

    /// Records a failed step.
    pub fn record_failure(&mut self, step: Step, message: &str) {
        let name = step.name().to_owned();
        if !self.failed_steps.contains(&name) {
            self.failed_steps.push(name.clone());
        }
        let attempt = match &self.error {
            Some(e) if e.step == name => e.attempt.saturating_add(1),
            _ => 1,
        };
        self.error = Some(WorkflowError {
            step: name.clone(),
            attempt,
            message: message.to_owned(),
        });
        self.current_step = name;
        self.status = WorkflowStatus::Error;
    }
}

/// Accepts the Go server's float64 numbers (`2`, `2.0`) and integers alike.
fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                serde::de::Error::custom(format!("attempt {n} is not a small whole number"))
            }),
        Some(other) => Err(serde::de::Error::custom(format!(
            "attempt must be a number, not {other}"
        ))),
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_attempts_decode() {
        let e: WorkflowError =
            serde_json::from_str(r#"{"step":"build_image","attempt":2.0,"message":"x"}"#).unwrap();
        assert_eq!(e.attempt, 2);
        assert!(serde_json::from_str::<WorkflowError>(r#"{"attempt":2.5}"#).is_err());
    }

    #[test]
    fn success_and_failure_are_recorded_once() {
        let mut s = WorkflowState::new("s", "/r");
        s.record_failure(Step::BuildImage, "boom");
        s.record_failure(Step::BuildImage, "boom again");
        assert_eq!(s.error.as_ref().unwrap().attempt, 2);
        s.record_success(Step::BuildImage, serde_json::json!({"ok": true}));
        s.record_success(Step::BuildImage, serde_json::json!({"ok": true}));
        assert_eq!(s.completed_steps, ["build_image"]);
        assert!(s.failed_steps.is_empty() && s.error.is_none());
        assert_eq!(s.next_step(), Some(Step::AnalyzeRepository));
        assert_eq!(s.progress_percent(), 10.0);
    }
}
