//! [`EtcdStore`]: the `SessionStore` implementation over the gateway. Each write reads the
//! keys it touches at one revision, plans the batch on that snapshot with the port's version
//! rule, and commits it as one txn guarded by every key's revision (see [`crate::txn`]).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use session_core::adapter::{
    decode_record, expiry_range_end, parse_expiry_key, plan_batch, record_header, RecordHeader,
    ScanQueryExt,
};
use session_core::{
    ScanPage, ScanQuery, Session, SessionId, SessionStore, StoreError, Version, Versioned, WriteOp,
};

use session_core::{Fence, SharedLocks};

use crate::config::EtcdConfig;
use crate::gateway::{CallError, Gateway};
use crate::keys::{prefix_end, Keys};
use crate::locks::EtcdLocks;
use crate::txn::{
    Compare, KeyValue as Kv, RangeRequest, RangeResponse, RequestOp, TxnRequest, TxnResponse,
};

/// Sessions in an etcd cluster, shared by every replica that opens the same cluster and
/// prefix. See the crate docs.
#[derive(Debug)]
pub struct EtcdStore {
    gw: Arc<Gateway>,
    config: EtcdConfig,
    keys: Keys,
    locks: Arc<EtcdLocks>,
}

/// Each key's state after a planned batch: the record bytes and expiry, or `None` (absent).
type Finals<'a> = HashMap<&'a str, Option<(Vec<u8>, DateTime<Utc>)>>;

/// What a write plan needs of a key as read.
#[derive(Clone)]
struct Read {
    mod_revision: i64,
    bytes: Vec<u8>,
}

impl EtcdStore {
    /// A store on `endpoints` (`http://host:port` or `https://host:port`, tried in turn)
    /// without contacting them (the TLS files are read now):
    /// the first operation does.
    ///
    /// # Errors
    /// `Invalid` for no endpoint, an endpoint that is not `http://` or `https://`, `https://`
    /// without [`EtcdTls::ca`](crate::EtcdTls::ca), or a TLS file that cannot be read.
    pub fn new(
        endpoints: impl IntoIterator<Item = impl Into<String>>,
        config: EtcdConfig,
    ) -> Result<EtcdStore, StoreError> {
        let gw = Gateway::new(endpoints.into_iter().map(Into::into).collect(), &config)?;
        let gw = Arc::new(gw);
        let keys = Keys::new(&config.prefix);
        let locks = Arc::new(EtcdLocks::new(
            Arc::clone(&gw),
            keys.clone(),
            config.lock_ttl,
            config.watch_locks,
        ));
        Ok(EtcdStore {
            gw,
            config,
            keys,
            locks,
        })
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
        self.keys.session(id)
    }

    async fn range(&self, request: &RangeRequest) -> Result<RangeResponse, StoreError> {
        Ok(self.gw.post("/v3/kv/range", request).await?)
    }

    /// Reads several keys at one revision (a txn of ranges): each key's kv, `None` if absent.
    async fn read_many(&self, keys: &[Vec<u8>]) -> Result<Vec<Option<Kv>>, StoreError> {
        let txn = TxnRequest {
            compare: Vec::new(),
            success: keys.iter().map(|k| RequestOp::get(k)).collect(),
        };
        let resp: TxnResponse = self.gw.post("/v3/kv/txn", &txn).await?;
        if resp.responses.len() != keys.len() {
            return Err(StoreError::Backend(format!(
                "etcd answered {} results to a read of {} keys",
                resp.responses.len(),
                keys.len()
            )));
        }
        resp.responses
            .into_iter()
            .map(|r| match r.response_range {
                Some(range) => Ok(range.kvs.into_iter().next()),
                None => Err(StoreError::Backend(
                    "etcd answered a read in a txn with another kind of result".into(),
                )),
            })
            .collect()
    }

    /// Runs a guarded txn: `Ok(true)` applied, `Ok(false)` a compare failed.
    async fn txn(&self, compare: Vec<Compare>, success: Vec<RequestOp>) -> Result<bool, CallError> {
        let resp: TxnResponse = self
            .gw
            .post("/v3/kv/txn", &TxnRequest { compare, success })
            .await?;
        Ok(resp.succeeded)
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
                    let lock_key = self.keys.lock(&f.id);
                    let held = self
                        .read_many(std::slice::from_ref(&lock_key))
                        .await?
                        .pop()
                        .flatten();
                    if held.as_ref().map(|kv| kv.create_revision) != Some(f.token) {
                        return Err(StoreError::LockLost(f.id.clone()));
                    }
                    Some(Compare::created_at(&lock_key, f.token))
                }
            };
            let snapshot: HashMap<&str, Option<Read>> = ids
                .iter()
                .map(|id| id.as_str())
                .zip(reads.into_iter().map(|kv| {
                    kv.map(|kv| Read {
                        mod_revision: kv.mod_revision,
                        bytes: kv.value,
                    })
                }))
                .collect();
            let (versions, finals) = plan(&ops, &records, &snapshot)?;
            let (mut compare, success) = self.txn_ops(&ids, &snapshot, &finals);
            compare.extend(lock_guard);
            // etcd limits each list of a txn to --max-txn-ops entries (see the crate docs).
            let needed = success.len().max(compare.len());
            if needed > self.config.max_txn_ops {
                return Err(StoreError::Invalid(format!(
                    "this batch needs {needed} etcd txn operations, over the cluster's --max-txn-ops of {}; split it or raise the limit",
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
                (Some(Some((bytes, _))), Some(kv)) => kv.value == *bytes,
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
    ) -> (Vec<Compare>, Vec<RequestOp>) {
        let mut compare = Vec::new();
        let mut success = Vec::new();
        for id in ids {
            let key = self.session_key(id.as_str());
            let read = snapshot.get(id.as_str()).cloned().flatten();
            compare.push(match &read {
                Some(r) => Compare::unchanged_since(&key, r.mod_revision),
                None => Compare::absent(&key),
            });
            let old_expiry = read
                .as_ref()
                .and_then(|r| record_header(id.as_str(), &r.bytes).ok())
                .map(|h: RecordHeader| self.keys.expiry(h.expires_at, id));
            let final_state = finals.get(id.as_str()).cloned().flatten();
            let new_expiry = final_state
                .as_ref()
                .map(|(_, exp)| self.keys.expiry(*exp, id));
            match &final_state {
                Some((bytes, _)) => success.push(RequestOp::put(&key, bytes)),
                None if read.is_some() => success.push(RequestOp::delete(&key)),
                None => {}
            }
            if old_expiry != new_expiry {
                if let Some(old) = old_expiry {
                    success.push(RequestOp::delete(&old));
                }
                if let Some(new) = new_expiry {
                    success.push(RequestOp::put(&new, b""));
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
            .range(&RangeRequest::key(&self.session_key(id.as_str())))
            .await?;
        resp.kvs
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
        let prefix = self.keys.sessions();
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
            let got = self
                .range(&RangeRequest::between(&start, &end, chunk))
                .await?
                .kvs;
            let full = got.len() == chunk;
            let last_key = got.last().map(|kv| {
                String::from_utf8_lossy(kv.key.get(prefix.len()..).unwrap_or_default()).into_owned()
            });
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
        let prefix = self.keys.expiries();
        let mut end = prefix.clone();
        end.extend_from_slice(&expiry_range_end(now));
        let mut purged = Vec::new();
        while purged.len() < limit {
            let batch = (limit - purged.len()).min(256);
            let entries = self
                .range(&RangeRequest::between(&prefix, &end, batch))
                .await?
                .kvs;
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                let Some((at, id)) =
                    parse_expiry_key(entry.key.get(prefix.len()..).unwrap_or_default())
                else {
                    self.txn(vec![], vec![RequestOp::delete(&entry.key)])
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
                    .and_then(|kv| record_header(id.as_str(), &kv.value).ok())
                    .is_some_and(|h| h.expires_at == at);
                let index_guard = Compare::unchanged_since(&entry.key, entry.mod_revision);
                if let (true, Some(kv)) = (matches, read) {
                    let guard = Compare::unchanged_since(&key, kv.mod_revision);
                    let ops = vec![RequestOp::delete(&key), RequestOp::delete(&entry.key)];
                    if self.txn(vec![guard, index_guard], ops).await? {
                        purged.push(id);
                    }
                } else {
                    // A stale index entry: drop it alone.
                    self.txn(vec![index_guard], vec![RequestOp::delete(&entry.key)])
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
        let prefix = self.keys.sessions();
        let request = RangeRequest {
            range_end: prefix_end(&prefix),
            count_only: true,
            ..RangeRequest::key(&prefix)
        };
        let count = self.range(&request).await?.count;
        u64::try_from(count)
            .map_err(|_| StoreError::Backend(format!("etcd answered a count of {count} keys")))
    }

    /// etcd acknowledges a write once a majority has it on disk; what is left to finish are
    /// lock releases under way.
    fn tasks(&self) -> Option<Arc<dyn session_core::TaskStore>> {
        Some(Arc::new(crate::tasks::EtcdTasks::new(
            Arc::clone(&self.gw),
            self.keys.clone(),
        )))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.locks.finish_releases().await;
        Ok(())
    }
}
