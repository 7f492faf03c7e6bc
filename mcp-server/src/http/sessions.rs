//! MCP sessions on the HTTP transport: a cap on open sessions with a share per client
//! address, checked before rmcp creates anything (a refusal costs no memory), idle sessions
//! expiring (rmcp's `keep_alive`), and a call whose HTTP response stream is dropped (the
//! client went away) cancelled as if the client had sent `notifications/cancelled`.
//! With shared sessions (`--store etcd`, `session_store.rs`) a session created by another
//! replica is restored here on its first request, counted by the cap like one created here,
//! and a copy whose session was closed elsewhere is dropped.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_core::Stream;
use rmcp::model::{
    CancelledNotification, CancelledNotificationParam, ClientJsonRpcMessage, ClientNotification,
    RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};

use super::conn::PeerAddr;
use super::session_store::SharedSessions;

const SESSION_HEADER: &str = "mcp-session-id";
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// The open sessions, by the client address that created them.
#[derive(Debug)]
pub(crate) struct Limits {
    max: usize,
    per_client: usize,
    idle: Duration,
    state: Mutex<LimitState>,
}

#[derive(Debug, Default)]
struct LimitState {
    sessions: HashMap<SessionId, IpAddr>,
    /// Sessions and reservations per address.
    by_client: HashMap<IpAddr, usize>,
    /// `initialize` requests admitted whose session is not known yet, and requests for a
    /// session of another replica that may restore it here.
    reserved: usize,
    /// The sessions a reserved request may be restoring (one reservation per session).
    restoring: std::collections::HashSet<SessionId>,
    /// Refusals since the last log line about them, and when that was.
    refused: u64,
    last_warned: Option<Instant>,
}

impl LimitState {
    fn release(&mut self, ip: IpAddr) {
        if let Some(n) = self.by_client.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_client.remove(&ip);
            }
        }
    }
}

/// Why a new session was refused.
enum Refusal {
    Full { max: usize, idle: Duration },
    ClientFull { ip: IpAddr, max: usize },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Refusal::Full { max, idle } => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the server holds its maximum of {max} open MCP sessions \
                     (--max-mcp-sessions): close unused ones (HTTP DELETE with their \
                     Mcp-Session-Id) or retry once idle ones expire (after {})\n",
                    humanize(idle)
                ),
            ),
            Refusal::ClientFull { ip, max } => (
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "the client address {ip} holds its maximum of {max} open MCP sessions \
                     (--max-mcp-sessions-per-client): close unused ones (HTTP DELETE with \
                     their Mcp-Session-Id) or reuse one\n"
                ),
            ),
        };
        let mut response = (status, text).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        response
    }
}

fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 && secs.is_multiple_of(60) {
        format!("{} min", secs / 60)
    } else if secs > 0 {
        format!("{secs} s")
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// An admitted `initialize`: its place is given back unless a session took it.
struct Reservation<'a> {
    limits: &'a Limits,
    ip: IpAddr,
    taken: bool,
    /// The session a restore would bring here.
    restoring: Option<SessionId>,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut s = self.limits.state();
        s.reserved = s.reserved.saturating_sub(1);
        if let Some(id) = &self.restoring {
            s.restoring.remove(id);
        }
        if !self.taken {
            s.release(self.ip);
        }
    }
}

impl Limits {
    pub(crate) fn new(max: usize, per_client: usize, idle: Duration) -> Limits {
        Limits {
            max,
            per_client,
            idle,
            state: Mutex::new(LimitState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reserve(&self, ip: IpAddr) -> Result<Reservation<'_>, Refusal> {
        let mut s = self.state();
        if s.sessions.len() + s.reserved >= self.max {
            return Err(Refusal::Full {
                max: self.max,
                idle: self.idle,
            });
        }
        let mine = s.by_client.get(&ip).copied().unwrap_or(0);
        if mine >= self.per_client {
            return Err(Refusal::ClientFull {
                ip,
                max: self.per_client,
            });
        }
        s.reserved += 1;
        *s.by_client.entry(ip).or_insert(0) += 1;
        Ok(Reservation {
            limits: self,
            ip,
            taken: false,
            restoring: None,
        })
    }

    /// A place for the session `id` of another replica, restored here by this request:
    /// `None` when another request already holds one for it (rmcp restores a session once).
    fn reserve_restore(
        &self,
        ip: IpAddr,
        id: &SessionId,
    ) -> Result<Option<Reservation<'_>>, Refusal> {
        if self.state().restoring.contains(id) {
            return Ok(None);
        }
        let mut reservation = self.reserve(ip)?;
        let mut s = self.state();
        if !s.restoring.insert(id.clone()) {
            // Another request got there between the two locks: give this place back.
            drop(s);
            drop(reservation);
            return Ok(None);
        }
        reservation.restoring = Some(id.clone());
        Ok(Some(reservation))
    }

    fn take(&self, reservation: &mut Reservation<'_>, id: SessionId) {
        let mut s = self.state();
        if s.sessions.insert(id, reservation.ip).is_none() {
            reservation.taken = true;
        }
    }

    /// Logs refusals at most once a minute (a flood of them must not flood the log).
    fn note_refusal(&self, ip: IpAddr) {
        let mut s = self.state();
        s.refused += 1;
        let due = s
            .last_warned
            .is_none_or(|at| at.elapsed() >= REFUSAL_LOG_EVERY);
        if due {
            tracing::warn!(
                %ip,
                refused = s.refused,
                open = s.sessions.len(),
                "new MCP sessions refused at the cap (count since the last such line)"
            );
            s.refused = 0;
            s.last_warned = Some(Instant::now());
        }
    }

    fn forget(&self, id: &SessionId) {
        let mut s = self.state();
        if let Some(ip) = s.sessions.remove(id) {
            s.release(ip);
        }
    }

    /// Open sessions (for tests and logs).
    #[cfg(test)]
    fn open(&self) -> usize {
        self.state().sessions.len()
    }
}

/// The middleware before rmcp's service: an `initialize` (a POST without a session id)
/// over the cap is refused before rmcp creates a session.
pub(crate) async fn admit(manager: Arc<CappedSessions>, req: Request, next: Next) -> Response {
    let ip = req
        .extensions()
        .get::<PeerAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip());
    let limits = &manager.limits;
    if let Some(id) = req.headers().get(SESSION_HEADER) {
        let id = id.to_str().ok().map(|id| SessionId::from(id.to_owned()));
        return match id {
            Some(id) if manager.shared.is_some() && req.method() != Method::DELETE => {
                admit_restore(&manager, ip, id, req, next).await
            }
            _ => next.run(req).await,
        };
    }
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let mut reservation = match limits.reserve(ip) {
        Ok(r) => r,
        Err(refusal) => {
            limits.note_refusal(ip);
            return refusal.into_response();
        }
    };
    let response = next.run(req).await;
    let created = response
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|id| SessionId::from(id.to_owned()));
    if let Some(id) = created {
        limits.take(&mut reservation, id.clone());
        // The session may have ended before it was recorded: its close found nothing.
        if !manager.inner.has_session(&id).await.unwrap_or(false) {
            limits.forget(&id);
        }
    }
    response
}

/// A request naming a session this replica does not hold may restore it from the shared
/// store: it needs a place under the cap first, which the restored session then takes.
async fn admit_restore(
    manager: &CappedSessions,
    ip: IpAddr,
    id: SessionId,
    req: Request,
    next: Next,
) -> Response {
    if manager.inner.has_session(&id).await.unwrap_or(false) {
        return next.run(req).await;
    }
    let limits = &manager.limits;
    let mut reservation = match limits.reserve_restore(ip, &id) {
        Ok(r) => r,
        Err(refusal) => {
            limits.note_refusal(ip);
            return refusal.into_response();
        }
    };
    let response = next.run(req).await;
    if let Some(reservation) = reservation.as_mut() {
        if manager.inner.has_session(&id).await.unwrap_or(false) {
            limits.take(reservation, id.clone());
            if !manager.inner.has_session(&id).await.unwrap_or(false) {
                limits.forget(&id);
            }
        }
    }
    response
}

/// rmcp's in-memory session manager, counted by [`Limits`], cancelling a call whose
/// response stream is dropped before it ended.
#[derive(Debug)]
pub(crate) struct CappedSessions {
    inner: Arc<LocalSessionManager>,
    limits: Limits,
    /// The sessions of every replica, when the store is shared (`--store etcd`).
    shared: Option<Arc<SharedSessions>>,
}

impl CappedSessions {
    pub(crate) fn new(limits: Limits, shared: Option<Arc<SharedSessions>>) -> CappedSessions {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(limits.idle);
        CappedSessions {
            inner: Arc::new(inner),
            limits,
            shared,
        }
    }
}

impl SessionManager for CappedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        let here = self.inner.has_session(id).await?;
        let Some(shared) = self.shared.as_ref().filter(|_| here) else {
            return Ok(here);
        };
        match shared.check(id).await {
            Ok(true) => Ok(true),
            Ok(false) => {
                // Closed on another replica (DELETE) or expired: this copy ends too, and
                // rmcp answers 404 once the store has nothing to restore.
                tracing::info!(session = %id, "MCP session closed elsewhere: dropping this copy");
                self.close_session(id).await?;
                Ok(false)
            }
            Err(e) => {
                // etcd did not answer: serve the copy held here rather than fail the
                // request for a check; the call's own store access reports the outage.
                tracing::warn!(session = %id, error = %e, "cannot check the shared MCP session");
                Ok(true)
            }
        }
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let closed = self.inner.close_session(id).await;
        self.limits.forget(id);
        if let Some(shared) = &self.shared {
            shared.forget(id);
        }
        closed
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let request = match &message {
            ClientJsonRpcMessage::Request(r) => Some(r.id.clone()),
            _ => None,
        };
        let stream = self.inner.create_stream(id, message).await?;
        Ok(CancelOnDrop {
            inner: Box::pin(stream),
            pending: request.map(|request| Pending {
                manager: Arc::clone(&self.inner),
                session: id.clone(),
                request,
            }),
        })
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        // rmcp asks only with a session store configured; `admit` reserved the place.
        if self.shared.is_none() {
            return Ok(RestoreOutcome::NotSupported);
        }
        tracing::info!(session = %id, "restoring an MCP session of another replica");
        self.inner.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}

/// The call to cancel if its stream goes away first.
struct Pending {
    manager: Arc<LocalSessionManager>,
    session: SessionId,
    request: RequestId,
}

/// A request's response stream; dropped before its end (the HTTP client disconnected), it
/// tells the session the request is cancelled, so the tool call future is dropped and the
/// session lock released at once rather than when the step ends.
struct CancelOnDrop<S> {
    inner: Pin<Box<S>>,
    pending: Option<Pending>,
}

impl<S: Stream> Stream for CancelOnDrop<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        if matches!(polled, Poll::Ready(None)) {
            // Ended: the response was sent; nothing to cancel.
            self.pending = None;
        }
        polled
    }
}

impl<S> Drop for CancelOnDrop<S> {
    fn drop(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            tracing::info!(request = %p.request, "the HTTP client went away: cancelling its call");
            let cancel = ClientNotification::from(CancelledNotification::new(
                CancelledNotificationParam::new(
                    Some(p.request),
                    Some("the HTTP client disconnected".into()),
                ),
            ));
            // A session already gone has nothing left to cancel.
            let _ = p
                .manager
                .accept_message(&p.session, ClientJsonRpcMessage::notification(cancel))
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_and_the_share_count_reservations_and_sessions() {
        let limits = Limits::new(3, 2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut r1 = limits.reserve(a).ok().unwrap();
        limits.take(&mut r1, SessionId::from("s1".to_owned()));
        drop(r1);
        let r2 = limits.reserve(a).ok().unwrap();
        assert!(matches!(limits.reserve(a), Err(Refusal::ClientFull { .. })));
        let mut r3 = limits.reserve(b).ok().unwrap();
        assert!(matches!(limits.reserve(b), Err(Refusal::Full { .. })));
        // A reservation no session took gives its place back.
        drop(r2);
        limits.take(&mut r3, SessionId::from("s3".to_owned()));
        drop(r3);
        assert_eq!(limits.open(), 2);
        let r4 = limits.reserve(a).ok().unwrap();
        drop(r4);
        limits.forget(&SessionId::from("s1".to_owned()));
        limits.forget(&SessionId::from("s1".to_owned()));
        assert_eq!(limits.open(), 1);
        assert_eq!(limits.state().by_client.get(&a), None);
        assert_eq!(limits.state().by_client.get(&b), Some(&1));
    }

    #[test]
    fn a_restore_takes_one_place_per_session_however_many_requests_ask() {
        let limits = Limits::new(2, 1, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = SessionId::from("s1".to_owned());
        let mut first = limits.reserve_restore(a, &s1).ok().unwrap().unwrap();
        // Ten requests of one session at once: one place, not ten (nor a per-client refusal).
        for _ in 0..10 {
            assert!(limits.reserve_restore(a, &s1).ok().unwrap().is_none());
        }
        let s2 = SessionId::from("s2".to_owned());
        assert!(matches!(
            limits.reserve_restore(a, &s2),
            Err(Refusal::ClientFull { .. })
        ));
        let other = limits.reserve_restore(b, &s2).ok().unwrap().unwrap();
        let s3 = SessionId::from("s3".to_owned());
        assert!(matches!(
            limits.reserve_restore(b, &s3),
            Err(Refusal::Full { .. })
        ));
        limits.take(&mut first, s1.clone());
        drop(first);
        // A restore that found nothing gives its place back; the restored one keeps its own.
        drop(other);
        assert_eq!(limits.open(), 1);
        assert!(limits.state().restoring.is_empty());
        assert!(limits.reserve_restore(b, &s2).ok().unwrap().is_some());
    }
}
