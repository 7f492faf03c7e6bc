//! Node.js: `package.json` (JavaScript, or TypeScript with a `tsconfig.json` or the
//! `typescript` dev dependency), the lockfile choosing npm, yarn or pnpm.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{exists, AnalyzeResult};
use super::{Detection, Repo};

/// What a Node.js, Bun and Deno Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NodeDetails {}

/// Reads directory `dir` of `repo` as a Node.js, Bun and Deno project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let root = repo.root().join(dir);
    let pkg = repo.read(&super::repo::join(dir, "package.json"))?;
    let mut r = AnalyzeResult::default();
    node(&root, &pkg, &mut r);
    super::legacy_port(&root, &mut r);
    Detection::service(r)
}

/// Language, framework (from the dependencies), package manager (from the lockfile), the
/// build command (`install && run build` when there is a build script), the start command
/// and the package name, from `pkg` (the text of `package.json`). Default port 3000.
pub(super) fn node(root: &Path, pkg: &str, r: &mut AnalyzeResult) {
    r.evidence.push("package.json".into());
    let v: serde_json::Value = serde_json::from_str(pkg).unwrap_or_default();
    let keys = |field: &str| -> Vec<String> {
        v.get(field)
            .and_then(|d| d.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    r.dependencies = keys("dependencies");
    r.dev_dependencies = keys("devDependencies");
    r.language =
        if exists(root, "tsconfig.json") || r.dev_dependencies.iter().any(|d| d == "typescript") {
            "typescript".into()
        } else {
            "javascript".into()
        };
    let has = |d: &str| r.dependencies.iter().any(|x| x == d);
    r.framework = [
        "next",
        "@nestjs/core",
        "fastify",
        "express",
        "koa",
        "@hapi/hapi",
    ]
    .iter()
    .find(|f| has(f))
    .map(|f| {
        f.trim_start_matches('@')
            .split('/')
            .next()
            .unwrap_or(f)
            .to_string()
    })
    .unwrap_or_default();
    r.port = 3000;
    let (tool, install) = if exists(root, "pnpm-lock.yaml") {
        ("pnpm", "pnpm install --frozen-lockfile")
    } else if exists(root, "yarn.lock") {
        ("yarn", "yarn install --frozen-lockfile")
    } else if exists(root, "package-lock.json") {
        ("npm", "npm ci")
    } else {
        ("npm", "npm install")
    };
    r.build_tool = tool.into();
    let scripts = v.get("scripts").and_then(|s| s.as_object());
    let has_script = |s: &str| scripts.is_some_and(|o| o.contains_key(s));
    r.build_command = if has_script("build") {
        format!("{install} && {tool} run build")
    } else {
        install.into()
    };
    r.start_command = if has_script("start") {
        format!("{tool} start")
    } else {
        let main = v.get("main").and_then(|m| m.as_str()).unwrap_or("index.js");
        format!("node {main}")
    };
    if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
        r.app_name = name.rsplit('/').next().unwrap_or(name).to_owned();
    }
}
