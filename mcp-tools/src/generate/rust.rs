//! The Rust Dockerfile, from the analysis's facts.

use super::{render, template};
use crate::analyze::AnalyzeResult;

/// The Rust Dockerfile for `a`, exposing `port`.
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let name = if a.app_name.is_empty() {
        "app"
    } else {
        &a.app_name
    };
    render(template::RUST, &[("name", name), ("port", port)])
}
