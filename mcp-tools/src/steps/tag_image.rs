//! `tag_image`, step 5: give the built image the caller's tag (`start_workflow run: true`
//! uses [`WORKFLOW_TAG`]), so the manifests deploy a versioned reference, never `:latest`.

use oci_spec::distribution::Reference;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{built_image, commands, need, repo_of, Artifact, Failure, StepTool};
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::log_text::{log_safe, LOG_NAME_CHARS};
use crate::params::{FixParams, TagParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The tag `start_workflow run: true` gives the image: a version, not `latest`, so the
/// manifests name a reference a cluster does not re-resolve, and never a no-op
/// `docker tag x:latest x:latest`. A fixed default: to roll a rebuilt image out to a running
/// Deployment, call tag_image with a new tag (e.g. the release's version).
pub const WORKFLOW_TAG: &str = "0.1.0";

/// The `tag_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct TagArtifact {
    /// The built image that was tagged.
    pub source: String,
    /// The new reference, `<name>:<tag>` (never the built reference itself); push_image
    /// pushes it and the generated manifests deploy it.
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
    const IDEMPOTENT: bool = true;
    const TITLE: &'static str = "Tag the image";
    const DESCRIPTION: &'static str = "Step 5: tag the built image with a version (start_workflow run: true uses 0.1.0); the manifests then deploy that tag. A tag that names the built reference itself (latest) is refused.";
    type Params = TagParams;
    type Input = String;
    type Artifact = TagArtifact;

    /// The tag, trimmed, if it is a valid image tag: ASCII (OCI's grammar, which the crate
    /// implements, would also take Unicode letters), and a valid tag of an OCI reference.
    fn validate(_: &Toolbox, p: &TagParams, _: &CallContext) -> Result<String, ToolError> {
        let tag = p.tag.trim().to_owned();
        let ascii = tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        let parsed = image_reference(&format!("image:{tag}"));
        match parsed {
            Ok(r) if ascii && r.tag() == Some(tag.as_str()) => Ok(tag),
            _ => Err(ToolError::invalid(format!(
                "tag {} is not a valid image tag (1-128 of A-Z a-z 0-9 . _ -, not starting with . or -)",
                log_safe(&p.tag, LOG_NAME_CHARS)
            ))),
        }
    }

    async fn work(tools: &Toolbox, tag: String, st: WorkflowState) -> Result<TagArtifact, Failure> {
        let step = Step::TagImage;
        let image = need(built_image(&st), step, "a built image")?;
        let repo = need(repo_of(&st), step, "a repository")?;
        let name = image.rsplit_once(':').map_or(image.as_str(), |(n, _)| n);
        let target = format!("{name}:{tag}");
        image_reference(&target).map_err(Failure::Precondition)?;
        if target == image {
            return Err(Failure::Precondition(format!(
                "tag_image would retag {image} as itself: give a tag other than {tag:?} (e.g. {WORKFLOW_TAG} or a release version)"
            )));
        }
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
            tag: WORKFLOW_TAG.into(),
            fix: FixParams::default(),
        }
    }
}

/// `text` parsed as an OCI image reference (`[host[:port]/]path[:tag][@digest]`), by the
/// distribution grammar of the `oci-spec` crate. Every reference this crate hands to the
/// container engine's command line goes through it, so no argument can start with `-` or
/// hold a quote, a blank or a control character.
///
/// # Errors
/// A message quoting `text` (escaped and cut) and saying what is wrong with it.
pub(super) fn image_reference(text: &str) -> Result<Reference, String> {
    Reference::try_from(text).map_err(|e| {
        format!(
            "{} is not a valid image reference ({e})",
            log_safe(text, LOG_NAME_CHARS)
        )
    })
}
