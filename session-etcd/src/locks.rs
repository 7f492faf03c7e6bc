//! [`EtcdLocks`]: the lock port ([`SharedLocks`]) on etcd, apart from the store it fences.
//!
//! A lock is the key `<prefix>l/<id>`, created only if absent, under this store's one lease,
//! which one background task keeps alive. The key's create revision is the fence token of
//! the holding: a fenced write carries a compare on it, so it applies only while the same
//! holding holds the lock. If the process dies, the lease expires and its locks go with it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use session_core::adapter::shared_lock_handle;
use session_core::{Fence, SessionId, SharedLockHandle, SharedLocks, StoreError};

use crate::gateway::{Gateway, GrpcCode};
use crate::keys::Keys;
use crate::txn::{int64, Compare, PutRequest, RequestOp, TxnRequest, TxnResponse};
use crate::watch::Watched;

/// Session locks shared by every replica. See the module docs.
#[derive(Debug)]
pub(crate) struct EtcdLocks {
    gw: Arc<Gateway>,
    keys: Keys,
    ttl: Duration,
    /// Whether a waiter watches the holder's key (else it polls).
    watch: bool,
    /// The lease every lock of this store is held under, granted on first use and granted
    /// anew if it is ever lost.
    lease: tokio::sync::Mutex<Option<Lease>>,
    /// Releases under way; [`EtcdLocks::finish_releases`] waits for them so a process that
    /// exits right after a step does not leave its lock to expire.
    pending: Arc<std::sync::Mutex<HashMap<Vec<u8>, tokio::task::JoinHandle<()>>>>,
}

#[derive(Debug)]
struct Lease {
    id: i64,
    /// Cleared by the keepalive task when etcd no longer knows the lease.
    alive: Arc<AtomicBool>,
    keepalive: tokio::task::JoinHandle<()>,
}

/// `POST /v3/lease/grant`: a lease that expires `TTL` seconds after its last keepalive.
#[derive(Serialize)]
struct LeaseGrantRequest {
    #[serde(rename = "TTL", with = "int64")]
    ttl: i64,
}

#[derive(Deserialize)]
struct LeaseGrantResponse {
    /// The new lease's id (required: 0 is not a lease).
    #[serde(rename = "ID", with = "int64")]
    id: i64,
}

/// The body of `/v3/lease/keepalive` and `/v3/lease/revoke`: the lease in question.
#[derive(Serialize)]
struct LeaseIdRequest {
    #[serde(rename = "ID", with = "int64")]
    id: i64,
}

/// The keepalive stream's one message, as the gateway wraps it.
#[derive(Deserialize)]
struct LeaseKeepAliveAnswer {
    #[serde(default)]
    result: Option<LeaseKeepAliveResponse>,
}

#[derive(Deserialize)]
struct LeaseKeepAliveResponse {
    /// The seconds the lease now has; absent (0) when etcd no longer knows the lease.
    #[serde(rename = "TTL", default, with = "int64")]
    ttl: i64,
}

impl EtcdLocks {
    pub(crate) fn new(gw: Arc<Gateway>, keys: Keys, ttl: Duration, watch: bool) -> EtcdLocks {
        EtcdLocks {
            gw,
            keys,
            ttl,
            watch,
            lease: tokio::sync::Mutex::new(None),
            pending: Arc::default(),
        }
    }

    /// Waits for the releases under way (the store's `flush`).
    pub(crate) async fn finish_releases(&self) {
        let tasks: Vec<_> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()))
                .into_values()
                .collect();
        for t in tasks {
            let _ = t.await;
        }
    }

    /// The live lease, granted (with its keepalive task) when there is none.
    async fn lease(&self) -> Result<i64, StoreError> {
        let mut slot = self.lease.lock().await;
        if let Some(l) = slot.as_ref().filter(|l| l.alive.load(Ordering::Acquire)) {
            return Ok(l.id);
        }
        let ttl_secs = self.ttl.as_secs().max(2);
        let grant: LeaseGrantResponse = self
            .gw
            .post(
                "/v3/lease/grant",
                &LeaseGrantRequest {
                    ttl: i64::try_from(ttl_secs).unwrap_or(i64::MAX),
                },
            )
            .await?;
        let id = grant.id;
        let alive = Arc::new(AtomicBool::new(true));
        let keepalive = {
            let (gw, alive) = (Arc::clone(&self.gw), Arc::clone(&alive));
            let every = Duration::from_secs(ttl_secs) / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let answer = gw
                        .post::<_, LeaseKeepAliveAnswer>(
                            "/v3/lease/keepalive",
                            &LeaseIdRequest { id },
                        )
                        .await;
                    match answer {
                        Ok(LeaseKeepAliveAnswer { result: Some(r) }) if r.ttl > 0 => {}
                        _ => {
                            alive.store(false, Ordering::Release);
                            tracing::warn!(
                                lease = id,
                                "lock lease lost; fenced writes under it will fail"
                            );
                            return;
                        }
                    }
                }
            })
        };
        if let Some(old) = slot.replace(Lease {
            id,
            alive,
            keepalive,
        }) {
            old.keepalive.abort();
        }
        Ok(id)
    }
}

impl Drop for EtcdLocks {
    fn drop(&mut self) {
        let Some(lease) = self.lease.get_mut().take() else {
            return;
        };
        lease.keepalive.abort();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let gw = Arc::clone(&self.gw);
            rt.spawn(async move {
                let revoke = LeaseIdRequest { id: lease.id };
                let _ = gw.post::<_, IgnoredAny>("/v3/lease/revoke", &revoke).await;
            });
        }
    }
}

#[async_trait]
impl SharedLocks for EtcdLocks {
    async fn acquire(
        &self,
        id: &SessionId,
        timeout: Duration,
    ) -> Result<SharedLockHandle, StoreError> {
        let start = Instant::now();
        let key = self.keys.lock(id);
        // This process's own release of the same lock may still be in flight: wait for it
        // rather than poll against it.
        let releasing = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        if let Some(task) = releasing {
            let _ = tokio::time::timeout(timeout, task).await;
        }
        let mut pause = Duration::from_millis(2);
        let token = loop {
            let lease = self.lease().await?;
            // The lock's value names its holder: the lease, in decimal.
            let txn = TxnRequest {
                compare: vec![Compare::absent(&key)],
                success: vec![RequestOp::Put(PutRequest {
                    key: key.clone(),
                    value: lease.to_string().into_bytes(),
                    lease: Some(lease),
                })],
            };
            // The revision at which the lock was seen held, if it was.
            let held_at = match self.gw.post::<_, TxnResponse>("/v3/kv/txn", &txn).await {
                // The txn's revision created the key: it is the fence token.
                Ok(resp) if resp.succeeded => break resp.header.revision,
                Ok(resp) => Some(resp.header.revision),
                // The lease expired between the check and the put: the next round grants one.
                Err(e) if e.code == Some(GrpcCode::NotFound) => {
                    if let Some(l) = self.lease.lock().await.as_ref() {
                        l.alive.store(false, Ordering::Release);
                    }
                    None
                }
                Err(e) => return Err(e.into()),
            };
            if start.elapsed() >= timeout {
                return Err(StoreError::Busy {
                    id: id.clone(),
                    waited: start.elapsed(),
                });
            }
            // Wait for the holder's key to go (its release, or its lease ending), then try
            // again at once; poll with backoff when there is no watch to wait on.
            if let (true, Some(revision)) = (self.watch, held_at) {
                match self
                    .gw
                    .watch_deletion(&key, revision, start + timeout)
                    .await
                {
                    Watched::Deleted | Watched::TimedOut => continue,
                    Watched::Broken(why) => {
                        tracing::debug!(%why, "lock watch broke; polling this round");
                    }
                }
            }
            tokio::time::sleep(pause.min(timeout.saturating_sub(start.elapsed()))).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        };
        let (gw, release_key, pending) =
            (Arc::clone(&self.gw), key.clone(), Arc::clone(&self.pending));
        let release = move || {
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let task = rt.spawn(async move {
                // Only this holding's key: a successor's lock has another create revision.
                let txn = TxnRequest {
                    compare: vec![Compare::created_at(&release_key, token)],
                    success: vec![RequestOp::delete(&release_key)],
                };
                let _ = gw.post::<_, IgnoredAny>("/v3/kv/txn", &txn).await;
            });
            let mut tasks = pending.lock().unwrap_or_else(|p| p.into_inner());
            tasks.retain(|_, t| !t.is_finished());
            tasks.insert(key, task);
        };
        Ok(shared_lock_handle(
            Fence {
                id: id.clone(),
                token,
            },
            release,
        ))
    }
}
