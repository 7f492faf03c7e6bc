//! The typed backend spec and its one parser, for the `KIND:LOCATION` form
//! (`redb:./sessions.redb`, `sled:./s.sled`, `etcd:http://a:2379,http://b:2379`, `memory`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

pub use session_etcd::{EtcdAuth, EtcdTls};

/// Which engine holds the sessions, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// In memory: empty at open, gone with the process (tests, demos).
    Memory,
    /// One redb file, durable on acknowledge; the server's default.
    Redb(PathBuf),
    /// A sled directory (sled's files, created when missing).
    Sled(PathBuf),
    /// An etcd cluster, shared by several processes.
    Etcd {
        /// `http://host:port` (or `https://…`, with [`OpenOptions::etcd_tls`]) of each
        /// member, tried in turn.
        endpoints: Vec<String>,
        /// Every key of this store starts with it, so deployments can share a cluster.
        prefix: String,
    },
}

impl Backend {
    /// The etcd key prefix used when a spec does not name one (the server's default too).
    pub const DEFAULT_ETCD_PREFIX: &'static str = "container-kit/";

    /// The `KIND` of the `KIND:LOCATION` form: `memory`, `redb`, `sled` or `etcd`.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Redb(_) => "redb",
            Backend::Sled(_) => "sled",
            Backend::Etcd { .. } => "etcd",
        }
    }

    /// Parses `KIND:LOCATION`: `redb:PATH`, `sled:PATH`, `etcd:URL[,URL…]` (URLs trimmed,
    /// prefix [`Backend::DEFAULT_ETCD_PREFIX`]) or `memory` (`memory:` accepted too).
    ///
    /// # Errors
    /// [`SpecError::NoKind`] without a `:`, [`SpecError::EmptyLocation`] for `redb:`,
    /// [`SpecError::UnknownKind`] for any other kind.
    pub fn parse(s: &str) -> Result<Backend, SpecError> {
        if s == "memory" || s == "memory:" {
            return Ok(Backend::Memory);
        }
        let (kind, location) = s
            .split_once(':')
            .ok_or_else(|| SpecError::NoKind(s.to_owned()))?;
        if location.is_empty() {
            return Err(SpecError::EmptyLocation(s.to_owned()));
        }
        match kind {
            "redb" => Ok(Backend::Redb(location.into())),
            "sled" => Ok(Backend::Sled(location.into())),
            "etcd" => Ok(Backend::Etcd {
                endpoints: location.split(',').map(|u| u.trim().to_owned()).collect(),
                prefix: Backend::DEFAULT_ETCD_PREFIX.to_owned(),
            }),
            other => Err(SpecError::UnknownKind(other.to_owned())),
        }
    }
}

impl FromStr for Backend {
    type Err = SpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Backend::parse(s)
    }
}

impl fmt::Display for Backend {
    /// The `KIND:LOCATION` form [`Backend::parse`] reads back (the etcd prefix aside).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backend::Memory => f.write_str("memory"),
            Backend::Redb(p) => write!(f, "redb:{}", p.display()),
            Backend::Sled(p) => write!(f, "sled:{}", p.display()),
            Backend::Etcd { endpoints, .. } => write!(f, "etcd:{}", endpoints.join(",")),
        }
    }
}

/// How to open: the knobs that differ between a long-running server, one-shot CLI calls and
/// xtask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// How long redb and sled wait for another process that holds the file before the open
    /// fails with `Locked`. Zero (the default) fails at once.
    pub lock_wait: Duration,
    /// etcd: read once at open, so a wrong endpoint fails now rather than at the first call.
    /// Default off (the first operation contacts the cluster).
    pub check_connection: bool,
    /// etcd: TLS for `https://` endpoints (CA bundle, client certificate and key).
    pub etcd_tls: EtcdTls,
    /// etcd: user/password authentication (see [`etcd_auth`]); `None` with auth off.
    pub etcd_auth: Option<EtcdAuth>,
    /// Open for reading only, modifying nothing (commands that only read): redb uses its
    /// `ReadOnlyDatabase` on an existing file (a missing one is an error, not created) and
    /// every write fails. Other backends open as usual (sled has no read-only mode; etcd and
    /// memory write nothing by opening). Default off.
    pub read_only: bool,
    /// redb: verify every page at open (`RedbConfig::check_integrity_on_open`), for a
    /// long-running server; one-shot calls leave it off and stay cheap. Default off.
    pub check_integrity: bool,
    /// redb: hold the file exclusively (`RedbSharing::Exclusive`) instead of sharing it
    /// with other processes (the default). For measuring what sharing costs.
    pub redb_exclusive: bool,
}

/// The etcd credentials of a command line: `user` with the password read from
/// `password_file` (its first line), or else from the `MCP_ETCD_PASSWORD` environment
/// variable. A password never comes from a flag, so it does not show in the process list.
///
/// # Errors
/// [`SpecError::EtcdAuth`] for a user without a password, a password without a user, or a
/// password file that cannot be read.
pub fn etcd_auth(
    user: Option<&str>,
    password_file: Option<&Path>,
) -> Result<Option<EtcdAuth>, SpecError> {
    let from_env = std::env::var("MCP_ETCD_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let password = match password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                SpecError::EtcdAuth(format!(
                    "cannot read the etcd password file {}: {e}",
                    path.display()
                ))
            })?;
            Some(text.lines().next().unwrap_or_default().to_owned())
        }
        None => from_env,
    };
    match (user.filter(|u| !u.is_empty()), password) {
        (None, None) => Ok(None),
        (Some(user), Some(password)) => Ok(Some(EtcdAuth {
            user: user.to_owned(),
            password,
        })),
        (Some(user), None) => Err(SpecError::EtcdAuth(format!(
            "--etcd-user {user:?} needs its password: --etcd-password-file FILE or MCP_ETCD_PASSWORD"
        ))),
        (None, Some(_)) => Err(SpecError::EtcdAuth(
            "an etcd password is set (--etcd-password-file or MCP_ETCD_PASSWORD) but no --etcd-user".into(),
        )),
    }
}

/// A backend and how to open it: what [`crate::open`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSpec {
    /// The engine and its location.
    pub backend: Backend,
    /// Lock wait and connection check.
    pub options: OpenOptions,
}

impl StoreSpec {
    /// `backend` with the default options: no lock wait, no connection check.
    pub fn new(backend: Backend) -> StoreSpec {
        StoreSpec {
            backend,
            options: OpenOptions::default(),
        }
    }
}

/// A spec that cannot be parsed or opened as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The text has no `KIND:` part.
    #[error("{0:?}: use KIND:PATH, e.g. redb:./sessions.redb")]
    NoKind(String),
    /// `KIND:` with nothing after it.
    #[error("{0:?}: the path is empty")]
    EmptyLocation(String),
    /// A kind that is not a backend.
    #[error("unknown store kind {0:?}: use redb, sled, etcd or memory")]
    UnknownKind(String),
    /// etcd without a single endpoint.
    #[error("etcd needs at least one endpoint, e.g. http://127.0.0.1:2379")]
    NoEndpoints,
    /// etcd credentials given by halves, or a password file that cannot be read.
    #[error("{0}")]
    EtcdAuth(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Backend, SpecError>) {
        assert_eq!(Backend::parse(text), expected, "{text}");
    }

    #[test]
    fn the_kind_location_form() {
        check("redb:./s.redb", Ok(Backend::Redb("./s.redb".into())));
        check("sled:/var/s.sled", Ok(Backend::Sled("/var/s.sled".into())));
        check("memory", Ok(Backend::Memory));
        check("memory:", Ok(Backend::Memory));
        check(
            "etcd:http://a:2379, http://b:2379",
            Ok(Backend::Etcd {
                endpoints: vec!["http://a:2379".into(), "http://b:2379".into()],
                prefix: "container-kit/".into(),
            }),
        );
        check("redb", Err(SpecError::NoKind("redb".into())));
        check("sled:", Err(SpecError::EmptyLocation("sled:".into())));
        check("nope:/x", Err(SpecError::UnknownKind("nope".into())));
    }

    #[test]
    fn display_reads_back() {
        for text in [
            "memory",
            "redb:a.redb",
            "sled:b",
            "etcd:http://a:1,http://b:2",
        ] {
            let b = Backend::parse(text).unwrap();
            assert_eq!(b.to_string(), text);
            assert_eq!(Backend::parse(&b.to_string()), Ok(b));
        }
    }
}
