//! [`EtcdConfig`]: where an [`EtcdStore`](crate::EtcdStore) keeps its keys, how long it
//! waits for the cluster, and the cluster limits it must stay within.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use session_core::RetryPolicy;

/// How an [`EtcdStore`](crate::EtcdStore) uses its cluster. `EtcdConfig::default()` suits one
/// cluster per deployment with etcd's default limits.
#[derive(Clone, Debug, PartialEq)]
pub struct EtcdConfig {
    /// Every key of this store starts with it (sessions under `<prefix>s/`, the expiry index
    /// under `<prefix>x/`, locks under `<prefix>l/`), so several stores can share a cluster
    /// as long as no prefix is a prefix of another. Default `container-kit/`.
    pub prefix: String,
    /// How long one HTTP request to one endpoint may take before the next endpoint is tried.
    /// Default 5 s.
    pub request_timeout: Duration,
    /// How long one operation keeps trying other endpoints and retrying before it fails with
    /// `StoreError::Backend`. Default 15 s.
    pub deadline: Duration,
    /// Backoff between rounds over the endpoints, and between re-plans of a write that lost
    /// a race inside etcd (when its attempts run out the write fails as contended). Default:
    /// [`RetryPolicy::default`] with 50 attempts.
    pub retry: RetryPolicy,
    /// The cluster's `--max-txn-ops` (etcd's default is 128): a batch whose txn would be
    /// larger is refused with `StoreError::Invalid` before it is sent. How many operations a
    /// batch needs, and so what to run etcd with: the README's "The `--max-txn-ops` budget".
    pub max_txn_ops: usize,
    /// The lease of a session lock held across replicas: a holder that dies releases its
    /// locks after at most this long (kept alive every third of it while held; at least
    /// 2 s). Note that etcd renews every lease to its full TTL when the leader changes, so
    /// after a leader change a dead holder's lock can outlive it by up to twice this.
    /// Default 10 s.
    pub lock_ttl: Duration,
    /// TLS for `https://` endpoints: the CA bundle that signed the members' certificates and,
    /// for mutual TLS, this client's certificate and key. Default: none (only `http://`).
    pub tls: EtcdTls,
    /// etcd user/password authentication; `None` (the default) for a cluster with auth off.
    pub auth: Option<EtcdAuth>,
    /// A lock waiter watches the lock key (`/v3/watch`) and tries again as soon as it is
    /// deleted; with `false` it polls (every 2 ms doubling to 100 ms), as it also does when
    /// a watch breaks. Default `true`; `false` exists to measure the difference.
    pub watch_locks: bool,
}

/// The PEM files of an etcd client's TLS. The CA bundle is required for `https://`
/// endpoints; `cert` and `key` go together (mutual TLS) or not at all. With etcd auth on,
/// the client certificate must carry no CommonName: etcd's gateway refuses one that does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdTls {
    /// The CA certificate(s) to trust for the members' server certificates.
    pub ca: Option<PathBuf>,
    /// This client's certificate chain, for etcd's `--client-cert-auth`.
    pub cert: Option<PathBuf>,
    /// The private key of `cert` (PKCS#8, SEC1 or PKCS#1 PEM).
    pub key: Option<PathBuf>,
}

/// An etcd user and its password, exchanged for a token at each member
/// (`/v3/auth/authenticate`) and again whenever the member answers that the token expired.
/// The user's role needs read and write on the store's key prefix. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct EtcdAuth {
    /// The etcd user name.
    pub user: String,
    /// Its password.
    pub password: String,
}

impl fmt::Debug for EtcdAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdAuth")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            prefix: "container-kit/".into(),
            request_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(15),
            retry: RetryPolicy {
                max_attempts: 50,
                ..RetryPolicy::default()
            },
            max_txn_ops: 128,
            lock_ttl: Duration::from_secs(10),
            tls: EtcdTls::default(),
            auth: None,
            watch_locks: true,
        }
    }
}
