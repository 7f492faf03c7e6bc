//! [`LeasedEntries`]: short-lived records beside a store's sessions, each under its own etcd
//! lease, for a component above the port that must share state across replicas without
//! knowing etcd (the server keeps its HTTP transport's MCP sessions here). An entry is
//! `<prefix>m/<name>` → bytes; it is deleted by etcd when its lease runs out (no
//! [`LeasedEntries::refresh`] within the TTL) or is revoked ([`LeasedEntries::remove`]).
//!
//! Same cluster, endpoints, TLS, auth and prefix as the [`EtcdStore`](crate::EtcdStore) of
//! the same [`EtcdConfig`], so the same role permission covers it.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use session_core::StoreError;

use crate::config::EtcdConfig;
use crate::gateway::{Gateway, GrpcCode};
use crate::txn::int64;

/// Leased entries under `<prefix>m/` of one cluster. See the module docs.
#[derive(Debug, Clone)]
pub struct LeasedEntries {
    gw: Arc<Gateway>,
    prefix: String,
    ttl_secs: i64,
}

/// An entry as read: its bytes and the lease it lives under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedEntry {
    /// What was put.
    pub value: Vec<u8>,
    /// The entry's lease, for [`LeasedEntries::refresh`].
    pub lease: i64,
}

#[derive(Serialize)]
struct Grant {
    #[serde(rename = "TTL", with = "int64")]
    ttl: i64,
}

#[derive(Deserialize)]
struct Granted {
    #[serde(rename = "ID", with = "int64")]
    id: i64,
}

#[derive(Serialize)]
struct LeaseId {
    #[serde(rename = "ID", with = "int64")]
    id: i64,
}

#[derive(Deserialize)]
struct KeepAliveAnswer {
    #[serde(default)]
    result: Option<KeepAlive>,
}

#[derive(Deserialize)]
struct KeepAlive {
    #[serde(rename = "TTL", default, with = "int64")]
    ttl: i64,
}

#[derive(Serialize)]
struct Put {
    key: String,
    value: String,
    #[serde(with = "int64")]
    lease: i64,
}

#[derive(Serialize)]
struct Range {
    key: String,
}

#[derive(Deserialize)]
struct RangeAnswer {
    #[serde(default)]
    kvs: Vec<Kv>,
}

#[derive(Deserialize)]
struct Kv {
    #[serde(default)]
    value: String,
    /// Absent (0) for a key without a lease: not one of ours.
    #[serde(default, with = "int64")]
    lease: i64,
}

#[derive(Serialize)]
struct Delete {
    key: String,
}

impl LeasedEntries {
    /// Entries on `endpoints` with `config`'s prefix, TLS and auth, each living `ttl` (whole
    /// seconds, at least 1) past its last put or refresh. Nothing is contacted yet.
    ///
    /// # Errors
    /// As [`EtcdStore::new`](crate::EtcdStore::new): no endpoint, a bad URL, TLS files.
    pub fn new(
        endpoints: impl IntoIterator<Item = impl Into<String>>,
        config: &EtcdConfig,
        ttl: Duration,
    ) -> Result<LeasedEntries, StoreError> {
        let gw = Gateway::new(endpoints.into_iter().map(Into::into).collect(), config)?;
        Ok(LeasedEntries {
            gw: Arc::new(gw),
            prefix: format!("{}m/", config.prefix),
            ttl_secs: i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX),
        })
    }

    /// The lifetime of an entry past its last put or refresh.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.ttl_secs).unwrap_or(u64::MAX))
    }

    fn key(&self, name: &str) -> String {
        B64.encode(format!("{}{name}", self.prefix))
    }

    /// Sets `name` to `value` under a new lease of the TTL (an entry already there is
    /// replaced; its old lease simply runs out).
    ///
    /// # Errors
    /// `Backend` when the cluster does not answer or refuses.
    pub async fn put(&self, name: &str, value: &[u8]) -> Result<(), StoreError> {
        let granted: Granted = self
            .gw
            .post("/v3/lease/grant", &Grant { ttl: self.ttl_secs })
            .await?;
        let put = Put {
            key: self.key(name),
            value: B64.encode(value),
            lease: granted.id,
        };
        let _: IgnoredAny = self.gw.post("/v3/kv/put", &put).await?;
        Ok(())
    }

    /// The entry `name`, or `None` when it was never put, was removed or its lease ran out.
    ///
    /// # Errors
    /// `Backend` when the cluster does not answer or answers what cannot be read.
    pub async fn get(&self, name: &str) -> Result<Option<LeasedEntry>, StoreError> {
        let answer: RangeAnswer = self
            .gw
            .post(
                "/v3/kv/range",
                &Range {
                    key: self.key(name),
                },
            )
            .await?;
        let Some(kv) = answer.kvs.into_iter().next() else {
            return Ok(None);
        };
        let value = B64.decode(kv.value.as_bytes()).map_err(|e| {
            StoreError::Backend(format!(
                "etcd answered an entry {name:?} that is not base64: {e}"
            ))
        })?;
        Ok(Some(LeasedEntry {
            value,
            lease: kv.lease,
        }))
    }

    /// Extends `lease` to the full TTL again: `false` when etcd no longer knows it (the
    /// entry is gone).
    ///
    /// # Errors
    /// `Backend` when the cluster does not answer.
    pub async fn refresh(&self, lease: i64) -> Result<bool, StoreError> {
        if lease == 0 {
            return Ok(false);
        }
        match self
            .gw
            .post::<_, KeepAliveAnswer>("/v3/lease/keepalive", &LeaseId { id: lease })
            .await
        {
            Ok(answer) => Ok(answer.result.is_some_and(|r| r.ttl > 0)),
            Err(e) if e.code == Some(GrpcCode::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the entry `name` and revokes its lease (a no-op when it is absent).
    ///
    /// # Errors
    /// `Backend` when the cluster does not answer or refuses.
    pub async fn remove(&self, name: &str) -> Result<(), StoreError> {
        let entry = self.get(name).await?;
        let _: IgnoredAny = self
            .gw
            .post(
                "/v3/kv/deleterange",
                &Delete {
                    key: self.key(name),
                },
            )
            .await?;
        if let Some(entry) = entry.filter(|e| e.lease != 0) {
            // The key is gone already; an unknown lease (it ran out meanwhile) is fine.
            if let Err(e) = self
                .gw
                .post::<_, IgnoredAny>("/v3/lease/revoke", &LeaseId { id: entry.lease })
                .await
            {
                tracing::debug!(lease = entry.lease, error = %e.message, "lease not revoked");
            }
        }
        Ok(())
    }
}
