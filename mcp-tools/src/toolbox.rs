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

use crate::confirm::{ConfirmPolicy, Confirmer};
use crate::error::ToolError;
use crate::exec::ExecConfig;
use crate::registry;

/// The toolbox's configuration.
#[derive(Clone, Debug)]
pub struct ToolboxConfig {
    /// Directories a `repo_path` may lie in (the workspace). The client's MCP roots narrow
    /// them: a client root inside one of these replaces it, one outside is ignored unless
    /// `trust_client_roots` is set.
    pub allowed_roots: Vec<PathBuf>,
    /// Honour client roots outside `allowed_roots` too (they then widen what may be read and
    /// written). Default: false.
    pub trust_client_roots: bool,
    /// The external programs and dry-run mode.
    pub exec: ExecConfig,
    /// The largest `dockerfile_content` / `manifests` accepted, in bytes.
    pub max_content_bytes: usize,
    /// The server's name, as `server_status` reports it. Default: `container-kit-mcp`.
    pub server_name: String,
    /// The server's version, as `server_status` reports it. Default: this crate's version.
    pub server_version: String,
    /// The organisation policy (`--policy`), evaluated by generate_k8s_manifests,
    /// build_image, push_image and deploy_application. Default: none.
    pub policy: Option<Arc<crate::policy::Policy>>,
    /// When the destructive tools ask for a confirmation first (`--confirm`). Default:
    /// [`ConfirmPolicy::Destructive`].
    pub confirm: ConfirmPolicy,
}

impl Default for ToolboxConfig {
    fn default() -> Self {
        ToolboxConfig {
            allowed_roots: Vec::new(),
            trust_client_roots: false,
            exec: ExecConfig::default(),
            max_content_bytes: 256 * 1024,
            server_name: "container-kit-mcp".into(),
            server_version: env!("CARGO_PKG_VERSION").into(),
            policy: None,
            confirm: ConfirmPolicy::Destructive,
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
    /// Who asks the user before a destructive step; `None`: nobody can be asked (a
    /// destructive step then fails with `confirmation_required` unless `--confirm never`).
    pub confirm: Option<Arc<dyn Confirmer>>,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("progress", &self.progress.is_some())
            .field("roots", &self.roots)
            .field("confirm", &self.confirm.is_some())
            .finish()
    }
}

impl CallContext {
    pub(crate) async fn progress(&self, done: f64, total: f64, message: String) {
        if let Some(p) = &self.progress {
            p.report(done, Some(total), Some(message)).await;
        }
    }

    /// A context whose progress `0..=1` is reported as `from..to` of `total` on this one's
    /// sink: a step run inside `start_workflow run: true` reports inside its own slice of the
    /// workflow's count, so the values of one progress token never go down (the MCP
    /// specification requires them to increase).
    pub(crate) fn within(&self, from: f64, to: f64, total: f64) -> CallContext {
        CallContext {
            progress: self.progress.as_ref().map(|inner| {
                Arc::new(Slice {
                    inner: inner.clone(),
                    from,
                    to,
                    total,
                }) as Arc<dyn ProgressSink>
            }),
            roots: self.roots.clone(),
            confirm: self.confirm.clone(),
        }
    }
}

/// Maps a nested call's progress (`done` of its `total`) into `from..to` of an outer count.
struct Slice {
    inner: Arc<dyn ProgressSink>,
    from: f64,
    to: f64,
    total: f64,
}

#[async_trait]
impl ProgressSink for Slice {
    async fn report(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let share = match total {
            Some(t) if t > 0.0 => (progress / t).clamp(0.0, 1.0),
            _ => 0.0,
        };
        let value = self.from + (self.to - self.from) * share;
        self.inner.report(value, Some(self.total), message).await;
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

    /// Checks that `repo_path` lies inside an allowed root (the workspace directories,
    /// narrowed by the client's roots), exists and is a directory; returns it canonicalized,
    /// with the allowed root that holds it (the bound of what the analysis may read and the
    /// steps may write).
    pub(crate) fn check_repo_path(
        &self,
        repo_path: &str,
        ctx: &CallContext,
    ) -> Result<RepoPath, ToolError> {
        self.check_repo_path_in(repo_path, &ctx.roots)
    }

    /// [`Toolbox::check_repo_path`] with the client's roots given as a list.
    ///
    /// Containment is checked before existence, and a path outside the roots gets the same
    /// error whether it exists or not (and whether a symlink inside points at something
    /// that exists): the error tells nothing about the host outside the roots.
    pub(crate) fn check_repo_path_in(
        &self,
        repo_path: &str,
        client_roots: &[PathBuf],
    ) -> Result<RepoPath, ToolError> {
        if repo_path.trim().is_empty() {
            return Err(ToolError::invalid(
                "repo_path is empty; pass the repository's directory",
            ));
        }
        let roots = self.effective_roots(client_roots);
        let outside = || {
            ToolError::invalid(format!(
                "repo_path {repo_path} is outside the allowed roots ({}); move the repository into the workspace (--workspace-dir); a client root outside the workspace counts only when the server runs with --trust-client-roots",
                roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", ")
            ))
        };
        let path = Path::new(repo_path);
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().map_err(|_| outside())?.join(path)
        };
        // Lexically first (nothing on disk is looked at for a path outside): the roots as
        // configured and as resolved both count, so a workspace given through a symlink works.
        let lexical = normalize(&absolute).ok_or_else(outside)?;
        let configured = self.configured_roots(client_roots);
        if !roots
            .iter()
            .chain(&configured)
            .any(|r| lexical.starts_with(r))
        {
            return Err(outside());
        }
        let canonical = match lexical.canonicalize() {
            Ok(c) => c,
            // A symlink inside a root to a missing place outside must read as "outside" as
            // well, so "does not exist" is said only of a path whose real place is inside.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && !has_symlink(&lexical, &roots, &configured) =>
            {
                return Err(ToolError::invalid(format!(
                    "repo_path {repo_path} does not exist; pass an existing repository directory"
                )))
            }
            Err(_) => return Err(outside()),
        };
        // The outermost allowed root that holds it: everything in it may be read, so a
        // module root above `repo_path` (a `go.mod` one level up) is found when it is inside.
        let root = roots
            .iter()
            .filter(|r| canonical.starts_with(r))
            .min_by_key(|r| r.components().count())
            .ok_or_else(outside)?;
        if !canonical.is_dir() {
            return Err(ToolError::invalid(format!(
                "repo_path {repo_path} is not a directory"
            )));
        }
        Ok(RepoPath {
            root: root.clone(),
            dir: canonical,
        })
    }

    /// The roots a `repo_path` may lie in, canonical: the workspace directories, narrowed to
    /// the client's roots that lie inside them when the client gave any. A client root
    /// outside the workspace is ignored (logged at debug) unless `trust_client_roots`, when
    /// it is added.
    fn effective_roots(&self, client_roots: &[PathBuf]) -> Vec<PathBuf> {
        let workspace: Vec<PathBuf> = (self.config.allowed_roots.iter())
            .filter_map(|r| r.canonicalize().ok())
            .collect();
        let mut inside = Vec::new();
        let mut trusted = Vec::new();
        for r in client_roots {
            let Ok(c) = r.canonicalize() else {
                tracing::debug!(root = ?r, "client root ignored: it cannot be resolved");
                continue;
            };
            if workspace.iter().any(|w| c.starts_with(w)) {
                inside.push(c);
            } else if self.config.trust_client_roots {
                trusted.push(c);
            } else {
                tracing::debug!(
                    root = ?r,
                    "client root ignored: it is outside the workspace (--trust-client-roots honours it)"
                );
            }
        }
        let mut roots = if inside.is_empty() { workspace } else { inside };
        roots.extend(trusted);
        roots
    }

    /// The roots as configured (not resolved), for the lexical check only.
    fn configured_roots(&self, client_roots: &[PathBuf]) -> Vec<PathBuf> {
        let client = client_roots
            .iter()
            .filter(|_| self.config.trust_client_roots);
        (self.config.allowed_roots.iter())
            .chain(client)
            .filter_map(|r| normalize(r))
            .collect()
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

/// `path` with `.` and `..` removed lexically (`None` for a relative path or a `..` past `/`).
fn normalize(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::Prefix(_) => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
        }
    }
    out.is_absolute().then_some(out)
}

/// Whether some existing prefix of `path` below one of the roots is a symlink.
fn has_symlink(path: &Path, roots: &[PathBuf], configured: &[PathBuf]) -> bool {
    path.ancestors()
        .filter(|p| (roots.iter().chain(configured)).any(|r| p.starts_with(r) && *p != r.as_path()))
        .any(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()))
}
