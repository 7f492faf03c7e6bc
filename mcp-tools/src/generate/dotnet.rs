//! The .NET Dockerfile, from the analysis's facts.

use super::{render, template};
use crate::analyze::AnalyzeResult;

/// The .NET Dockerfile for `a`, exposing `port`.
pub(super) fn dotnet_dockerfile(a: &AnalyzeResult, port: &str) -> String {
    render(template::CSHARP, &[("name", &a.app_name), ("port", port)])
}
