//! The backend choice: the only place that names the adapters.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use session_core::{SessionStore, StoreError};
use session_etcd::{EtcdConfig, EtcdStore};
use session_redb::{RedbConfig, RedbStore};
use session_sled::{SledConfig, SledStore};

use crate::cli::Backend;
use crate::config::Config;

/// Opens the configured store. `lock_wait`: how long to wait for another process that holds
/// the file (one-shot `tool` calls wait; they share the file one after another).
pub(crate) async fn open(
    config: &Config,
    lock_wait: Duration,
) -> anyhow::Result<Arc<dyn SessionStore>> {
    let store: Arc<dyn SessionStore> = match config.backend {
        Backend::Memory => Arc::new(session_core::MemoryStore::new()),
        Backend::Redb => {
            let redb = RedbConfig {
                lock_wait,
                ..RedbConfig::default()
            };
            match RedbStore::open_with(&config.store_path, redb) {
                Ok(s) => Arc::new(s),
                Err(e @ StoreError::Locked { .. }) => bail!("{e} (waited {lock_wait:?})"),
                Err(e) => return Err(e.into()),
            }
        }
        Backend::Etcd => {
            if config.etcd_endpoints.is_empty() {
                bail!("--store etcd needs --etcd-endpoints (MCP_ETCD_ENDPOINTS), e.g. http://127.0.0.1:2379");
            }
            let etcd = EtcdConfig {
                prefix: config.etcd_prefix.clone(),
                ..EtcdConfig::default()
            };
            Arc::new(EtcdStore::connect(config.etcd_endpoints.clone(), etcd).await?)
        }
        Backend::Sled => {
            let sled = SledConfig {
                lock_wait,
                ..SledConfig::default()
            };
            match SledStore::open_with(&config.store_path, sled) {
                Ok(s) => Arc::new(s),
                Err(e @ StoreError::Locked { .. }) => bail!("{e} (waited {lock_wait:?})"),
                Err(e) => return Err(e.into()),
            }
        }
    };
    match config.backend {
        Backend::Etcd => {
            tracing::info!(backend = "etcd", endpoints = ?config.etcd_endpoints, "session store open")
        }
        _ => {
            tracing::info!(backend = store.backend_name(), path = %config.store_path.display(), "session store open")
        }
    }
    Ok(store)
}
