//! The bearer token check: the scheme compared case-insensitively (RFC 9110 §11.1), the
//! token in constant time.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The middleware: passes a request carrying `Authorization: Bearer <token>`, answers 401
/// otherwise.
pub(crate) async fn check_bearer(expected: Arc<str>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given.is_some_and(|g| bearer_matches(g, &expected)) {
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

/// Whether an `Authorization` value is the bearer scheme (any case) with `expected`.
pub(crate) fn bearer_matches(value: &str, expected: &str) -> bool {
    let Some((scheme, token)) = value.trim().split_once(' ') else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer")
        && constant_time_eq(token.trim_start().as_bytes(), expected.as_bytes())
}

/// Compares without stopping at the first difference (the length is not secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_case_insensitive_and_the_token_exact() {
        for ok in [
            "Bearer s3cret",
            "bearer s3cret",
            "BEARER  s3cret",
            " Bearer s3cret ",
        ] {
            assert!(bearer_matches(ok, "s3cret"), "{ok:?}");
        }
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Bearer S3CRET",
            "Basic s3cret",
            "Bearers3cret",
            "s3cret",
            "Bearer",
            "",
        ] {
            assert!(!bearer_matches(bad, "s3cret"), "{bad:?}");
        }
    }
}
