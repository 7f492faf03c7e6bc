//! [`EtcdStore`]: the `SessionStore` implementation over the gateway.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use session_core::adapter::{
    decode_record, expiry_key, expiry_range_end, parse_expiry_key, plan_batch, record_header,
    shared_lock_handle, RecordHeader, ScanQueryExt,
};
use session_core::{
    RetryPolicy, ScanPage, ScanQuery, Session, SessionId, SessionStore, StoreError, Version,
    Versioned, WriteOp,
};

use session_core::{Fence, SharedLockHandle, SharedLocks};

use crate::gateway::{b64, count, int, kvs, CallError, Gateway, Kv};

/// The knobs of an [`EtcdStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct EtcdConfig {
    /// Every key of this store starts with it, so several stores can share a cluster.
    /// Default `container-kit/`.
    pub prefix: String,
    /// One HTTP request's timeout. Default 5 s.
    pub request_timeout: Duration,
    /// How long one operation keeps trying other endpoints and retrying. Default 15 s.
    pub deadline: Duration,
    /// Backoff between rounds over the endpoints, and between re-plans of a write that lost
    /// a race inside etcd.
    pub retry: RetryPolicy,
    /// The cluster's `--max-txn-ops` (etcd's default is 128). A batch needing more operations
    /// is refused with a clear error.
    pub max_txn_ops: usize,
    /// The lease of a session lock held across replicas: a holder that dies releases its
    /// locks after at most this long (kept alive every third of it while held). Note that
    /// etcd renews every lease to its full TTL when the leader changes, so after a leader
    /// change a dead holder's lock can outlive it by up to twice this. Default 10 s.
    pub lock_ttl: Duration,
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
        }
    }
}

/// Sessions in an etcd cluster. See the crate docs.
#[derive(Debug)]
pub struct EtcdStore {
    gw: Arc<Gateway>,
    config: EtcdConfig,
    locks: Arc<EtcdLocks>,
}

/// Each key's state after a planned batch: the record bytes and expiry, or `None` (absent).
type Finals<'a> = HashMap<&'a str, Option<(Vec<u8>, DateTime<Utc>)>>;

/// What a write plan needs of a key as read.
#[derive(Clone)]
struct Read {
    mod_revision: i64,
    create_revision: i64,
    bytes: Vec<u8>,
}

fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

impl EtcdStore {
    /// A store on `endpoints` (`http://host:port`, tried in turn) without contacting them:
    /// the first operation does.
    ///
    /// # Errors
    /// `Invalid` for no endpoint or a non-http endpoint.
    pub fn new(
        endpoints: impl IntoIterator<Item = impl Into<String>>,
        config: EtcdConfig,
    ) -> Result<EtcdStore, StoreError> {
        let gw = Gateway::new(
            endpoints.into_iter().map(Into::into).collect(),
            config.request_timeout,
            config.deadline,
            config.retry.clone(),
        )?;
        let gw = Arc::new(gw);
        let locks = Arc::new(EtcdLocks::new(
            Arc::clone(&gw),
            format!("{}l/", config.prefix),
            config.lock_ttl,
        ));
        Ok(EtcdStore { gw, config, locks })
    }

    /// A store on `endpoints`, checked by one read.
    ///
    /// # Errors
    /// As [`EtcdStore::new`], and `Backend` naming the endpoints when none answers.
    pub async fn connect(
        endpoints: impl IntoIterator<Item = impl Into<String>>,
        config: EtcdConfig,
    ) -> Result<EtcdStore, StoreError> {
        let store = EtcdStore::new(endpoints, config)?;
        store.count().await.map_err(|e| {
            StoreError::Backend(format!(
                "no etcd endpoint of {:?} answered: {e}",
                store.gw.endpoints()
            ))
        })?;
        Ok(store)
    }

    fn session_key(&self, id: &str) -> Vec<u8> {
        let mut k = format!("{}s/", self.config.prefix).into_bytes();
        k.extend_from_slice(id.as_bytes());
        k
    }

    fn sessions_prefix(&self) -> Vec<u8> {
        format!("{}s/", self.config.prefix).into_bytes()
    }

    fn expiry_prefix(&self) -> Vec<u8> {
        format!("{}x/", self.config.prefix).into_bytes()
    }

    fn expiry_index_key(&self, expires_at: DateTime<Utc>, id: &SessionId) -> Vec<u8> {
        let mut k = self.expiry_prefix();
        k.extend_from_slice(&expiry_key(expires_at, id));
        k
    }

    async fn range(&self, body: Value) -> Result<Value, StoreError> {
        Ok(self.gw.post("/v3/kv/range", &body).await?)
    }

    /// Reads several keys at one revision (a txn of ranges).
    async fn read_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Read>>, StoreError> {
        let success: Vec<Value> = keys
            .iter()
            .map(|k| json!({"request_range": {"key": b64(k)}}))
            .collect();
        let resp = self
            .gw
            .post("/v3/kv/txn", &json!({"success": success}))
            .await?;
        let responses = resp
            .get("responses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::with_capacity(keys.len());
        for i in 0..keys.len() {
            let r = responses
                .get(i)
                .and_then(|r| r.get("response_range"))
                .cloned()
                .unwrap_or(Value::Null);
            out.push(kvs(&r)?.into_iter().next().map(|kv| Read {
                mod_revision: kv.mod_revision,
                create_revision: kv.create_revision,
                bytes: kv.value,
            }));
        }
        Ok(out)
    }

    /// Runs a guarded txn: `Ok(true)` applied, `Ok(false)` a compare failed.
    async fn txn(&self, compare: Vec<Value>, success: Vec<Value>) -> Result<bool, CallError> {
        let resp = self
            .gw
            .post(
                "/v3/kv/txn",
                &json!({"compare": compare, "success": success}),
            )
            .await?;
        Ok(resp
            .get("succeeded")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    async fn write(
        &self,
        ops: Vec<WriteOp>,
        fence: Option<&Fence>,
    ) -> Result<Vec<Option<Version>>, StoreError> {
        let records = ops
            .iter()
            .map(WriteOp::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids: Vec<&SessionId> = Vec::new();
        for op in &ops {
            if !ids.contains(&op.id()) {
                ids.push(op.id());
            }
        }
        let keys: Vec<Vec<u8>> = ids.iter().map(|id| self.session_key(id.as_str())).collect();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let reads = self.read_many(&keys).await?;
            // A fenced write needs the lock still held by this holding.
            let lock_guard = match fence {
                None => None,
                Some(f) => {
                    let lock_key = self.locks.key(&f.id);
                    let held = self
                        .read_many(std::slice::from_ref(&lock_key))
                        .await?
                        .pop()
                        .flatten();
                    if held.as_ref().map(|r| r.create_revision) != Some(f.token) {
                        return Err(StoreError::LockLost(f.id.clone()));
                    }
                    Some(
                        json!({"key": b64(&lock_key), "target": "CREATE", "result": "EQUAL", "create_revision": f.token.to_string()}),
                    )
                }
            };
            let snapshot: HashMap<&str, Option<Read>> =
                ids.iter().map(|id| id.as_str()).zip(reads).collect();
            let (versions, finals) = plan(&ops, &records, &snapshot)?;
            let (mut compare, success) = self.txn_ops(&ids, &snapshot, &finals);
            compare.extend(lock_guard);
            if success.len() > self.config.max_txn_ops {
                return Err(StoreError::Invalid(format!(
                    "this batch needs {} etcd txn operations, over the cluster's --max-txn-ops of {}; split it or raise the limit",
                    success.len(),
                    self.config.max_txn_ops
                )));
            }
            match self.txn(compare, success).await {
                Ok(true) => return Ok(versions),
                Ok(false) => {}
                Err(e) => {
                    // The outcome is unknown: it happened if the keys hold what we wrote.
                    if e.maybe_applied && self.holds(&keys, &ids, &finals).await? {
                        return Ok(versions);
                    }
                    if !e.maybe_applied {
                        return Err(e.into());
                    }
                }
            }
            // Another writer changed a key between our read and our txn: plan again.
            let Some(delay) = self.config.retry.next_delay(attempt) else {
                return Err(StoreError::Backend(format!(
                    "etcd write still contended after {attempt} attempts; retry later"
                )));
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// Whether every key holds the planned final state.
    async fn holds(
        &self,
        keys: &[Vec<u8>],
        ids: &[&SessionId],
        finals: &Finals<'_>,
    ) -> Result<bool, StoreError> {
        let reads = self.read_many(keys).await?;
        Ok(ids
            .iter()
            .zip(reads)
            .all(|(id, read)| match (finals.get(id.as_str()), read) {
                (Some(Some((bytes, _))), Some(r)) => r.bytes == *bytes,
                (Some(None), None) | (None, _) => true,
                _ => false,
            }))
    }

    /// The guarded txn for a plan: compares on every key read, then one op per key touched
    /// (etcd refuses two ops on one key in a txn).
    fn txn_ops(
        &self,
        ids: &[&SessionId],
        snapshot: &HashMap<&str, Option<Read>>,
        finals: &Finals<'_>,
    ) -> (Vec<Value>, Vec<Value>) {
        let mut compare = Vec::new();
        let mut success = Vec::new();
        for id in ids {
            let key = self.session_key(id.as_str());
            let read = snapshot.get(id.as_str()).cloned().flatten();
            compare.push(match &read {
                Some(r) => json!({"key": b64(&key), "target": "MOD", "result": "EQUAL", "mod_revision": r.mod_revision.to_string()}),
                None => json!({"key": b64(&key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}),
            });
            let old_expiry = read
                .as_ref()
                .and_then(|r| record_header(id.as_str(), &r.bytes).ok())
                .map(|h: RecordHeader| self.expiry_index_key(h.expires_at, id));
            let final_state = finals.get(id.as_str()).cloned().flatten();
            let new_expiry = final_state
                .as_ref()
                .map(|(_, exp)| self.expiry_index_key(*exp, id));
            match &final_state {
                Some((bytes, _)) => {
                    success.push(json!({"request_put": {"key": b64(&key), "value": b64(bytes)}}))
                }
                None if read.is_some() => {
                    success.push(json!({"request_delete_range": {"key": b64(&key)}}))
                }
                None => {}
            }
            if old_expiry != new_expiry {
                if let Some(old) = old_expiry {
                    success.push(json!({"request_delete_range": {"key": b64(&old)}}));
                }
                if let Some(new) = new_expiry {
                    success.push(json!({"request_put": {"key": b64(&new), "value": ""}}));
                }
            }
        }
        (compare, success)
    }
}

/// The port's version rule over a snapshot (`adapter::plan_batch`): the versions the batch
/// stores and each key's final state (`None`: absent).
fn plan<'a>(
    ops: &'a [WriteOp],
    records: &[Option<Vec<u8>>],
    snapshot: &HashMap<&str, Option<Read>>,
) -> Result<(Vec<Option<Version>>, Finals<'a>), StoreError> {
    let planned = plan_batch(ops, |id| {
        let read = snapshot.get(id.as_str()).and_then(Option::as_ref);
        Ok::<_, StoreError>(
            read.map(|r| record_header(id.as_str(), &r.bytes))
                .transpose(),
        )
    })?;
    // The last write of each key leaves its final state.
    let finals = ops
        .iter()
        .zip(records)
        .map(|(op, record)| {
            let last = op.session().zip(record.clone());
            (
                op.id().as_str(),
                last.map(|(s, bytes)| (bytes, s.expires_at)),
            )
        })
        .collect();
    Ok((planned.into_iter().map(|p| p.version).collect(), finals))
}

fn kv_session(kv: &Kv, prefix_len: usize) -> Result<Versioned<Session>, StoreError> {
    let key = String::from_utf8_lossy(kv.key.get(prefix_len..).unwrap_or_default()).into_owned();
    decode_record(&key, &kv.value)
}

#[async_trait]
impl SessionStore for EtcdStore {
    fn backend_name(&self) -> &'static str {
        "etcd"
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Versioned<Session>>, StoreError> {
        let resp = self
            .range(json!({"key": b64(&self.session_key(id.as_str()))}))
            .await?;
        kvs(&resp)?
            .into_iter()
            .next()
            .map(|kv| decode_record(id.as_str(), &kv.value))
            .transpose()
    }

    async fn apply(&self, batch: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(batch, None).await
    }

    async fn scan(&self, query: &ScanQuery) -> Result<ScanPage, StoreError> {
        use std::ops::Bound;
        let prefix = self.sessions_prefix();
        let end = prefix_end(&prefix);
        let limit = query.page_size();
        let chunk = (limit + 1).max(64);
        let mut q = query.clone();
        let mut items = Vec::new();
        loop {
            let start = match q.start_bound() {
                Bound::Included(k) => self.session_key(k),
                // Just after `k`: the same key with a zero byte appended.
                Bound::Excluded(k) => {
                    let mut s = self.session_key(k);
                    s.push(0);
                    s
                }
                Bound::Unbounded => prefix.clone(),
            };
            let resp = self
                .range(json!({"key": b64(&start), "range_end": b64(&end), "limit": chunk}))
                .await?;
            let got = kvs(&resp)?;
            let full = got.len() == chunk;
            let last_key = got
                .last()
                .map(|kv| String::from_utf8_lossy(&kv.key[prefix.len()..]).into_owned());
            let page = q.collect_page(got.iter().map(|kv| kv_session(kv, prefix.len())))?;
            items.extend(page.items);
            if page.next_cursor.is_some() || !full {
                return Ok(ScanPage {
                    items,
                    next_cursor: page.next_cursor,
                });
            }
            // The chunk ran out before the page filled: go on after its last key.
            let Some(last) = last_key.and_then(|k| SessionId::new(k).ok()) else {
                return Ok(ScanPage {
                    items,
                    next_cursor: None,
                });
            };
            q.after = Some(last);
            q.limit = limit - items.len();
            if q.limit == 0 {
                return Ok(ScanPage {
                    items,
                    next_cursor: q.after,
                });
            }
        }
    }

    async fn purge_expired(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SessionId>, StoreError> {
        let prefix = self.expiry_prefix();
        let mut end = prefix.clone();
        end.extend_from_slice(&expiry_range_end(now));
        let mut purged = Vec::new();
        while purged.len() < limit {
            let resp = self.range(json!({"key": b64(&prefix), "range_end": b64(&end), "limit": (limit - purged.len()).min(256)})).await?;
            let entries = kvs(&resp)?;
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                let Some((at, id)) = parse_expiry_key(&entry.key[prefix.len()..]) else {
                    self.txn(
                        vec![],
                        vec![json!({"request_delete_range": {"key": b64(&entry.key)}})],
                    )
                    .await?;
                    continue;
                };
                let key = self.session_key(id.as_str());
                let read = self
                    .read_many(std::slice::from_ref(&key))
                    .await?
                    .pop()
                    .flatten();
                let matches = read
                    .as_ref()
                    .and_then(|r| record_header(id.as_str(), &r.bytes).ok())
                    .is_some_and(|h| h.expires_at == at);
                let index_guard = json!({"key": b64(&entry.key), "target": "MOD", "result": "EQUAL", "mod_revision": entry.mod_revision.to_string()});
                if let (true, Some(r)) = (matches, read) {
                    let guard = json!({"key": b64(&key), "target": "MOD", "result": "EQUAL", "mod_revision": r.mod_revision.to_string()});
                    let ops = vec![
                        json!({"request_delete_range": {"key": b64(&key)}}),
                        json!({"request_delete_range": {"key": b64(&entry.key)}}),
                    ];
                    if self.txn(vec![guard, index_guard], ops).await? {
                        purged.push(id);
                    }
                } else {
                    // A stale index entry: drop it alone.
                    self.txn(
                        vec![index_guard],
                        vec![json!({"request_delete_range": {"key": b64(&entry.key)}})],
                    )
                    .await?;
                }
            }
        }
        Ok(purged)
    }

    fn shared_locks(&self) -> Option<Arc<dyn SharedLocks>> {
        Some(Arc::clone(&self.locks) as Arc<dyn SharedLocks>)
    }

    async fn apply_fenced(
        &self,
        batch: Vec<WriteOp>,
        fence: &Fence,
    ) -> Result<Vec<Option<Version>>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.write(batch, Some(fence)).await
    }

    async fn count(&self) -> Result<u64, StoreError> {
        let prefix = self.sessions_prefix();
        let resp = self.range(json!({"key": b64(&prefix), "range_end": b64(&prefix_end(&prefix)), "count_only": true})).await?;
        Ok(count(&resp))
    }

    /// etcd acknowledges a write once a majority has it on disk; what is left to finish are
    /// lock releases under way.
    async fn flush(&self) -> Result<(), StoreError> {
        let tasks: Vec<_> =
            std::mem::take(&mut *self.locks.pending.lock().unwrap_or_else(|p| p.into_inner()))
                .into_values()
                .collect();
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    }
}

/// Session locks shared by every replica: a lock is a key `<prefix>l/<id>` created (only if
/// absent) under this store's lease, which one background task keeps alive. The key's create
/// revision is the fence token of the holding. If the process dies, the lease expires and its
/// locks go with it.
#[derive(Debug)]
struct EtcdLocks {
    gw: Arc<Gateway>,
    prefix: String,
    ttl: Duration,
    /// The lease every lock of this store is held under, granted on first use and granted
    /// anew if it is ever lost.
    lease: tokio::sync::Mutex<Option<Lease>>,
    /// Releases under way; `flush` waits for them so a process that exits right after a step
    /// does not leave its lock to expire.
    pending: Arc<std::sync::Mutex<HashMap<Vec<u8>, tokio::task::JoinHandle<()>>>>,
}

#[derive(Debug)]
struct Lease {
    id: String,
    alive: Arc<std::sync::atomic::AtomicBool>,
    keepalive: tokio::task::JoinHandle<()>,
}

impl EtcdLocks {
    fn new(gw: Arc<Gateway>, prefix: String, ttl: Duration) -> EtcdLocks {
        EtcdLocks {
            gw,
            prefix,
            ttl,
            lease: tokio::sync::Mutex::new(None),
            pending: Arc::default(),
        }
    }

    fn key(&self, id: &SessionId) -> Vec<u8> {
        format!("{}{}", self.prefix, id).into_bytes()
    }

    /// The live lease, granted (with its keepalive task) when there is none.
    async fn lease(&self) -> Result<String, StoreError> {
        use std::sync::atomic::Ordering;
        let mut slot = self.lease.lock().await;
        if let Some(l) = slot.as_ref().filter(|l| l.alive.load(Ordering::Acquire)) {
            return Ok(l.id.clone());
        }
        let ttl_secs = self.ttl.as_secs().max(2);
        let grant = self
            .gw
            .post("/v3/lease/grant", &json!({"TTL": ttl_secs}))
            .await?;
        let id = grant
            .get("ID")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| int(&grant["ID"]).to_string());
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let keepalive = {
            let (gw, lease, alive) = (Arc::clone(&self.gw), id.clone(), Arc::clone(&alive));
            let every = Duration::from_secs(ttl_secs) / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match gw.post("/v3/lease/keepalive", &json!({"ID": lease})).await {
                        Ok(r) if int(&r["result"]["TTL"]) > 0 => {}
                        _ => {
                            alive.store(false, Ordering::Release);
                            tracing::warn!(lease = %lease, "lock lease lost; fenced writes under it will fail");
                            return;
                        }
                    }
                }
            })
        };
        if let Some(old) = slot.replace(Lease {
            id: id.clone(),
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
                let _ = gw.post("/v3/lease/revoke", &json!({"ID": lease.id})).await;
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
        let key = self.key(id);
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
            let txn = json!({
                "compare": [{"key": b64(&key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"}],
                "success": [{"request_put": {"key": b64(&key), "value": b64(lease.as_bytes()), "lease": lease}}],
            });
            match self.gw.post("/v3/kv/txn", &txn).await {
                Ok(resp)
                    if resp
                        .get("succeeded")
                        .and_then(Value::as_bool)
                        .unwrap_or(false) =>
                {
                    break int(&resp["header"]["revision"]);
                }
                Ok(_) => {}
                // The lease expired between the check and the put: the next round grants one.
                Err(e) if e.message.contains("lease not found") => {
                    if let Some(l) = self.lease.lock().await.as_ref() {
                        l.alive.store(false, std::sync::atomic::Ordering::Release);
                    }
                }
                Err(e) => return Err(e.into()),
            }
            if start.elapsed() >= timeout {
                return Err(StoreError::Busy {
                    id: id.clone(),
                    waited: start.elapsed(),
                });
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
                let txn = json!({
                    "compare": [{"key": b64(&release_key), "target": "CREATE", "result": "EQUAL", "create_revision": token.to_string()}],
                    "success": [{"request_delete_range": {"key": b64(&release_key)}}],
                });
                let _ = gw.post("/v3/kv/txn", &txn).await;
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
