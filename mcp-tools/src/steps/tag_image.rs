//! `tag_image`, step 5: give the built image the caller's tag.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{built_image, commands, need, repo_of, Artifact, Failure, StepTool};
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::params::{FixParams, TagParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `tag_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TagArtifact {
    /// The built image that was tagged.
    pub source: String,
    /// The new reference, `<name>:<tag>`; push_image pushes it.
    pub target: String,
    /// The tag given.
    pub tag: String,
    /// The tag command, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
}

impl Artifact for TagArtifact {
    const STEP: Step = Step::TagImage;
}

pub(crate) struct TagImage;

impl StepTool for TagImage {
    const TITLE: &'static str = "Tag the image";
    const DESCRIPTION: &'static str = "Step 5: tag the built image.";
    type Params = TagParams;
    type Input = String;
    type Artifact = TagArtifact;

    /// The tag, trimmed, if it is a valid image tag.
    fn validate(_: &Toolbox, p: &TagParams, _: &CallContext) -> Result<String, ToolError> {
        let tag = p.tag.trim().to_owned();
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if valid {
            Ok(tag)
        } else {
            Err(ToolError::invalid(format!(
                "tag {:?} is not a valid image tag (1-128 of A-Z a-z 0-9 . _ -)",
                p.tag
            )))
        }
    }

    async fn work(tools: &Toolbox, tag: String, st: WorkflowState) -> Result<TagArtifact, Failure> {
        let step = Step::TagImage;
        let image = need(built_image(&st), step, "a built image")?;
        let repo = need(repo_of(&st), step, "a repository")?;
        let name = image.rsplit_once(':').map_or(image.as_str(), |(n, _)| n);
        let target = format!("{name}:{tag}");
        let engine = tools.config().exec.container_engine.clone();
        let args = vec!["tag".into(), image.clone(), target.clone()];
        let commands = commands(tools, &repo, vec![(engine, args)]).await?;
        Ok(TagArtifact {
            source: image,
            target,
            tag,
            commands,
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> TagParams {
        TagParams {
            session_id: session_id.into(),
            tag: "latest".into(),
            fix: FixParams::default(),
        }
    }
}
