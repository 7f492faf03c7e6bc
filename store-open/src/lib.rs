//! Opens a [`SessionStore`] from a typed spec: the one place, besides the adapters' own
//! tests, that names every backend. The server (`--store`, `--store-path`, …) and xtask
//! (`load --backend`, `migrate --from/--to KIND:PATH`) build a [`StoreSpec`] from their flags
//! and call [`open`]; nothing else constructs an adapter. [`parse_duration`] is the one
//! duration syntax of those command lines.
//!
//! ```no_run
//! # async fn demo() -> Result<(), store_open::OpenError> {
//! use store_open::{Backend, OpenOptions, StoreSpec};
//!
//! let backend: Backend = "redb:./sessions.redb".parse()?;
//! let store = store_open::open(&StoreSpec::new(backend)).await?;
//! # let _ = store;
//! # Ok(())
//! # }
//! ```

mod duration;
mod maintenance;
mod spec;

use std::sync::Arc;
use std::time::Duration;

use session_core::{MemoryStore, SessionStore, StoreError};
use session_etcd::{EtcdConfig, EtcdStore};
pub use session_etcd::{LeasedEntries, LeasedEntry};
use session_redb::{RedbConfig, RedbSharing, RedbStore};
use session_sled::{SledConfig, SledStore};

pub use crate::duration::{parse_duration, parse_session_ttl, DurationError, MAX_SESSION_TTL};
pub use crate::maintenance::{check, repair, CheckReport, RepairReport};
pub use crate::spec::{etcd_auth, Backend, EtcdAuth, EtcdTls, OpenOptions, SpecError, StoreSpec};

/// Why a store did not open.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The spec cannot be opened as written (e.g. etcd without endpoints). Callers usually
    /// catch this one to name their own flag.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Another process holds the store's file and did not release it within the lock wait.
    #[error("{source} (waited {waited:?})")]
    Locked {
        /// The adapter's `Locked` error, naming the file and, where known, the holder.
        source: StoreError,
        /// How long the opener waited for the holder to exit.
        waited: Duration,
    },
    /// The adapter refused to open: a damaged file, an unreachable cluster, …
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the store `spec` describes.
///
/// redb and sled wait up to `spec.options.lock_wait` for another process holding the file
/// (then [`OpenError::Locked`]); etcd is contacted once when `spec.options.check_connection`
/// is set, otherwise at its first operation; memory always opens, empty.
///
/// # Errors
/// [`OpenError::Spec`] with [`SpecError::NoEndpoints`] for etcd without endpoints,
/// [`OpenError::Locked`] as above, [`OpenError::Store`] for anything the adapter refused.
pub async fn open(spec: &StoreSpec) -> Result<Arc<dyn SessionStore>, OpenError> {
    let lock_wait = spec.options.lock_wait;
    let locked = |e: StoreError| match e {
        // A zero wait fails at once: the adapter's own message says all there is.
        e @ StoreError::Locked { .. } if !lock_wait.is_zero() => OpenError::Locked {
            source: e,
            waited: lock_wait,
        },
        e => OpenError::Store(e),
    };
    Ok(match &spec.backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Redb(path) => {
            let config = RedbConfig {
                lock_wait,
                check_integrity_on_open: spec.options.check_integrity,
                sharing: if spec.options.redb_exclusive {
                    RedbSharing::Exclusive
                } else {
                    RedbSharing::MultiProcess
                },
                ..RedbConfig::default()
            };
            let store = if spec.options.read_only {
                RedbStore::open_read_only(path, config)
            } else {
                RedbStore::open_with(path, config)
            };
            Arc::new(store.map_err(locked)?)
        }
        Backend::Sled(path) => {
            let config = SledConfig {
                lock_wait,
                ..SledConfig::default()
            };
            Arc::new(SledStore::open_with(path, config).map_err(locked)?)
        }
        Backend::Etcd { endpoints, prefix } => {
            if endpoints.is_empty() {
                return Err(SpecError::NoEndpoints.into());
            }
            let config = EtcdConfig {
                prefix: prefix.clone(),
                tls: spec.options.etcd_tls.clone(),
                auth: spec.options.etcd_auth.clone(),
                ..EtcdConfig::default()
            };
            let store = if spec.options.check_connection {
                EtcdStore::connect(endpoints.clone(), config).await?
            } else {
                EtcdStore::new(endpoints.clone(), config)?
            };
            Arc::new(store)
        }
    })
}

/// Short-lived records, each under its own lease, on the same etcd as the store `spec`
/// opens (same endpoints, TLS, auth and prefix): `Ok(None)` for every other backend, which
/// has no shared place for them. The server keeps its MCP sessions there, so that any
/// replica behind a load balancer can answer any request. Nothing is contacted yet.
///
/// # Errors
/// As [`open`] for etcd: no endpoints, a bad URL, unreadable TLS files.
pub fn open_leased(spec: &StoreSpec, ttl: Duration) -> Result<Option<LeasedEntries>, OpenError> {
    let Backend::Etcd { endpoints, prefix } = &spec.backend else {
        return Ok(None);
    };
    if endpoints.is_empty() {
        return Err(SpecError::NoEndpoints.into());
    }
    let config = EtcdConfig {
        prefix: prefix.clone(),
        tls: spec.options.etcd_tls.clone(),
        auth: spec.options.etcd_auth.clone(),
        ..EtcdConfig::default()
    };
    Ok(Some(LeasedEntries::new(endpoints.clone(), &config, ttl)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::{Session, SessionId};

    #[tokio::test]
    async fn every_embedded_backend_opens_and_keeps_a_session() {
        let dir = tempfile::tempdir().unwrap();
        for text in [
            "memory".to_owned(),
            format!("redb:{}", dir.path().join("s.redb").display()),
            format!("sled:{}", dir.path().join("s.sled").display()),
        ] {
            let store = open(&StoreSpec::new(text.parse().unwrap())).await.unwrap();
            let id = SessionId::new("open-1").unwrap();
            let s = Session::new(id.clone(), chrono_now(), Duration::from_secs(60));
            store.insert(s).await.unwrap();
            assert!(store.get(&id).await.unwrap().is_some(), "{text}");
        }
    }

    #[tokio::test]
    async fn a_held_file_is_locked_and_says_how_long_it_waited() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("held.redb");
        // A file held exclusively (a shared one admits every process).
        let mut spec = StoreSpec::new(Backend::Redb(path.clone()));
        spec.options.redb_exclusive = true;
        let _holder = open(&spec).await.unwrap();
        let at_once = open(&spec).await.err().unwrap();
        assert!(matches!(
            at_once,
            OpenError::Store(StoreError::Locked { .. })
        ));
        spec.options.lock_wait = Duration::from_millis(50);
        let waited = open(&spec).await.err().unwrap();
        assert!(matches!(waited, OpenError::Locked { .. }), "{waited:?}");
        assert!(waited.to_string().ends_with("(waited 50ms)"), "{waited}");
    }

    #[tokio::test]
    async fn a_read_only_redb_open_writes_nothing_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro.redb");
        let id = SessionId::new("ro-1").unwrap();
        {
            let rw = open(&StoreSpec::new(Backend::Redb(path.clone())))
                .await
                .unwrap();
            let s = Session::new(id.clone(), chrono_now(), Duration::from_secs(60));
            rw.insert(s).await.unwrap();
            rw.flush().await.unwrap();
            tokio::task::spawn_blocking(move || drop(rw)).await.unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut spec = StoreSpec::new(Backend::Redb(path.clone()));
        spec.options.read_only = true;
        let ro = open(&spec).await.unwrap();
        assert!(ro.get(&id).await.unwrap().is_some());
        let s = Session::new(
            SessionId::new("ro-2").unwrap(),
            chrono_now(),
            Duration::from_secs(60),
        );
        assert!(ro
            .insert(s)
            .await
            .unwrap_err()
            .to_string()
            .contains("read-only"));
        tokio::task::spawn_blocking(move || drop(ro)).await.unwrap();
        assert!(std::fs::read(&path).unwrap() == before);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        // A missing file is not created by a read-only open.
        spec.backend = Backend::Redb(dir.path().join("missing.redb"));
        assert!(open(&spec).await.is_err());
        assert!(!dir.path().join("missing.redb").exists());
    }

    #[tokio::test]
    async fn etcd_without_endpoints_is_a_spec_error() {
        let spec = StoreSpec::new(Backend::Etcd {
            endpoints: Vec::new(),
            prefix: "p/".into(),
        });
        assert!(matches!(
            open(&spec).await.err().unwrap(),
            OpenError::Spec(SpecError::NoEndpoints)
        ));
    }

    #[test]
    fn etcd_credentials_come_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\nignored\n").unwrap();
        let auth = etcd_auth(Some("ci"), Some(&file)).unwrap().unwrap();
        assert_eq!(
            (auth.user.as_str(), auth.password.as_str()),
            ("ci", "s3cret")
        );
        assert!(!format!("{auth:?}").contains("s3cret"));
        // No process here sets MCP_ETCD_PASSWORD (the tests never do).
        let err = etcd_auth(Some("ci"), None).unwrap_err().to_string();
        assert!(err.contains("--etcd-password-file"), "{err}");
        let err = etcd_auth(None, Some(&file)).unwrap_err().to_string();
        assert!(err.contains("--etcd-user"), "{err}");
        let err = etcd_auth(Some("ci"), Some(&dir.path().join("none")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("password file"), "{err}");
        assert_eq!(etcd_auth(None, None).unwrap(), None);
    }

    fn chrono_now() -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}
