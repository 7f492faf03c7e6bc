//! The services every command shares: the session store opened from the config, the
//! `Sessions` service over it and the `Toolbox`; and their orderly close (flush, then the
//! last reference dropped on the blocking pool, so the adapter drains and closes its file).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use mcp_tools::{Toolbox, ToolboxConfig};
use session_core::{SessionStore, Sessions, SessionsConfig};
use store_open::{Backend, OpenError, OpenOptions, SpecError, StoreSpec};

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
    let store = open_store(config, lock_wait).await?;
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

/// Opens the configured backend through store-open. etcd is contacted once here, so a wrong
/// endpoint fails at startup rather than at the first tool call.
async fn open_store(config: &Config, lock_wait: Duration) -> anyhow::Result<Arc<dyn SessionStore>> {
    let spec = StoreSpec {
        backend: config.store.clone(),
        options: OpenOptions {
            lock_wait,
            check_connection: true,
            ..OpenOptions::default()
        },
    };
    let store = match store_open::open(&spec).await {
        Ok(store) => store,
        Err(OpenError::Spec(SpecError::NoEndpoints)) => bail!(
            "--store etcd needs --etcd-endpoints (MCP_ETCD_ENDPOINTS), e.g. http://127.0.0.1:2379"
        ),
        Err(e) => return Err(e.into()),
    };
    match &config.store {
        Backend::Etcd { endpoints, .. } => {
            tracing::info!(backend = "etcd", ?endpoints, "session store open")
        }
        Backend::Redb(path) | Backend::Sled(path) => {
            tracing::info!(backend = store.backend_name(), path = %path.display(), "session store open")
        }
        Backend::Memory => tracing::info!(backend = store.backend_name(), "session store open"),
    }
    Ok(store)
}
