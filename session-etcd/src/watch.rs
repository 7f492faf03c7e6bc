//! Waiting for a key's deletion through the gateway's watch stream (`POST /v3/watch`: one
//! create request, then newline-delimited JSON messages for as long as the request lasts).
//! A lock waiter uses it to try again the moment the holder's key goes (a release, or the
//! holder's lease ending), instead of polling.

use std::time::Instant;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::gateway::{refuses_token, Gateway, Step};
use crate::tls;
use crate::txn::int64;

/// How a wait for a deletion ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Watched {
    /// The key was deleted after the revision given.
    Deleted,
    /// The deadline passed first.
    TimedOut,
    /// The watch could not be set up or ended early; the caller falls back to polling.
    Broken(String),
}

#[derive(Serialize)]
struct WatchRequest {
    create_request: WatchCreateRequest,
}

#[derive(Serialize)]
struct WatchCreateRequest {
    key: String,
    #[serde(with = "int64")]
    start_revision: i64,
}

/// One message of the stream: `{"result": …}` or `{"error": …}`.
#[derive(Deserialize)]
struct WatchMessage {
    result: Option<WatchResponse>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WatchResponse {
    #[serde(default)]
    canceled: bool,
    #[serde(default)]
    cancel_reason: String,
    #[serde(default)]
    events: Vec<WatchEvent>,
}

#[derive(Deserialize)]
struct WatchEvent {
    /// `DELETE`, or absent for a put (proto3 leaves out the zero value `PUT`).
    #[serde(rename = "type", default)]
    kind: String,
}

impl Gateway {
    /// Waits until `key` is deleted at a revision after `after` (the revision at which the
    /// caller saw it exist: a deletion in between is replayed, not missed), or `until`.
    pub(crate) async fn watch_deletion(&self, key: &[u8], after: i64, until: Instant) -> Watched {
        let i = self.current();
        let token = match self.token(i).await {
            Ok(token) => token,
            Err(Step::Final(e)) => return Watched::Broken(e.message),
            Err(Step::Retry(why)) => return Watched::Broken(why),
        };
        let request = WatchRequest {
            create_request: WatchCreateRequest {
                key: base64::engine::general_purpose::STANDARD.encode(key),
                start_revision: after.saturating_add(1),
            },
        };
        let body = match serde_json::to_vec(&request) {
            Ok(body) => body,
            Err(e) => return Watched::Broken(format!("cannot encode the watch: {e}")),
        };
        let remaining = until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Watched::TimedOut;
        }
        let send = self
            .request(i, "/v3/watch", body, token.as_deref())
            .timeout(remaining)
            .send();
        let mut resp = match tokio::time::timeout(remaining, send).await {
            Err(_) => return Watched::TimedOut,
            Ok(Err(e)) if e.is_timeout() => return Watched::TimedOut,
            Ok(Err(e)) => return Watched::Broken(tls::describe(&e)),
            Ok(Ok(resp)) => resp,
        };
        if !resp.status().is_success() {
            return Watched::Broken(format!("the watch was answered {}", resp.status()));
        }
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let remaining = until.saturating_duration_since(Instant::now());
            let chunk = match tokio::time::timeout(remaining, resp.chunk()).await {
                Err(_) => return Watched::TimedOut,
                Ok(Err(e)) if e.is_timeout() => return Watched::TimedOut,
                Ok(Err(e)) => return Watched::Broken(tls::describe(&e)),
                Ok(Ok(None)) => return Watched::Broken("the watch stream ended".into()),
                Ok(Ok(Some(chunk))) => chunk,
            };
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let message: WatchMessage = match serde_json::from_slice(&line) {
                    Ok(m) => m,
                    Err(e) => return Watched::Broken(format!("unreadable watch message: {e}")),
                };
                if let Some(error) = message.error {
                    return Watched::Broken(format!("the watch failed: {error}"));
                }
                let Some(result) = message.result else {
                    continue;
                };
                if result.canceled {
                    if let Some(token) = &token {
                        if refuses_token(None, &result.cancel_reason) {
                            self.forget_token(i, token).await;
                        }
                    }
                    return Watched::Broken(format!(
                        "etcd canceled the watch: {}",
                        result.cancel_reason
                    ));
                }
                if result.events.iter().any(|e| e.kind == "DELETE") {
                    return Watched::Deleted;
                }
            }
        }
    }
}
