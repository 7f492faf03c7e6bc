//! A minimal client of etcd's v3 JSON gateway: endpoint failover, bounded retries, errors
//! classified by their gRPC status code, and a clear account of whether a failed write may
//! have been applied.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use session_core::{RetryPolicy, StoreError};

use crate::config::{EtcdAuth, EtcdConfig};
use crate::tls;

/// A request that failed after its retries: why, and what the caller needs to decide what
/// to do about it.
#[derive(Debug)]
pub(crate) struct CallError {
    pub(crate) message: String,
    /// The gRPC status code etcd answered with, when it answered with one.
    pub(crate) code: Option<GrpcCode>,
    /// The request may have reached etcd and been applied (a timeout or a reset after
    /// sending); a write must be re-read before it is answered.
    pub(crate) maybe_applied: bool,
}

impl From<CallError> for StoreError {
    fn from(e: CallError) -> StoreError {
        StoreError::Backend(e.message)
    }
}

/// The gRPC status codes etcd's errors carry; the gateway puts the number in its error body
/// (`{"error": "...", "message": "...", "code": 14}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrpcCode {
    Canceled,
    Unknown,
    /// A malformed request, and etcd's request limits: too many operations in a txn
    /// (`--max-txn-ops`), a duplicate key in a txn, a request too large.
    InvalidArgument,
    DeadlineExceeded,
    /// A lease that has expired or was revoked (the only "not found" of the calls made here).
    NotFound,
    AlreadyExists,
    PermissionDenied,
    /// Too many requests, or the database is out of space (`--quota-backend-bytes`).
    ResourceExhausted,
    /// Among others auth not enabled, and "not leader" (a member that lost leadership).
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    /// No leader, a leader change, a stopping member, a request that timed out in raft.
    Unavailable,
    DataLoss,
    Unauthenticated,
    /// A code gRPC does not define.
    Other(i64),
}

impl GrpcCode {
    /// The code of the `code` number in a gateway error body.
    pub(crate) fn from_number(code: i64) -> GrpcCode {
        use GrpcCode::*;
        match code {
            1 => Canceled,
            2 => Unknown,
            3 => InvalidArgument,
            4 => DeadlineExceeded,
            5 => NotFound,
            6 => AlreadyExists,
            7 => PermissionDenied,
            8 => ResourceExhausted,
            9 => FailedPrecondition,
            10 => Aborted,
            11 => OutOfRange,
            12 => Unimplemented,
            13 => Internal,
            14 => Unavailable,
            15 => DataLoss,
            16 => Unauthenticated,
            n => Other(n),
        }
    }
}

/// etcd's `ErrGRPCNotLeader` text (code `FailedPrecondition`): another member, or this one
/// once a leader is elected, can serve the request.
const NOT_LEADER: &str = "etcdserver: not leader";
/// The start of etcd's `ErrGRPCTimeout*` texts (code `Unavailable`): the proposal was sent to
/// raft and may still be applied.
const RAFT_TIMEOUT: &str = "etcdserver: request timed out";
/// etcd's `ErrLeaderChanged`: the leader changed while the request was in flight, after it
/// may have been proposed.
const LEADER_CHANGED: &str = "etcdserver: leader changed";

/// What to do about a refused request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Verdict {
    /// Another endpoint, or the same one later, may succeed: retry until the deadline.
    transient: bool,
    /// The request may have been applied although it failed.
    maybe_applied: bool,
}

/// Classifies a refusal by its gRPC code: the codes the gateway answers with a 5xx status
/// (`Unknown`, `DeadlineExceeded`, `Unimplemented`, `Internal`, `Unavailable`, `DataLoss`)
/// and "not leader" are transient (a leaderless or overloaded cluster may recover); only a
/// raft timeout, a leader change during the request, the gateway's deadline and an unknown
/// failure may have been applied. Everything else (bad request, too many ops, lease not
/// found, auth) is final. An answer without a code is not the gateway's (a proxy's page): it
/// is judged by its HTTP status and text.
fn judge(status: StatusCode, code: Option<GrpcCode>, message: &str) -> Verdict {
    use GrpcCode::*;
    let Some(code) = code else {
        return Verdict {
            transient: status.is_server_error()
                || message.contains("leader")
                || message.contains("timed out"),
            maybe_applied: message.contains("timed out"),
        };
    };
    match code {
        Unavailable => Verdict {
            transient: true,
            maybe_applied: message.starts_with(RAFT_TIMEOUT) || message == LEADER_CHANGED,
        },
        // The gateway's own deadline, or a failure it cannot name, may strike after the
        // member proposed the request: the store must find out, not assume it was not applied.
        Unknown | DeadlineExceeded => Verdict {
            transient: true,
            maybe_applied: true,
        },
        Unimplemented | Internal | DataLoss => Verdict {
            transient: true,
            maybe_applied: false,
        },
        FailedPrecondition if message == NOT_LEADER => Verdict {
            transient: true,
            maybe_applied: false,
        },
        _ => Verdict {
            transient: false,
            maybe_applied: false,
        },
    }
}

/// The gateway's error body. A body that is not JSON is an error too (its text the message).
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    /// Present on every error; usually the message, an object for a streaming call's error.
    error: Option<Value>,
    message: Option<Value>,
    code: Option<Value>,
}

/// The endpoints of one cluster, tried in turn (the next one after a failure), over one
/// HTTP client; with auth, one token per endpoint (etcd's simple tokens are per member).
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) http: reqwest::Client,
    endpoints: Vec<String>,
    next: AtomicUsize,
    deadline: Duration,
    retry: RetryPolicy,
    pub(crate) auth: Option<EtcdAuth>,
    /// Each endpoint's token, when `auth` is set: fetched on first use, dropped when the
    /// member answers that it is no longer valid.
    pub(crate) tokens: Vec<tokio::sync::Mutex<Option<String>>>,
    /// The store's key prefix, named in permission errors.
    prefix: String,
    /// Whether a client certificate is configured (named in the gateway's CommonName error).
    client_cert: bool,
}

/// The gateway's answer to a client certificate with a CommonName while auth is on.
pub(crate) const GATEWAY_CN: &str = "CommonName of client sending a request against gateway";

/// An answer that failed for a reason another try of the same request cannot cure, or one
/// worth another try, as judged before the request itself was sent.
pub(crate) enum Step {
    Final(CallError),
    Retry(String),
}

impl Gateway {
    pub(crate) fn new(endpoints: Vec<String>, config: &EtcdConfig) -> Result<Gateway, StoreError> {
        if endpoints.is_empty() {
            return Err(StoreError::Invalid(
                "no etcd endpoints given; pass e.g. http://127.0.0.1:2379".into(),
            ));
        }
        for e in &endpoints {
            if !e.starts_with("http://") && !e.starts_with("https://") {
                return Err(StoreError::Invalid(format!(
                    "etcd endpoint {e:?} must be an http:// or https:// URL"
                )));
            }
        }
        let http = tls::client(&endpoints, &config.tls, config.request_timeout)?;
        let endpoints: Vec<String> = endpoints
            .into_iter()
            .map(|e| e.trim_end_matches('/').to_owned())
            .collect();
        Ok(Gateway {
            http,
            tokens: endpoints
                .iter()
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            endpoints,
            next: AtomicUsize::new(0),
            deadline: config.deadline,
            retry: config.retry.clone(),
            auth: config.auth.clone(),
            prefix: config.prefix.clone(),
            client_cert: config.tls.cert.is_some(),
        })
    }

    pub(crate) fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The endpoint the next request goes to.
    pub(crate) fn current(&self) -> usize {
        self.next.load(Ordering::Relaxed) % self.endpoints.len()
    }

    /// A POST of `body` to `path` at endpoint `i`, with its token when auth is on.
    pub(crate) fn request(
        &self,
        i: usize,
        path: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(format!("{}{path}", self.endpoints[i]))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.header(reqwest::header::AUTHORIZATION, token);
        }
        request
    }

    /// POSTs `body` (serialized once) to `path` on one endpoint after another until one
    /// answers, retrying with the policy's backoff until the deadline, and reads the answer
    /// as `R`. An answer that does not read as `R` (a missing or unparsable number where one
    /// is required) fails as possibly applied: etcd did answer it. With auth, a refused
    /// token is exchanged for a new one and the request sent again at once.
    pub(crate) async fn post<B, R>(&self, path: &str, body: &B) -> Result<R, CallError>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let body = serde_json::to_vec(body).map_err(|e| CallError {
            message: format!("cannot encode the etcd request {path}: {e}"),
            code: None,
            maybe_applied: false,
        })?;
        let start = Instant::now();
        let mut attempt = 0u32;
        let mut reauths = 0u32;
        let mut maybe_applied = false;
        loop {
            attempt += 1;
            let i = self.current();
            let url = format!("{}{path}", self.endpoints[i]);
            let (failure, code) = match self.token(i).await {
                Err(Step::Final(e)) => return Err(e),
                Err(Step::Retry(why)) => (why, None),
                Ok(token) => match self
                    .request(i, path, body.clone(), token.as_deref())
                    .send()
                    .await
                {
                    Ok(resp) => {
                        let status = resp.status();
                        let text = resp.text().await.map_err(|e| CallError {
                            message: format!("etcd {url}: {}", tls::describe(&e)),
                            code: None,
                            maybe_applied: true,
                        })?;
                        let (code, message) = match read_answer(status, &text) {
                            Ok(()) => {
                                return serde_json::from_str(&text).map_err(|e| CallError {
                                    message: format!(
                                        "etcd {url} answered what this adapter cannot read ({e}): {text}"
                                    ),
                                    code: None,
                                    maybe_applied: true,
                                })
                            }
                            Err(refusal) => refusal,
                        };
                        if let Some(token) = &token {
                            if refuses_token(code, &message) && reauths < 3 {
                                // Expired, or revoked by a change of the auth store: a new
                                // token, and the same request again (it was not applied).
                                reauths += 1;
                                self.forget_token(i, token).await;
                                continue;
                            }
                        }
                        if let Some(final_error) = self.final_refusal(path, status, code, &message)
                        {
                            return Err(final_error);
                        }
                        let verdict = judge(status, code, &message);
                        if !verdict.transient {
                            return Err(CallError {
                                message: format!("etcd refused {path}: {message}"),
                                code,
                                maybe_applied: false,
                            });
                        }
                        maybe_applied |= verdict.maybe_applied;
                        (format!("etcd {url}: {message}"), code)
                    }
                    Err(e) => {
                        let text = tls::describe(&e);
                        if let Some(hint) = tls::handshake_hint(&text) {
                            return Err(CallError {
                                message: format!("etcd {url}: {text}: {hint}"),
                                code: None,
                                maybe_applied: false,
                            });
                        }
                        maybe_applied |= !e.is_connect();
                        (format!("etcd {url}: {text}"), None)
                    }
                },
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
                    code,
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

    /// The refusals whose cause lies in this client's setup, told with what to change:
    /// missing credentials, a role without the prefix, a client certificate with a CN.
    pub(crate) fn final_refusal(
        &self,
        path: &str,
        status: StatusCode,
        code: Option<GrpcCode>,
        message: &str,
    ) -> Option<CallError> {
        let hint = if message.contains(GATEWAY_CN) {
            format!(
                "etcd answers {status} to a client certificate with a CommonName while its auth is on{}: use a client certificate without a CN (or none) together with --etcd-user",
                if self.client_cert { " (--etcd-cert has one)" } else { "" }
            )
        } else if code == Some(GrpcCode::PermissionDenied) {
            let user = self.auth.as_ref().map_or("(none)", |a| a.user.as_str());
            format!(
                "etcd user {user:?} lacks permission: its role needs read and write on the key prefix {:?} (etcdctl role grant-permission ROLE --prefix=true readwrite {})",
                self.prefix, self.prefix
            )
        } else if self.auth.is_none() && message.contains("user name is empty") {
            "the cluster has authentication enabled: pass --etcd-user (MCP_ETCD_USER) and the password (--etcd-password-file or MCP_ETCD_PASSWORD)".to_owned()
        } else {
            return None;
        };
        Some(CallError {
            message: format!("etcd refused {path}: {message}: {hint}"),
            code,
            maybe_applied: false,
        })
    }
}

/// `Ok` for a successful answer, else the refusal's gRPC code and message.
pub(crate) fn read_answer(
    status: StatusCode,
    text: &str,
) -> Result<(), (Option<GrpcCode>, String)> {
    let error = serde_json::from_str::<ErrorBody>(text).unwrap_or(ErrorBody {
        error: Some(Value::String(text.trim().to_owned())),
        ..ErrorBody::default()
    });
    if status.is_success() && error.error.is_none() {
        return Ok(());
    }
    let message = error
        .error
        .as_ref()
        .and_then(Value::as_str)
        .or_else(|| error.message.as_ref().and_then(Value::as_str))
        .unwrap_or(text)
        .to_owned();
    let code = error
        .code
        .as_ref()
        .and_then(Value::as_i64)
        .map(GrpcCode::from_number);
    Err((code, message))
}

/// Whether a refusal says the token sent is no longer good: expired (`invalid auth token`)
/// or issued before a change of users or roles (`revision of auth store is old`).
pub(crate) fn refuses_token(code: Option<GrpcCode>, message: &str) -> bool {
    code == Some(GrpcCode::Unauthenticated)
        || message.contains("invalid auth token")
        || message.contains("auth store is old")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: u16, code: Option<i64>, message: &str, transient: bool, maybe: bool) {
        let status = StatusCode::from_u16(status).unwrap();
        let verdict = judge(status, code.map(GrpcCode::from_number), message);
        let expected = Verdict {
            transient,
            maybe_applied: maybe,
        };
        assert_eq!(verdict, expected, "{status} {code:?} {message:?}");
    }

    #[test]
    fn refusals_are_judged_by_their_grpc_code() {
        // Final: the request is wrong or cannot be served as it is.
        check(
            400,
            Some(3),
            "etcdserver: too many operations in txn request",
            false,
            false,
        );
        check(
            400,
            Some(3),
            "etcdserver: duplicate key given in txn request",
            false,
            false,
        );
        check(
            404,
            Some(5),
            "etcdserver: requested lease not found",
            false,
            false,
        );
        check(
            429,
            Some(8),
            "etcdserver: mvcc: database space exceeded",
            false,
            false,
        );
        check(
            412,
            Some(9),
            "etcdserver: authentication is not enabled",
            false,
            false,
        );
        check(
            401,
            Some(16),
            "etcdserver: invalid auth token",
            false,
            false,
        );
        check(403, Some(7), "etcdserver: permission denied", false, false);
        // Transient: another member, or the cluster a moment later, may serve it.
        check(503, Some(14), "etcdserver: no leader", true, false);
        check(503, Some(14), "etcdserver: leader changed", true, true);
        check(412, Some(9), "etcdserver: not leader", true, false);
        check(504, Some(4), "context deadline exceeded", true, true);
        check(500, Some(13), "internal error", true, false);
        // A raft timeout may still be applied.
        check(503, Some(14), "etcdserver: request timed out", true, true);
        let lost = "etcdserver: request timed out, possibly due to connection lost";
        check(503, Some(14), lost, true, true);
    }

    #[test]
    fn an_answer_without_a_code_is_judged_by_status_and_text() {
        check(502, None, "Bad Gateway", true, false);
        check(200, None, "upstream timed out", true, true);
        check(404, None, "Not Found", false, false);
    }
}
