//! The accept loop: one hyper HTTP/1 connection per client with a header-read timeout and
//! an idle timeout (which `axum::serve` lacks), and a graceful shutdown that lets the calls
//! in flight finish.
//!
//! A connection is *busy* while a request on it is in flight (from its parsed head until
//! its response body ended or was dropped). When it is not busy:
//! - from its opening, or from the first byte of its next request, the request's headers
//!   must arrive within the header timeout;
//! - after a response, with no byte of a next request, it is closed after the idle timeout.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::Method;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower_service::Service;

/// The client's address, put in every request's extensions (the MCP session share).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) header: Duration,
    pub(crate) idle: Duration,
}

/// How long a shutdown waits for the calls in flight before it cancels them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// How long a shutdown then waits for connections to close.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets the
/// requests in flight (other than event streams, GET) finish within a grace period, calls
/// `stop_streams` (which ends rmcp's sessions and streams) and waits for connections to close.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
    stop_streams: impl FnOnce(),
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(connection(stream, peer, router.clone(), timeouts, Arc::clone(&calls), stop_rx.clone()));
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while calls.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = calls.load(Ordering::Acquire);
    if left > 0 {
        tracing::warn!(
            calls = left,
            "calls still running after the shutdown grace: cancelling them"
        );
    }
    stop_streams();
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    timeouts: Timeouts,
    calls: Arc<AtomicUsize>,
    mut stop: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true); // tasks-mcp: no Nagle delay on small SSE writes (~40 ms p99)
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: Arc::clone(&activity),
    });
    let on_request = Arc::clone(&activity);
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let counted = (req.method() != Method::GET).then(|| Arc::clone(&calls));
        let guard = InFlight::start(Arc::clone(&on_request), counted);
        let mut req: Request = req.map(Body::new);
        req.extensions_mut().insert(PeerAddr(peer));
        let mut router = router.clone();
        async move {
            let response = match router.call(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok::<_, Infallible>(response.map(|inner| {
                Body::new(Tracked {
                    inner,
                    _guard: guard,
                })
            }))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let tick = (timeouts.header.min(timeouts.idle) / 8).max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval(tick);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stopping = false;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = ticks.tick() => {
                if let Some(why) = activity.expired(timeouts) {
                    tracing::debug!(%peer, why, "closing the connection");
                    return;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What the timeouts look at, per connection.
#[derive(Debug)]
struct Activity(Mutex<ActivityState>);

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    /// When the connection last became not busy.
    idle_since: Instant,
    /// When the request whose head is awaited started: the opening, or its first byte.
    head_since: Option<Instant>,
}

impl Activity {
    fn new() -> Activity {
        let now = Instant::now();
        Activity(Mutex::new(ActivityState {
            in_flight: 0,
            idle_since: now,
            head_since: Some(now),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        // The state stays consistent whatever panicked while holding it.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bytes_read(&self) {
        self.bytes_read_at(Instant::now());
    }

    fn bytes_read_at(&self, now: Instant) {
        let mut s = self.state();
        if s.in_flight == 0 && s.head_since.is_none() {
            s.head_since = Some(now);
        }
    }

    fn expired(&self, t: Timeouts) -> Option<&'static str> {
        self.expired_at(Instant::now(), t)
    }

    fn expired_at(&self, now: Instant, t: Timeouts) -> Option<&'static str> {
        let s = self.state();
        if s.in_flight > 0 {
            return None;
        }
        let since = |at: Instant| now.saturating_duration_since(at);
        match s.head_since {
            Some(at) => (since(at) >= t.header).then_some("request headers not received in time"),
            None => (since(s.idle_since) >= t.idle).then_some("idle"),
        }
    }

    fn request_started(&self) {
        let mut s = self.state();
        s.in_flight += 1;
        s.head_since = None;
    }

    fn request_ended_at(&self, now: Instant) {
        let mut s = self.state();
        s.in_flight = s.in_flight.saturating_sub(1);
        if s.in_flight == 0 {
            s.idle_since = now;
        }
    }
}

/// A request in flight, from its parsed head until its response body is done or dropped.
#[derive(Debug)]
struct InFlight {
    activity: Arc<Activity>,
    calls: Option<Arc<AtomicUsize>>,
}

impl InFlight {
    fn start(activity: Arc<Activity>, calls: Option<Arc<AtomicUsize>>) -> InFlight {
        activity.request_started();
        if let Some(c) = &calls {
            c.fetch_add(1, Ordering::AcqRel);
        }
        InFlight { activity, calls }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(c) = &self.calls {
            c.fetch_sub(1, Ordering::AcqRel);
        }
        self.activity.request_ended_at(Instant::now());
    }
}

/// A response body that keeps its request in flight until it ends or is dropped.
struct Tracked {
    inner: Body,
    _guard: InFlight,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The TCP stream, noting when bytes arrive (the start of a request's head).
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(30),
        idle: Duration::from_secs(60),
    };

    fn at(activity: &Activity, start: Instant, secs: u64) -> Option<&'static str> {
        activity.expired_at(start + Duration::from_secs(secs), T)
    }

    #[test]
    fn a_silent_new_connection_has_the_header_timeout() {
        let a = Activity::new();
        let start = a.state().idle_since;
        assert_eq!(at(&a, start, 29), None);
        assert_eq!(
            at(&a, start, 30),
            Some("request headers not received in time")
        );
    }

    #[test]
    fn after_a_response_the_idle_timeout_runs_until_a_next_request_starts() {
        let a = Activity::new();
        let start = a.state().idle_since;
        a.request_started();
        // In flight: never expired, however long.
        assert_eq!(at(&a, start, 3600), None);
        a.request_ended_at(start + Duration::from_secs(10));
        assert_eq!(
            at(&a, start, 45),
            None,
            "the header timer must not run while idle"
        );
        assert_eq!(at(&a, start, 69), None);
        assert_eq!(at(&a, start, 70), Some("idle"));
        // The first byte of a next request starts its header timer.
        a.bytes_read_at(start + Duration::from_secs(50));
        assert_eq!(at(&a, start, 79), None);
        assert_eq!(
            at(&a, start, 80),
            Some("request headers not received in time")
        );
        // Its head parsed: in flight again.
        a.request_started();
        assert_eq!(at(&a, start, 500), None);
    }

    #[test]
    fn bytes_of_a_request_in_flight_start_no_header_timer() {
        let a = Activity::new();
        let start = a.state().idle_since;
        a.request_started();
        a.bytes_read_at(start + Duration::from_secs(1));
        a.request_ended_at(start + Duration::from_secs(2));
        assert_eq!(at(&a, start, 40), None);
        assert_eq!(at(&a, start, 62), Some("idle"));
    }
}
