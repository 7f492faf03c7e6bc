//! The adapter against etcd as it runs in production (issue 16): over mutual TLS with auth
//! off (`ETCD_TLS_*`), and over TLS with client certificates without a CommonName plus
//! user/password auth, the user's role limited to `test/` (`ETCD_AUTH_*`); both started by
//! `.ci/etcd-tls.sh`. The conformance suite and the model test run over each, and every
//! wrong setting a user can make is a clear error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use session_core::testkit::{service_env, TestStore};
use session_core::{Session, SessionId, SessionStore, StoreError};
use session_etcd::{EtcdAuth, EtcdConfig, EtcdStore, EtcdTls};

use super::{config, unique_prefix};

const START: &str = "run `bash .ci/etcd-tls.sh start DIR && source DIR/env`";

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; {START}"))
}

fn path(name: &str) -> Option<PathBuf> {
    Some(PathBuf::from(var(name)))
}

fn split(urls: &str) -> Vec<String> {
    urls.split(',').map(|s| s.trim().to_owned()).collect()
}

/// The mutual-TLS etcd: endpoints and a config with its CA and client certificate.
pub fn mtls() -> Result<(Vec<String>, EtcdConfig), String> {
    let urls = service_env("ETCD_TLS_ENDPOINTS", START)?;
    let cfg = EtcdConfig {
        tls: EtcdTls {
            ca: path("ETCD_TLS_CA"),
            cert: path("ETCD_TLS_CERT"),
            key: path("ETCD_TLS_KEY"),
        },
        ..config()
    };
    Ok((split(&urls), cfg))
}

/// The TLS etcd with auth on: endpoints and a config with its CA, a client certificate
/// without a CN, and the user whose role covers `test/`.
pub fn with_auth() -> Result<(Vec<String>, EtcdConfig), String> {
    let urls = service_env("ETCD_AUTH_ENDPOINTS", START)?;
    let cfg = EtcdConfig {
        tls: EtcdTls {
            ca: path("ETCD_AUTH_CA"),
            cert: path("ETCD_AUTH_CERT"),
            key: path("ETCD_AUTH_KEY"),
        },
        auth: Some(EtcdAuth {
            user: var("ETCD_AUTH_USER"),
            password: var("ETCD_AUTH_PASSWORD"),
        }),
        ..config()
    };
    Ok((split(&urls), cfg))
}

mod over_mtls {
    use super::*;

    fn available() -> Result<(), String> {
        mtls().map(drop)
    }

    fn fresh() -> TestStore {
        let (urls, cfg) = mtls().unwrap();
        TestStore::new(EtcdStore::new(urls, cfg).unwrap(), ())
    }

    session_core::session_store_conformance!(fresh, available = available);
}

mod over_tls_with_auth {
    use super::*;

    fn available() -> Result<(), String> {
        with_auth().map(drop)
    }

    fn fresh() -> TestStore {
        let (urls, cfg) = with_auth().unwrap();
        TestStore::new(EtcdStore::new(urls, cfg).unwrap(), ())
    }

    session_core::session_store_conformance!(fresh, available = available);
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The error `connect` gives with `cfg`, which must come well before the deadline: a wrong
/// setting is final, not retried for 15 s.
fn refused(urls: Vec<String>, cfg: EtcdConfig) -> String {
    let start = Instant::now();
    let err = rt().block_on(EtcdStore::connect(urls, cfg)).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "a setup error was retried: {err}"
    );
    eprintln!("refused: {err}");
    err.to_string()
}

macro_rules! skip_unless {
    ($env:expr) => {
        match $env {
            Ok(x) => x,
            Err(why) => {
                eprintln!("skipped: {why}");
                return;
            }
        }
    };
}

#[test]
fn a_wrong_ca_is_a_clear_error() {
    let (urls, mut cfg) = skip_unless!(mtls());
    cfg.tls.ca = path("ETCD_TLS_OTHER_CA");
    let err = refused(urls, cfg);
    assert!(err.contains("--etcd-ca"), "{err}");
    assert!(err.contains("not signed by the CA bundle"), "{err}");
}

#[test]
fn a_missing_client_certificate_is_a_clear_error() {
    let (urls, mut cfg) = skip_unless!(mtls());
    cfg.tls.cert = None;
    cfg.tls.key = None;
    let err = refused(urls, cfg);
    assert!(err.contains("--etcd-cert"), "{err}");
    assert!(err.contains("requires a client certificate"), "{err}");
}

#[test]
fn https_without_a_ca_bundle_or_with_half_a_key_pair_is_invalid() {
    let (urls, cfg) = skip_unless!(mtls());
    let mut no_ca = cfg.clone();
    no_ca.tls.ca = None;
    let err = EtcdStore::new(urls.clone(), no_ca).unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("--etcd-ca"), "{err}");
    let mut half = cfg.clone();
    half.tls.key = None;
    let err = EtcdStore::new(urls.clone(), half).unwrap_err();
    assert!(err.to_string().contains("go together"), "{err}");
    let mut missing = cfg;
    missing.tls.ca = Some("/nonexistent/ca.pem".into());
    let err = EtcdStore::new(urls, missing).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn a_wrong_password_is_a_clear_error() {
    let (urls, mut cfg) = skip_unless!(with_auth());
    if let Some(a) = cfg.auth.as_mut() {
        a.password = "not-the-password".into();
    }
    let err = refused(urls, cfg);
    assert!(err.contains("refused user \"ci\""), "{err}");
    assert!(err.contains("--etcd-password-file"), "{err}");
    assert!(
        !err.contains("not-the-password"),
        "the password leaked: {err}"
    );
}

#[test]
fn a_user_without_permission_on_the_prefix_is_told_which_prefix() {
    let (urls, mut cfg) = skip_unless!(with_auth());
    cfg.auth = Some(EtcdAuth {
        user: var("ETCD_AUTH_NOPERM_USER"),
        password: var("ETCD_AUTH_NOPERM_PASSWORD"),
    });
    let prefix = cfg.prefix.clone();
    let err = refused(urls, cfg);
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains(&format!("key prefix {prefix:?}")), "{err}");
    assert!(err.contains("read and write"), "{err}");
}

#[test]
fn no_credentials_on_a_cluster_with_auth_is_a_clear_error() {
    let (urls, mut cfg) = skip_unless!(with_auth());
    cfg.auth = None;
    let err = refused(urls, cfg);
    assert!(err.contains("--etcd-user"), "{err}");
}

#[test]
fn a_client_certificate_with_a_common_name_under_auth_is_named() {
    let (urls, mut cfg) = skip_unless!(with_auth());
    cfg.tls.cert = path("ETCD_AUTH_CN_CERT");
    cfg.tls.key = path("ETCD_AUTH_CN_KEY");
    let err = refused(urls, cfg);
    assert!(err.contains("CommonName"), "{err}");
    assert!(err.contains("without a CN"), "{err}");
}

#[test]
fn an_expired_token_is_renewed() {
    // .ci/etcd-tls.sh runs the auth etcd with --auth-token-ttl 5: an idle token expires.
    let (urls, cfg) = skip_unless!(with_auth());
    rt().block_on(async {
        let store = EtcdStore::new(urls, cfg).unwrap();
        let id = SessionId::new("token").unwrap();
        let s = Session::new(id.clone(), chrono::Utc::now(), Duration::from_secs(600));
        store.insert(s).await.unwrap();
        tokio::time::sleep(Duration::from_secs(7)).await;
        assert!(store.get(&id).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_secs(7)).await;
        // Granting the lock's lease after another expiry.
        let locks = store.shared_locks().unwrap();
        let held = locks.acquire(&id, Duration::from_secs(2)).await.unwrap();
        drop(held);
        store.flush().await.unwrap();
    });
}

#[test]
fn a_prefix_outside_the_role_is_refused_but_the_role_prefix_works() {
    let (urls, mut cfg) = skip_unless!(with_auth());
    rt().block_on(async {
        let ok = EtcdStore::new(urls.clone(), cfg.clone()).unwrap();
        assert_eq!(ok.count().await.unwrap(), 0);
        cfg.prefix = unique_prefix().replacen("test/", "elsewhere/", 1);
        let outside = EtcdStore::new(urls, cfg).unwrap();
        let err = outside.count().await.unwrap_err().to_string();
        assert!(err.contains("elsewhere/"), "{err}");
    });
}

#[test]
fn the_lock_lease_keepalive_authenticates_again_when_its_token_expired() {
    // Keepalives every 6 s (a third of an 18 s lease) with a 5 s token TTL: each one finds
    // its token expired. Were it not renewed, the lease would end at 18 s and the fenced
    // write at 25 s would find the lock lost.
    let (urls, mut cfg) = skip_unless!(with_auth());
    cfg.lock_ttl = Duration::from_secs(18);
    rt().block_on(async {
        let store = EtcdStore::new(urls, cfg).unwrap();
        let id = SessionId::new("kept").unwrap();
        let s = Session::new(id.clone(), chrono::Utc::now(), Duration::from_secs(600));
        store.insert(s.clone()).await.unwrap();
        let locks = store.shared_locks().unwrap();
        let held = locks.acquire(&id, Duration::from_secs(2)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(25)).await;
        let current = store.get(&id).await.unwrap().unwrap();
        let batch = vec![session_core::WriteOp::Replace {
            session: current.value,
            expected: current.version,
        }];
        store.apply_fenced(batch, held.fence()).await.unwrap();
        drop(held);
        store.flush().await.unwrap();
    });
}
