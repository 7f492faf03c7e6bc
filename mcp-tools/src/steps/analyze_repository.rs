//! `analyze_repository`, step 1: detect language, framework, port, build and start commands
//! (the work is `crate::analyze`); its artifact is the [`AnalyzeResult`] itself.

use std::path::PathBuf;

use super::{Failure, StepTool};
use crate::analyze::{analyze, AnalyzeResult};
use crate::error::ToolError;
use crate::params::{AnalyzeParams, FixParams};
use crate::state::WorkflowState;
use crate::toolbox::{CallContext, Toolbox};

pub(crate) struct AnalyzeRepository;

impl StepTool for AnalyzeRepository {
    const TITLE: &'static str = "Analyze the repository";
    const DESCRIPTION: &'static str = "Step 1: analyze the repository at repo_path: language, framework, port, build and start commands.";
    type Params = AnalyzeParams;
    type Input = PathBuf;
    type Artifact = AnalyzeResult;

    fn validate(
        tools: &Toolbox,
        p: &AnalyzeParams,
        ctx: &CallContext,
    ) -> Result<PathBuf, ToolError> {
        tools.check_repo_path(&p.repo_path, ctx)
    }

    async fn work(_: &Toolbox, repo: PathBuf, _: WorkflowState) -> Result<AnalyzeResult, Failure> {
        tokio::task::spawn_blocking(move || analyze(&repo))
            .await
            .map_err(|e| Failure::Ran(format!("analysis crashed: {e}")))?
            .map_err(|refusal| Failure::Ran(refusal.to_string()))
    }

    fn workflow_params(session_id: &str, state: &WorkflowState) -> AnalyzeParams {
        AnalyzeParams {
            session_id: session_id.into(),
            repo_path: state.repo_path.clone(),
            fix: FixParams::default(),
        }
    }
}
