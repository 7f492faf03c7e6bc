//! The services every command shares: the session store opened from the config, the
//! `Sessions` service over it and the `Toolbox`; and their orderly close (flush, then the
//! last reference dropped on the blocking pool, so the adapter drains and closes its file).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mcp_tools::{Toolbox, ToolboxConfig};
use session_core::{SessionStore, Sessions, SessionsConfig};

use crate::config::Config;

/// The services every command shares.
pub(crate) struct Services {
    /// The port itself, for operator commands that must see expired sessions too.
    pub(crate) store: Arc<dyn SessionStore>,
    /// The toolbox, which holds the `Sessions` service over `store`.
    pub(crate) tools: Toolbox,
}

/// Opens the store (waiting up to `lock_wait` for another process that holds its file) and
/// builds the services on it with the config's TTL, session cap, workspace and programs.
pub(crate) async fn services(config: &Config, lock_wait: Duration) -> anyhow::Result<Services> {
    let store = crate::store::open(config, lock_wait).await?;
    let sessions = Sessions::new(
        Arc::clone(&store),
        SessionsConfig {
            ttl: config.ttl,
            max_sessions: config.max_sessions,
            ..SessionsConfig::default()
        },
    );
    let tools = Toolbox::new(
        sessions,
        ToolboxConfig {
            allowed_roots: vec![config.workspace_dir.clone()],
            exec: config.exec.clone(),
            ..ToolboxConfig::default()
        },
    );
    Ok(Services { store, tools })
}

/// Flushes and closes the store: every acknowledged write is on disk when this returns.
pub(crate) async fn close(services: Services) -> anyhow::Result<()> {
    let Services { store, tools } = services;
    drop(tools);
    store.flush().await.context("flushing the session store")?;
    // The last reference: the adapter drains its queue and closes the file on drop.
    tokio::task::spawn_blocking(move || drop(store))
        .await
        .context("closing the session store")?;
    Ok(())
}
