//! The resolved configuration: flags and environment turned into values with defaults.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{Backend, GlobalArgs};

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The session store: `--store` with its path (`--store-path` or the per-user default)
    /// or its etcd endpoints and prefix.
    pub(crate) store: store_open::Backend,
    /// etcd's TLS files (`--etcd-ca`, `--etcd-cert`, `--etcd-key`).
    pub(crate) etcd_tls: store_open::EtcdTls,
    /// etcd's user and password (`--etcd-user`, `--etcd-password-file`/`MCP_ETCD_PASSWORD`).
    pub(crate) etcd_auth: Option<store_open::EtcdAuth>,
    /// How long a session lives after its last write (`--session-ttl`, default 24 h).
    pub(crate) ttl: Duration,
    /// The most live sessions, `None` for no limit (`--max-sessions`, 0 means none).
    pub(crate) max_sessions: Option<u64>,
    /// Repositories must lie under it (besides the client's roots): `--workspace-dir`.
    pub(crate) workspace_dir: PathBuf,
    /// Client roots outside `workspace_dir` are honoured: `--trust-client-roots`.
    pub(crate) trust_client_roots: bool,
    /// The external programs the steps run.
    pub(crate) exec: mcp_tools::ExecConfig,
    /// The organisation policy loaded from `--policy`, if given.
    pub(crate) policy: Option<std::sync::Arc<mcp_tools::policy::Policy>>,
    /// `--confirm`: whether the destructive tools ask first.
    pub(crate) confirm: mcp_tools::ConfirmPolicy,
    /// The key of `--request-state-key-file`, if given (checked to be 32 bytes or more).
    pub(crate) request_state_key: Option<Vec<u8>>,
}

impl Config {
    /// Resolves the global flags (already merged with their environment variables by clap)
    /// into values, filling in the defaults.
    pub(crate) fn from_args(g: &GlobalArgs) -> anyhow::Result<Config> {
        let backend = g.store.unwrap_or(Backend::Redb);
        let store_path = match &g.store_path {
            Some(p) => p.clone(),
            None => default_store_path(backend)?,
        };
        let ttl = match &g.session_ttl {
            // Bounded: a TTL past MAX_SESSION_TTL (or one that overflows) is refused, never
            // wrapped or saturated into a surprising expiry.
            Some(s) => store_open::parse_session_ttl(s)
                .with_context(|| format!("invalid --session-ttl {s:?}"))?,
            None => Duration::from_secs(24 * 3600),
        };
        let workspace_dir = match &g.workspace_dir {
            Some(p) => p.clone(),
            None => home_dir()
                .or_else(|| std::env::current_dir().ok())
                .context("cannot tell the home directory; set --workspace-dir")?,
        };
        // Loaded before anything else starts: a policy that does not parse stops the server
        // with its file, line and reason.
        let policy = match &g.policy {
            Some(path) => Some(std::sync::Arc::new(
                mcp_tools::policy::Policy::load(path)
                    .map_err(|e| anyhow::anyhow!("--policy: {e}"))?,
            )),
            None => None,
        };
        let store = match backend {
            Backend::Memory => store_open::Backend::Memory,
            Backend::Redb => store_open::Backend::Redb(store_path),
            Backend::Sled => store_open::Backend::Sled(store_path),
            Backend::Etcd => store_open::Backend::Etcd {
                endpoints: g
                    .etcd_endpoints
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|e| !e.trim().is_empty())
                    .collect(),
                prefix: g
                    .etcd_prefix
                    .clone()
                    .unwrap_or_else(|| store_open::Backend::DEFAULT_ETCD_PREFIX.into()),
            },
        };
        let etcd_tls = store_open::EtcdTls {
            ca: g.etcd_ca.clone(),
            cert: g.etcd_cert.clone(),
            key: g.etcd_key.clone(),
        };
        let etcd_auth = if backend == Backend::Etcd {
            store_open::etcd_auth(g.etcd_user.as_deref(), g.etcd_password_file.as_deref())?
        } else {
            None
        };
        let request_state_key = match &g.request_state_key_file {
            Some(path) => {
                let key = std::fs::read(path).with_context(|| {
                    format!("cannot read --request-state-key-file {}", path.display())
                })?;
                if key.len() < 32 {
                    anyhow::bail!(
                        "--request-state-key-file {} holds {} bytes; it needs at least 32 (e.g. head -c 32 /dev/urandom > FILE), the same file on every replica",
                        path.display(),
                        key.len()
                    );
                }
                Some(key)
            }
            None => None,
        };
        Ok(Config {
            store,
            etcd_tls,
            etcd_auth,
            ttl,
            max_sessions: g.max_sessions.filter(|m| *m > 0),
            workspace_dir,
            trust_client_roots: g.trust_client_roots.unwrap_or(false),
            exec: exec_config(g),
            policy,
            confirm: match g.confirm {
                Some(crate::cli::ConfirmMode::Never) => mcp_tools::ConfirmPolicy::Never,
                Some(crate::cli::ConfirmMode::Destructive) | None => {
                    mcp_tools::ConfirmPolicy::Destructive
                }
            },
            request_state_key,
        })
    }
}

/// The external programs, from the flags, with the toolbox's defaults.
fn exec_config(g: &GlobalArgs) -> mcp_tools::ExecConfig {
    let defaults = mcp_tools::ExecConfig::default();
    mcp_tools::ExecConfig {
        container_engine: g
            .container_engine
            .clone()
            .unwrap_or(defaults.container_engine),
        trivy: g.trivy.clone().unwrap_or(defaults.trivy),
        kubectl: g.kubectl.clone().unwrap_or(defaults.kubectl),
        kind: g.kind.clone().unwrap_or(defaults.kind),
        dry_run: g.dry_run.unwrap_or(false),
        ..defaults
    }
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty())
}

/// One per-user store in the platform's data directory: shared by every process of the user,
/// never one per process.
pub(crate) fn default_store_path(backend: Backend) -> anyhow::Result<PathBuf> {
    let data = if cfg!(target_os = "macos") {
        home_dir().map(|h| h.join("Library").join("Application Support"))
    } else if cfg!(windows) {
        std::env::var_os("APPDATA").map(PathBuf::from)
    } else {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home_dir().map(|h| h.join(".local").join("share")))
    }
    .context("cannot find a data directory (no HOME); set --store-path")?;
    let file = match backend {
        Backend::Sled => "sessions.sled",
        _ => "sessions.redb",
    };
    Ok(data.join("container-kit-mcp").join(file))
}

#[cfg(test)]
mod tests {
    use super::*;
    use store_open::parse_duration;

    fn with_ttl(ttl: &str) -> anyhow::Result<Config> {
        Config::from_args(&GlobalArgs {
            store: Some(Backend::Memory),
            store_path: Some(PathBuf::from("unused")),
            workspace_dir: Some(PathBuf::from("/")),
            session_ttl: Some(ttl.into()),
            ..GlobalArgs::default()
        })
    }

    #[test]
    fn a_session_ttl_that_overflows_or_exceeds_the_maximum_is_refused() {
        assert_eq!(with_ttl("7d").unwrap().ttl, Duration::from_secs(604_800));
        for bad in ["213503982334602d", "213503982334601d", "3651d", "0s"] {
            let err = format!("{:#}", with_ttl(bad).unwrap_err());
            assert!(
                err.contains("invalid --session-ttl") && err.contains("not a"),
                "{bad}: {err}"
            );
        }
        let err = format!("{:#}", with_ttl("213503982334601d").unwrap_err());
        assert!(err.contains("longest allowed, 3650d"), "{err}");
    }

    #[test]
    fn durations() {
        for (s, secs) in [
            ("24h", 86_400),
            ("90m", 5_400),
            ("7d", 604_800),
            ("1h30m", 5_400),
            ("45", 45),
            ("30s", 30),
        ] {
            assert_eq!(parse_duration(s).unwrap(), Duration::from_secs(secs), "{s}");
        }
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        for bad in ["", "h", "10x", "10", "1h30"] {
            if bad == "10" {
                continue;
            }
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
