//! `generate_dockerfile`, step 2: write the given Dockerfile, or one generated from the
//! analysis together with its `.dockerignore`, into the repository (a different existing
//! file is kept as `Dockerfile.orig` / `.dockerignore.orig`, never replaced).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::path::{Path, PathBuf};

use super::{artifact, need, Artifact, Failure, RepoHandle, StepTool};
use crate::analyze::AnalyzeResult;
use crate::error::ToolError;
use crate::generate;
use crate::params::{DockerfileParams, FixParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `dockerfile_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DockerfileArtifact {
    /// Where the Dockerfile was written; `build_image` builds from it.
    pub path: String,
    /// Where the user's previous, different Dockerfile was moved, if there was one.
    pub backup: Option<String>,
    /// False when the file already held exactly this content.
    pub changed: bool,
    /// True when the content was generated from the analysis, false when it was given.
    pub generated: bool,
    /// The Dockerfile's text.
    pub content: String,
    /// Where the generated ignore file was written (`.dockerignore`, or
    /// `Dockerfile.dockerignore` when the build context lies above the repository); `None`
    /// when the Dockerfile was given (a user's Dockerfile may need what it would skip).
    pub dockerignore: Option<String>,
    /// Where the user's previous, different ignore file was moved, if there was one.
    pub dockerignore_backup: Option<String>,
}

impl Artifact for DockerfileArtifact {
    const STEP: Step = Step::GenerateDockerfile;
}

pub(crate) struct GenerateDockerfile;

impl StepTool for GenerateDockerfile {
    const TITLE: &'static str = "Write a Dockerfile";
    const DESCRIPTION: &'static str = "Step 2: write a Dockerfile into the repository (dockerfile_content, or generated from the analysis with a .dockerignore). A different existing file is kept as <name>.orig.";
    type Params = DockerfileParams;
    /// The given content, and the client's roots the repository is re-checked against.
    type Input = (Option<String>, Vec<PathBuf>);
    type Artifact = DockerfileArtifact;

    fn validate(
        tools: &Toolbox,
        p: &DockerfileParams,
        ctx: &CallContext,
    ) -> Result<(Option<String>, Vec<PathBuf>), ToolError> {
        tools.check_content("dockerfile_content", &p.dockerfile_content)?;
        Ok((p.dockerfile_content.clone(), ctx.roots.clone()))
    }

    async fn work(
        tools: &Toolbox,
        (given, roots): (Option<String>, Vec<PathBuf>),
        st: WorkflowState,
    ) -> Result<DockerfileArtifact, Failure> {
        let step = Step::GenerateDockerfile;
        let repo = RepoHandle::open(tools, &st, &roots, step)?;
        let write = |name: &str, content: &str| repo.write(Path::new(name), content);
        let (content, ignore) = match given {
            Some(c) => (c, None),
            None => {
                let a: AnalyzeResult = need(artifact(&st), step, "the repository analysis")?;
                let ignore = write(generate::dockerignore_name(&a), &generate::dockerignore(&a))?;
                (generate::dockerfile(&a), Some(ignore))
            }
        };
        let w = write("Dockerfile", &content)?;
        Ok(DockerfileArtifact {
            path: w.path,
            backup: w.backup,
            changed: w.changed,
            generated: ignore.is_some(),
            content,
            dockerignore_backup: ignore.as_ref().and_then(|i| i.backup.clone()),
            dockerignore: ignore.map(|i| i.path),
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> DockerfileParams {
        DockerfileParams {
            session_id: session_id.into(),
            dockerfile_content: None,
            fix: FixParams::default(),
        }
    }
}
