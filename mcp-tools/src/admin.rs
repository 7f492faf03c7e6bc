//! The session and server utilities: `ping`, `server_status`, `list_sessions`,
//! `get_session`, `delete_session`.

use serde_json::Value;
use session_core::{ScanQuery, SessionStatus};

use crate::error::ToolError;
use crate::params::{ListSessionsParams, NoParams, PingParams, SessionParams};
use crate::registry::Tool;
use crate::results::{
    DeleteSessionResult, GetSessionResult, ListSessionsResult, PingResult, ServerStatusResult,
    SessionSummary,
};
use crate::state::WorkflowState;
use crate::toolbox::{CallContext, Toolbox};

/// The `ping` tool (the work is [`Toolbox::ping`]).
pub(crate) struct Ping;

impl Tool for Ping {
    const NAME: &'static str = "ping";
    const TITLE: &'static str = "Ping";
    const DESCRIPTION: &'static str = "Check that the server answers.";
    const READ_ONLY: bool = true;
    const IDEMPOTENT: bool = true;
    type Params = PingParams;
    type Output = PingResult;

    async fn run(tools: &Toolbox, p: PingParams, _: &CallContext) -> Result<PingResult, ToolError> {
        Ok(tools.ping(p))
    }

    fn summary(r: &PingResult) -> String {
        r.message.clone()
    }
}

/// The `server_status` tool (the work is [`Toolbox::server_status`]).
pub(crate) struct ServerStatus;

impl Tool for ServerStatus {
    const NAME: &'static str = "server_status";
    const TITLE: &'static str = "Server status";
    const DESCRIPTION: &'static str =
        "Server version, uptime, session backend, session count and session-service counters.";
    const READ_ONLY: bool = true;
    const IDEMPOTENT: bool = true;
    type Params = NoParams;
    type Output = ServerStatusResult;

    async fn run(
        tools: &Toolbox,
        _: NoParams,
        _: &CallContext,
    ) -> Result<ServerStatusResult, ToolError> {
        tools.server_status().await
    }

    fn summary(r: &ServerStatusResult) -> String {
        format!(
            "{} {} on {}, {} sessions, up {}s",
            r.name, r.version, r.backend, r.session_count, r.uptime_seconds
        )
    }
}

/// The `list_sessions` tool (the work is [`Toolbox::list_sessions`]).
pub(crate) struct ListSessions;

impl Tool for ListSessions {
    const NAME: &'static str = "list_sessions";
    const TITLE: &'static str = "List sessions";
    const DESCRIPTION: &'static str =
        "List sessions by id, with filters (status, label key=value, id prefix) and cursor paging.";
    const READ_ONLY: bool = true;
    const IDEMPOTENT: bool = true;
    type Params = ListSessionsParams;
    type Output = ListSessionsResult;

    async fn run(
        tools: &Toolbox,
        p: ListSessionsParams,
        _: &CallContext,
    ) -> Result<ListSessionsResult, ToolError> {
        tools.list_sessions(p).await
    }

    fn summary(r: &ListSessionsResult) -> String {
        let more = if r.next_cursor.is_some() {
            " (more)"
        } else {
            ""
        };
        format!("{} sessions{more}", r.sessions.len())
    }
}

/// The `get_session` tool (the work is [`Toolbox::get_session`]).
pub(crate) struct GetSession;

impl Tool for GetSession {
    const NAME: &'static str = "get_session";
    const TITLE: &'static str = "Get a session";
    const DESCRIPTION: &'static str = "The whole stored session, with its version.";
    const READ_ONLY: bool = true;
    const IDEMPOTENT: bool = true;
    type Params = SessionParams;
    type Output = GetSessionResult;

    async fn run(
        tools: &Toolbox,
        p: SessionParams,
        _: &CallContext,
    ) -> Result<GetSessionResult, ToolError> {
        tools.get_session(p).await
    }

    fn summary(r: &GetSessionResult) -> String {
        format!("session {} at version {}", r.session_id, r.version)
    }
}

/// The `delete_session` tool (the work is [`Toolbox::delete_session`]).
pub(crate) struct DeleteSession;

impl Tool for DeleteSession {
    const NAME: &'static str = "delete_session";
    const TITLE: &'static str = "Delete a session";
    const DESCRIPTION: &'static str = "Delete a session and its workflow state.";
    const DESTRUCTIVE: bool = true;
    /// Deleting a deleted session changes nothing more.
    const IDEMPOTENT: bool = true;
    /// Only this server's session store.
    const OPEN_WORLD: bool = false;
    type Params = SessionParams;
    type Output = DeleteSessionResult;

    async fn run(
        tools: &Toolbox,
        p: SessionParams,
        _: &CallContext,
    ) -> Result<DeleteSessionResult, ToolError> {
        tools.delete_session(p).await
    }

    fn summary(r: &DeleteSessionResult) -> String {
        format!("deleted session {}", r.session_id)
    }
}

impl Toolbox {
    /// `ping`: `pong` (or the echoed message) and the server's clock.
    pub fn ping(&self, p: PingParams) -> PingResult {
        PingResult {
            message: p.message.unwrap_or_else(|| "pong".into()),
            timestamp: self.sessions().now().to_rfc3339(),
        }
    }

    /// `server_status`: name, version, uptime, backend, session count and the session
    /// service's counters.
    pub async fn server_status(&self) -> Result<ServerStatusResult, ToolError> {
        let sessions = self.sessions();
        Ok(ServerStatusResult {
            name: self.config().server_name.clone(),
            version: self.config().server_version.clone(),
            uptime_seconds: self.uptime().as_secs(),
            backend: sessions.store().backend_name().into(),
            session_count: sessions.count().await?,
            stats: serde_json::to_value(sessions.stats()).unwrap_or(Value::Null),
            dry_run: self.config().exec.dry_run,
            policy_rules: self
                .config()
                .policy
                .as_ref()
                .map(|p| p.rules().to_vec())
                .unwrap_or_default(),
        })
    }

    /// `list_sessions`: one page of sessions matching the filters.
    pub async fn list_sessions(
        &self,
        p: ListSessionsParams,
    ) -> Result<ListSessionsResult, ToolError> {
        let status = p
            .status
            .as_deref()
            .map(str::parse::<SessionStatus>)
            .transpose()
            .map_err(ToolError::invalid)?;
        let label = p
            .label
            .as_deref()
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| ToolError::invalid(format!("label {l:?} must be key=value")))
            })
            .transpose()?;
        let after = p.cursor.as_deref().map(Toolbox::session_id).transpose()?;
        let limit = p.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ToolError::invalid(format!(
                "limit {limit} must be between 1 and 1000"
            )));
        }
        let query = ScanQuery {
            status,
            label,
            id_prefix: p.prefix,
            after,
            limit,
        };
        let page = self.sessions().list(&query).await?;
        let now = self.sessions().now();
        let sessions = page
            .items
            .into_iter()
            .map(|s| {
                let wf = WorkflowState::from_session(&s.value).ok().flatten();
                let v = &s.value;
                SessionSummary {
                    session_id: v.id.to_string(),
                    status: v.status.as_str().into(),
                    expired: v.is_expired_at(now),
                    stage: v.stage.clone(),
                    created_at: v.created_at.to_rfc3339(),
                    updated_at: v.updated_at.to_rfc3339(),
                    expires_at: v.expires_at.to_rfc3339(),
                    workflow_status: wf.as_ref().map(|w| w.status),
                    current_step: wf.map(|w| w.current_step),
                    labels: v.labels.clone(),
                    version: s.version.get(),
                }
            })
            .collect();
        Ok(ListSessionsResult {
            sessions,
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        })
    }

    /// `get_session`: the whole stored session.
    pub async fn get_session(&self, p: SessionParams) -> Result<GetSessionResult, ToolError> {
        let id = Toolbox::session_id(&p.session_id)?;
        let s = self.sessions().get(&id).await?;
        Ok(GetSessionResult {
            session_id: id.to_string(),
            version: s.version.get(),
            session: serde_json::to_value(&s.value).unwrap_or(Value::Null),
        })
    }

    /// `delete_session`: waits for a running step on the session, then deletes it.
    pub async fn delete_session(&self, p: SessionParams) -> Result<DeleteSessionResult, ToolError> {
        let id = Toolbox::session_id(&p.session_id)?;
        // Take the lock so a running step finishes (or the wait times out) before deletion.
        let guard = self.sessions().lock(&id).await?;
        self.sessions().delete(&id).await?;
        drop(guard);
        Ok(DeleteSessionResult {
            session_id: id.to_string(),
            deleted: true,
        })
    }
}
