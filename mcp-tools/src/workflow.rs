//! The workflow tools: `start_workflow` (create or continue a workflow, and with `run: true`
//! run every remaining step through the registry), `workflow_status` and `list_tools`.

use session_core::{SessionId, StoreError};

use crate::error::ToolError;
use crate::params::{NoParams, SessionParams, StartWorkflowParams};
use crate::registry::{self, Tool, TOOLS};
use crate::results::{
    GoStepStatus, GoWorkflowFields, ListToolsResult, StartWorkflowResult, StepStatus, ToolInfo,
    WorkflowStatusResult,
};
use crate::state::{StateError, Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `start_workflow` tool (the work is [`Toolbox::start_workflow`]).
pub(crate) struct StartWorkflow;

impl Tool for StartWorkflow {
    const NAME: &'static str = "start_workflow";
    const TITLE: &'static str = "Start a workflow";
    const DESCRIPTION: &'static str = "Start a containerization workflow for repo_path: creates the session (id generated when absent) and returns session_id and the next step; with run: true runs every step now, reporting progress, and stops at the first error (a repo_path that is not one service stops it at analyze_repository with a not_a_service error listing the candidate directories and the session_id).";
    type Params = StartWorkflowParams;
    type Output = StartWorkflowResult;

    async fn run(
        tools: &Toolbox,
        p: StartWorkflowParams,
        ctx: &CallContext,
    ) -> Result<StartWorkflowResult, ToolError> {
        tools.start_workflow(p, ctx).await
    }

    fn summary(r: &StartWorkflowResult) -> String {
        format!(
            "workflow {} for {}: {} ({}%), next: {}",
            r.session_id,
            r.repo_path,
            r.status,
            r.progress_percent,
            r.next_step.map_or("none", Step::name)
        )
    }
}

/// The `workflow_status` tool (the work is [`Toolbox::workflow_status`]).
pub(crate) struct WorkflowStatusTool;

impl Tool for WorkflowStatusTool {
    const NAME: &'static str = "workflow_status";
    const TITLE: &'static str = "Workflow status";
    const DESCRIPTION: &'static str = "Progress, per-step status and the next step of a workflow. An unknown session_id is an error.";
    const READ_ONLY: bool = true;
    const IDEMPOTENT: bool = true;
    type Params = SessionParams;
    type Output = WorkflowStatusResult;

    async fn run(
        tools: &Toolbox,
        p: SessionParams,
        _: &CallContext,
    ) -> Result<WorkflowStatusResult, ToolError> {
        tools.workflow_status(p).await
    }

    fn summary(r: &WorkflowStatusResult) -> String {
        format!(
            "{}: {} {}%, next: {}",
            r.session_id,
            r.status,
            r.progress_percent,
            r.next_step.map_or("none", Step::name)
        )
    }
}

/// The `list_tools` tool: the registry, as [`Toolbox::list_tools`] lists it.
pub(crate) struct ListTools;

impl Tool for ListTools {
    const NAME: &'static str = "list_tools";
    const TITLE: &'static str = "List tools";
    const DESCRIPTION: &'static str = "List the tools of this server.";
    const READ_ONLY: bool = true;
    const IDEMPOTENT: bool = true;
    type Params = NoParams;
    type Output = ListToolsResult;

    async fn run(
        tools: &Toolbox,
        _: NoParams,
        _: &CallContext,
    ) -> Result<ListToolsResult, ToolError> {
        Ok(tools.list_tools())
    }

    fn summary(r: &ListToolsResult) -> String {
        format!("{} tools", r.tools.len())
    }
}

impl Toolbox {
    /// `list_tools`: every tool of the registry.
    pub fn list_tools(&self) -> ListToolsResult {
        ListToolsResult {
            tools: TOOLS
                .iter()
                .map(|t| ToolInfo {
                    name: t.name.into(),
                    description: t.description.into(),
                    read_only: t.read_only,
                })
                .collect(),
        }
    }

    /// `start_workflow`: creates the session (or continues an existing workflow for the same
    /// repository), and with `run: true` runs every remaining step in order.
    pub async fn start_workflow(
        &self,
        p: StartWorkflowParams,
        ctx: &CallContext,
    ) -> Result<StartWorkflowResult, ToolError> {
        let repo = self.check_repo_path(&p.repo_path, ctx)?.dir;
        let repo_str = repo.display().to_string();
        let id = match &p.session_id {
            Some(raw) => Toolbox::session_id(raw)?,
            None => SessionId::generate()?,
        };
        let created = match self
            .sessions()
            .create_with(&id, |s| {
                s.stage = "workflow".into();
                s.labels.insert("source".into(), "mcp".into());
            })
            .await
        {
            Ok(_) => true,
            Err(StoreError::AlreadyExists(_)) => false,
            Err(e) => return Err(e.into()),
        };
        let updating = std::time::Instant::now();
        let (_, mut state) = self
            .sessions()
            .try_update(&id, |s| {
                let st = match WorkflowState::from_session(s)? {
                    Some(st) if st.repo_path == repo_str || st.repo_path.is_empty() => {
                        WorkflowState {
                            repo_path: repo_str.clone(),
                            ..st
                        }
                    }
                    Some(st) => {
                        return Err(StateError::OtherRepository {
                            session: s.id.clone(),
                            running: st.repo_path,
                            requested: repo_str.clone(),
                        })
                    }
                    None => WorkflowState::new(id.as_str(), &repo_str),
                };
                if s.stage.is_empty() {
                    s.stage = "workflow".into();
                }
                st.store_into(s);
                Ok(st)
            })
            .await?;
        crate::telemetry::updated(StartWorkflow::NAME, updating.elapsed());
        let mut steps_run = Vec::new();
        if p.run.unwrap_or(false) {
            let total = Step::ALL.len() as f64;
            while let Some(step) = state.next_step() {
                ctx.progress(
                    step.index() as f64,
                    total,
                    format!(
                        "step {} of {}: {}",
                        step.index() + 1,
                        Step::ALL.len(),
                        step.name()
                    ),
                )
                .await;
                let tool = registry::for_step(step).ok_or_else(|| {
                    ToolError::internal(format!("no tool runs step {}", step.name()))
                })?;
                // The step's own 0..1 lands strictly between this report and the next one.
                let at = step.index() as f64;
                let inner = ctx.within(at + 0.25, at + 0.75, total);
                (tool.run_in_workflow)(self, id.as_str(), &state, &inner)
                    .await
                    .map_err(|e| with_session(e, &id))?;
                steps_run.push(step);
                let cur = self.sessions().get(&id).await?;
                state = WorkflowState::from_session(&cur.value)?.unwrap_or_default();
            }
            ctx.progress(total, total, "workflow complete".into()).await;
        }
        Ok(StartWorkflowResult {
            session_id: id.to_string(),
            repo_path: repo_str,
            status: state.status,
            next_step: state.next_step(),
            steps_run,
            progress_percent: state.progress_percent(),
            created,
            current_step: state.current_step.clone(),
            go: self.go_fields(&state),
        })
    }

    /// `workflow_status`: reads without locking; an unknown id is an error.
    pub async fn workflow_status(
        &self,
        p: SessionParams,
    ) -> Result<WorkflowStatusResult, ToolError> {
        let id = Toolbox::session_id(&p.session_id)?;
        let cur = self.sessions().get(&id).await?;
        let st = WorkflowState::from_session(&cur.value)?.ok_or_else(|| {
            ToolError::invalid(format!(
                "session {id} holds no workflow; call start_workflow"
            ))
            .with_next(StartWorkflow::NAME)
        })?;
        let steps = Step::ALL
            .iter()
            .map(|s| StepStatus {
                name: *s,
                status: st.step_state(*s),
            })
            .collect();
        Ok(WorkflowStatusResult {
            session_id: id.to_string(),
            repo_path: st.repo_path.clone(),
            status: st.status,
            current_step: st.current_step.clone(),
            progress_percent: st.progress_percent(),
            steps,
            next_step: st.next_step(),
            error: st.error.clone(),
            artifacts: st.artifacts.keys().cloned().collect(),
            version: cur.version.get(),
            go: self.go_fields(&st),
        })
    }

    /// The Go server's fields of a workflow state, stamped with this server's clock.
    fn go_fields(&self, st: &WorkflowState) -> GoWorkflowFields {
        GoWorkflowFields {
            success: true,
            current_status: st.status,
            completed_steps: st.completed_steps.clone(),
            failed_steps: st.failed_steps.clone(),
            step_statuses: Step::ALL
                .iter()
                .map(|s| GoStepStatus {
                    step: *s,
                    status: st.step_state(*s),
                })
                .collect(),
            total_steps: Step::ALL.len() as u32,
            progress_percentage: st.progress_percent().round() as u32,
            timestamp: self.sessions().now().to_rfc3339(),
        }
    }
}

/// A step's error as `start_workflow` reports it: a refusal's details also name the session
/// the workflow runs in (generated when the call gave none), so the assistant can go on in
/// it — `analyze_repository` on a candidate — instead of starting over.
fn with_session(mut e: ToolError, id: &SessionId) -> ToolError {
    if let Some(details) = e.details.as_mut().and_then(|d| d.as_object_mut()) {
        details.insert("session_id".into(), id.to_string().into());
    }
    e
}
