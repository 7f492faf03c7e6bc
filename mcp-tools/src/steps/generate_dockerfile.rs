//! `generate_dockerfile`, step 2: write the given Dockerfile, or one generated from the
//! analysis together with its `.dockerignore`, into the repository (a different existing
//! file is kept as `Dockerfile.orig` / `.dockerignore.orig`, never replaced). When the
//! repository already has a Dockerfile and none is given, `mode` decides: `keep` (the
//! default) validates it and returns the findings with a suggested patch, writing nothing;
//! `update` writes the mechanical fixes; `replace` generates a new one.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::path::{Path, PathBuf};

use super::{artifact, need, Artifact, Failure, RepoHandle, StepTool};
use crate::analyze::{AnalyzeResult, Repo};
use crate::dockerfile::{self, unified_diff, Context, Finding};
use crate::error::ToolError;
use crate::generate;
use crate::params::{DockerfileMode, DockerfileParams, FixParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};
use crate::validate_dockerfile::with_repo;

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
    /// What was done: `generated`, `given`, `kept` (the existing file left as it is) or
    /// `updated` (the existing file with the mechanical fixes).
    pub mode: String,
    /// The findings of validate_dockerfile on the Dockerfile as it now is (`kept`,
    /// `updated`).
    pub findings: Vec<Finding>,
    /// Its score 0–100 (`kept`, `updated`).
    pub score: Option<u32>,
    /// `kept`: the suggested patch, a unified diff of the mechanical fixes (mode `update`
    /// applies it); `updated`: the diff that was applied. Empty when there is nothing to fix.
    pub patch: String,
    /// The organisation policy's `warn` messages for this Dockerfile (`--policy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_warnings: Vec<crate::policy::PolicyViolation>,
}

impl Artifact for DockerfileArtifact {
    const STEP: Step = Step::GenerateDockerfile;

    fn summary(&self) -> Option<String> {
        let score = self.score?;
        Some(match self.mode.as_str() {
            "kept" => format!(
                "kept the existing Dockerfile (score {score}, {} findings{}; mode \"update\" applies the patch, \"replace\" generates a new one)",
                self.findings.len(),
                if self.patch.is_empty() { "" } else { ", a patch suggested" }
            ),
            _ => format!(
                "updated the existing Dockerfile (score {score}, {} findings left)",
                self.findings.len()
            ),
        })
    }
}

pub(crate) struct GenerateDockerfile;

impl StepTool for GenerateDockerfile {
    const IDEMPOTENT: bool = true;
    const OPEN_WORLD: bool = false;
    const TITLE: &'static str = "Write a Dockerfile";
    const DESCRIPTION: &'static str = "Step 2: write a Dockerfile into the repository (dockerfile_content, or generated from the analysis with a .dockerignore). An existing Dockerfile is kept by default (mode \"keep\": validated, findings and a suggested patch returned, nothing written); mode \"update\" writes the mechanical fixes, \"replace\" generates a new one. A different existing file is kept as <name>.orig.";
    type Params = DockerfileParams;
    /// The given content, the mode, and the client's roots the repository is re-checked
    /// against.
    type Input = (Option<String>, DockerfileMode, Vec<PathBuf>);
    type Artifact = DockerfileArtifact;

    fn validate(
        tools: &Toolbox,
        p: &DockerfileParams,
        ctx: &CallContext,
    ) -> Result<Self::Input, ToolError> {
        tools.check_content("dockerfile_content", &p.dockerfile_content)?;
        Ok((
            p.dockerfile_content.clone(),
            p.mode.unwrap_or_default(),
            ctx.roots.clone(),
        ))
    }

    async fn work(
        tools: &Toolbox,
        (given, mode, roots): Self::Input,
        st: WorkflowState,
    ) -> Result<DockerfileArtifact, Failure> {
        let step = Step::GenerateDockerfile;
        let repo = RepoHandle::open(tools, &st, &roots, step)?;
        let write = |name: &str, content: &str| repo.write(Path::new(name), content);
        let analysis: Option<AnalyzeResult> = artifact(&st);
        let (content, generated) = match given {
            Some(c) => (c, false),
            None => {
                let a = need(analysis.clone(), step, "the repository analysis")?;
                let existing = Repo::new(repo.repo.dir.clone()).read("Dockerfile");
                if let (Some(old), false) = (existing, mode == DockerfileMode::Replace) {
                    return review(tools, &repo, &a, &old, mode);
                }
                (generate::dockerfile(&a), true)
            }
        };
        // The policy judges the Dockerfile before anything is written: a denial leaves the
        // repository as it was. Its validation is only needed (and only run) for a policy.
        let policy_warnings = if tools.config().policy.is_some() {
            let ctx = analysis.as_ref().map(Context::of).unwrap_or_default();
            let findings = dockerfile::validate(&content, &ctx)
                .map(|r| r.findings)
                .unwrap_or_default();
            police(tools, &repo, &content, &findings, analysis.as_ref())?
        } else {
            Vec::new()
        };
        let ignore = match (&analysis, generated) {
            (Some(a), true) => Some(write(
                generate::dockerignore_name(a),
                &generate::dockerignore(a),
            )?),
            _ => None,
        };
        let w = write("Dockerfile", &content)?;
        Ok(DockerfileArtifact {
            path: w.path,
            backup: w.backup,
            changed: w.changed,
            generated: ignore.is_some(),
            mode: if ignore.is_some() {
                "generated"
            } else {
                "given"
            }
            .into(),
            content,
            dockerignore_backup: ignore.as_ref().and_then(|i| i.backup.clone()),
            dockerignore: ignore.map(|i| i.path),
            policy_warnings,
            ..DockerfileArtifact::default()
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> DockerfileParams {
        DockerfileParams {
            session_id: session_id.into(),
            dockerfile_content: None,
            mode: None,
            fix: FixParams::default(),
        }
    }
}

/// The existing Dockerfile `old` validated and fixed; written only in mode `update`.
fn review(
    tools: &Toolbox,
    repo: &RepoHandle,
    a: &AnalyzeResult,
    old: &str,
    mode: DockerfileMode,
) -> Result<DockerfileArtifact, Failure> {
    let ctx = with_repo(Context::of(a), &repo.repo.dir, "Dockerfile");
    let refused = |e: dockerfile::ParseError| {
        Failure::Refused(ToolError::invalid(format!(
            "the repository's Dockerfile was kept: {e}; or call generate_dockerfile with mode \"replace\" to generate a new one (the old one is kept as Dockerfile.orig)"
        )))
    };
    let fixed = dockerfile::fix(old, &ctx).map_err(refused)?;
    let patch = unified_diff(old, &fixed.content, "Dockerfile");
    let path = repo.repo.dir.join("Dockerfile").display().to_string();
    if mode == DockerfileMode::Update {
        let policy_warnings = police(tools, repo, &fixed.content, &fixed.report.findings, Some(a))?;
        let w = repo.write(Path::new("Dockerfile"), &fixed.content)?;
        return Ok(DockerfileArtifact {
            path: w.path,
            backup: w.backup,
            changed: w.changed,
            content: fixed.content,
            mode: "updated".into(),
            score: Some(fixed.report.score),
            findings: fixed.report.findings,
            patch,
            policy_warnings,
            ..DockerfileArtifact::default()
        });
    }
    let report = dockerfile::validate(old, &ctx).map_err(refused)?;
    let policy_warnings = police(tools, repo, old, &report.findings, Some(a))?;
    Ok(DockerfileArtifact {
        policy_warnings,
        path,
        content: old.to_owned(),
        mode: "kept".into(),
        score: Some(report.score),
        findings: report.findings,
        patch,
        ..DockerfileArtifact::default()
    })
}

/// The organisation policy on the repository's Dockerfile as it will be (or, kept, is).
fn police(
    tools: &Toolbox,
    repo: &RepoHandle,
    content: &str,
    findings: &[Finding],
    analysis: Option<&AnalyzeResult>,
) -> Result<Vec<crate::policy::PolicyViolation>, Failure> {
    let path = repo.repo.dir.join("Dockerfile").display().to_string();
    crate::policy::check_dockerfile(
        tools,
        Step::GenerateDockerfile.name(),
        Some(&path),
        content,
        findings,
        analysis.and_then(|a| serde_json::to_value(a).ok()),
    )
    .map_err(Failure::Refused)
}
