//! [`ToolError`], the presentation of every failure to the MCP client: a kind, a message
//! saying what to do, the tool to call next, and the guidance every error carries: a `hint`
//! (what went wrong, in the user's terms) and a `next` (the call or change that fixes it),
//! each either given where the error is made or the kind's default. Domain errors ([`StoreError`],
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
    /// An organisation policy (`--policy`) denied the step; `details.denials` names each rule
    /// and its message. Nothing was run or recorded.
    PolicyDenied,
    /// A destructive tool needs the user's confirmation and nobody could be asked (a client
    /// without elicitation, tool mode without a terminal), or the answer was forged, expired
    /// or replayed. Nothing ran.
    ConfirmationRequired,
    /// The user declined the destructive tool: nothing ran; the decision is recorded in the
    /// session's `metadata.confirmations`.
    ConfirmationDeclined,
}

impl ToolErrorKind {
    /// Every kind, for the test that each has its guidance.
    pub const ALL: [ToolErrorKind; 12] = [
        ToolErrorKind::UnknownTool,
        ToolErrorKind::InvalidParams,
        ToolErrorKind::SessionNotFound,
        ToolErrorKind::SessionBusy,
        ToolErrorKind::StepFailed,
        ToolErrorKind::Precondition,
        ToolErrorKind::NotAService,
        ToolErrorKind::Store,
        ToolErrorKind::Internal,
        ToolErrorKind::PolicyDenied,
        ToolErrorKind::ConfirmationRequired,
        ToolErrorKind::ConfirmationDeclined,
    ];

    /// What went wrong, in the user's terms, when the error gives no hint of its own.
    pub fn default_hint(self) -> &'static str {
        match self {
            ToolErrorKind::UnknownTool => "the tool name is not one this server offers",
            ToolErrorKind::InvalidParams => {
                "an argument is missing, mistyped or out of bounds; nothing was changed"
            }
            ToolErrorKind::SessionNotFound => "the workflow session does not exist or has expired",
            ToolErrorKind::SessionBusy => {
                "another call is working on this session and the wait for it ran out"
            }
            ToolErrorKind::StepFailed => {
                "the step ran and failed; the failure is recorded in the workflow"
            }
            ToolErrorKind::Precondition => "an earlier step this one needs has not completed",
            ToolErrorKind::NotAService => "the directory is not one deployable service",
            ToolErrorKind::Store => "the session store refused or failed the write",
            ToolErrorKind::Internal => "the server failed unexpectedly",
            ToolErrorKind::PolicyDenied => {
                "the organisation policy loaded with --policy forbids this step's input"
            }
            ToolErrorKind::ConfirmationRequired => {
                "this tool changes things outside the repository and the user's confirmation could not be obtained; nothing ran"
            }
            ToolErrorKind::ConfirmationDeclined => "the user declined the tool; nothing ran",
        }
    }

    /// The fix, when the error names neither a fix nor a tool to call.
    pub fn default_next(self) -> &'static str {
        match self {
            ToolErrorKind::UnknownTool => "call list_tools and use one of the names it returns",
            ToolErrorKind::InvalidParams => {
                "correct the argument the message names (see the tool's input schema) and call the tool again"
            }
            ToolErrorKind::SessionNotFound => {
                "call start_workflow with the repository to create a new session"
            }
            ToolErrorKind::SessionBusy => "wait for the other call to finish, then call the tool again",
            ToolErrorKind::StepFailed => {
                "fix what the message names, then call the step again with fixing_mode: true and previous_error set to the message"
            }
            ToolErrorKind::Precondition => "call next_tool to find the step to run first",
            ToolErrorKind::NotAService => {
                "call analyze_repository again on one of the candidate directories in details"
            }
            ToolErrorKind::Store => {
                "check the store (sessions check) and the server log, then call the tool again"
            }
            ToolErrorKind::Internal => {
                "report the message with the server log; calling the tool again may succeed"
            }
            ToolErrorKind::PolicyDenied => {
                "change what each denial names (image, registry, Dockerfile or manifests) and call the step again"
            }
            ToolErrorKind::ConfirmationRequired => {
                "use a client that supports elicitation, or start the server with --confirm never for automation (tool mode: --yes), then call the tool again"
            }
            ToolErrorKind::ConfirmationDeclined => {
                "call the tool again when the user wants it to run, or continue with another step"
            }
        }
    }
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
    /// The error's own hint and fix, when it has them (boxed: errors stay small on the
    /// `Result` path); [`ToolError::hint`] and [`ToolError::next`] fall back to the kind's.
    #[serde(skip)]
    pub guidance: Option<Box<Guidance>>,
}

/// An error's own guidance, beside the kind's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Guidance {
    /// What went wrong in the user's terms.
    pub hint: Option<String>,
    /// The call or change that fixes it.
    pub next: Option<String>,
}

impl ToolError {
    /// An error of `kind` with `message`, the kind's guidance and no tool to call next.
    pub fn new(kind: ToolErrorKind, message: impl Into<String>) -> ToolError {
        ToolError {
            kind,
            message: message.into(),
            next_tool: None,
            details: None,
            guidance: None,
        }
    }

    /// Bad arguments: the call changed nothing; `message` says which and why.
    pub fn invalid(message: impl Into<String>) -> ToolError {
        ToolError::new(ToolErrorKind::InvalidParams, message)
    }

    /// An unexpected failure.
    pub fn internal(message: impl Into<String>) -> ToolError {
        ToolError::new(ToolErrorKind::Internal, message)
    }

    pub(crate) fn with_next(mut self, tool: &str) -> ToolError {
        self.next_tool = Some(tool.to_owned());
        self
    }

    /// The same error with its own hint and fix instead of the kind's.
    pub fn with_hint_next(mut self, hint: impl Into<String>, next: impl Into<String>) -> ToolError {
        self.guidance = Some(Box::new(Guidance {
            hint: Some(hint.into()),
            next: Some(next.into()),
        }));
        self
    }

    /// The same error with its own fix (the hint stays the kind's).
    pub fn with_next_text(mut self, next: impl Into<String>) -> ToolError {
        let g = self.guidance.get_or_insert_with(Box::default);
        g.next = Some(next.into());
        self
    }

    /// What went wrong, in the user's terms: the error's own hint or its kind's.
    pub fn hint(&self) -> String {
        self.guidance
            .as_ref()
            .and_then(|g| g.hint.clone())
            .unwrap_or_else(|| self.kind.default_hint().to_owned())
    }

    /// The call or change that fixes it: the error's own, else the tool to call next (with
    /// the kind's advice), else the kind's.
    pub fn next(&self) -> String {
        if let Some(next) = self.guidance.as_ref().and_then(|g| g.next.clone()) {
            return next;
        }
        match (&self.next_tool, self.kind) {
            (Some(tool), ToolErrorKind::StepFailed) => format!(
                "fix what the message names, then call {tool} (fixing_mode: true, previous_error: the message)"
            ),
            (Some(tool), _) => format!("call {tool}"),
            (None, kind) => kind.default_next().to_owned(),
        }
    }

    /// The error as the JSON object sent as `structuredContent`: `kind`, `message`,
    /// `next_tool`, `hint`, `next` and, when there are some, `details`.
    pub fn to_json(&self) -> Value {
        let mut error = json!({
            "kind": self.kind,
            "message": self.message,
            "next_tool": self.next_tool,
            "hint": self.hint(),
            "next": self.next(),
        });
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
            StoreError::NotFound(_) | StoreError::Expired(_) => {
                ToolError::new(ToolErrorKind::SessionNotFound, message)
                    .with_next(StartWorkflow::NAME)
            }
            StoreError::Busy { .. } => ToolError::new(ToolErrorKind::SessionBusy, message),
            _ => ToolError::new(ToolErrorKind::Store, message),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind renders a non-empty hint and next, with and without a tool to call next,
    /// and an error's own guidance wins over the kind's.
    #[test]
    fn every_error_kind_carries_a_hint_and_a_next() {
        for kind in ToolErrorKind::ALL {
            for e in [
                ToolError::new(kind, "m"),
                ToolError::new(kind, "m").with_next("analyze_repository"),
            ] {
                let j = e.to_json();
                let hint = j["error"]["hint"].as_str().unwrap_or_default();
                let next = j["error"]["next"].as_str().unwrap_or_default();
                assert!(hint.len() > 10, "{kind:?}: {j}");
                assert!(next.len() > 10, "{kind:?}: {j}");
                if e.next_tool.is_some() {
                    assert!(next.contains("analyze_repository"), "{kind:?}: {j}");
                }
            }
            let own = ToolError::new(kind, "m").with_hint_next("h!", "n!");
            assert_eq!(own.to_json()["error"]["hint"], "h!");
            assert_eq!(own.to_json()["error"]["next"], "n!");
        }
        // The hints differ by kind (no one generic sentence for all).
        let mut hints: Vec<_> = ToolErrorKind::ALL
            .iter()
            .map(|k| k.default_hint())
            .collect();
        hints.sort();
        hints.dedup();
        assert_eq!(hints.len(), ToolErrorKind::ALL.len());
    }
}
