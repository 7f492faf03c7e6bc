//! Integration tests of the workflow tools: Go-state decoding, full dry-run workflows on
//! repositories of several languages, concurrency (no lost step), the external-CLI path with
//! stand-in programs, and bad input.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod analysis_time;
mod bad_input;
mod bounds;
mod cli;
mod concurrency;
// Confirmation before destructive tools (issue 20).
mod confirm;
mod fixtures;
mod go_state;
// The Go server's field names in workflow results (issue #14).
mod go_fields;
mod lint;
mod platform;
mod policy;
mod registry;
mod workflow;
// Existing Dockerfiles reviewed and fixed (issue #22).
mod validate;
// Refusals and hostile repositories end to end (issue #11).
mod hostile;
mod refusals;
// Confined file access and client roots (issue #18).
mod confine;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mcp_tools::{CallContext, ExecConfig, ToolOutput, Toolbox, ToolboxConfig};
use serde_json::Value;
use session_core::{MemoryStore, Sessions, SessionsConfig};

/// A workspace with a toolbox whose allowed root is the workspace.
#[derive(Debug)]
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub tools: Toolbox,
}

pub fn fixture(exec: ExecConfig) -> Fixture {
    fixture_with(exec, SessionsConfig::default())
}

pub fn fixture_with(exec: ExecConfig, sessions: SessionsConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(Arc::new(MemoryStore::new()), sessions);
    let config = ToolboxConfig {
        allowed_roots: vec![dir.path().to_path_buf()],
        exec,
        ..ToolboxConfig::default()
    };
    Fixture {
        tools: Toolbox::new(sessions, config),
        dir,
    }
}

pub fn dry() -> ExecConfig {
    ExecConfig {
        dry_run: true,
        ..ExecConfig::default()
    }
}

/// Writes a small repository of `language` under `root/name`.
pub fn repo(root: &Path, name: &str, language: &str) -> PathBuf {
    let files: &[(&str, &str)] = match language {
        "node" => &[("package.json", r#"{"name":"web","scripts":{"start":"node index.js"},"dependencies":{"express":"^4.19.0"}}"#), ("package-lock.json", "{}"), ("index.js", "require('express')().listen(3000)\n")],
        "python" => &[("requirements.txt", "flask==3.0.0\ngunicorn==22.0.0\n"), ("app.py", "from flask import Flask\napp = Flask(__name__)\n")],
        "go" => &[("go.mod", "module example.com/api\n\ngo 1.22\n"), ("main.go", "package main\nfunc main() { http.ListenAndServe(\":8080\", nil) }\n")],
        "java" => &[("pom.xml", "<project><parent><artifactId>spring-boot-starter-parent</artifactId></parent><artifactId>orders</artifactId></project>")],
        "rust" => &[("Cargo.toml", "[package]\nname = \"svc\"\nversion = \"0.1.0\"\n\n[dependencies]\naxum = \"0.7\"\n"), ("src/main.rs", "fn main() {}\n")],
        "dotnet" => &[("Api.csproj", "<Project Sdk=\"Microsoft.NET.Sdk.Web\"></Project>"), ("Program.cs", "var app = WebApplication.Create(); app.Run();\n")],
        other => panic!("no fixture repository for {other}"),
    };
    let dir = root.join(name);
    for (f, body) in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    dir
}

pub async fn call(
    tools: &Toolbox,
    name: &str,
    args: Value,
) -> Result<ToolOutput, mcp_tools::ToolError> {
    tools.call(name, args, &CallContext::default()).await
}

/// [`call`] with a confirmer that answers yes (for the destructive tools).
pub async fn call_confirmed(
    tools: &Toolbox,
    name: &str,
    args: Value,
) -> Result<ToolOutput, mcp_tools::ToolError> {
    struct Yes;
    #[async_trait::async_trait]
    impl mcp_tools::Confirmer for Yes {
        async fn confirm(
            &self,
            _: &mcp_tools::ConfirmRequest,
        ) -> Result<mcp_tools::ConfirmAnswer, String> {
            Ok(mcp_tools::ConfirmAnswer::Accepted)
        }
    }
    let ctx = CallContext {
        confirm: Some(Arc::new(Yes)),
        ..CallContext::default()
    };
    tools.call(name, args, &ctx).await
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

pub const SHORT: Duration = Duration::from_millis(200);

/// `start_workflow` then `analyze_repository` of `repo` for session `id`, both succeeding.
async fn started_and_analyzed(tools: &Toolbox, id: &str, repo: &Path) {
    for tool in ["start_workflow", "analyze_repository"] {
        call(
            tools,
            tool,
            serde_json::json!({"session_id": id, "repo_path": repo}),
        )
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    }
}
