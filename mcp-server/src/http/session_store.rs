//! Legacy MCP sessions (protocol versions before 2026-07-28) shared by every replica on one
//! etcd, so a load balancer may send any request to any replica. rmcp keeps a session in
//! the memory of the replica that created it; with a [`SessionStore`] it also persists the
//! session's `initialize` parameters, and a replica that gets a request for a session it
//! does not hold loads them and replays the handshake (`restore_session`). Here that store
//! is [`LeasedEntries`] on the session store's own etcd (`<prefix>m/<mcp session id>`),
//! each entry under a lease of `--mcp-session-idle`, refreshed while any replica serves the
//! session, so an abandoned session ends everywhere as it does on one replica.
//!
//! A session closed by `DELETE` on one replica is closed on all: every replica holding a
//! copy checks the entry on each request ([`SharedSessions::check`]) and drops its copy
//! when the entry is gone. The 2026-07-28 protocol needs none of this: rmcp serves it
//! without a session.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Context;
use rmcp::transport::streamable_http_server::session::{
    SessionState, SessionStore, SessionStoreError,
};
use session_core::StoreError;
use store_open::{LeasedEntries, OpenOptions, StoreSpec};

use crate::config::Config;

/// The shared MCP sessions of the replicas on one etcd. See the module docs.
#[derive(Debug)]
pub(crate) struct SharedSessions {
    entries: LeasedEntries,
    /// Each session's lease and when this replica last renewed it.
    renewed: Mutex<HashMap<String, (i64, Instant)>>,
}

impl SharedSessions {
    /// The shared sessions for `--store etcd` (each living `idle` past its last use); `None`
    /// for a backend without a shared place, whose sessions stay in their replica.
    pub(crate) fn open(config: &Config, idle: Duration) -> anyhow::Result<Option<SharedSessions>> {
        let spec = StoreSpec {
            backend: config.store.clone(),
            options: OpenOptions {
                etcd_tls: config.etcd_tls.clone(),
                etcd_auth: config.etcd_auth.clone(),
                ..OpenOptions::default()
            },
        };
        let entries =
            store_open::open_leased(&spec, idle).context("cannot keep MCP sessions on etcd")?;
        Ok(entries.map(SharedSessions::new))
    }

    pub(crate) fn new(entries: LeasedEntries) -> SharedSessions {
        SharedSessions {
            entries,
            renewed: Mutex::new(HashMap::new()),
        }
    }

    fn renewed(&self) -> MutexGuard<'_, HashMap<String, (i64, Instant)>> {
        self.renewed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the session `id` is still open for every replica (its entry exists), its
    /// lease renewed when this replica last did so over a quarter of the TTL ago. One etcd
    /// read per request, a keepalive now and then.
    ///
    /// # Errors
    /// The cluster did not answer.
    pub(crate) async fn check(&self, id: &str) -> Result<bool, StoreError> {
        let Some(entry) = self.entries.get(id).await? else {
            self.forget(id);
            return Ok(false);
        };
        let due = self.entries.ttl() / 4;
        let fresh = self
            .renewed()
            .get(id)
            .is_some_and(|(lease, at)| *lease == entry.lease && at.elapsed() < due);
        if fresh {
            return Ok(true);
        }
        if !self.entries.refresh(entry.lease).await? {
            self.forget(id);
            return Ok(false);
        }
        self.renewed()
            .insert(id.to_owned(), (entry.lease, Instant::now()));
        Ok(true)
    }

    /// Drops this replica's note of `id` (its copy ended); the entry stays for the others.
    pub(crate) fn forget(&self, id: &str) {
        self.renewed().remove(id);
    }
}

#[async_trait::async_trait]
impl SessionStore for SharedSessions {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let Some(entry) = self.entries.get(session_id).await? else {
            return Ok(None);
        };
        let state = serde_json::from_slice(&entry.value).map_err(|e| {
            format!("the stored MCP session {session_id:?} cannot be read ({e}); the client must initialize again")
        })?;
        Ok(Some(state))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let bytes = serde_json::to_vec(state)?;
        self.entries.put(session_id, &bytes).await?;
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.forget(session_id);
        self.entries.remove(session_id).await?;
        Ok(())
    }
}
