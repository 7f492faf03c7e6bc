//! Confirmation before a destructive step: what the dispatcher asks ([`ConfirmRequest`]),
//! the user's answer ([`ConfirmAnswer`]) and who asks ([`Confirmer`]: the MCP server through
//! elicitation or an input-required round trip, the CLI `tool` mode on the terminal).

use async_trait::async_trait;

/// One question: may `tool` run on `session_id`? `message` says exactly what will run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmRequest {
    /// The destructive tool about to run.
    pub tool: String,
    /// The session it runs on.
    pub session_id: String,
    /// What will run (image and registry, cluster, manifests and namespace, session).
    pub message: String,
}

/// The user's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmAnswer {
    /// Go ahead.
    Accepted,
    /// Do not run it.
    Declined,
}

/// Asks the user before a destructive step.
#[async_trait]
pub trait Confirmer: Send + Sync {
    /// Ask the user. Err(text): nobody can be asked (the text says why).
    async fn confirm(&self, request: &ConfirmRequest) -> Result<ConfirmAnswer, String>;
}

/// When the destructive tools ask first (`--confirm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConfirmPolicy {
    /// Ask before push_image, prepare_cluster, deploy_application and delete_session.
    #[default]
    Destructive,
    /// Never ask (automation); the decision is recorded as skipped, reason `confirm_never`.
    Never,
}
