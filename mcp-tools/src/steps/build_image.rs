//! `build_image`, step 3: build the image from the workflow's Dockerfile with the container
//! engine (docker or podman), in the analysis's build context (the repository, or the module
//! root above it that the Dockerfile copies from).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::generate_dockerfile::DockerfileArtifact;
use super::{artifact, commands, image_name, need, repo_of, Artifact, Failure, StepTool};
use crate::analyze::AnalyzeResult;
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::params::{FixParams, StepParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `build_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BuildArtifact {
    /// The image built, `<name>:latest`; scan and tag work on it (tag_image gives it the
    /// version the manifests deploy).
    pub image: String,
    /// The image's name without tag (the app name).
    pub image_name: String,
    /// The Dockerfile it was built from.
    pub dockerfile: String,
    /// The build command, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
}

impl Artifact for BuildArtifact {
    const STEP: Step = Step::BuildImage;
}

pub(crate) struct BuildImage;

impl StepTool for BuildImage {
    const TITLE: &'static str = "Build the image";
    const DESCRIPTION: &'static str = "Step 3: build the container image with docker or podman.";
    type Params = StepParams;
    type Input = ();
    type Artifact = BuildArtifact;

    fn validate(_: &Toolbox, _: &StepParams, _: &CallContext) -> Result<(), ToolError> {
        Ok(())
    }

    async fn work(tools: &Toolbox, _: (), st: WorkflowState) -> Result<BuildArtifact, Failure> {
        let step = Step::BuildImage;
        let repo = need(repo_of(&st), step, "a repository")?;
        let dockerfile = artifact::<DockerfileArtifact>(&st)
            .map(|d| d.path)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| Some(repo.join("Dockerfile")).filter(|p| p.exists()));
        let dockerfile = need(dockerfile, step, "a Dockerfile")?;
        // The analysis's build context: the repository, or a module root above it (a
        // go.mod, a Cargo workspace, a .NET solution) the generated Dockerfile copies from.
        let context = artifact::<AnalyzeResult>(&st)
            .map(|a| a.build_context)
            .filter(|c| !matches!(c.trim().trim_end_matches('/'), "" | "."))
            .map(|c| repo.join(c.trim()))
            .map(|c| c.canonicalize().unwrap_or(c))
            .unwrap_or_else(|| repo.clone());
        let name = image_name(&st, &repo);
        let image = format!("{name}:latest");
        let engine = tools.config().exec.container_engine.clone();
        let args = vec![
            "build".into(),
            "-t".into(),
            image.clone(),
            "-f".into(),
            dockerfile.display().to_string(),
            context.display().to_string(),
        ];
        let commands = commands(tools, &repo, vec![(engine, args)]).await?;
        Ok(BuildArtifact {
            image,
            image_name: name,
            dockerfile: dockerfile.display().to_string(),
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
