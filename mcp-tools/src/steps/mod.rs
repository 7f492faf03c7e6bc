//! The step machinery: what every step tool does around its own work — take the session's
//! lock (bounded wait), load the workflow, run, record the outcome in one versioned update,
//! release — and the [`StepTool`] description each step file implements (one file per step,
//! each with its typed artifact). A [`StepTool`] is a [`Tool`] through the blanket impl here.

pub(crate) mod analyze_repository;
pub(crate) mod build_image;
pub(crate) mod deploy_application;
pub(crate) mod generate_dockerfile;
pub(crate) mod generate_k8s_manifests;
mod history;
pub(crate) mod prepare_cluster;
pub(crate) mod push_image;
pub(crate) mod scan_image;
pub(crate) mod tag_image;
pub(crate) mod verify_deployment;

use std::future::Future;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use session_core::StoreError;

use self::history::{record_run, LastFix};
use crate::analyze::{sanitize_name, AnalyzeResult};
use crate::confirm;
use crate::error::{ToolError, ToolErrorKind};
use crate::exec::{self, CommandRecord};
use crate::generate::{write_in, Written};
use crate::params::{
    AnalyzeParams, DockerfileParams, FixParams, ManifestParams, PushParams, StepParams, TagParams,
};
use crate::registry::Tool;
use crate::results::StepResult;
use crate::state::{StateError, Step, WorkflowState};
use crate::telemetry;
use crate::toolbox::{CallContext, RepoPath, Toolbox};
use crate::workflow::{StartWorkflow, WorkflowStatusTool};

use self::analyze_repository::AnalyzeRepository;

/// What a step stores under its artifact key, read back by later steps as this type.
pub(crate) trait Artifact:
    Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static
{
    /// The step that produces it (and so its key, [`Step::artifact_key`]).
    const STEP: Step;

    /// The repository this artifact makes the workflow's, if it names one.
    fn repo_path(&self) -> Option<&str> {
        None
    }

    /// What the step found, in a few words for its summary line (none by default).
    fn summary(&self) -> Option<String> {
        None
    }
}

/// The artifact of `A`'s step, if that step has completed and its artifact decodes.
pub(crate) fn artifact<A: Artifact>(st: &WorkflowState) -> Option<A> {
    st.artifact(A::STEP)
}

/// Why a step's work produced no artifact.
pub(crate) enum Failure {
    /// The step ran and failed: recorded in `failed_steps` and `error`.
    Ran(String),
    /// A prerequisite is missing: nothing is recorded.
    Precondition(String),
    /// The step refuses its input as it is (`analyze_repository` on a directory that is
    /// not one service): nothing is recorded, the error goes to the client as it is.
    Refused(ToolError),
}

/// `v`, or the precondition failure "`step` needs `what`; call <its remedy> first".
pub(crate) fn need<T>(v: Option<T>, step: Step, what: &str) -> Result<T, Failure> {
    v.ok_or_else(|| {
        Failure::Precondition(format!(
            "{} needs {what}; call {} first",
            step.name(),
            step.remedy().name()
        ))
    })
}

/// The parameters every step tool takes: the session and the repair context.
pub(crate) trait StepArgs {
    fn session_id(&self) -> &str;
    fn fix(&self) -> &FixParams;
    /// The registry a push names, for its confirmation's question.
    fn registry(&self) -> Option<&str> {
        None
    }
}

macro_rules! step_args {
    ($($t:ty),*) => {$(
        impl StepArgs for $t {
            fn session_id(&self) -> &str { &self.session_id }
            fn fix(&self) -> &FixParams { &self.fix }
        }
    )*};
}
step_args!(
    StepParams,
    AnalyzeParams,
    DockerfileParams,
    TagParams,
    ManifestParams
);

impl StepArgs for PushParams {
    fn session_id(&self) -> &str {
        &self.session_id
    }
    fn fix(&self) -> &FixParams {
        &self.fix
    }
    fn registry(&self) -> Option<&str> {
        self.registry.as_deref()
    }
}

/// One step tool. Its name is its step's name ([`Step::name`]), its output a
/// [`StepResult`] of its artifact.
pub(crate) trait StepTool: 'static {
    /// A short human title.
    const TITLE: &'static str;
    /// What it does and when to call it.
    const DESCRIPTION: &'static str;
    /// See [`Tool::DESTRUCTIVE`].
    const DESTRUCTIVE: bool = false;
    /// See [`Tool::IDEMPOTENT`].
    const IDEMPOTENT: bool = false;
    /// See [`Tool::LONG_RUNNING`].
    const LONG_RUNNING: bool = false;
    /// See [`Tool::OPEN_WORLD`] (confirm hook, issue 20: annotations per step).
    const OPEN_WORLD: bool = true;
    /// The arguments: always the session id and the repair context, plus the step's own.
    type Params: StepArgs + DeserializeOwned + JsonSchema + Send + Sync;
    /// What [`StepTool::validate`] makes of the arguments for [`StepTool::work`].
    type Input: Send;
    /// What the step stores for later steps; its [`Artifact::STEP`] is this tool's step.
    type Artifact: Artifact;

    /// Checks the arguments before the session is touched (a refusal changes nothing).
    fn validate(
        tools: &Toolbox,
        params: &Self::Params,
        ctx: &CallContext,
    ) -> Result<Self::Input, ToolError>;

    /// The step's own work on the loaded workflow state, under the session's lock.
    fn work(
        tools: &Toolbox,
        input: Self::Input,
        state: WorkflowState,
    ) -> impl Future<Output = Result<Self::Artifact, Failure>> + Send;

    /// The parameters `start_workflow run: true` runs this step with.
    fn workflow_params(session_id: &str, state: &WorkflowState) -> Self::Params;
}

impl<S: StepTool> Tool for S {
    const NAME: &'static str = <S::Artifact as Artifact>::STEP.name();
    const TITLE: &'static str = S::TITLE;
    const DESCRIPTION: &'static str = S::DESCRIPTION;
    const DESTRUCTIVE: bool = S::DESTRUCTIVE;
    const IDEMPOTENT: bool = S::IDEMPOTENT;
    const LONG_RUNNING: bool = S::LONG_RUNNING;
    const OPEN_WORLD: bool = S::OPEN_WORLD; // confirm hook, issue 20
    const WORKFLOW_STEP: Option<Step> = Some(<S::Artifact as Artifact>::STEP);
    type Params = S::Params;
    type Output = StepResult<S::Artifact>;

    async fn run(
        tools: &Toolbox,
        params: S::Params,
        ctx: &CallContext,
    ) -> Result<StepResult<S::Artifact>, ToolError> {
        let input = S::validate(tools, &params, ctx)?;
        run_step(tools, &params, S::DESTRUCTIVE, ctx, |st| {
            S::work(tools, input, st)
        })
        .await
    }

    fn summary(output: &StepResult<S::Artifact>) -> String {
        output.summary.clone()
    }

    fn workflow_params(session_id: &str, state: &WorkflowState) -> Option<S::Params> {
        Some(S::workflow_params(session_id, state))
    }
}

/// The semantics of every step: take the session's lock (bounded wait), load the workflow,
/// run `work`, then record the outcome — completed/failed step, current step, artifact,
/// repair context — in one versioned update, and release. Dropping the future
/// (cancellation) releases the lock and records nothing.
async fn run_step<A, P, F, Fut>(
    tools: &Toolbox,
    params: &P,
    destructive: bool,
    ctx: &CallContext,
    work: F,
) -> Result<StepResult<A>, ToolError>
where
    A: Artifact,
    P: StepArgs + Sync,
    F: FnOnce(WorkflowState) -> Fut,
    Fut: Future<Output = Result<A, Failure>>,
{
    let step = A::STEP;
    let (session_id, fix) = (params.session_id(), params.fix());
    let id = Toolbox::session_id(session_id)?;
    let started = std::time::Instant::now();
    let guard = tools.sessions().lock(&id).await.map_err(|e| match e {
        StoreError::Busy { .. } => ToolError {
            kind: ToolErrorKind::SessionBusy,
            message: format!(
                "session {id} is busy: another step is running on it; retry {} when it finishes",
                step.name()
            ),
            next_tool: Some(WorkflowStatusTool::NAME.into()),
            details: None,
            guidance: None,
        }
        .with_next_text(format!(
            "wait for the running step (workflow_status shows it), then call {} again",
            step.name()
        )),
        other => other.into(),
    })?;
    let lock_wait_ms = guard.waited().as_secs_f64() * 1e3;
    telemetry::lock_waited(step.name(), guard.waited());
    let locked = std::time::Instant::now();
    // The run starts once the lock is held: what `metadata.step_history` records.
    let run_started = chrono::Utc::now();
    let current = guard.get().await?;
    let mut state = WorkflowState::from_session(&current.value)?.ok_or_else(|| {
        ToolError::from(StoreError::NotFound(id.clone())).with_next(StartWorkflow::NAME)
    })?;
    // The stored repository is checked again at every step (it may have been swapped for a
    // symlink out since): a step never reads or runs in a directory outside the roots.
    if step != Step::AnalyzeRepository && !state.repo_path.is_empty() {
        let repo = tools
            .check_repo_path(&state.repo_path, ctx)
            .map_err(|e| e.with_next(AnalyzeRepository::NAME))?;
        state.repo_path = repo.dir.display().to_string();
    }
    // A destructive step asks here, its lock held: what the user is asked about is the state
    // it runs on. A skipped question is recorded by the step's own update below.
    let skipped = if destructive {
        confirm::under_lock(tools, step, &guard, &state, params.registry(), ctx).await?
    } else {
        None
    };
    ctx.progress(0.0, 1.0, format!("{}: running", step.name()))
        .await;
    // A missing prerequisite records nothing; a run's failure is recorded below.
    let outcome: Result<(A, Value), String> = match work(state).await {
        Ok(artifact) => {
            let value = serde_json::to_value(&artifact).map_err(|e| {
                ToolError::internal(format!("cannot encode the {} artifact: {e}", step.name()))
            })?;
            Ok((artifact, value))
        }
        Err(Failure::Ran(message)) => Err(message),
        Err(Failure::Precondition(message)) => {
            return Err(ToolError {
                kind: ToolErrorKind::Precondition,
                message,
                next_tool: Some(step.remedy().name().into()),
                details: None,
                guidance: None,
            })
        }
        Err(Failure::Refused(e)) => return Err(e),
    };
    let given =
        fix.fixing_mode.is_some() || fix.previous_error.is_some() || fix.failed_tool.is_some();
    let last_fix = given
        .then(|| serde_json::to_value(LastFix { step, fix }))
        .transpose()
        .map_err(|e| ToolError::internal(format!("cannot encode the repair context: {e}")))?;
    let updating = std::time::Instant::now();
    let run_finished = chrono::Utc::now();
    let (after, state) = guard
        .try_update(|s| {
            let mut st = WorkflowState::from_session(s)?
                .ok_or_else(|| StateError::Store(StoreError::NotFound(id.clone())))?;
            if let Some(last_fix) = &last_fix {
                st.metadata.insert("last_fix".into(), last_fix.clone());
            }
            if let Some(skipped) = &skipped {
                confirm::push(&mut st.metadata, skipped.clone());
            }
            let runs = st
                .metadata
                .get("step_runs")
                .and_then(Value::as_u64)
                .unwrap_or(0)
                + 1;
            st.metadata.insert("step_runs".into(), Value::from(runs));
            record_run(&mut st, step, run_started, run_finished, outcome.is_ok());
            match &outcome {
                Ok((artifact, value)) => {
                    if let Some(p) = artifact.repo_path() {
                        st.repo_path = p.to_owned();
                    }
                    st.record_success(step, value.clone());
                }
                Err(message) => st.record_failure(step, message),
            }
            st.store_into(s);
            Ok::<_, StateError>(st)
        })
        .await?;
    telemetry::updated(step.name(), updating.elapsed());
    drop(guard);
    telemetry::step_ran(step.name(), locked.elapsed());
    ctx.progress(1.0, 1.0, format!("{}: done", step.name()))
        .await;
    tracing::info!(
        session_id = %id,
        step = step.name(),
        version = after.version.get(),
        ok = outcome.is_ok(),
        lock_wait_ms,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "step recorded"
    );
    let dry_run = tools.config().exec.dry_run;
    match outcome {
        Ok((artifact, _)) => Ok(StepResult {
            session_id: id.to_string(),
            step,
            success: true,
            summary: format!(
                "{} completed{}{}; next: {}",
                step.name(),
                if dry_run { " (dry run)" } else { "" },
                artifact
                    .summary()
                    .map_or(String::new(), |s| format!(": {s}")),
                state
                    .next_step()
                    .map_or("none (workflow complete)", |s| s.name())
            ),
            artifact,
            next_step: state.next_step(),
            progress_percent: state.progress_percent(),
            dry_run,
        }),
        Err(message) => Err(ToolError {
            kind: ToolErrorKind::StepFailed,
            message: format!("{} failed: {message}", step.name()),
            next_tool: Some(step.remedy().name().into()),
            details: None,
            guidance: None,
        }),
    }
}

/// Runs `cmds` in order in `cwd` (or records them in dry-run); the first failing one fails
/// the step.
pub(crate) async fn commands(
    tools: &Toolbox,
    cwd: &Path,
    cmds: Vec<(String, Vec<String>)>,
) -> Result<Vec<CommandRecord>, Failure> {
    let mut out = Vec::new();
    for (program, args) in cmds {
        out.push(
            exec::run(&tools.config().exec, &program, &args, cwd)
                .await
                .map_err(Failure::Ran)?,
        );
    }
    Ok(out)
}

/// The workflow's repository, re-checked against the allowed roots now (the directory may
/// have been swapped for a symlink since it was stored), with a directory handle on the
/// allowed root that holds it: every write goes through the handle, so nothing leads it
/// outside.
pub(crate) struct RepoHandle {
    /// The checked repository and its allowed root.
    pub(crate) repo: RepoPath,
    root: Dir,
}

impl RepoHandle {
    /// Re-checks `st`'s repository with the client's `roots` and opens its allowed root.
    pub(crate) fn open(
        tools: &Toolbox,
        st: &WorkflowState,
        roots: &[PathBuf],
        step: Step,
    ) -> Result<RepoHandle, Failure> {
        let stored = need(
            Some(&st.repo_path).filter(|p| !p.is_empty()),
            step,
            "a repository",
        )?;
        let repo = tools
            .check_repo_path_in(stored, roots)
            .map_err(|e| Failure::Refused(e.with_next(AnalyzeRepository::NAME)))?;
        let root = Dir::open_ambient_dir(&repo.root, cap_std::ambient_authority())
            .map_err(|e| Failure::Ran(format!("cannot open {}: {e}", repo.root.display())))?;
        Ok(RepoHandle { repo, root })
    }

    /// Writes `content` to `rel` inside the repository (see `generate::write_in`).
    pub(crate) fn write(&self, rel: &Path, content: &str) -> Result<Written, Failure> {
        let inside = self
            .repo
            .dir
            .strip_prefix(&self.repo.root)
            .map_err(|_| Failure::Ran("the repository left its allowed root".into()))?
            .join(rel);
        write_in(&self.root, &self.repo.root, &inside, content).map_err(|e| {
            // cap-std refuses a path through a symlink out of the root as permission denied.
            let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
                " (a directory on the way may be a symlink leading outside the allowed root: replace it with a real directory)"
            } else {
                ""
            };
            Failure::Ran(format!(
                "cannot write {}: {e}{hint}",
                self.repo.dir.join(rel).display()
            ))
        })
    }
}

/// The workflow's repository, if it names an existing directory.
pub(crate) fn repo_of(st: &WorkflowState) -> Option<PathBuf> {
    Some(PathBuf::from(&st.repo_path)).filter(|p| !st.repo_path.is_empty() && p.is_dir())
}

/// The image (and app) name: the analysis's app name, else the repository directory's.
pub(crate) fn image_name(st: &WorkflowState, repo: &Path) -> String {
    artifact::<AnalyzeResult>(st)
        .map(|a| a.app_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            sanitize_name(repo.file_name().and_then(|n| n.to_str()).unwrap_or("app"))
        })
}

/// The image `build_image` built, if it has run.
pub(crate) fn built_image(st: &WorkflowState) -> Option<String> {
    artifact::<build_image::BuildArtifact>(st)
        .map(|b| b.image)
        .filter(|i| !i.is_empty())
}

/// The most finished image reference: pushed, else tagged, else built.
pub(crate) fn deployable_image(st: &WorkflowState) -> Option<String> {
    artifact::<push_image::PushArtifact>(st)
        .map(|p| p.image)
        .filter(|i| !i.is_empty())
        .or_else(|| {
            artifact::<tag_image::TagArtifact>(st)
                .map(|t| t.target)
                .filter(|t| !t.is_empty())
        })
        .or_else(|| built_image(st))
}

impl Artifact for AnalyzeResult {
    const STEP: Step = Step::AnalyzeRepository;

    fn repo_path(&self) -> Option<&str> {
        Some(&self.repo_path)
    }

    fn summary(&self) -> Option<String> {
        Some(self.describe())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use session_core::{MemoryStore, Sessions, SessionsConfig};

    use super::*;
    use crate::toolbox::ToolboxConfig;

    /// The race the re-check alone cannot close: the repository is swapped for a symlink out
    /// after it was checked and before the write. The write goes through the root's handle,
    /// so it is refused and nothing outside changes.
    #[test]
    fn a_repo_swapped_between_the_check_and_the_write_is_not_written_through() {
        let workspace = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let repo = workspace.path().join("repo");
        std::fs::create_dir(&repo).unwrap();
        let tools = Toolbox::new(
            Sessions::new(Arc::new(MemoryStore::new()), SessionsConfig::default()),
            ToolboxConfig {
                allowed_roots: vec![workspace.path().to_path_buf()],
                ..ToolboxConfig::default()
            },
        );
        let st = WorkflowState {
            repo_path: repo.display().to_string(),
            ..WorkflowState::default()
        };
        let Ok(handle) = RepoHandle::open(&tools, &st, &[], Step::GenerateDockerfile) else {
            panic!("the repository is inside the workspace");
        };
        std::fs::rename(&repo, workspace.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(outside.path(), &repo).unwrap();
        let Err(Failure::Ran(message)) = handle.write(Path::new("Dockerfile"), "FROM x\n") else {
            panic!("the write went through the swapped directory");
        };
        assert!(message.contains("outside the allowed root"), "{message}");
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
    }
}
