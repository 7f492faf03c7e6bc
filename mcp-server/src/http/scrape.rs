//! `GET /metrics`: the process's metrics in the Prometheus text format, answered only for a
//! `Host` the MCP endpoint accepts too (the same DNS-rebinding protection as rmcp gives
//! `/mcp`: a page in a browser cannot read them through a name rebound to loopback). The
//! bearer token check wraps this route with the MCP ones.

use std::sync::Arc;

use axum::http::uri::Authority;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::metrics::{Metrics, CONTENT_TYPE};

/// The `/metrics` route over `metrics`, for requests whose Host is in `allowed_hosts`
/// (rmcp's list: empty allows every host).
pub(crate) fn route(metrics: Arc<Metrics>, allowed_hosts: Vec<String>) -> MethodRouter {
    let allowed: Arc<[String]> = allowed_hosts.into();
    axum::routing::get(move |headers: HeaderMap| {
        let metrics = Arc::clone(&metrics);
        let allowed = Arc::clone(&allowed);
        async move { scrape(&metrics, &allowed, &headers).await }
    })
}

async fn scrape(metrics: &Metrics, allowed: &[String], headers: &HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if !host_allowed(host, allowed) {
        tracing::warn!(
            ?host,
            "metrics: refused a request with a disallowed Host header"
        );
        return (
            StatusCode::FORBIDDEN,
            "Forbidden: Host header is not allowed (add it with --allowed-host)\n",
        )
            .into_response();
    }
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        metrics.render().await,
    )
        .into_response()
}

/// Whether `host` (a Host header) names one of `allowed` (names, with a port where one must
/// match), compared as rmcp compares them: brackets dropped, case ignored.
pub(crate) fn host_allowed(host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let Some(host) = host.and_then(|h| Authority::try_from(h.trim()).ok()) else {
        return false;
    };
    let (name, port) = (normalize(host.host()), host.port_u16());
    allowed.iter().any(|a| {
        let a = a.trim();
        let (a_name, a_port) = match Authority::try_from(a) {
            Ok(auth) => (normalize(auth.host()), auth.port_u16()),
            Err(_) => (normalize(a), None),
        };
        a_name == name && a_port.is_none_or(|p| port == Some(p))
    })
}

fn normalize(host: &str) -> String {
    host.trim_matches(['[', ']']).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_must_be_an_allowed_one_with_its_port_if_given() {
        let allowed: Vec<String> = ["localhost", "127.0.0.1", "::1", "Example.com:8443"]
            .map(String::from)
            .into();
        for ok in [
            "localhost:8080",
            "LOCALHOST",
            "127.0.0.1:1234",
            "[::1]:9",
            "example.com:8443",
        ] {
            assert!(host_allowed(Some(ok), &allowed), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "example.com:80",
            "example.com",
            "",
            "a b",
        ] {
            assert!(!host_allowed(Some(bad), &allowed), "{bad}");
        }
        assert!(!host_allowed(None, &allowed));
        assert!(host_allowed(Some("anything"), &[]));
    }
}
