//! [`ToolError`], the presentation of every failure to the MCP client: a kind, a message
//! saying what to do, and the tool to call next. Domain errors ([`StoreError`],
//! [`StateError`]) are converted into it once, here.

use serde::Serialize;
use serde_json::{json, Value};
use session_core::StoreError;

use crate::registry::Tool;
use crate::state::StateError;
use crate::workflow::StartWorkflow;

/// What kind of failure a [`ToolError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolErrorKind {
    /// No tool of that name: call `list_tools`.
    UnknownTool,
    /// Missing, mistyped or out-of-bounds arguments; nothing was changed.
    InvalidParams,
    /// The session does not exist (or has expired): call `start_workflow`.
    SessionNotFound,
    /// Another call holds the session's lock and the wait ran out: retry later.
    SessionBusy,
    /// The step ran and failed; the failure is recorded in the workflow.
    StepFailed,
    /// A step's prerequisite is missing (nothing is recorded): call `next_tool` first.
    Precondition,
    /// `repo_path` is not one deployable service (a monorepo root, a library-only workspace,
    /// several Go mains, an unknown stack); nothing is recorded. `details` holds the refusal
    /// (`refusal`, `candidates`): call `analyze_repository` again on one of the candidates
    /// (or, for an unknown stack, `generate_dockerfile` with the user's `dockerfile_content`).
    NotAService,
    /// The store refused or failed.
    Store,
    /// A bug or an unexpected environment failure; `message` says what failed.
    Internal,
}

/// A failed call: becomes an MCP tool error (`isError: true`) naming the tool to call next.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct ToolError {
    /// Which kind of failure, for programs that branch on it.
    pub kind: ToolErrorKind,
    /// What went wrong and what to do.
    pub message: String,
    /// The tool to call next, when one would help.
    pub next_tool: Option<String>,
    /// Machine-readable detail of the failure, when it has some (a refusal's candidates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ToolError {
    /// Bad arguments: the call changed nothing; `message` says which and why.
    pub fn invalid(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: ToolErrorKind::InvalidParams,
            message: message.into(),
            next_tool: None,
            details: None,
        }
    }

    /// An unexpected failure.
    pub fn internal(message: impl Into<String>) -> ToolError {
        ToolError {
            kind: ToolErrorKind::Internal,
            message: message.into(),
            next_tool: None,
            details: None,
        }
    }

    pub(crate) fn with_next(mut self, tool: &str) -> ToolError {
        self.next_tool = Some(tool.to_owned());
        self
    }

    /// The error as the JSON object sent as `structuredContent`.
    pub fn to_json(&self) -> Value {
        let mut error =
            json!({ "kind": self.kind, "message": self.message, "next_tool": self.next_tool });
        if let (Some(details), Some(map)) = (&self.details, error.as_object_mut()) {
            map.insert("details".into(), details.clone());
        }
        json!({ "error": error })
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
                next_tool: Some(StartWorkflow::NAME.into()),
                details: None,
            },
            StoreError::Busy { .. } => ToolError {
                kind: ToolErrorKind::SessionBusy,
                message,
                next_tool: None,
                details: None,
            },
            _ => ToolError {
                kind: ToolErrorKind::Store,
                message,
                next_tool: None,
                details: None,
            },
        }
    }
}

impl From<StateError> for ToolError {
    fn from(e: StateError) -> ToolError {
        match e {
            StateError::Store(e) => e.into(),
            e @ StateError::OtherRepository { .. } => ToolError::invalid(e.to_string()),
            e => ToolError::internal(e.to_string()),
        }
    }
}
