//! `generate_dockerfile`, step 2: write the given Dockerfile, or one generated from the
//! analysis, into the repository (a different existing one is kept as `Dockerfile.orig`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{artifact, need, repo_of, Artifact, Failure, StepTool};
use crate::analyze::AnalyzeResult;
use crate::error::ToolError;
use crate::generate::{self, write_file};
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
}

impl Artifact for DockerfileArtifact {
    const STEP: Step = Step::GenerateDockerfile;
}

pub(crate) struct GenerateDockerfile;

impl StepTool for GenerateDockerfile {
    const TITLE: &'static str = "Write a Dockerfile";
    const DESCRIPTION: &'static str = "Step 2: write a Dockerfile into the repository (dockerfile_content, or generated from the analysis). A different existing Dockerfile is kept as Dockerfile.orig.";
    type Params = DockerfileParams;
    type Input = Option<String>;
    type Artifact = DockerfileArtifact;

    fn validate(
        tools: &Toolbox,
        p: &DockerfileParams,
        _: &CallContext,
    ) -> Result<Option<String>, ToolError> {
        tools.check_content("dockerfile_content", &p.dockerfile_content)?;
        Ok(p.dockerfile_content.clone())
    }

    async fn work(
        _: &Toolbox,
        given: Option<String>,
        st: WorkflowState,
    ) -> Result<DockerfileArtifact, Failure> {
        let step = Step::GenerateDockerfile;
        let repo = need(repo_of(&st), step, "a repository")?;
        let (content, generated) = match given {
            Some(c) => (c, false),
            None => {
                let a: AnalyzeResult = need(artifact(&st), step, "the repository analysis")?;
                (generate::dockerfile(&a), true)
            }
        };
        let path = repo.join("Dockerfile");
        let w = write_file(&path, &content)
            .map_err(|e| Failure::Ran(format!("cannot write {}: {e}", path.display())))?;
        Ok(DockerfileArtifact {
            path: w.path,
            backup: w.backup,
            changed: w.changed,
            generated,
            content,
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
