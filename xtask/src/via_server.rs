//! `cargo xtask load --via-server`: the same check through the product users run. Starts
//! `container-kit-mcp serve` on the chosen backend (dry-run, a scratch workspace) and drives
//! it over stdio with the rmcp client: N concurrent workflows, each making K step calls in
//! workflow order. At the end every session's recorded step count and version must equal
//! what was acknowledged.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use mcp_tools::Step;
use rmcp::model::{CallToolRequestParams, JsonObject};
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

/// The server binary beside this xtask binary (same profile), built if missing.
fn server_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("CKM_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("xtask has no directory")?;
    let bin = dir.join("container-kit-mcp");
    let release = dir.ends_with("release");
    let mut build =
        std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-p", "mcp-server"]);
    if release {
        build.arg("--release");
    }
    let status = build
        .status()
        .context("cannot run cargo to build container-kit-mcp")?;
    if !status.success() || !bin.exists() {
        bail!("building container-kit-mcp failed; build it with `cargo build -p mcp-server` or set CKM_BIN");
    }
    Ok(bin)
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    name: &str,
    args: Value,
) -> anyhow::Result<Value> {
    let mut params = CallToolRequestParams::new(name.to_owned());
    params.arguments = match args {
        Value::Object(o) => Some(o as JsonObject),
        _ => None,
    };
    let r = client
        .call_tool(params)
        .await
        .with_context(|| format!("{name}: the call failed"))?;
    if r.is_error == Some(true) {
        bail!("{name} answered an error: {:?}", r.content);
    }
    r.structured_content
        .with_context(|| format!("{name}: no structuredContent"))
}

/// What the via-server run measured.
pub(crate) struct ServerRun {
    pub(crate) latencies: Vec<Duration>,
    pub(crate) wall: Duration,
    pub(crate) lost: u64,
    /// The server's `server_status.stats` (SessionsStats) at the end.
    pub(crate) stats: Value,
}

/// Starts the server binary on a fresh `backend` store in `dir` (dry run, stdio) and drives
/// `sessions` concurrent workflows of `calls_per_session` step calls each through it,
/// then checks every workflow's recorded steps against the calls acknowledged.
pub(crate) async fn run(
    backend: &str,
    dir: &Path,
    sessions: usize,
    calls_per_session: u64,
) -> anyhow::Result<ServerRun> {
    let bin = server_binary()?;
    let store = dir.join(format!("server.{backend}"));
    let transport = TokioChildProcess::new(tokio::process::Command::new(&bin).configure(|cmd| {
        cmd.args([
            "serve",
            "--store",
            backend,
            "--dry-run",
            "--log-level",
            "warn",
            "--store-path",
        ])
        .arg(&store)
        .arg("--workspace-dir")
        .arg(dir);
    }))
    .context("cannot start container-kit-mcp")?;
    let client = Arc::new(
        ().serve(transport)
            .await
            .context("the MCP handshake failed")?,
    );
    for i in 0..sessions {
        let repo = dir.join(format!("repo-{i}"));
        std::fs::create_dir_all(&repo)?;
        std::fs::write(
            repo.join("package.json"),
            r#"{"name":"load","dependencies":{"express":"4"}}"#,
        )?;
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..sessions {
        let client = Arc::clone(&client);
        let repo = dir.join(format!("repo-{i}"));
        tasks.push(tokio::spawn(async move {
            let id = format!("load-{i}");
            call(
                &client,
                "start_workflow",
                json!({"repo_path": repo, "session_id": id}),
            )
            .await?;
            let mut lat = Vec::new();
            for k in 0..calls_per_session {
                let step = Step::ALL[(k as usize) % Step::ALL.len()].name();
                let args = match step {
                    "analyze_repository" => json!({"session_id": id, "repo_path": repo}),
                    "tag_image" => json!({"session_id": id, "tag": "v1"}),
                    _ => json!({"session_id": id}),
                };
                let t = Instant::now();
                call(&client, step, args).await?;
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.context("a workflow task panicked")??);
    }
    let wall = start.elapsed();
    let mut lost = 0;
    for i in 0..sessions {
        let s = call(
            &client,
            "get_session",
            json!({"session_id": format!("load-{i}")}),
        )
        .await?;
        let runs = s["session"]["metadata"]["workflow_state"]["metadata"]["step_runs"]
            .as_u64()
            .unwrap_or(0);
        let version = s["version"].as_u64().unwrap_or(0);
        if runs != calls_per_session || version != 2 + calls_per_session {
            eprintln!("LOST: load-{i}: {calls_per_session} steps acknowledged, {runs} recorded at version {version}");
            lost += calls_per_session.abs_diff(runs).max(1);
        }
    }
    let stats = call(&client, "server_status", json!({})).await?["stats"].clone();
    if let Ok(client) = Arc::try_unwrap(client) {
        let _ = client.cancel().await;
    }
    Ok(ServerRun {
        latencies,
        wall,
        lost,
        stats,
    })
}
