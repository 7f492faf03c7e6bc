//! [`Toolbox`]: the tools' shared state (the session service, the configuration), what a
//! call carries beside its arguments ([`CallContext`]), and [`Toolbox::call`], the one
//! dispatcher used by the MCP server and the CLI `tool` mode alike. The tools themselves are
//! in the registry (`registry.rs`) and their own files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use session_core::{SessionId, Sessions};

use crate::error::ToolError;
use crate::exec::ExecConfig;
use crate::registry;

/// The toolbox's configuration.
#[derive(Clone, Debug)]
pub struct ToolboxConfig {
    /// Directories a `repo_path` may lie in (besides the client's MCP roots).
    pub allowed_roots: Vec<PathBuf>,
    /// The external programs and dry-run mode.
    pub exec: ExecConfig,
    /// The largest `dockerfile_content` / `manifests` accepted, in bytes.
    pub max_content_bytes: usize,
    /// The server's name, as `server_status` reports it. Default: `container-kit-mcp`.
    pub server_name: String,
    /// The server's version, as `server_status` reports it. Default: this crate's version.
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

/// A checked `repo_path`: the canonical directory and the allowed root that holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RepoPath {
    /// The repository directory, canonical.
    pub(crate) dir: PathBuf,
    /// The outermost allowed root (workspace directory or client root) that holds `dir`,
    /// canonical: the analysis reads nothing outside it.
    pub(crate) root: PathBuf,
}

/// The tools, over a [`Sessions`] service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Toolbox {
    sessions: Sessions,
    config: Arc<ToolboxConfig>,
    started: Instant,
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

    /// The configuration the toolbox was built with.
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
        match registry::find(name) {
            Some(tool) => (tool.call)(self, args, ctx).await,
            None => Err(registry::unknown_tool(name)),
        }
    }

    /// How long ago this toolbox was built (the server's uptime).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Checks that `repo_path` exists, is a directory and lies inside an allowed root (the
    /// workspace directories or the client's roots); returns it canonicalized, with the
    /// allowed root that holds it (the bound of what the analysis may read).
    pub(crate) fn check_repo_path(
        &self,
        repo_path: &str,
        ctx: &CallContext,
    ) -> Result<RepoPath, ToolError> {
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
        // The outermost allowed root that holds it: everything in it may be read, so a
        // module root above `repo_path` (a `go.mod` one level up) is found when it is inside.
        let root = roots
            .iter()
            .filter(|r| canonical.starts_with(r))
            .min_by_key(|r| r.components().count());
        if let Some(root) = root {
            Ok(RepoPath {
                root: root.clone(),
                dir: canonical,
            })
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

    /// Refuses a `dockerfile_content` / `manifests` argument that is over the size limit or
    /// blank (blank would write an empty file; omitting it generates one).
    pub(crate) fn check_content(
        &self,
        what: &str,
        content: &Option<String>,
    ) -> Result<(), ToolError> {
        match content {
            Some(c) if c.len() > self.config.max_content_bytes => Err(ToolError::invalid(format!(
                "{what} is {} bytes, over the limit of {} bytes",
                c.len(),
                self.config.max_content_bytes
            ))),
            Some(c) if c.trim().is_empty() => Err(ToolError::invalid(format!(
                "{what} is empty; omit it to generate one"
            ))),
            _ => Ok(()),
        }
    }
}
