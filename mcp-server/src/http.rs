//! The streamable HTTP transport: rmcp's service behind axum, loopback by default, rmcp's
//! Host check kept, and an optional bearer token.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::handler::Handler;

/// Serves MCP at `http://{listen}/mcp` until `shutdown` resolves.
pub(crate) async fn serve(
    handler: Handler,
    listen: SocketAddr,
    auth_token: Option<String>,
    extra_hosts: Vec<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let mut config = StreamableHttpServerConfig::default();
    if !extra_hosts.is_empty() {
        let mut hosts = config.allowed_hosts.clone();
        hosts.extend(extra_hosts);
        config = config.with_allowed_hosts(hosts);
    }
    let cancel = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if let Some(token) = auth_token.filter(|t| !t.is_empty()) {
        let expected: Arc<str> = Arc::from(format!("Bearer {token}"));
        router = router.layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let expected = Arc::clone(&expected);
                async move { check_bearer(&expected, req, next).await }
            },
        ));
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    if !local.ip().is_loopback() {
        tracing::warn!(%local, "listening beyond loopback: set --auth-token and --allowed-host");
    }
    // The bound address goes to stderr so a test or a script can find an ephemeral port.
    eprintln!("container-kit-mcp: listening on http://{local}/mcp");
    tracing::info!(%local, "streamable HTTP transport ready");
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown.await;
            cancel.cancel();
        })
        .await
        .context("the HTTP server failed")
}

async fn check_bearer(expected: &str, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "missing or wrong bearer token\n",
        )
            .into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
