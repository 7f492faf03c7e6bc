//! hadolint's findings merged into ours when a `hadolint` binary is on PATH: one finding per
//! rule and line (a rule both report becomes `source: both`).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{Finding, Report, Severity};

/// One entry of `hadolint --format json`.
#[derive(Deserialize)]
struct Entry {
    code: String,
    level: String,
    line: usize,
    message: String,
}

/// `report` with hadolint's findings on `content` merged in; `report` unchanged (and `false`)
/// when hadolint is not on PATH or fails. Runs at most 20 s.
pub(crate) async fn merge_hadolint(content: &str, report: Report) -> (Report, bool) {
    match run(content).await {
        Some(found) => (merge(report, found), true),
        None => (report, false),
    }
}

async fn run(content: &str) -> Option<Vec<Entry>> {
    let program = which("hadolint")?;
    let mut child = tokio::process::Command::new(program)
        .args(["--format", "json", "--no-fail", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let body = content.as_bytes().to_vec();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .ok()?
        .ok()?;
    let _ = writer.await;
    match serde_json::from_slice(&out.stdout) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = %e, "hadolint's output is not its JSON format; its findings are left out");
            None
        }
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn merge(report: Report, found: Vec<Entry>) -> Report {
    let mut findings = report.findings;
    for e in found {
        match findings
            .iter_mut()
            .find(|f| f.rule == e.code && f.line == e.line)
        {
            Some(f) => f.source = "both".into(),
            None => findings.push(Finding {
                fix: format!("see https://github.com/hadolint/hadolint/wiki/{}", e.code),
                rule: e.code,
                severity: Severity::parse(&e.level).unwrap_or(Severity::Info),
                line: e.line,
                message: e.message,
                source: "hadolint".into(),
            }),
        }
    }
    Report::of(findings)
}
