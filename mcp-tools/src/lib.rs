//! The containerization workflow: the typed workflow state, the container-kit tools and
//! their step executors.
//!
//! Every tool is a plain async method of [`Toolbox`] from typed parameters to a typed
//! result; [`Toolbox::call`] dispatches by name and JSON arguments and is the one path used
//! by the MCP server and the CLI `tool` mode. This crate knows sessions only through
//! `session-core`'s [`session_core::Sessions`]: the backend is the server's choice.
//!
//! A step takes its session's lock (bounded wait), loads the workflow state, runs, and
//! records the completed or failed step, current step and artifact in one versioned update,
//! so concurrent calls on one session never lose a step and different sessions never wait
//! on each other.

mod analyze;
mod exec;
mod generate;
mod params;
mod state;
mod steps;
mod toolbox;
mod toolchain;

pub use crate::analyze::{analyze, AnalyzeResult};
pub use crate::exec::{CommandRecord, ExecConfig};
pub use crate::params::*;
pub use crate::state::{Step, WorkflowError, WorkflowState, WorkflowStatus, STATE_KEY};
pub use crate::toolbox::{
    catalogue, CallContext, ProgressSink, ToolDescriptor, ToolError, ToolErrorKind, ToolOutput,
    Toolbox, ToolboxConfig,
};
pub use crate::toolchain::{
    choose, Choice, DeclKind, Declared, Ecosystem, Evidence, Flag, Source, ToolchainError,
};
