//! [`EtcdTasks`]: the task store of an etcd store — each task's record (core's task codec:
//! format header, version, CRC) under `<prefix>t/<id>`. A write is one txn guarded by the
//! key's `mod_revision` as read (`create_revision == 0` for an insert), so a lost race is
//! detected by etcd; the record's own version in its header makes `Conflict` read exactly as
//! with the embedded backends. A write whose outcome is unknown is re-read before it is
//! answered: it succeeded if the key holds exactly what it wrote.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use session_core::adapter::{
    decode_task_record, encode_task_record, select_tasks, task_record_header,
};
use session_core::{SessionId, StoreError, TaskId, TaskRecord, TaskStore, Version, Versioned};

use crate::gateway::Gateway;
use crate::keys::{prefix_end, Keys};
use crate::txn::{
    Compare, KeyValue, RangeRequest, RangeResponse, RequestOp, TxnRequest, TxnResponse,
};

/// Keys read per page when listing or purging tasks.
const PAGE: usize = 256;
/// Attempts of a write whose guard failed while the version rule still allowed it (the key
/// changed between the read and the txn without changing its version, e.g. by a restore).
const MAX_ATTEMPTS: u32 = 8;

/// The tasks of one etcd store; made by `EtcdStore::tasks`.
#[derive(Debug)]
pub(crate) struct EtcdTasks {
    gw: Arc<Gateway>,
    keys: Keys,
}

impl EtcdTasks {
    pub(crate) fn new(gw: Arc<Gateway>, keys: Keys) -> EtcdTasks {
        EtcdTasks { gw, keys }
    }

    async fn read(&self, key: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        let resp: RangeResponse = self
            .gw
            .post("/v3/kv/range", &RangeRequest::key(key))
            .await?;
        Ok(resp.kvs.into_iter().next())
    }

    /// Every task key and value, in key order, a page at a time.
    async fn all(&self) -> Result<Vec<KeyValue>, StoreError> {
        let start = self.keys.tasks();
        let end = prefix_end(&start);
        let mut from = start;
        let mut out = Vec::new();
        loop {
            let resp: RangeResponse = self
                .gw
                .post("/v3/kv/range", &RangeRequest::between(&from, &end, PAGE))
                .await?;
            let n = resp.kvs.len();
            if let Some(last) = resp.kvs.last() {
                from = last.key.clone();
                from.push(0);
            }
            out.extend(resp.kvs);
            if n < PAGE {
                return Ok(out);
            }
        }
    }

    /// The task id of a task key (what follows `<prefix>t/`).
    fn id_of(&self, key: &[u8]) -> String {
        let prefix = self.keys.tasks();
        String::from_utf8_lossy(key.strip_prefix(prefix.as_slice()).unwrap_or(key)).into_owned()
    }

    async fn txn(
        &self,
        compare: Compare,
        op: RequestOp,
    ) -> Result<bool, crate::gateway::CallError> {
        let resp: TxnResponse = self
            .gw
            .post(
                "/v3/kv/txn",
                &TxnRequest {
                    compare: vec![compare],
                    success: vec![op],
                },
            )
            .await?;
        Ok(resp.succeeded)
    }
}

#[async_trait]
impl TaskStore for EtcdTasks {
    async fn get_task(&self, id: &TaskId) -> Result<Option<Versioned<TaskRecord>>, StoreError> {
        match self.read(&self.keys.task(id.as_str())).await? {
            None => Ok(None),
            Some(kv) => decode_task_record(id.as_str(), &kv.value).map(Some),
        }
    }

    async fn put_task(
        &self,
        expected: Option<Version>,
        task: TaskRecord,
    ) -> Result<Version, StoreError> {
        let version = expected.map_or(Version::FIRST, Version::next);
        let bytes = encode_task_record(version, &task)?;
        let id = task.id.as_str();
        let key = self.keys.task(id);
        for _ in 0..MAX_ATTEMPTS {
            let read = self.read(&key).await?;
            let stored = match read {
                Some(kv) => Some((task_record_header(id, &kv.value)?, kv.mod_revision)),
                None => None,
            };
            let guard = match (expected, stored) {
                (None, None) => Compare::absent(&key),
                (None, Some(_)) => return Err(StoreError::TaskExists(id.to_owned())),
                (Some(_), None) => return Err(StoreError::TaskNotFound(id.to_owned())),
                (Some(v), Some((h, _))) if h.version != v => {
                    return Err(StoreError::Conflict {
                        expected: v,
                        actual: h.version,
                    })
                }
                (Some(_), Some((_, mod_revision))) => Compare::unchanged_since(&key, mod_revision),
            };
            match self.txn(guard, RequestOp::put(&key, &bytes)).await {
                Ok(true) => return Ok(version),
                // Someone wrote the key since the read: read again and judge by the rule.
                // (Equal bytes prove nothing: two writers of one change at one instant
                // encode alike, so an applied-then-retried try is judged like another
                // writer's, as session writes are.)
                Ok(false) => continue,
                Err(e) => {
                    if e.maybe_applied && self.read(&key).await?.is_some_and(|kv| kv.value == bytes)
                    {
                        return Ok(version);
                    }
                    return Err(e.into());
                }
            }
        }
        Err(StoreError::Overloaded(format!(
            "task {id} kept changing under its write; retry"
        )))
    }

    async fn list_tasks(
        &self,
        session: Option<&SessionId>,
        limit: usize,
    ) -> Result<Vec<Versioned<TaskRecord>>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Tasks are purged after their TTL: reading them all is bounded by what is live, so
        // no per-session index is kept.
        let tasks = self
            .all()
            .await?
            .iter()
            .map(|kv| decode_task_record(&self.id_of(&kv.key), &kv.value))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(select_tasks(tasks, session, limit))
    }

    async fn purge_expired_tasks(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, StoreError> {
        if limit == 0 {
            return Ok(0);
        }
        let mut purged = 0u64;
        for kv in self.all().await? {
            if purged as usize >= limit {
                break;
            }
            // The header alone says when a task expires; an unreadable one stays (and lists
            // fail with TaskCorrupt naming it, so an operator can remove it).
            let Ok(header) = task_record_header(&self.id_of(&kv.key), &kv.value) else {
                continue;
            };
            if header.expires_at > now {
                continue;
            }
            // Guarded: a task rewritten since the read (its expiry moved) is kept.
            let guard = Compare::unchanged_since(&kv.key, kv.mod_revision);
            match self.txn(guard, RequestOp::delete(&kv.key)).await {
                Ok(true) => purged += 1,
                Ok(false) => {}
                Err(e) => {
                    if !(e.maybe_applied && self.read(&kv.key).await?.is_none()) {
                        return Err(e.into());
                    }
                    purged += 1;
                }
            }
        }
        Ok(purged)
    }
}
