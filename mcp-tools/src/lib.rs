//! The containerization workflow: the typed workflow state, the container-kit tools and
//! their step executors.
//!
//! Every tool is one type declared once in the registry (name, title, description, hints,
//! typed parameters and result, summary line); [`Toolbox::call`] dispatches by name and JSON
//! arguments and is the one path used by the MCP server and the CLI `tool` mode, and
//! [`catalogue`] lists the tools with their JSON Schemas. This crate knows sessions only
//! through `session-core`'s [`session_core::Sessions`]: the backend is the server's choice.
//!
//! A step takes its session's lock (bounded wait), loads the workflow state, runs, and
//! records the completed or failed step, current step and typed artifact in one versioned
//! update, so concurrent calls on one session never lose a step and different sessions never
//! wait on each other.

mod admin;
mod analyze;
mod arguments;
mod confirm;
mod dockerfile;
mod error;
mod exec;
mod fix_dockerfile;
mod generate;
mod log_text;
mod params;
pub mod policy;
mod registry;
mod resources;
mod results;
mod state;
mod steps;
/// The metric names, labels and buckets the tools record (public: an exporter configures
/// its buckets from them).
pub mod telemetry;
mod toolbox;
mod toolchain;
mod validate_dockerfile;
mod workflow;

pub use crate::analyze::{
    analyze, analyze_dir, analyze_dir_reporting, AnalyzeError, AnalyzeResult, Candidate, Details,
    Fact, Facts, ServiceKind, Skipped, ToolchainFact,
};
pub use crate::confirm::{ConfirmAnswer, ConfirmPolicy, ConfirmRequest, Confirmer};
pub use crate::dockerfile::{Change, Finding, Report, Severity};
pub use crate::error::{Guidance, ToolError, ToolErrorKind};
pub use crate::exec::{CommandRecord, ExecConfig};
pub use crate::generate::{
    dockerfile, dockerignore, dockerignore_name, k8s_manifests, kustomize_environments,
    kustomize_layout,
};
pub use crate::log_text::{log_safe, LogSafe, LOG_MESSAGE_CHARS, LOG_NAME_CHARS};
pub use crate::params::*;
pub use crate::registry::{
    catalogue, find_tool, instructions, instructions_for, ParameterKind, ToolDescriptor,
    ToolParameter,
};
pub use crate::resources::{
    list_resources, read_resource, ListedResource, ResourceError, ResourcePage,
    ResourceTemplateSpec, ResourceText, ResourceUri, SessionResource, LIST_PAGE_SESSIONS,
    RESOURCE_TEMPLATES, RESOURCE_URI_PREFIX,
};
pub use crate::results::*;
pub use crate::state::{
    StateError, Step, StepState, WorkflowError, WorkflowState, WorkflowStatus, STATE_KEY,
};
pub use crate::steps::{
    build_image::BuildArtifact, deploy_application::DeployArtifact,
    generate_dockerfile::DockerfileArtifact, generate_k8s_manifests::ManifestArtifact,
    prepare_cluster::ClusterArtifact, push_image::PushArtifact, scan_image::ScanArtifact,
    tag_image::TagArtifact, verify_deployment::VerifyArtifact,
};
pub use crate::toolbox::{CallContext, ProgressSink, ToolOutput, Toolbox, ToolboxConfig};
pub use crate::toolchain::{
    choose, Choice, DeclKind, Declared, Ecosystem, Evidence, Flag, Source, ToolchainError,
};
