//! Rust: `Cargo.toml`, the package name and the web framework among its dependencies.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{read, AnalyzeResult};
use super::{Detection, Repo};

/// What a Rust Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RustDetails {}

/// Reads directory `dir` of `repo` as a Rust project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let root = repo.root().join(dir);
    if !repo.is_file(&super::repo::join(dir, "Cargo.toml")) {
        return None;
    }
    let mut r = AnalyzeResult::default();
    rust(&root, &mut r);
    super::legacy_port(&root, &mut r);
    Detection::service(r)
}

/// Dependencies and framework from `Cargo.toml`'s `[dependencies]`, the first `name =` as
/// the binary name; `cargo build --release`, port 8080.
pub(super) fn rust(root: &Path, r: &mut AnalyzeResult) {
    r.language = "rust".into();
    r.build_tool = "cargo".into();
    r.evidence.push("Cargo.toml".into());
    let toml = read(root, "Cargo.toml").unwrap_or_default();
    let mut in_deps = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                r.dependencies.push(name.trim().to_owned());
            }
        }
        if r.app_name.is_empty() {
            if let Some(name) = line
                .strip_prefix("name")
                .and_then(|l| l.trim().strip_prefix('='))
            {
                r.app_name = name.trim().trim_matches('"').to_owned();
            }
        }
    }
    r.framework = ["axum", "actix-web", "rocket", "warp", "poem"]
        .iter()
        .find(|f| r.dependencies.iter().any(|d| d == *f))
        .map(|f| f.to_string())
        .unwrap_or_default();
    r.port = 8080;
    r.build_command = "cargo build --release".into();
    r.start_command = format!(
        "/usr/local/bin/{}",
        if r.app_name.is_empty() {
            "app"
        } else {
            &r.app_name
        }
    );
}
