//! The Java (Maven or Gradle) Dockerfile, from the analysis's facts.

use super::{render, template};
use crate::analyze::AnalyzeResult;

/// The Java Dockerfile for `a`, exposing `port`.
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let t = if a.build_tool == "gradle" {
        template::GRADLE
    } else {
        template::MAVEN
    };
    render(t, &[("build", &a.build_command), ("port", port)])
}
