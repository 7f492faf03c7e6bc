//! `prepare_cluster`, step 8: use the reachable current kubectl context, or create a local
//! kind cluster and load the image into it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{commands, deployable_image, need, repo_of, Artifact, Failure, StepTool};
use crate::error::ToolError;
use crate::exec::{self, CommandRecord};
use crate::params::{FixParams, StepParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `cluster_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ClusterArtifact {
    /// `current-context` (kubectl's reachable cluster) or `kind-container-kit`.
    pub cluster: String,
    /// True when this step created a kind cluster (never in dry-run).
    pub created: bool,
    /// The commands, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
}

impl Artifact for ClusterArtifact {
    const STEP: Step = Step::PrepareCluster;
}

pub(crate) struct PrepareCluster;

impl StepTool for PrepareCluster {
    const TITLE: &'static str = "Prepare a cluster";
    const DESCRIPTION: &'static str = "Step 8: make a Kubernetes cluster reachable (the current kubectl context, or a kind cluster).";
    const DESTRUCTIVE: bool = true;
    const LONG_RUNNING: bool = true;
    type Params = StepParams;
    type Input = ();
    type Artifact = ClusterArtifact;

    fn validate(_: &Toolbox, _: &StepParams, _: &CallContext) -> Result<(), ToolError> {
        Ok(())
    }

    async fn work(tools: &Toolbox, _: (), st: WorkflowState) -> Result<ClusterArtifact, Failure> {
        let repo = need(repo_of(&st), Step::PrepareCluster, "a repository")?;
        let x = &tools.config().exec;
        // A reachable current context is used as it is; otherwise a local kind cluster.
        if !x.dry_run {
            if let Ok(info) = exec::run(x, &x.kubectl, &["cluster-info".into()], &repo).await {
                return Ok(ClusterArtifact {
                    cluster: "current-context".into(),
                    created: false,
                    commands: vec![info],
                });
            }
        }
        let name = || vec!["--name".to_owned(), "container-kit".to_owned()];
        let mut cmds = vec![(
            x.kind.clone(),
            [vec!["create".into(), "cluster".into()], name()].concat(),
        )];
        if let Some(image) = deployable_image(&st) {
            cmds.push((
                x.kind.clone(),
                [vec!["load".into(), "docker-image".into(), image], name()].concat(),
            ));
        }
        let commands = commands(tools, &repo, cmds).await?;
        // In dry-run nothing was created: the commands are only recorded.
        let created = commands.iter().all(|c| c.executed);
        Ok(ClusterArtifact {
            cluster: "kind-container-kit".into(),
            created,
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
