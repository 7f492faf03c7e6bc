//! [`Toolbox`]: every tool as a plain async function from typed parameters to a typed
//! result, the tool catalogue (names, descriptions, schemas), and one dispatcher used by the
//! MCP server and the CLI `tool` mode alike.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use session_core::{SessionId, Sessions, StoreError};

use crate::exec::ExecConfig;
use crate::params::*;

/// The toolbox's configuration.
#[derive(Clone, Debug)]
pub struct ToolboxConfig {
    /// Directories a `repo_path` may lie in (besides the client's MCP roots).
    pub allowed_roots: Vec<PathBuf>,
    /// The external programs and dry-run mode.
    pub exec: ExecConfig,
    /// The largest `dockerfile_content` / `manifests` accepted, in bytes.
    pub max_content_bytes: usize,
    /// Reported by `server_status`.
    pub server_name: String,
    /// Reported by `server_status`.
    pub server_version: String,
}

impl Default for ToolboxConfig {
    fn default() -> Self {
        ToolboxConfig {
            allowed_roots: Vec::new(),
            exec: ExecConfig::default(),
            max_content_bytes: 256 * 1024,
            server_name: "container-kit-mcp".into(),
            server_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Receives progress of a long call (the server turns it into MCP progress notifications).
#[async_trait]
pub trait ProgressSink: Send + Sync {
    /// `progress` of `total` done; `message` says what runs now.
    async fn report(&self, progress: f64, total: Option<f64>, message: Option<String>);
}

/// What a caller knows about the call beyond its arguments.
#[derive(Clone, Default)]
pub struct CallContext {
    /// Where to report progress, when the client asked for it.
    pub progress: Option<Arc<dyn ProgressSink>>,
    /// The client's MCP roots (directories), when known.
    pub roots: Vec<PathBuf>,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("progress", &self.progress.is_some())
            .field("roots", &self.roots)
            .finish()
    }
}

impl CallContext {
    pub(crate) async fn progress(&self, done: f64, total: f64, message: String) {
        if let Some(p) = &self.progress {
            p.report(done, Some(total), Some(message)).await;
        }
    }
}

/// A successful call: a JSON object for `structuredContent` and a one-line summary.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    /// The typed result as a JSON object.
    pub structured: Value,
    /// One line for humans.
    pub summary: String,
}

/// What kind of failure a [`ToolError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolErrorKind {
    /// No tool of that name.
    UnknownTool,
    /// Missing, mistyped or out-of-bounds arguments.
    InvalidParams,
    /// The session does not exist (or has expired).
    SessionNotFound,
    /// Another call holds the session.
    SessionBusy,
    /// The step ran and failed; the failure is recorded in the workflow.
    StepFailed,
    /// A step's prerequisite is missing.
    Precondition,
    /// The store refused or failed.
    Store,
    /// Anything else.
    Internal,
}

/// A failed call: becomes an MCP tool error (`isError: true`) naming the tool to call next.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct ToolError {
    /// The kind.
    pub kind: ToolErrorKind,
    /// What went wrong and what to do.
    pub message: String,
    /// The tool to call next, when one would help.
    pub next_tool: Option<String>,
}

impl ToolError {
    /// Bad arguments.
    pub fn invalid(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: ToolErrorKind::InvalidParams,
            message: message.into(),
            next_tool: None,
        }
    }

    /// An unexpected failure.
    pub fn internal(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: ToolErrorKind::Internal,
            message: message.into(),
            next_tool: None,
        }
    }

    pub(crate) fn with_next(mut self, tool: &str) -> ToolError {
        self.next_tool = Some(tool.to_owned());
        self
    }

    /// The error as the JSON object sent as `structuredContent`.
    pub fn to_json(&self) -> Value {
        json!({ "error": { "kind": self.kind, "message": self.message, "next_tool": self.next_tool } })
    }
}

impl From<StoreError> for ToolError {
    fn from(e: StoreError) -> ToolError {
        let message = e.to_string();
        match e {
            StoreError::InvalidId { .. } => ToolError::invalid(message),
            StoreError::NotFound(_) | StoreError::Expired(_) => ToolError {
                kind: ToolErrorKind::SessionNotFound,
                message,
                next_tool: Some("start_workflow".into()),
            },
            StoreError::Busy { .. } => ToolError {
                kind: ToolErrorKind::SessionBusy,
                message,
                next_tool: None,
            },
            _ => ToolError {
                kind: ToolErrorKind::Store,
                message,
                next_tool: None,
            },
        }
    }
}

/// A tool in the catalogue.
#[derive(Clone, Debug)]
pub struct ToolDescriptor {
    /// Name (as the Go server).
    pub name: &'static str,
    /// What it does and when to call it.
    pub description: &'static str,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
    /// JSON Schema of `structuredContent`.
    pub output_schema: Value,
    /// Changes nothing.
    pub read_only: bool,
    /// May delete data.
    pub destructive: bool,
}

fn schema<T: JsonSchema>() -> Value {
    let mut v = serde_json::to_value(schemars::schema_for!(T))
        .unwrap_or_else(|_| json!({"type": "object"}));
    strip_numeric_formats(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.entry("type").or_insert(json!("object"));
    }
    v
}

/// schemars marks integers with Rust formats (`uint64`, `double`, …) that JSON Schema
/// validators do not know and warn about; the `minimum` it also emits says what matters.
fn strip_numeric_formats(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("format").and_then(Value::as_str).is_some_and(|f| {
                f.starts_with("uint") || f.starts_with("int") || f == "double" || f == "float"
            }) {
                o.remove("format");
            }
            o.values_mut().for_each(strip_numeric_formats);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_numeric_formats),
        _ => {}
    }
}

fn tool<P: JsonSchema, R: JsonSchema>(
    name: &'static str,
    description: &'static str,
    read_only: bool,
) -> ToolDescriptor {
    ToolDescriptor {
        name,
        description,
        input_schema: schema::<P>(),
        output_schema: schema::<R>(),
        read_only,
        destructive: false,
    }
}

/// Every tool, in workflow order then utilities.
pub fn catalogue() -> Vec<ToolDescriptor> {
    let mut tools = vec![
        tool::<AnalyzeParams, StepResult>("analyze_repository", "Step 1: analyze the repository at repo_path: language, framework, port, build and start commands.", false),
        tool::<DockerfileParams, StepResult>("generate_dockerfile", "Step 2: write a Dockerfile into the repository (dockerfile_content, or generated from the analysis). A different existing Dockerfile is kept as Dockerfile.orig.", false),
        tool::<StepParams, StepResult>("build_image", "Step 3: build the container image with docker or podman.", false),
        tool::<StepParams, StepResult>("scan_image", "Step 4: scan the built image for vulnerabilities with trivy.", false),
        tool::<TagParams, StepResult>("tag_image", "Step 5: tag the built image.", false),
        tool::<PushParams, StepResult>("push_image", "Step 6: push the tagged image, to registry when given.", false),
        tool::<ManifestParams, StepResult>("generate_k8s_manifests", "Step 7: write Kubernetes manifests (Deployment + Service) into k8s/ (manifests, or generated).", false),
        tool::<StepParams, StepResult>("prepare_cluster", "Step 8: make a Kubernetes cluster reachable (the current kubectl context, or a kind cluster).", false),
        tool::<StepParams, StepResult>("deploy_application", "Step 9: apply the manifests with kubectl.", false),
        tool::<StepParams, StepResult>("verify_deployment", "Step 10: wait for the rollout and check the pods.", false),
        tool::<StartWorkflowParams, StartWorkflowResult>("start_workflow", "Start a containerization workflow for repo_path: creates the session (id generated when absent) and returns session_id and the next step; with run: true runs every step now, reporting progress.", false),
        tool::<SessionParams, WorkflowStatusResult>("workflow_status", "Progress, per-step status and the next step of a workflow. An unknown session_id is an error.", true),
        tool::<NoParams, ListToolsResult>("list_tools", "List the tools of this server.", true),
        tool::<PingParams, PingResult>("ping", "Check that the server answers.", true),
        tool::<NoParams, ServerStatusResult>("server_status", "Server version, uptime, session backend, session count and session-service counters.", true),
        tool::<ListSessionsParams, ListSessionsResult>("list_sessions", "List sessions by id, with filters (status, label key=value, id prefix) and cursor paging.", true),
        tool::<SessionParams, GetSessionResult>("get_session", "The whole stored session, with its version.", true),
        tool::<SessionParams, DeleteSessionResult>("delete_session", "Delete a session and its workflow state.", false),
    ];
    for t in &mut tools {
        t.destructive = t.name == "delete_session";
    }
    tools
}

/// The tools, over a [`Sessions`] service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Toolbox {
    pub(crate) sessions: Sessions,
    pub(crate) config: Arc<ToolboxConfig>,
    started: Instant,
}

fn parse<P: DeserializeOwned>(tool: &str, args: Value) -> Result<P, ToolError> {
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args)
        .map_err(|e| ToolError::invalid(format!("invalid arguments for {tool}: {e}")))
}

fn output<R: Serialize>(result: &R, summary: String) -> Result<ToolOutput, ToolError> {
    let structured = serde_json::to_value(result)
        .map_err(|e| ToolError::internal(format!("cannot encode the result: {e}")))?;
    Ok(ToolOutput {
        structured,
        summary,
    })
}

impl Toolbox {
    /// A toolbox over `sessions`.
    pub fn new(sessions: Sessions, config: ToolboxConfig) -> Toolbox {
        Toolbox {
            sessions,
            config: Arc::new(config),
            started: Instant::now(),
        }
    }

    /// The session service underneath.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// The configuration.
    pub fn config(&self) -> &ToolboxConfig {
        &self.config
    }

    /// Calls the tool `name` with JSON `args`: the one entry point of the server and the CLI.
    ///
    /// # Errors
    /// `UnknownTool`, `InvalidParams` (nothing changes), or the tool's own error.
    pub async fn call(
        &self,
        name: &str,
        args: Value,
        ctx: &CallContext,
    ) -> Result<ToolOutput, ToolError> {
        match name {
            "analyze_repository" => self
                .analyze_repository(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "generate_dockerfile" => self
                .generate_dockerfile(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "build_image" => self
                .build_image(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "scan_image" => self
                .scan_image(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "tag_image" => self
                .tag_image(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "push_image" => self
                .push_image(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "generate_k8s_manifests" => self
                .generate_k8s_manifests(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "prepare_cluster" => self
                .prepare_cluster(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "deploy_application" => self
                .deploy_application(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "verify_deployment" => self
                .verify_deployment(parse(name, args)?, ctx)
                .await
                .and_then(step_output),
            "start_workflow" => {
                let r = self.start_workflow(parse(name, args)?, ctx).await?;
                let summary = format!(
                    "workflow {} for {}: {} ({}%), next: {}",
                    r.session_id,
                    r.repo_path,
                    r.status,
                    r.progress_percent,
                    r.next_step.as_deref().unwrap_or("none")
                );
                output(&r, summary)
            }
            "workflow_status" => {
                let r = self.workflow_status(parse(name, args)?).await?;
                let summary = format!(
                    "{}: {} {}%, next: {}",
                    r.session_id,
                    r.status,
                    r.progress_percent,
                    r.next_step.as_deref().unwrap_or("none")
                );
                output(&r, summary)
            }
            "list_tools" => {
                let _: NoParams = parse(name, args)?;
                let r = self.list_tools();
                output(&r, format!("{} tools", r.tools.len()))
            }
            "ping" => {
                let r = self.ping(parse(name, args)?);
                output(&r, r.message.clone())
            }
            "server_status" => {
                let _: NoParams = parse(name, args)?;
                let r = self.server_status().await?;
                let summary = format!(
                    "{} {} on {}, {} sessions, up {}s",
                    r.name, r.version, r.backend, r.session_count, r.uptime_seconds
                );
                output(&r, summary)
            }
            "list_sessions" => {
                let r = self.list_sessions(parse(name, args)?).await?;
                output(
                    &r,
                    format!(
                        "{} sessions{}",
                        r.sessions.len(),
                        if r.next_cursor.is_some() {
                            " (more)"
                        } else {
                            ""
                        }
                    ),
                )
            }
            "get_session" => {
                let r = self.get_session(parse(name, args)?).await?;
                output(
                    &r,
                    format!("session {} at version {}", r.session_id, r.version),
                )
            }
            "delete_session" => {
                let r = self.delete_session(parse(name, args)?).await?;
                output(&r, format!("deleted session {}", r.session_id))
            }
            other => Err(ToolError {
                kind: ToolErrorKind::UnknownTool,
                message: format!(
                    "unknown tool {other:?}; call list_tools for the tools of this server"
                ),
                next_tool: Some("list_tools".into()),
            }),
        }
    }

    /// `list_tools`.
    pub fn list_tools(&self) -> ListToolsResult {
        ListToolsResult {
            tools: catalogue()
                .into_iter()
                .map(|t| ToolInfo {
                    name: t.name.into(),
                    description: t.description.into(),
                    read_only: t.read_only,
                })
                .collect(),
        }
    }

    /// `ping`.
    pub fn ping(&self, p: PingParams) -> PingResult {
        PingResult {
            message: p.message.unwrap_or_else(|| "pong".into()),
            timestamp: self.sessions.now().to_rfc3339(),
        }
    }

    /// `server_status`.
    pub async fn server_status(&self) -> Result<ServerStatusResult, ToolError> {
        Ok(ServerStatusResult {
            name: self.config.server_name.clone(),
            version: self.config.server_version.clone(),
            uptime_seconds: self.started.elapsed().as_secs(),
            backend: self.sessions.store().backend_name().into(),
            session_count: self.sessions.count().await?,
            stats: serde_json::to_value(self.sessions.stats()).unwrap_or(Value::Null),
            dry_run: self.config.exec.dry_run,
        })
    }

    /// Checks that `repo_path` exists, is a directory and lies inside an allowed root (the
    /// workspace directories or the client's roots); returns it canonicalized.
    pub(crate) fn check_repo_path(
        &self,
        repo_path: &str,
        ctx: &CallContext,
    ) -> Result<PathBuf, ToolError> {
        if repo_path.trim().is_empty() {
            return Err(ToolError::invalid(
                "repo_path is empty; pass the repository's directory",
            ));
        }
        let path = Path::new(repo_path);
        let canonical = path.canonicalize().map_err(|e| {
            ToolError::invalid(format!("repo_path {repo_path} cannot be read: {e}"))
        })?;
        if !canonical.is_dir() {
            return Err(ToolError::invalid(format!(
                "repo_path {repo_path} is not a directory"
            )));
        }
        let roots: Vec<PathBuf> = self
            .config
            .allowed_roots
            .iter()
            .chain(&ctx.roots)
            .filter_map(|r| r.canonicalize().ok())
            .collect();
        if roots.iter().any(|r| canonical.starts_with(r)) {
            Ok(canonical)
        } else {
            Err(ToolError::invalid(format!(
                "repo_path {} is outside the allowed roots ({}); move the repository into the workspace (--workspace-dir) or add it to the client's roots",
                canonical.display(),
                roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
            )))
        }
    }

    pub(crate) fn session_id(raw: &str) -> Result<SessionId, ToolError> {
        SessionId::new(raw).map_err(ToolError::from)
    }
}

fn step_output(r: StepResult) -> Result<ToolOutput, ToolError> {
    let summary = r.summary.clone();
    output(&r, summary)
}
