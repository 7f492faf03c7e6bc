//! Go: `go.mod`, its module name and the web framework it requires.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{read, AnalyzeResult};
use super::{Detection, Repo};

/// What a Go Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct GoDetails {}

/// Reads directory `dir` of `repo` as a Go project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let root = repo.root().join(dir);
    if !repo.is_file(&super::repo::join(dir, "go.mod")) {
        return None;
    }
    let mut r = AnalyzeResult::default();
    go(&root, &mut r);
    super::legacy_port(&root, &mut r);
    Detection::service(r)
}

/// Dependencies and framework from `go.mod`, the module's last path segment as the name;
/// a static binary built to `/out/server`, port 8080.
pub(super) fn go(root: &Path, r: &mut AnalyzeResult) {
    r.language = "go".into();
    r.build_tool = "go".into();
    r.evidence.push("go.mod".into());
    let gomod = read(root, "go.mod").unwrap_or_default();
    r.dependencies = gomod
        .lines()
        .map(str::trim)
        .filter(|l| l.contains('/') && !l.starts_with("module") && !l.starts_with("//"))
        .filter_map(|l| {
            l.trim_start_matches("require")
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .filter(|d| d != "(")
        .collect();
    r.framework = [
        ("gin-gonic/gin", "gin"),
        ("labstack/echo", "echo"),
        ("gofiber/fiber", "fiber"),
        ("go-chi/chi", "chi"),
        ("gorilla/mux", "gorilla"),
    ]
    .iter()
    .find(|(m, _)| gomod.contains(m))
    .map(|(_, f)| f.to_string())
    .unwrap_or_default();
    if let Some(module) = gomod.lines().find_map(|l| l.strip_prefix("module ")) {
        r.app_name = module.trim().rsplit('/').next().unwrap_or("app").to_owned();
    }
    r.port = 8080;
    r.build_command = "go build -o /out/server .".into();
    r.start_command = "/server".into();
}
