//! The services every command shares: the session store opened from the config, the
//! `Sessions` service over it and the `Toolbox`; and their orderly close (flush, then the
//! last reference dropped on the blocking pool, so the adapter drains and closes its file).

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
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
    /// The store was opened read-only: nothing to flush at close.
    pub(crate) read_only: bool,
}

/// The long-running server's services: [`services_with`] read-write, and a redb file's
/// integrity verified at open (once per server start; one-shot commands skip it and stay
/// cheap).
pub(crate) async fn services(config: &Config, lock_wait: Duration) -> anyhow::Result<Services> {
    open_services(config, lock_wait, false, true).await
}

/// [`services`], opening the store read-only when `read_only` (commands that only read: a
/// redb file is then not modified at all, and every write fails). A redb file that does not
/// exist yet reads as an empty store and is not created.
pub(crate) async fn services_with(
    config: &Config,
    lock_wait: Duration,
    read_only: bool,
) -> anyhow::Result<Services> {
    open_services(config, lock_wait, read_only, false).await
}

async fn open_services(
    config: &Config,
    lock_wait: Duration,
    read_only: bool,
    check_integrity: bool,
) -> anyhow::Result<Services> {
    let store = open_store(config, lock_wait, read_only, check_integrity).await?;
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
            trust_client_roots: config.trust_client_roots,
            exec: config.exec.clone(),
            policy: config.policy.clone(),
            confirm: config.confirm, // confirm: --confirm (issue 20)
            ..ToolboxConfig::default()
        },
    );
    Ok(Services {
        store,
        tools,
        read_only,
    })
}

/// The longest the final flush may take before the close gives up on it.
const FLUSH_BOUND: Duration = Duration::from_secs(4);
/// The longest the adapter's own close (drain, last sync, file close) may take.
const DROP_BOUND: Duration = Duration::from_secs(3);

/// Flushes and closes the store: every acknowledged write is on disk when this returns `Ok`.
/// Bounded for every backend: a flush that fails or hangs (a full or dead disk) makes this
/// return an error saying so after at most `FLUSH_BOUND + DROP_BOUND`, never hang.
pub(crate) async fn close(services: Services) -> anyhow::Result<()> {
    let Services {
        store,
        tools,
        read_only,
    } = services;
    drop(tools);
    let flushed = if read_only {
        Ok(())
    } else {
        match tokio::time::timeout(FLUSH_BOUND, store.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the final flush failed: {e}")),
            Err(_) => Err(format!(
                "the final flush did not finish within {FLUSH_BOUND:?}"
            )),
        }
    };
    // The last reference: the adapter drains its queue and closes the file on drop, on a
    // thread of its own so a close stuck in the backend cannot hold the process.
    let (done, closed) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("store-close".into())
        .spawn(move || {
            drop(store);
            let _ = done.send(());
        });
    let dropped = match spawned {
        Err(e) => Err(format!("cannot start the closing thread: {e}")),
        Ok(_) => match tokio::time::timeout(DROP_BOUND, closed).await {
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "closing the store did not finish within {DROP_BOUND:?}"
            )),
        },
    };
    match (flushed, dropped) {
        (Ok(()), Ok(())) => Ok(()),
        (f, d) => {
            let why: Vec<String> = [f.err(), d.err()].into_iter().flatten().collect();
            bail!(
                "the session store was not closed cleanly: {}; writes acknowledged since the last successful flush may not be durable",
                why.join("; ")
            )
        }
    }
}

/// Opens the configured backend through store-open. etcd is contacted once here, so a wrong
/// endpoint fails at startup rather than at the first tool call. redb is shared by every
/// process (its step locks in the file, as etcd's are in the cluster: both reach `Sessions`
/// through the store's `shared_locks`), so `lock_wait` only matters for a file another
/// program holds exclusively; sled admits one process, and a second one is refused at once
/// with the holder's name rather than kept waiting.
async fn open_store(
    config: &Config,
    lock_wait: Duration,
    read_only: bool,
    check_integrity: bool,
) -> anyhow::Result<Arc<dyn SessionStore>> {
    let lock_wait = match &config.store {
        Backend::Sled(_) => Duration::ZERO,
        _ => lock_wait,
    };
    let backend = match &config.store {
        Backend::Redb(path) if read_only && !path.exists() => {
            tracing::info!(path = %path.display(), "no store file yet: reading an empty store");
            Backend::Memory
        }
        other => other.clone(),
    };
    let spec = StoreSpec {
        backend,
        options: OpenOptions {
            lock_wait,
            check_connection: true,
            etcd_tls: config.etcd_tls.clone(),
            etcd_auth: config.etcd_auth.clone(),
            read_only,
            check_integrity,
            redb_exclusive: false,
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
            tracing::info!(backend = store.backend_name(), path = %path.display(), shared_step_locks = store.shared_locks().is_some(), "session store open")
        }
        Backend::Memory => tracing::info!(backend = store.backend_name(), "session store open"),
    }
    Ok(store)
}
