//! `validate_dockerfile` (read-only): a Dockerfile's findings and score, from a session's
//! repository, a repository path or given text; and [`resolve`], the source both Dockerfile
//! tools read.

use std::path::PathBuf;

use crate::analyze::{self, AnalyzeResult, Repo};
use crate::dockerfile::{self, Context, Report};
use crate::error::ToolError;
use crate::params::{DockerfileSource, ValidateDockerfileParams};
use crate::registry::Tool;
use crate::results::ValidateDockerfileResult;
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, RepoPath, Toolbox};

/// A Dockerfile to check: its text, where it is, and what the analysis says.
pub(crate) struct Resolved {
    pub(crate) content: String,
    /// The repository and the Dockerfile's path inside it, when read from one.
    pub(crate) repo: Option<RepoPath>,
    pub(crate) rel: PathBuf,
    pub(crate) read_from_repo: bool,
    pub(crate) ctx: Context,
    pub(crate) analysis: bool,
    /// The analysis as the policy's input sees it (`analyze_result`).
    pub(crate) facts: Option<serde_json::Value>,
}

impl Resolved {
    /// The Dockerfile's full path, when it is in a repository.
    pub(crate) fn shown(&self) -> Option<String> {
        self.repo
            .as_ref()
            .map(|r| r.dir.join(&self.rel).display().to_string())
    }
}

/// Reads what `src` names (see [`DockerfileSource`]).
pub(crate) async fn resolve(
    tools: &Toolbox,
    src: &DockerfileSource,
    ctx: &CallContext,
) -> Result<Resolved, ToolError> {
    tools.check_content("dockerfile_content", &src.dockerfile_content)?;
    let mut analysis: Option<AnalyzeResult> = None;
    let mut repo: Option<RepoPath> = None;
    if let Some(s) = &src.session_id {
        let id = Toolbox::session_id(s)?;
        let cur = tools.sessions().get(&id).await?;
        let st = WorkflowState::from_session(&cur.value)?.ok_or_else(|| {
            ToolError::invalid(format!(
                "session {id} holds no workflow; call start_workflow"
            ))
        })?;
        analysis = st.artifact(Step::AnalyzeRepository);
        if !st.repo_path.is_empty() && src.repo_path.is_none() {
            repo = Some(tools.check_repo_path(&st.repo_path, ctx)?);
        }
    }
    if let Some(p) = &src.repo_path {
        repo = Some(tools.check_repo_path(p, ctx)?);
    }
    if let (None, Some(r)) = (&analysis, &repo) {
        let (root, dir) = (r.root.clone(), r.dir.clone());
        analysis = tokio::task::spawn_blocking(move || analyze::analyze_dir(&root, &dir))
            .await
            .ok()
            .and_then(Result::ok);
    }
    let rel = PathBuf::from(src.dockerfile_path.as_deref().unwrap_or("Dockerfile"));
    let rel_str = rel.to_string_lossy().into_owned();
    let mut context = analysis.as_ref().map(Context::of).unwrap_or_default();
    let (content, read_from_repo) = match (&src.dockerfile_content, &repo) {
        (Some(c), _) => (c.clone(), false),
        (None, Some(r)) => {
            let reader = Repo::new(r.dir.clone());
            let text = reader.read(&rel_str).ok_or_else(|| {
                ToolError::invalid(format!(
                    "no readable Dockerfile at {} (absent, outside the repository, not UTF-8 or over 1 MiB); pass dockerfile_path or dockerfile_content",
                    r.dir.join(&rel).display()
                ))
            })?;
            (text, true)
        }
        (None, None) => {
            return Err(ToolError::invalid(
                "nothing to check: pass dockerfile_content, repo_path, or a session_id whose workflow has a repository",
            ))
        }
    };
    if let Some(r) = &repo {
        context = with_repo(context, &r.dir, &rel_str);
    }
    Ok(Resolved {
        content,
        repo,
        rel,
        read_from_repo,
        ctx: context,
        analysis: analysis.is_some(),
        facts: analysis.and_then(|a| serde_json::to_value(a).ok()),
    })
}

/// `ctx` with what the repository `dir` holds: its `.dockerignore` (or `<rel>.dockerignore`
/// beside the Dockerfile `rel`) and its top-level file names.
pub(crate) fn with_repo(mut ctx: Context, dir: &std::path::Path, rel: &str) -> Context {
    let reader = Repo::new(dir.to_path_buf());
    ctx.dockerignore =
        Some(reader.is_file(".dockerignore") || reader.is_file(&format!("{rel}.dockerignore")));
    ctx.root_files = Some(reader.list("").into_iter().map(|e| e.name).collect());
    ctx
}

/// Our findings on `r`, with hadolint's merged in when asked and available.
pub(crate) async fn check(r: &Resolved, hadolint: bool) -> Result<(Report, bool), ToolError> {
    let report =
        dockerfile::validate(&r.content, &r.ctx).map_err(|e| ToolError::invalid(e.to_string()))?;
    Ok(if hadolint {
        dockerfile::merge_hadolint(&r.content, report).await
    } else {
        (report, false)
    })
}

/// The `validate_dockerfile` tool.
pub(crate) struct ValidateDockerfile;

impl Tool for ValidateDockerfile {
    const NAME: &'static str = "validate_dockerfile";
    const TITLE: &'static str = "Validate a Dockerfile";
    const DESCRIPTION: &'static str = "Review an existing Dockerfile (read-only): findings {rule, severity, line, message, fix} under hadolint's rule ids (DL3006 untagged base, DL3007 latest, DL3020 ADD, DL3025 shell-form CMD, DL4006 pipefail, DL3002 root USER, DL3008/DL3018/DL3016/DL3013 unpinned packages, DL3004 sudo, …) and ours (CK001 dependencies before sources, CK002 numeric non-root USER, CK003 HEALTHCHECK, CK004 EXPOSE of the detected port, CK005 base image at the declared toolchain version, CK006 .dockerignore), and a score 0-100. Pass session_id, repo_path (optionally dockerfile_path) or dockerfile_content; hadolint's findings are merged when it is on PATH. Then fix_dockerfile applies the mechanical fixes.";
    const READ_ONLY: bool = true;
    const IDEMPOTENT: bool = true;
    type Params = ValidateDockerfileParams;
    type Output = ValidateDockerfileResult;

    async fn run(
        tools: &Toolbox,
        p: ValidateDockerfileParams,
        ctx: &CallContext,
    ) -> Result<ValidateDockerfileResult, ToolError> {
        let r = resolve(tools, &p.source, ctx).await?;
        let (report, hadolint) = check(&r, p.source.hadolint.unwrap_or(true)).await?;
        let shown = r.read_from_repo.then(|| r.shown()).flatten();
        let policy_warnings = crate::policy::check_dockerfile(
            tools,
            Self::NAME,
            shown.as_deref(),
            &r.content,
            &report.findings,
            r.facts.clone(),
        )?;
        Ok(ValidateDockerfileResult {
            policy_warnings,
            path: shown,
            score: report.score,
            errors: report.errors,
            warnings: report.warnings,
            hadolint,
            analysis: r.analysis,
            next: if report.findings.is_empty() {
                "nothing to fix: build_image".into()
            } else {
                "fix_dockerfile applies the mechanical fixes".into()
            },
            findings: report.findings,
        })
    }

    fn summary(r: &ValidateDockerfileResult) -> String {
        format!(
            "score {}: {} errors, {} warnings, {} findings",
            r.score,
            r.errors,
            r.warnings,
            r.findings.len()
        )
    }
}
