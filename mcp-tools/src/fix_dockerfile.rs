//! `fix_dockerfile`: the mechanical fixes of `crate::dockerfile::fix` applied to a
//! repository's Dockerfile (written with the backup rule of `generate::write_in`, through a
//! directory handle on the allowed root) or to given text (returned, never written).

use cap_std::fs::Dir;

use crate::dockerfile::{self, unified_diff};
use crate::error::ToolError;
use crate::generate::write_in;
use crate::params::FixDockerfileParams;
use crate::registry::Tool;
use crate::results::FixDockerfileResult;
use crate::toolbox::{CallContext, Toolbox};
use crate::validate_dockerfile::{check, resolve};

/// The `fix_dockerfile` tool.
pub(crate) struct FixDockerfile;

impl Tool for FixDockerfile {
    const NAME: &'static str = "fix_dockerfile";
    const TITLE: &'static str = "Fix a Dockerfile";
    const DESCRIPTION: &'static str = "Apply the mechanical fixes to an existing Dockerfile: JSON-form CMD/ENTRYPOINT, the base tag from the declared toolchain, COPY for a local ADD, a numeric non-root USER, dependency manifests copied and installed before the sources (when the install directly follows the copy), sudo removed, MAINTAINER as LABEL, absolute WORKDIR, one CMD/ENTRYPOINT/HEALTHCHECK. The user's start command, ports and build steps are kept. Reports each change, what is left for a person, and a unified diff; writes the repository's Dockerfile (the previous one kept as <name>.orig) unless write is false. Same sources as validate_dockerfile.";
    /// A fixed Dockerfile fixed again is unchanged; it touches only the repository.
    const IDEMPOTENT: bool = true;
    const OPEN_WORLD: bool = false;
    type Params = FixDockerfileParams;
    type Output = FixDockerfileResult;

    async fn run(
        tools: &Toolbox,
        p: FixDockerfileParams,
        ctx: &CallContext,
    ) -> Result<FixDockerfileResult, ToolError> {
        let r = resolve(tools, &p.source, ctx).await?;
        let (before, _) = check(&r, false).await?;
        let fixed =
            dockerfile::fix(&r.content, &r.ctx).map_err(|e| ToolError::invalid(e.to_string()))?;
        // The policy judges the Dockerfile as it would be written: a denial writes nothing.
        let policy_warnings = crate::policy::check_dockerfile(
            tools,
            Self::NAME,
            r.shown().as_deref(),
            &fixed.content,
            &fixed.report.findings,
            r.facts.clone(),
        )?;
        let name = r.rel.display().to_string();
        let diff = unified_diff(&r.content, &fixed.content, &name);
        let mut path = None;
        let mut backup = None;
        if let (true, Some(repo)) = (r.read_from_repo && p.write.unwrap_or(true), &r.repo) {
            let inside = repo
                .dir
                .strip_prefix(&repo.root)
                .map_err(|_| ToolError::invalid("the repository left its allowed root"))?
                .join(&r.rel);
            let root =
                Dir::open_ambient_dir(&repo.root, cap_std::ambient_authority()).map_err(|e| {
                    ToolError::invalid(format!("cannot open {}: {e}", repo.root.display()))
                })?;
            let shown = repo.root.clone();
            let content = fixed.content.clone();
            let w = tokio::task::spawn_blocking(move || write_in(&root, &shown, &inside, &content))
                .await
                .map_err(|e| ToolError::internal(format!("the write did not finish: {e}")))?
                .map_err(|e| {
                    ToolError::invalid(format!(
                        "cannot write {}: {e}",
                        repo.dir.join(&r.rel).display()
                    ))
                })?;
            path = Some(w.path);
            backup = w.backup;
        }
        Ok(FixDockerfileResult {
            policy_warnings,
            path,
            backup,
            changes: fixed.changes,
            score_before: before.score,
            score_after: fixed.report.score,
            errors_after: fixed.report.errors,
            left: fixed.report.findings,
            notes: fixed.notes,
            content: fixed.content,
            diff,
        })
    }

    fn summary(r: &FixDockerfileResult) -> String {
        format!(
            "{} changes, score {} -> {}, {} findings left for a person{}",
            r.changes.len(),
            r.score_before,
            r.score_after,
            r.left.len(),
            r.path
                .as_ref()
                .map_or(String::new(), |p| format!("; written to {p}"))
        )
    }
}
