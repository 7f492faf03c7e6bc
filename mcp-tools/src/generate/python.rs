//! The Python Dockerfile, from the analysis's facts.

use super::{exec_form, render, template};
use crate::analyze::AnalyzeResult;

/// The Python Dockerfile for `a`, exposing `port`.
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    render(
        template::PYTHON,
        &[
            ("build", &a.build_command),
            ("port", port),
            ("cmd", &exec_form(&a.start_command)),
        ],
    )
}
