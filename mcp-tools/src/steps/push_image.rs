//! `push_image`, step 6: push the tagged image, re-tagged for a registry when one is given.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::tag_image::TagArtifact;
use super::{artifact, built_image, commands, need, repo_of, Artifact, Failure, StepTool};
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::params::{FixParams, PushParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `push_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PushArtifact {
    /// The reference pushed (`<registry>/<name>:<tag>` with a registry); deployments use it.
    pub image: String,
    /// The registry given, normalized (no trailing `/`).
    pub registry: Option<String>,
    /// The tag and push commands, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
}

impl Artifact for PushArtifact {
    const STEP: Step = Step::PushImage;
}

pub(crate) struct PushImage;

impl StepTool for PushImage {
    const TITLE: &'static str = "Push the image";
    const DESCRIPTION: &'static str = "Step 6: push the tagged image, to registry when given.";
    type Params = PushParams;
    type Input = Option<String>;
    type Artifact = PushArtifact;

    /// The registry without surrounding blanks or trailing `/`, if given and well formed.
    fn validate(_: &Toolbox, p: &PushParams, _: &CallContext) -> Result<Option<String>, ToolError> {
        let registry = p
            .registry
            .as_deref()
            .map(|r| r.trim().trim_end_matches('/').to_owned())
            .filter(|r| !r.is_empty());
        if let Some(r) = &registry {
            if r.contains(char::is_whitespace) || r.contains("://") {
                return Err(ToolError::invalid(format!(
                    "registry {r:?} must be a host[/namespace], without a scheme"
                )));
            }
        }
        Ok(registry)
    }

    async fn work(
        tools: &Toolbox,
        registry: Option<String>,
        st: WorkflowState,
    ) -> Result<PushArtifact, Failure> {
        let step = Step::PushImage;
        let tagged = artifact::<TagArtifact>(&st)
            .map(|t| t.target)
            .filter(|t| !t.is_empty());
        let source = need(tagged.or_else(|| built_image(&st)), step, "a tagged image")?;
        let repo = need(repo_of(&st), step, "a repository")?;
        let engine = tools.config().exec.container_engine.clone();
        let (target, mut cmds) = match &registry {
            Some(r) => {
                let base = source.rsplit('/').next().unwrap_or(&source);
                let target = format!("{r}/{base}");
                (
                    target.clone(),
                    vec![(engine.clone(), vec!["tag".into(), source.clone(), target])],
                )
            }
            None => (source.clone(), Vec::new()),
        };
        cmds.push((engine, vec!["push".into(), target.clone()]));
        let commands = commands(tools, &repo, cmds).await?;
        Ok(PushArtifact {
            image: target,
            registry,
            commands,
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> PushParams {
        PushParams {
            session_id: session_id.into(),
            registry: None,
            fix: FixParams::default(),
        }
    }
}
