//! `deploy_application`, step 9: apply the workflow's manifests with kubectl.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::generate_k8s_manifests::ManifestArtifact;
use super::{artifact, commands, need, repo_of, Artifact, Failure, StepTool};
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::params::{FixParams, StepParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `deploy_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DeployArtifact {
    /// The manifest file applied.
    pub manifest: String,
    /// The `kubectl apply` command, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
    /// The organisation policy's `warn` messages for this deployment (`--policy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_warnings: Vec<crate::policy::PolicyViolation>,
}

impl Artifact for DeployArtifact {
    const STEP: Step = Step::DeployApplication;
}

pub(crate) struct DeployApplication;

impl StepTool for DeployApplication {
    const TITLE: &'static str = "Deploy the application";
    const DESCRIPTION: &'static str = "Step 9: apply the manifests with kubectl.";
    const DESTRUCTIVE: bool = true;
    const LONG_RUNNING: bool = true;
    type Params = StepParams;
    type Input = ();
    type Artifact = DeployArtifact;

    fn validate(_: &Toolbox, _: &StepParams, _: &CallContext) -> Result<(), ToolError> {
        Ok(())
    }

    async fn work(tools: &Toolbox, _: (), st: WorkflowState) -> Result<DeployArtifact, Failure> {
        let step = Step::DeployApplication;
        let repo = need(repo_of(&st), step, "a repository")?;
        let k8s = artifact::<ManifestArtifact>(&st);
        let overlay = k8s.as_ref().and_then(|k| k.overlays.first().cloned());
        let manifest = k8s.map(|k| k.path).filter(|p| !p.is_empty());
        let manifest = need(manifest, step, "Kubernetes manifests")?;
        let policy_warnings = crate::policy::check_step(tools, || {
            let mut input = crate::policy::PolicyInput::from_state(step.name(), &st, Value::Null);
            input.params = deploy_params(&input.manifests);
            input
        })?;
        let kubectl = tools.config().exec.kubectl.clone();
        // A kustomize layout is applied through its first overlay (dev).
        let args = match &overlay {
            Some(dir) => vec!["apply".into(), "-k".into(), dir.clone()],
            None => vec!["apply".into(), "-f".into(), manifest.clone()],
        };
        let commands = commands(tools, &repo, vec![(kubectl, args)]).await?;
        Ok(DeployArtifact {
            manifest,
            commands,
            policy_warnings,
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> StepParams {
        StepParams {
            session_id: session_id.into(),
            fix: FixParams::default(),
        }
    }
}

/// The deployment's parameters for the policy: the images its manifests name and the
/// namespace they go to (`default` when they name none).
fn deploy_params(manifests: &[Value]) -> Value {
    let namespace = manifests
        .iter()
        .find_map(|m| m.pointer("/metadata/namespace").and_then(Value::as_str))
        .unwrap_or("default");
    let images: Vec<&str> = manifests
        .iter()
        .filter_map(|m| m.pointer("/spec/template/spec/containers"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect();
    serde_json::json!({ "namespace": namespace, "images": images, "image": images.first() })
}
