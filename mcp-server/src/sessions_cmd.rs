//! `container-kit-mcp sessions list|show|delete|purge|check|repair|stats`: an operator's view
//! of the store. `list`, `show` and `stats` open it read-only (a redb file is not modified at
//! all); `check` runs redb's integrity check on a copy; `repair` keeps a backup first.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use mcp_tools::{ListSessionsParams, WorkflowState};
use serde_json::{json, Value};
use session_core::SessionId;

use crate::cli::SessionsCommand;
use crate::config::Config;

/// Opens the store (waiting up to a minute for a server that holds its file), runs `cmd`,
/// prints its result on stdout and closes the store, also when the command failed.
pub(crate) async fn run(config: Config, cmd: SessionsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SessionsCommand::Check { json } => return check(&config, json).await,
        SessionsCommand::Repair { json } => return repair(&config, json).await,
        _ => {}
    }
    let read_only = matches!(
        cmd,
        SessionsCommand::List { .. } | SessionsCommand::Show { .. } | SessionsCommand::Stats { .. }
    );
    let services =
        crate::services::services_with(&config, Duration::from_secs(60), read_only).await?;
    let result = command(&services, cmd).await;
    crate::services::close(services).await?;
    result
}

async fn command(
    services: &crate::services::Services,
    cmd: SessionsCommand,
) -> anyhow::Result<ExitCode> {
    let tools = &services.tools;
    match cmd {
        SessionsCommand::List { json, prefix } => {
            let mut all = Vec::new();
            let mut cursor = None;
            loop {
                let page = tools
                    .list_sessions(ListSessionsParams {
                        prefix: prefix.clone(),
                        cursor: cursor.take(),
                        limit: Some(1000),
                        ..Default::default()
                    })
                    .await
                    .map_err(|e| anyhow::anyhow!(e.message))?;
                all.extend(page.sessions);
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            if json {
                out(&serde_json::to_string_pretty(&all)?);
            } else {
                out(&format!(
                    "{:<44} {:<9} {:<8} {:<11} {:<24} {:>7}  {}",
                    "ID", "STATUS", "EXPIRED", "WORKFLOW", "STEP", "VERSION", "UPDATED"
                ));
                for s in &all {
                    out(&format!(
                        "{:<44} {:<9} {:<8} {:<11} {:<24} {:>7}  {}",
                        s.session_id,
                        s.status,
                        if s.expired { "yes" } else { "no" },
                        s.workflow_status.map_or("-", |w| w.as_str()),
                        s.current_step
                            .as_deref()
                            .filter(|c| !c.is_empty())
                            .unwrap_or("-"),
                        s.version,
                        s.updated_at
                    ));
                }
                out(&format!("{} sessions", all.len()));
            }
        }
        SessionsCommand::Show { id, .. } => {
            let id = SessionId::new(id)?;
            // Operators see expired sessions too: read the store directly.
            let Some(s) = services.store.get(&id).await? else {
                anyhow::bail!("session {id} not found");
            };
            let workflow = WorkflowState::from_session(&s.value).ok().flatten();
            let expired = s.value.is_expired_at(tools.sessions().now());
            out(&serde_json::to_string_pretty(&json!({
                "session_id": id.to_string(),
                "version": s.version.get(),
                "expired": expired,
                "workflow_status": workflow.map(|w| serde_json::to_value(w.status).unwrap_or(Value::Null)),
                "session": s.value,
            }))?);
        }
        SessionsCommand::Delete { id, json } => {
            let id = SessionId::new(id)?;
            tools
                .sessions()
                .delete(&id)
                .await
                .with_context(|| format!("cannot delete {id}"))?;
            if json {
                out(&json!({"session_id": id.to_string(), "deleted": true}).to_string());
            } else {
                out(&format!("deleted {id}"));
            }
        }
        SessionsCommand::Purge { json } => {
            let mut purged = 0;
            loop {
                let batch = tools.sessions().purge_expired().await?;
                if batch.is_empty() {
                    break;
                }
                purged += batch.len();
            }
            if json {
                out(&json!({"purged": purged}).to_string());
            } else {
                out(&format!("purged {purged} expired sessions"));
            }
        }
        SessionsCommand::Stats { json } => stats(services, json).await?,
        SessionsCommand::Check { .. } | SessionsCommand::Repair { .. } => {
            anyhow::bail!("check and repair do not open the store as a service")
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn corrupt_json(records: &[(String, String)]) -> Value {
    records
        .iter()
        .map(|(id, reason)| json!({"id": id, "reason": reason}))
        .collect()
}

/// `sessions check`: redb's integrity check on a copy, and every record decoded.
async fn check(config: &Config, as_json: bool) -> anyhow::Result<ExitCode> {
    let backend = config.store.clone();
    let report = tokio::task::spawn_blocking(move || store_open::check(&backend))
        .await
        .context("the check task failed")??;
    if as_json {
        out(&serde_json::to_string_pretty(&json!({
            "path": report.path.display().to_string(),
            "ok": report.ok,
            "needs_recovery": report.needs_recovery,
            "damage": report.damage,
            "sessions": report.sessions,
            "corrupt_records": corrupt_json(&report.corrupt_records),
        }))?);
    } else {
        let path = report.path.display();
        match &report.damage {
            Some(damage) => out(&format!(
                "DAMAGED: {path}: {damage}\nrestore it from a backup, or try `container-kit-mcp sessions repair` (it keeps a backup copy first)"
            )),
            None => {
                out(&format!(
                    "{path}: redb's integrity check passed; {} sessions, {} corrupt records",
                    report.sessions,
                    report.corrupt_records.len()
                ));
                for (id, reason) in &report.corrupt_records {
                    out(&format!("corrupt record {id}: {reason} (delete it with `sessions delete`)"));
                }
                if report.needs_recovery {
                    out("the file was not closed cleanly (a crash): the next server start recovers it");
                }
            }
        }
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `sessions repair`: a backup copy, then redb's repair; says what it did.
async fn repair(config: &Config, as_json: bool) -> anyhow::Result<ExitCode> {
    let backend = config.store.clone();
    let report = tokio::task::spawn_blocking(move || store_open::repair(&backend))
        .await
        .context("the repair task failed")??;
    let did = if report.recovered {
        "recovered a file that was not closed cleanly and rebuilt redb's allocator state"
    } else {
        "found no damage redb could detect; redb's state was verified and rewritten"
    };
    if as_json {
        out(&serde_json::to_string_pretty(&json!({
            "path": report.path.display().to_string(),
            "backup": report.backup.display().to_string(),
            "recovered": report.recovered,
            "corrupt_records": corrupt_json(&report.corrupt_records),
        }))?);
    } else {
        out(&format!(
            "backup of the file as it was: {}",
            report.backup.display()
        ));
        out(&format!("{}: {did}", report.path.display()));
        for (id, reason) in &report.corrupt_records {
            out(&format!(
                "corrupt record {id}: {reason} (delete it with `sessions delete`)"
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `sessions stats` says about where its figures come from.
const SCOPE_STORE: &str =
    "container_kit_store_* figures are read from the store: the same for every process sharing it";
const SCOPE_PROCESS: &str = "every other figure is this sessions-stats process's own (it ran no tool, so its counters and histograms are zero), not a running server's: scrape GET /metrics on the server's HTTP transport for those";

/// `sessions stats`: the store's figures and this process's metrics, in the Prometheus text
/// format with the scope in comments, or as JSON.
async fn stats(services: &crate::services::Services, json: bool) -> anyhow::Result<()> {
    let tools = &services.tools;
    let metrics = crate::metrics::Metrics::install(tools.clone())?;
    let mut summary = crate::metrics::StoreSummary {
        sessions: services.store.count().await?,
        ..Default::default()
    };
    let mut cursor = None;
    loop {
        let page = tools
            .list_sessions(ListSessionsParams {
                cursor: cursor.take(),
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
        for s in &page.sessions {
            summary.expired += u64::from(s.expired);
            if let Some(w) = s.workflow_status {
                *summary.workflows.entry(w.as_str().to_owned()).or_default() += 1;
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    metrics.record_store(&summary);
    let text = metrics.render().await;
    let pid = std::process::id();
    let backend = services.store.backend_name();
    if json {
        out(&serde_json::to_string_pretty(&json!({
            "scope": {"store": SCOPE_STORE, "process": SCOPE_PROCESS},
            "pid": pid,
            "backend": backend,
            "store": summary,
            "process": tools.sessions().stats(),
            "samples": crate::metrics::samples(&text),
        }))?);
    } else {
        out(&format!(
            "# container-kit-mcp sessions stats (pid {pid}, store {backend})\n# {SCOPE_STORE}\n# {SCOPE_PROCESS}"
        ));
        out(text.trim_end());
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // the operator command's output channel
fn out(line: &str) {
    println!("{line}");
}
