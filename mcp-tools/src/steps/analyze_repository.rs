//! `analyze_repository`, step 1: the facts of one deployable service — stack, toolchain,
//! entrypoint, port, build context — each with its evidence (the work is `crate::analyze`);
//! its artifact is the [`AnalyzeResult`] itself. A directory that is not one service (a
//! monorepo root, a library, an unknown stack) is refused with a `not_a_service` tool error
//! that lists the candidate directories; nothing is recorded, so the assistant can call the
//! step again on one of them.

use std::time::Duration;

use super::generate_dockerfile::GenerateDockerfile;
use super::{Failure, StepTool};
use crate::analyze::{analyze_dir_reporting, AnalyzeError, AnalyzeResult, MAX_ANALYSIS_TIME};
use crate::error::{ToolError, ToolErrorKind};
use crate::params::{AnalyzeParams, FixParams};
use crate::registry::Tool;
use crate::state::WorkflowState;
use crate::toolbox::{CallContext, RepoPath, Toolbox};

pub(crate) struct AnalyzeRepository;

impl StepTool for AnalyzeRepository {
    const IDEMPOTENT: bool = true;
    const OPEN_WORLD: bool = false;
    const TITLE: &'static str = "Analyze the repository";
    const DESCRIPTION: &'static str = "Step 1: analyze the repository at repo_path: stack, toolchain version, entrypoint, port, build context, each fact with its evidence, and the checks for facts that are fallbacks. A repo_path that is not one service (a monorepo root, a library, an unknown stack) is refused with a not_a_service error listing the candidate directories: call again with repo_path set to one of them.";
    type Params = AnalyzeParams;
    type Input = RepoPath;
    type Artifact = AnalyzeResult;

    fn validate(
        tools: &Toolbox,
        p: &AnalyzeParams,
        ctx: &CallContext,
    ) -> Result<RepoPath, ToolError> {
        tools.check_repo_path(&p.repo_path, ctx)
    }

    async fn work(_: &Toolbox, repo: RepoPath, _: WorkflowState) -> Result<AnalyzeResult, Failure> {
        // The bound is the allowed root: a module root above repo_path may be read, nothing
        // outside the allowed roots can be.
        // Entries it did not read are named in the result, or in a refusal's details.
        // The analysis stops reading at its own time budget; this bound also covers a read
        // stuck inside the file system (the thread is left to finish, the session is not).
        let limit = MAX_ANALYSIS_TIME + Duration::from_secs(5);
        let analysis =
            tokio::task::spawn_blocking(move || analyze_dir_reporting(&repo.root, &repo.dir));
        let (outcome, skipped) = tokio::time::timeout(limit, analysis)
            .await
            .map_err(|_| {
                Failure::Ran(format!(
                    "the analysis did not finish within {} s: the repository's file system is too slow or stuck",
                    limit.as_secs()
                ))
            })?
            .map_err(|e| Failure::Ran(format!("analysis crashed: {e}")))?;
        outcome.map_err(|refusal| {
            let mut e = refusal_error(&refusal);
            if let (Some(map), false) = (
                e.details.as_mut().and_then(|d| d.as_object_mut()),
                skipped.is_empty(),
            ) {
                map.insert(
                    "skipped".into(),
                    serde_json::to_value(&skipped).unwrap_or_default(),
                );
            }
            Failure::Refused(e)
        })
    }

    fn workflow_params(session_id: &str, state: &WorkflowState) -> AnalyzeParams {
        AnalyzeParams {
            session_id: session_id.into(),
            repo_path: state.repo_path.clone(),
            fix: FixParams::default(),
        }
    }
}

/// The tool error of a refusal: its message (which names the candidates and their stacks),
/// the tool to call next (`analyze_repository` on a candidate; `generate_dockerfile` with
/// the user's own Dockerfile for an unknown stack), and the refusal itself as `details`
/// (`refusal`, `path`, `candidates`, and `detail` where the refusal has one).
pub(crate) fn refusal_error(refusal: &AnalyzeError) -> ToolError {
    let mut details = serde_json::to_value(refusal).unwrap_or_default();
    if let Some(map) = details.as_object_mut() {
        map.entry("candidates")
            .or_insert_with(|| serde_json::to_value(refusal.candidates()).unwrap_or_default());
    }
    // An unknown stack can still be containerized with the user's own Dockerfile (the
    // message says so); every other refusal is answered by analyzing another directory.
    let next = match refusal {
        AnalyzeError::Unknown { .. } => GenerateDockerfile::NAME,
        _ => AnalyzeRepository::NAME,
    };
    ToolError {
        kind: ToolErrorKind::NotAService,
        message: refusal.to_string(),
        next_tool: Some(next.into()),
        details: Some(details),
        guidance: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::Candidate;

    #[test]
    fn a_refusal_carries_its_kind_and_candidates() {
        let e = refusal_error(&AnalyzeError::Services {
            path: "/w/mono".into(),
            candidates: vec![Candidate {
                path: "services/api".into(),
                stack: "go".into(),
            }],
        });
        let json = e.to_json();
        assert_eq!(json["error"]["kind"], "not_a_service");
        assert_eq!(json["error"]["next_tool"], "analyze_repository");
        assert_eq!(json["error"]["details"]["refusal"], "services");
        assert_eq!(json["error"]["details"]["candidates"][0]["stack"], "go");
        assert!(e.message.contains("services/api [go]"), "{}", e.message);
        let unknown = refusal_error(&AnalyzeError::Unknown {
            path: "/w/c".into(),
            detail: "no manifest".into(),
        })
        .to_json();
        assert_eq!(unknown["error"]["details"]["refusal"], "unknown");
        assert_eq!(unknown["error"]["next_tool"], "generate_dockerfile");
        assert_eq!(
            unknown["error"]["details"]["candidates"],
            serde_json::json!([])
        );
    }
}
