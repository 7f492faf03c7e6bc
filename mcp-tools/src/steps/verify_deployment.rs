//! `verify_deployment`, step 10: wait for the rollout and list the app's pods.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::deploy_application::DeployArtifact;
use super::generate_k8s_manifests::ManifestArtifact;
use super::{artifact, commands, image_name, need, repo_of, Artifact, Failure, StepTool};
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::params::{FixParams, StepParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `verify_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct VerifyArtifact {
    /// The app (Deployment name and `app` label) checked.
    pub app: String,
    /// True when the rollout was really waited for and finished (never in dry-run).
    pub ready: bool,
    /// The rollout and pod commands, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
}

impl Artifact for VerifyArtifact {
    const STEP: Step = Step::VerifyDeployment;
}

pub(crate) struct VerifyDeployment;

impl StepTool for VerifyDeployment {
    const IDEMPOTENT: bool = true;
    const TITLE: &'static str = "Verify the deployment";
    const DESCRIPTION: &'static str = "Step 10: wait for the rollout and check the pods.";
    type Params = StepParams;
    type Input = ();
    type Artifact = VerifyArtifact;

    fn validate(_: &Toolbox, _: &StepParams, _: &CallContext) -> Result<(), ToolError> {
        Ok(())
    }

    async fn work(tools: &Toolbox, _: (), st: WorkflowState) -> Result<VerifyArtifact, Failure> {
        let step = Step::VerifyDeployment;
        let repo = need(repo_of(&st), step, "a repository")?;
        need(artifact::<DeployArtifact>(&st), step, "a deployment")?;
        let app = artifact::<ManifestArtifact>(&st)
            .map(|k| k.app)
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| image_name(&st, &repo));
        let kubectl = tools.config().exec.kubectl.clone();
        let rollout = vec![
            "rollout".into(),
            "status".into(),
            format!("deployment/{app}"),
            "--timeout=120s".into(),
        ];
        let pods = vec![
            "get".into(),
            "pods".into(),
            "-l".into(),
            format!("app={app}"),
            "-o".into(),
            "wide".into(),
        ];
        let commands = commands(
            tools,
            &repo,
            vec![(kubectl.clone(), rollout), (kubectl, pods)],
        )
        .await?;
        // Ready only when the rollout was really waited for, not in dry-run.
        let ready = commands.iter().all(|c| c.executed);
        Ok(VerifyArtifact {
            app,
            ready,
            commands,
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> StepParams {
        StepParams {
            session_id: session_id.into(),
            fix: FixParams::default(),
        }
    }
}
