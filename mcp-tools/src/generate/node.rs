//! The Node.js Dockerfile, from the analysis's facts.

use super::{exec_form, render, template};
use crate::analyze::AnalyzeResult;

/// The Node.js Dockerfile for `a`, exposing `port`.
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let lockfiles = match a.build_tool.as_str() {
        "yarn" => "package.json yarn.lock",
        "pnpm" => "package.json pnpm-lock.yaml",
        _ => "package*.json",
    };
    // A line of its own when present, nothing otherwise.
    let pre = if a.build_tool == "pnpm" {
        "RUN corepack enable\n"
    } else {
        ""
    };
    let install = a
        .build_command
        .split(" && ")
        .next()
        .unwrap_or("npm install");
    let build = a
        .build_command
        .split_once(" && ")
        .map(|(_, b)| format!("RUN {b}\n"))
        .unwrap_or_default();
    let cmd = exec_form(&a.start_command);
    render(
        template::NODE,
        &[
            ("pre", pre),
            ("lockfiles", lockfiles),
            ("install", install),
            ("build", &build),
            ("port", port),
            ("cmd", &cmd),
        ],
    )
}
