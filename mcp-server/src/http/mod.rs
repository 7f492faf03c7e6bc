//! The streamable HTTP transport: rmcp's service behind axum on our own accept loop
//! (`conn.rs`: header-read and idle timeouts, graceful shutdown), loopback by default,
//! rmcp's Host and Origin checks, an optional bearer token (`auth.rs`), and capped,
//! expiring MCP sessions whose dropped calls are cancelled (`sessions.rs`). `options.rs`
//! resolves the flags and refuses a public address without a token. `GET /metrics`
//! (`scrape.rs`) serves the process's metrics in the Prometheus text format, behind the same
//! token and Host check. With `--store etcd` legacy MCP sessions are shared by every replica
//! (`session_store.rs`).

mod auth;
mod conn;
mod options;
mod scrape;
mod session_store;
mod sessions;

use std::sync::Arc;

use anyhow::Context;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

pub(crate) use options::HttpOptions;
pub(crate) use session_store::SharedSessions;

use crate::handler::Handler;
use crate::metrics::Metrics;

/// Serves MCP at `http://{listen}/mcp`, and `metrics` at `/metrics`, until `shutdown`
/// resolves.
pub(crate) async fn serve(
    handler: Handler,
    metrics: Arc<Metrics>,
    options: HttpOptions,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut config = StreamableHttpServerConfig::default()
        .with_allowed_origins(options.allowed_origins.clone())
        .enforce_origin_validation();
    if !options.allowed_hosts.is_empty() {
        let mut hosts = config.allowed_hosts.clone();
        hosts.extend(options.allowed_hosts.iter().cloned());
        config = config.with_allowed_hosts(hosts);
    }
    if let Some(shared) = &options.shared_sessions {
        config.session_store = Some(Arc::clone(shared) as _);
    }
    let cancel = config.cancellation_token.clone();
    let allowed_hosts = config.allowed_hosts.clone();
    let manager = Arc::new(sessions::CappedSessions::new(
        sessions::Limits::new(
            options.max_sessions,
            options.max_sessions_per_client,
            options.session_idle,
        ),
        options.shared_sessions.clone(),
    ));
    let service =
        StreamableHttpService::new(move || Ok(handler.clone()), Arc::clone(&manager), config);
    let admit = Arc::clone(&manager);
    let mut router =
        axum::Router::new()
            .nest_service("/mcp", service)
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    sessions::admit(Arc::clone(&admit), req, next)
                },
            ));
    // Beside the MCP routes, outside the session admission (a scrape opens no MCP session),
    // inside the token check below.
    router = router.route("/metrics", scrape::route(metrics, allowed_hosts));
    // Added last, so it runs first: no session is counted for a client without the token.
    if let Some(token) = &options.auth_token {
        let expected: Arc<str> = Arc::from(token.as_str());
        router = router.layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                auth::check_bearer(Arc::clone(&expected), req, next)
            },
        ));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let local = listener.local_addr()?;
    // The bound address goes to stderr so a test or a script can find an ephemeral port.
    eprintln!("container-kit-mcp: listening on http://{local}/mcp");
    eprintln!("container-kit-mcp: metrics on http://{local}/metrics");
    tracing::info!(
        %local,
        header_timeout = ?options.header_timeout,
        idle_timeout = ?options.idle_timeout,
        max_mcp_sessions = options.max_sessions,
        per_client = options.max_sessions_per_client,
        "streamable HTTP transport ready"
    );
    let timeouts = conn::Timeouts {
        header: options.header_timeout,
        idle: options.idle_timeout,
    };
    conn::serve(listener, router, timeouts, shutdown, move || {
        cancel.cancel()
    })
    .await;
    Ok(())
}
