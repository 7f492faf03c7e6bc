//! The Go Dockerfile, from the analysis's facts.

use super::{render, template};
use crate::analyze::AnalyzeResult;

/// The Go Dockerfile for `a`, exposing `port`.
pub(super) fn dockerfile(_a: &AnalyzeResult, port: &str) -> String {
    render(template::GO, &[("port", port)])
}
