//! A minimal client of etcd's v3 JSON gateway: endpoint failover, bounded retries, and a
//! clear account of whether a failed write may have been applied.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Value};
use session_core::{RetryPolicy, StoreError};

/// A failed request.
#[derive(Debug)]
pub(crate) struct CallError {
    pub(crate) message: String,
    /// The request may have reached etcd and been applied (a timeout or a reset after
    /// sending); a write must be re-read before it is answered.
    pub(crate) maybe_applied: bool,
}

impl From<CallError> for StoreError {
    fn from(e: CallError) -> StoreError {
        StoreError::Backend(e.message)
    }
}

#[derive(Debug)]
pub(crate) struct Gateway {
    http: reqwest::Client,
    endpoints: Vec<String>,
    next: AtomicUsize,
    deadline: Duration,
    retry: RetryPolicy,
}

/// One key-value as the gateway returns it.
#[derive(Debug, Clone)]
pub(crate) struct Kv {
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
    pub(crate) mod_revision: i64,
    pub(crate) create_revision: i64,
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub(crate) fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

pub(crate) fn kvs(response: &Value) -> Result<Vec<Kv>, StoreError> {
    let Some(list) = response.get("kvs").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    list.iter()
        .map(|kv| {
            let decode = |field: &str| {
                B64.decode(kv.get(field).and_then(Value::as_str).unwrap_or(""))
                    .map_err(|e| StoreError::Backend(format!("etcd answered a bad {field}: {e}")))
            };
            Ok(Kv {
                key: decode("key")?,
                value: decode("value")?,
                mod_revision: int(&kv["mod_revision"]),
                create_revision: int(&kv["create_revision"]),
            })
        })
        .collect()
}

pub(crate) fn count(response: &Value) -> u64 {
    u64::try_from(int(&response["count"])).unwrap_or(0)
}

impl Gateway {
    pub(crate) fn new(
        endpoints: Vec<String>,
        request_timeout: Duration,
        deadline: Duration,
        retry: RetryPolicy,
    ) -> Result<Gateway, StoreError> {
        if endpoints.is_empty() {
            return Err(StoreError::Invalid(
                "no etcd endpoints given; pass e.g. http://127.0.0.1:2379".into(),
            ));
        }
        for e in &endpoints {
            if !e.starts_with("http://") {
                return Err(StoreError::Invalid(format!("etcd endpoint {e:?} must be an http:// URL (TLS endpoints are not supported yet)")));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(request_timeout)
            .connect_timeout(request_timeout.min(Duration::from_secs(2)))
            .build()
            .map_err(|e| StoreError::Backend(format!("cannot build the etcd HTTP client: {e}")))?;
        let endpoints = endpoints
            .into_iter()
            .map(|e| e.trim_end_matches('/').to_owned())
            .collect();
        Ok(Gateway {
            http,
            endpoints,
            next: AtomicUsize::new(0),
            deadline,
            retry,
        })
    }

    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// POSTs `body` to `path` on one endpoint after another until one answers, retrying with
    /// the policy's backoff until the deadline.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let start = Instant::now();
        let mut attempt = 0u32;
        let mut maybe_applied = false;
        loop {
            attempt += 1;
            let i = self.next.load(Ordering::Relaxed) % self.endpoints.len();
            let url = format!("{}{path}", self.endpoints[i]);
            let failure = match self.http.post(&url).json(body).send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.map_err(|e| CallError {
                        message: format!("etcd {url}: {e}"),
                        maybe_applied: true,
                    })?;
                    let value: Value =
                        serde_json::from_str(&text).unwrap_or_else(|_| json!({"error": text}));
                    if status.is_success() && value.get("error").is_none() {
                        return Ok(value);
                    }
                    let message = value
                        .get("error")
                        .or_else(|| value.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or(&text)
                        .to_owned();
                    // etcd refused the request (bad request, too many ops, no leader): a
                    // leaderless or overloaded cluster may recover; anything else will not.
                    let transient = status.is_server_error()
                        || message.contains("leader")
                        || message.contains("timed out");
                    if !transient {
                        return Err(CallError {
                            message: format!("etcd refused {path}: {message}"),
                            maybe_applied: false,
                        });
                    }
                    maybe_applied |= message.contains("timed out");
                    format!("etcd {url}: {message}")
                }
                Err(e) => {
                    maybe_applied |= !e.is_connect();
                    format!("etcd {url}: {e}")
                }
            };
            // Try the next endpoint; back off once every endpoint has failed in this round.
            self.next.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%failure, attempt, "etcd request failed");
            if start.elapsed() >= self.deadline {
                return Err(CallError {
                    message: format!(
                        "{failure} (gave up after {:?} and {attempt} attempts on {} endpoints)",
                        start.elapsed(),
                        self.endpoints.len()
                    ),
                    maybe_applied,
                });
            }
            if (attempt as usize).is_multiple_of(self.endpoints.len()) {
                let round =
                    u32::try_from((attempt as usize) / self.endpoints.len()).unwrap_or(u32::MAX);
                let delay = self
                    .retry
                    .next_delay(round.min(self.retry.max_attempts.saturating_sub(1)))
                    .unwrap_or(self.retry.max_delay);
                tokio::time::sleep(delay.min(self.deadline.saturating_sub(start.elapsed()))).await;
            }
        }
    }
}
