//! The tools' typed parameters. Names match the Go server's, so existing clients and prompts
//! keep working. The doc comments here become the JSON Schema descriptions the client's model
//! reads: each says what the value is for, its default, and what happens when it is wrong.
//!
//! Every string parameter has a size cap, declared here once as the schema's `maxLength`
//! (`#[schemars(length(max = ..))]`): clients see it in `tools/list`, and the dispatcher
//! refuses a longer value before decoding, naming the field, its length and the limit. A
//! parameter the schema does not list is refused the same way, over MCP and in tool mode.
//! `dockerfile_content` and `manifests` are the exception: their cap is the server's
//! configurable content limit (`ToolboxConfig::max_content_bytes`), checked by the step.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The longest free text a parameter takes (`previous_error`, ping's `message`): 64 KiB
/// characters.
pub const MAX_TEXT_CHARS: usize = 64 * 1024;
/// The longest session id (the id's own rule: up to 128 characters).
pub const MAX_ID_CHARS: usize = 128;
/// The longest name: a tool name (`failed_tool`), a tag (OCI's limit is 128), a status, a
/// label filter's `key=value`.
pub const MAX_NAME_CHARS: usize = 128;
/// The longest registry: OCI's limit on a whole repository name is 255 characters.
pub const MAX_REGISTRY_CHARS: usize = 255;
/// The longest repository path (Linux's `PATH_MAX`).
pub const MAX_PATH_CHARS: usize = 4096;
/// The longest label filter, `key=value`: a Kubernetes-style key (253 + `/` + 63) and value.
pub const MAX_LABEL_CHARS: usize = 512;

/// The optional repair context every step tool accepts. It changes nothing in how the step
/// runs; it is recorded in the workflow (`metadata.last_fix`) so the history shows why a step
/// was retried.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
pub struct FixParams {
    /// Set to true when this call retries the step after a failure you tried to fix.
    /// Default: false.
    #[serde(default)]
    pub fixing_mode: Option<bool>,
    /// The error message the failed attempt returned, recorded with the retry (up to 64 KiB
    /// characters; a longer one is refused: send its first and last lines).
    #[serde(default)]
    #[schemars(length(max = MAX_TEXT_CHARS))]
    pub previous_error: Option<String>,
    /// The tool whose failure this call repairs (e.g. `build_image`), recorded with the retry.
    #[serde(default)]
    #[schemars(length(max = MAX_NAME_CHARS))]
    pub failed_tool: Option<String>,
}

/// Parameters of a step tool that needs nothing but the session.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct StepParams {
    /// The workflow's session id, as returned by start_workflow. An unknown or expired id is
    /// an error naming start_workflow; an id another step is running on waits for it (up to
    /// the lock timeout, then the call fails as busy).
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: String,
    /// The optional repair context (`fixing_mode`, `previous_error`, `failed_tool`).
    #[serde(flatten)]
    pub fix: FixParams,
}

/// Arguments of `analyze_repository`: the workflow's session and the repository to analyze.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct AnalyzeParams {
    /// The workflow's session id, as returned by start_workflow. An unknown id is an error.
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: String,
    /// The repository directory to analyze. It must exist and lie inside the server's
    /// workspace (--workspace-dir) or one of the client's roots; otherwise the call fails and
    /// changes nothing. It becomes the workflow's repository.
    #[schemars(length(max = MAX_PATH_CHARS))]
    pub repo_path: String,
    /// The optional repair context (`fixing_mode`, `previous_error`, `failed_tool`).
    #[serde(flatten)]
    pub fix: FixParams,
}

/// Arguments of `generate_dockerfile`: the workflow's session and, optionally, the Dockerfile to write.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct DockerfileParams {
    /// The workflow's session id, as returned by start_workflow. An unknown id is an error.
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: String,
    /// The Dockerfile text to write into the repository. Omit it to have one generated from
    /// the analysis (then analyze_repository must have run). Blank text or text over the
    /// server's size limit (256 KiB by default) is refused.
    #[serde(default)]
    pub dockerfile_content: Option<String>,
    /// What to do when the repository already has a Dockerfile and no dockerfile_content is
    /// given. Default `keep`: the user's file is left as it is, validated, and the findings
    /// are returned with a suggested patch (a unified diff of fix_dockerfile's mechanical
    /// fixes); nothing is written. `update`: the fixes are applied and written (the previous
    /// file kept as Dockerfile.orig). `replace`: a new Dockerfile is generated from the
    /// analysis with its .dockerignore (the previous files kept as .orig). Without an
    /// existing Dockerfile every mode generates one; given dockerfile_content is always
    /// written.
    #[serde(default)]
    pub mode: Option<DockerfileMode>,
    /// The optional repair context (`fixing_mode`, `previous_error`, `failed_tool`).
    #[serde(flatten)]
    pub fix: FixParams,
}

/// What `generate_dockerfile` does with an existing Dockerfile (see `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DockerfileMode {
    /// Leave it, validate it, return the findings and a suggested patch.
    #[default]
    Keep,
    /// Apply the mechanical fixes and write it (the previous file kept as `.orig`).
    Update,
    /// Generate a new one from the analysis (the previous file kept as `.orig`).
    Replace,
}

/// Arguments of `tag_image`: the workflow's session and the tag to give the built image.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct TagParams {
    /// The workflow's session id, as returned by start_workflow. An unknown id is an error.
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: String,
    /// The tag to give the built image (e.g. `v1.2.0`): 1-128 characters of A-Z a-z 0-9 . _ -;
    /// anything else is refused before the session is touched, and a tag that would retag
    /// the built image as itself (`latest`) is refused. start_workflow's run uses `0.1.0`.
    #[schemars(length(max = MAX_NAME_CHARS))]
    pub tag: String,
    /// The optional repair context (`fixing_mode`, `previous_error`, `failed_tool`).
    #[serde(flatten)]
    pub fix: FixParams,
}

/// Arguments of `push_image`: the workflow's session and, optionally, the registry to push to.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct PushParams {
    /// The workflow's session id, as returned by start_workflow. An unknown id is an error.
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: String,
    /// The registry host and namespace to push to, e.g. `ghcr.io/acme` (no scheme, no
    /// spaces: `https://…` is refused). The image is re-tagged as `<registry>/<name>:<tag>`
    /// first. Default: push under the image's own name.
    #[serde(default)]
    #[schemars(length(max = MAX_REGISTRY_CHARS))]
    pub registry: Option<String>,
    /// The optional repair context (`fixing_mode`, `previous_error`, `failed_tool`).
    #[serde(flatten)]
    pub fix: FixParams,
}

/// Arguments of `generate_k8s_manifests`: the workflow's session and, optionally, the manifests to write.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct ManifestParams {
    /// The workflow's session id, as returned by start_workflow. An unknown id is an error.
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: String,
    /// The Kubernetes manifests (YAML) to write to `k8s/<app>.yaml`. Omit them to have a
    /// Deployment and a Service generated from the analysis and the built image. Blank text or
    /// text over the size limit (256 KiB by default) is refused.
    #[serde(default)]
    pub manifests: Option<String>,
    /// `kubernetes` (the default): one file, `k8s/<app>.yaml`. `kustomize`: a base
    /// (`k8s/base/`, the same manifests) and overlays `k8s/overlays/dev` and
    /// `k8s/overlays/prod` patching the image tag, replicas and resources; deploy_application
    /// then applies the dev overlay (`kubectl apply -k`). Kustomize needs generated manifests
    /// (not with `manifests`).
    #[serde(default)]
    #[schemars(length(max = MAX_NAME_CHARS))]
    pub format: Option<String>,
    /// The optional repair context (`fixing_mode`, `previous_error`, `failed_tool`).
    #[serde(flatten)]
    pub fix: FixParams,
}

/// Arguments of `start_workflow`: the repository to containerize, an optional session id, and whether to run every step now.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct StartWorkflowParams {
    /// The repository directory to containerize. It must exist and lie inside the server's
    /// workspace (--workspace-dir) or one of the client's roots.
    #[schemars(length(max = MAX_PATH_CHARS))]
    pub repo_path: String,
    /// The session id to use (letters, digits, `._:-`, up to 128). Default: a new id is
    /// generated. Passing the id of a workflow for the same repository continues it; one for
    /// another repository is refused.
    #[serde(default)]
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: Option<String>,
    /// Run every remaining step now, in order, with default parameters, reporting progress per
    /// step; the first failing step ends the call with its error. Default: false (only
    /// create the workflow and name the next step).
    #[serde(default)]
    pub run: Option<bool>,
}

/// Arguments of the tools that take only a session id (`workflow_status`, `get_session`,
/// `delete_session`).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct SessionParams {
    /// The session's id (from start_workflow or list_sessions). An unknown or expired id is
    /// an error and creates nothing.
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: String,
}

/// Arguments of `list_sessions`: filters (all optional, combined with AND) and paging.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ListSessionsParams {
    /// Only sessions with this status: `active`, `expired` or `suspended`; any other value is
    /// refused. Default: every status.
    #[serde(default)]
    #[schemars(length(max = MAX_NAME_CHARS))]
    pub status: Option<String>,
    /// Only sessions carrying this label, written `key=value` (e.g. `source=mcp`); a value
    /// without `=` is refused. Default: no label filter.
    #[serde(default)]
    #[schemars(length(max = MAX_LABEL_CHARS))]
    pub label: Option<String>,
    /// Only sessions whose id starts with this text. Default: every id.
    #[serde(default)]
    #[schemars(length(max = MAX_ID_CHARS))]
    pub prefix: Option<String>,
    /// Continue after the previous page: pass its `next_cursor`. Default: from the first id.
    #[serde(default)]
    #[schemars(length(max = MAX_ID_CHARS))]
    pub cursor: Option<String>,
    /// The most sessions on one page, 1-1000; other values are refused. Default: 100.
    #[serde(default)]
    pub limit: Option<usize>,
}

/// Arguments of `ping`: an optional message to echo.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct PingParams {
    /// Text to echo back instead of `pong`, to match an answer to its request (up to 64 KiB
    /// characters; a longer one is refused).
    #[serde(default)]
    #[schemars(length(max = MAX_TEXT_CHARS))]
    pub message: Option<String>,
}

/// Arguments of the tools that take none (`list_tools`, `server_status`): an empty object
/// (or none); a parameter is refused, as for every tool.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct NoParams {}

/// What `validate_dockerfile` and `fix_dockerfile` read: a session's repository, a
/// repository path, or given text (at least one).
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct DockerfileSource {
    /// A workflow's session id: its repository and its analysis (port, health path,
    /// toolchain) are used. Optional; an unknown id is an error naming start_workflow.
    #[serde(default)]
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: Option<String>,
    /// The repository directory (inside the workspace or a client root, else refused). Its
    /// analysis is run to check the port, health path and toolchain rules.
    #[serde(default)]
    #[schemars(length(max = MAX_PATH_CHARS))]
    pub repo_path: Option<String>,
    /// The Dockerfile's path relative to the repository. Default: `Dockerfile`. It is read
    /// through the repository's confined reader: a path leading outside is not found.
    #[serde(default)]
    #[schemars(length(max = MAX_PATH_CHARS))]
    pub dockerfile_path: Option<String>,
    /// The Dockerfile's text, instead of reading it from the repository (up to the server's
    /// content limit, 256 KiB by default).
    #[serde(default)]
    pub dockerfile_content: Option<String>,
    /// Merge the findings of a `hadolint` binary on PATH (one finding per rule and line).
    /// Default: true; without hadolint on PATH only ours are reported.
    #[serde(default)]
    pub hadolint: Option<bool>,
}

/// Arguments of `validate_dockerfile`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct ValidateDockerfileParams {
    /// Where the Dockerfile comes from.
    #[serde(flatten)]
    pub source: DockerfileSource,
}

/// Arguments of `fix_dockerfile`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
pub struct FixDockerfileParams {
    /// Where the Dockerfile comes from.
    #[serde(flatten)]
    pub source: DockerfileSource,
    /// Write the fixed file over the repository's Dockerfile (the previous one kept as
    /// `<name>.orig`). Default: true when the Dockerfile was read from a repository; given
    /// text is never written anywhere (the fixed text is returned).
    #[serde(default)]
    pub write: Option<bool>,
}
