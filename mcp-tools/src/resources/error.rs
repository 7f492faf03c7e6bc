//! [`ResourceError`]: why a resource cannot be read, and how the server classes it.

use session_core::{SessionId, StoreError};

use crate::state::Step;

/// Why a resource cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResourceError {
    /// The URI is not one of the templates' forms.
    #[error("resource uri {uri} is malformed: {reason}")]
    MalformedUri {
        /// The URI (cut for the message).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The session id in the URI is not a valid id.
    #[error("resource uri names an invalid session id {id:?}: {reason}")]
    InvalidSessionId {
        /// The id as given (cut).
        id: String,
        /// What the id check said.
        reason: String,
    },
    /// A `resources/list` cursor this server did not give.
    #[error("cursor {0:?} is not one resources/list gave; omit it to start from the first page")]
    InvalidCursor(String),
    /// No such session (or it expired).
    #[error(
        "session {session} {state}; list_sessions shows the sessions, start_workflow starts one"
    )]
    UnknownSession {
        /// The session asked for.
        session: SessionId,
        /// `was not found` or `has expired`.
        state: &'static str,
    },
    /// The session holds no workflow record.
    #[error("session {0} has no workflow; call start_workflow with it first")]
    NoWorkflow(SessionId),
    /// The step that produces the resource has not completed on this session.
    #[error("session {session} has no {what} yet; call {tool} first")]
    NotProduced {
        /// The session.
        session: SessionId,
        /// What is missing (`Dockerfile`, …).
        what: &'static str,
        /// The tool that produces it.
        tool: &'static str,
    },
    /// The session has manifests, but none by this name.
    #[error("session {session} has no manifest {file:?}; its manifests are: {known} (read {uri} for all)")]
    UnknownManifest {
        /// The session.
        session: SessionId,
        /// The name asked for (cut).
        file: String,
        /// The names it has.
        known: String,
        /// The `manifests` URI.
        uri: String,
    },
    /// The artifact's file is not on disk any more.
    #[error("{path} no longer exists (or is not a regular file); call {tool} again to write it")]
    MissingFile {
        /// Where the step wrote it.
        path: String,
        /// The tool that writes it.
        tool: &'static str,
    },
    /// The artifact's file is there but is not read: a symlink out of the root, not a
    /// regular file, over the size cap, not UTF-8, unreadable.
    #[error("{path} is not read: {reason}")]
    RefusedFile {
        /// Where the step wrote it.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The session's repository is outside the allowed roots now (or gone).
    #[error("{0}")]
    Repository(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Anything else that is the server's fault.
    #[error("{0}")]
    Internal(String),
}

impl ResourceError {
    /// Whether the request itself is wrong (a malformed URI, an invalid id or cursor, a
    /// repository outside the roots) rather than naming something that is not there.
    pub fn is_invalid_request(&self) -> bool {
        matches!(
            self,
            ResourceError::MalformedUri { .. }
                | ResourceError::InvalidSessionId { .. }
                | ResourceError::InvalidCursor(_)
                | ResourceError::Repository(_)
        )
    }

    /// Whether it names something that is not there (or not readable): the MCP
    /// resource-not-found error.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ResourceError::UnknownSession { .. }
                | ResourceError::NoWorkflow(_)
                | ResourceError::NotProduced { .. }
                | ResourceError::UnknownManifest { .. }
                | ResourceError::MissingFile { .. }
                | ResourceError::RefusedFile { .. }
        )
    }

    /// A stable name of the error's kind, for the error's data.
    pub fn kind(&self) -> &'static str {
        match self {
            ResourceError::MalformedUri { .. } => "malformed_uri",
            ResourceError::InvalidSessionId { .. } => "invalid_session_id",
            ResourceError::InvalidCursor(_) => "invalid_cursor",
            ResourceError::UnknownSession { .. } => "session_not_found",
            ResourceError::NoWorkflow(_) => "no_workflow",
            ResourceError::NotProduced { .. } => "not_produced",
            ResourceError::UnknownManifest { .. } => "unknown_manifest",
            ResourceError::MissingFile { .. } => "file_missing",
            ResourceError::RefusedFile { .. } => "file_refused",
            ResourceError::Repository(_) => "outside_roots",
            ResourceError::Store(_) => "store",
            ResourceError::Internal(_) => "internal",
        }
    }

    /// The tool to call next, when one helps.
    pub fn next_tool(&self) -> Option<&'static str> {
        match self {
            ResourceError::UnknownSession { .. } | ResourceError::NoWorkflow(_) => {
                Some("start_workflow")
            }
            ResourceError::NotProduced { tool, .. } | ResourceError::MissingFile { tool, .. } => {
                Some(tool)
            }
            ResourceError::Repository(_) => Some(Step::AnalyzeRepository.name()),
            _ => None,
        }
    }
}
