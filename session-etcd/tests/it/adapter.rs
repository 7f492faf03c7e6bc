//! Behaviour specific to the etcd adapter.

use std::sync::Arc;
use std::time::Duration;

use session_core::{Session, SessionId, SessionStore, Sessions, SessionsConfig, StoreError};
use session_etcd::{EtcdConfig, EtcdStore};

use super::{available, config, endpoints};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn three_services_on_one_cluster_lose_no_update() {
    if let Err(why) = available() {
        eprintln!("skipped: {why}");
        return;
    }
    // Three Sessions over three clients stand for three server replicas: their in-process
    // locks do not exclude each other, so only etcd's guarded txns keep the updates.
    let rt = rt();
    let cfg = config();
    rt.block_on(async {
        let services: Vec<Sessions> = (0..3)
            .map(|_| {
                let store: Arc<dyn SessionStore> =
                    Arc::new(EtcdStore::new(endpoints().unwrap(), cfg.clone()).unwrap());
                Sessions::new(
                    store,
                    SessionsConfig {
                        retry: session_core::RetryPolicy {
                            max_attempts: 1000,
                            base_delay: Duration::from_micros(200),
                            max_delay: Duration::from_millis(20),
                            jitter: 1.0,
                        },
                        ..SessionsConfig::default()
                    },
                )
            })
            .collect();
        let id = SessionId::new("shared").unwrap();
        services[0].create(&id).await.unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|i| {
                let s = services[i % 3].clone();
                let id = id.clone();
                tokio::spawn(async move {
                    for _ in 0..10 {
                        s.update(&id, |x: &mut Session| {
                            let n = x.metadata.get("n").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
                            x.metadata.insert("n".into(), serde_json::json!(n));
                            Ok(())
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let got = services[2].get(&id).await.unwrap();
        assert_eq!(got.value.metadata["n"], 120);
        assert_eq!(got.version.get(), 121);
    });
}

#[test]
fn an_unreachable_cluster_is_a_clear_error() {
    let rt = rt();
    let cfg = EtcdConfig {
        deadline: Duration::from_millis(500),
        ..EtcdConfig::default()
    };
    let err = rt
        .block_on(EtcdStore::connect(["http://127.0.0.1:9"], cfg))
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:9"), "{err}");
    assert!(EtcdStore::new(Vec::<String>::new(), EtcdConfig::default()).is_err());
    // https:// needs the CA bundle (--etcd-ca); other schemes are no endpoint.
    assert!(EtcdStore::new(["https://x:1"], EtcdConfig::default()).is_err());
    assert!(EtcdStore::new(["x:1"], EtcdConfig::default()).is_err());
}

/// Three etcd members on loopback, started from the `etcd` on PATH, killed on drop.
struct Cluster {
    members: Vec<std::process::Child>,
    endpoints: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let initial: Vec<String> = (1..=3)
            .map(|i| format!("m{i}=http://127.0.0.1:{}", 24800 + i))
            .collect();
        let initial = initial.join(",");
        let mut members = Vec::new();
        let mut endpoints = Vec::new();
        for i in 1..=3 {
            let client = format!("http://127.0.0.1:{}", 24790 + i);
            let peer = format!("http://127.0.0.1:{}", 24800 + i);
            let log = std::fs::File::create(dir.path().join(format!("m{i}.log"))).unwrap();
            members.push(
                std::process::Command::new("etcd")
                    .args(["--name", &format!("m{i}"), "--data-dir"])
                    .arg(dir.path().join(format!("m{i}")))
                    .args([
                        "--listen-client-urls",
                        &client,
                        "--advertise-client-urls",
                        &client,
                    ])
                    .args([
                        "--listen-peer-urls",
                        &peer,
                        "--initial-advertise-peer-urls",
                        &peer,
                    ])
                    .args([
                        "--initial-cluster",
                        &initial,
                        "--initial-cluster-state",
                        "new",
                    ])
                    .args([
                        "--max-txn-ops",
                        "4096",
                        "--auto-compaction-mode",
                        "periodic",
                        "--auto-compaction-retention",
                        "5m",
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(log)
                    .spawn()
                    .expect("etcd must be on PATH for the cluster test"),
            );
            endpoints.push(client);
        }
        Cluster {
            members,
            endpoints,
            _dir: dir,
        }
    }

    fn kill(&mut self, i: usize) {
        let _ = self.members[i].kill();
        let _ = self.members[i].wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &mut self.members {
            let _ = m.kill();
            let _ = m.wait();
        }
    }
}

#[test]
fn a_three_node_cluster_loses_no_acknowledged_write_when_a_node_dies() {
    if let Err(why) = available() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut cluster = Cluster::start();
    let rt = rt();
    let retry = session_core::RetryPolicy {
        max_attempts: 1000,
        base_delay: Duration::from_micros(500),
        max_delay: Duration::from_millis(50),
        jitter: 1.0,
    };
    let cfg = EtcdConfig {
        max_txn_ops: 4096,
        deadline: Duration::from_secs(30),
        ..config()
    };
    // Three replicas, each listing the members in its own order.
    let services: Vec<Sessions> = (0..3)
        .map(|r| {
            let mut eps = cluster.endpoints.clone();
            eps.rotate_left(r);
            let store: Arc<dyn SessionStore> = Arc::new(EtcdStore::new(eps, cfg.clone()).unwrap());
            Sessions::new(
                store,
                SessionsConfig {
                    retry: retry.clone(),
                    ..SessionsConfig::default()
                },
            )
        })
        .collect();
    rt.block_on(async {
        // Wait for the cluster to elect a leader.
        let probe = services[0].clone();
        let mut ready = false;
        for _ in 0..100 {
            if probe.count().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "the 3-node cluster did not come up");
        let ids: Vec<SessionId> = (0..6)
            .map(|i| SessionId::new(format!("wf-{i}")).unwrap())
            .collect();
        for id in &ids {
            services[0].create(id).await.unwrap();
        }
        let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
        let tasks: Vec<_> = (0..12)
            .map(|t| {
                let s = services[t % 3].clone();
                let id = ids[t % ids.len()].clone();
                tokio::spawn(async move {
                    let mut acked = 0u64;
                    for _ in 0..25 {
                        // A write that errors may or may not have landed; only acks count.
                        if s.update(&id, |x: &mut Session| {
                            let n = x.metadata.get("n").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
                            x.metadata.insert("n".into(), serde_json::json!(n));
                            Ok(())
                        })
                        .await
                        .is_ok()
                        {
                            acked += 1;
                        }
                    }
                    (id, acked)
                })
            })
            .collect();
        // Kill a member while the writers run.
        let killer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let _ = kill_tx.send(());
        });
        kill_rx.await.unwrap();
        cluster.kill(0);
        killer.await.unwrap();
        let mut acked: std::collections::HashMap<SessionId, u64> = std::collections::HashMap::new();
        for t in tasks {
            let (id, n) = t.await.unwrap();
            *acked.entry(id).or_default() += n;
        }
        let total: u64 = acked.values().sum();
        assert!(total > 0, "nothing was acknowledged");
        for (id, n) in &acked {
            let got = services[1].get(id).await.unwrap();
            let stored = got
                .value
                .metadata
                .get("n")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            // Every acknowledged update is there; an update that failed after landing (its
            // answer lost with the node) may add one more.
            assert!(stored >= *n, "{id}: {n} acknowledged, {stored} stored");
            assert_eq!(
                got.version.get(),
                stored + 1,
                "{id}: version and counter disagree"
            );
        }
    });
}

#[test]
fn a_write_under_a_lost_lock_is_refused_and_writes_nothing() {
    if let Err(why) = available() {
        eprintln!("skipped: {why}");
        return;
    }
    use base64::Engine;
    let rt = rt();
    let cfg = config();
    let prefix = cfg.prefix.clone();
    rt.block_on(async {
        let store: Arc<dyn SessionStore> =
            Arc::new(EtcdStore::new(endpoints().unwrap(), cfg).unwrap());
        let sessions = Sessions::new(store, SessionsConfig::default());
        let id = SessionId::new("fenced").unwrap();
        sessions.create(&id).await.unwrap();
        let guard = sessions.lock(&id).await.unwrap();
        // The lock vanishes behind the holder's back (as when its lease expires).
        let key = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}l/fenced"));
        let url = format!("{}/v3/kv/deleterange", endpoints().unwrap()[0]);
        // reqwest is built without a default TLS provider (the workspace's reqwest comment).
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()
            .unwrap();
        let resp = client
            .post(url)
            .json(&serde_json::json!({"key": key}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        let err = guard
            .update(|s: &mut Session| {
                s.stage = "late".into();
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::LockLost(_)), "{err:?}");
        let got = sessions.get(&id).await.unwrap();
        assert_eq!(
            (got.version.get(), got.value.stage.as_str()),
            (1, ""),
            "a fenced-out write landed"
        );
    });
}
