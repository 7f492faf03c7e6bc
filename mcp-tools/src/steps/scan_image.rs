//! `scan_image`, step 4: scan the built image with trivy, and count its findings by
//! severity from trivy's JSON report. trivy writes the report to a file in a private
//! temporary directory (a real image's report is megabytes, far over what a command record
//! keeps of stdout), which is read back streaming, up to [`MAX_REPORT_BYTES`], and removed.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{built_image, commands, need, repo_of, Artifact, Failure, StepTool};
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::params::{FixParams, StepParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `scan_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ScanArtifact {
    /// The image scanned.
    pub image: String,
    /// Findings by severity (`CRITICAL`, `HIGH`, …); absent when trivy did not run (dry-run).
    pub vulnerabilities: Option<BTreeMap<String, u64>>,
    /// The trivy command, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
}

impl Artifact for ScanArtifact {
    const STEP: Step = Step::ScanImage;
}

pub(crate) struct ScanImage;

impl StepTool for ScanImage {
    const IDEMPOTENT: bool = true;
    const TITLE: &'static str = "Scan the image";
    const DESCRIPTION: &'static str =
        "Step 4: scan the built image for vulnerabilities with trivy.";
    const LONG_RUNNING: bool = true;
    type Params = StepParams;
    type Input = ();
    type Artifact = ScanArtifact;

    fn validate(_: &Toolbox, _: &StepParams, _: &CallContext) -> Result<(), ToolError> {
        Ok(())
    }

    async fn work(tools: &Toolbox, _: (), st: WorkflowState) -> Result<ScanArtifact, Failure> {
        let step = Step::ScanImage;
        let image = need(built_image(&st), step, "a built image")?;
        let repo = need(repo_of(&st), step, "a repository")?;
        let trivy = tools.config().exec.trivy.clone();
        let dir = ReportDir::create().map_err(|e| {
            Failure::Ran(format!("cannot create a directory for trivy's report: {e}"))
        })?;
        let report = dir.0.join("report.json");
        let args = vec![
            "image".into(),
            "--quiet".into(),
            "--format".into(),
            "json".into(),
            "--output".into(),
            report.display().to_string(),
            image.clone(),
        ];
        let commands = commands(tools, &repo, vec![(trivy, args)]).await?;
        let vulnerabilities = match commands.first() {
            Some(c) if c.executed => {
                let report = report.clone();
                let counts = tokio::task::spawn_blocking(move || read_counts(&report))
                    .await
                    .map_err(|e| Failure::Ran(format!("reading trivy's report crashed: {e}")))?;
                Some(counts.map_err(Failure::Ran)?)
            }
            _ => None,
        };
        drop(dir);
        Ok(ScanArtifact {
            image,
            vulnerabilities,
            commands,
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> StepParams {
        StepParams {
            session_id: session_id.into(),
            fix: FixParams::default(),
        }
    }
}

/// The largest trivy report read back, in bytes.
const MAX_REPORT_BYTES: u64 = 256 * 1024 * 1024;

/// A directory only this process's user can enter, removed (with the report) when dropped.
struct ReportDir(PathBuf);

impl ReportDir {
    fn create() -> std::io::Result<ReportDir> {
        let suffix = getrandom::u64().map_err(|e| std::io::Error::other(e.to_string()))?;
        let path = std::env::temp_dir().join(format!("container-kit-trivy-{suffix:016x}"));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        Ok(ReportDir(path))
    }
}

impl Drop for ReportDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            tracing::debug!(dir = %self.0.display(), error = %e, "cannot remove trivy's report directory");
        }
    }
}

/// Counts the findings of the report trivy wrote to `path`, reading it as a stream.
fn read_counts(path: &Path) -> Result<BTreeMap<String, u64>, String> {
    let file = std::fs::File::open(path)
        .map_err(|e| format!("trivy ran but wrote no report at {}: {e}", path.display()))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_REPORT_BYTES {
        return Err(format!(
            "trivy's report is {len} bytes, over the {MAX_REPORT_BYTES} bytes read back"
        ));
    }
    let reader = std::io::BufReader::new(file.take(MAX_REPORT_BYTES));
    let report: Report = serde_json::from_reader(reader)
        .map_err(|e| format!("trivy's report is not the JSON report expected: {e}"))?;
    Ok(count(report))
}

/// The part of trivy's JSON report that is counted.
#[derive(Deserialize)]
struct Report {
    #[serde(rename = "Results", default)]
    results: Option<Vec<ReportResult>>,
}

#[derive(Deserialize)]
struct ReportResult {
    #[serde(rename = "Vulnerabilities", default)]
    vulnerabilities: Option<Vec<Vulnerability>>,
}

#[derive(Deserialize)]
struct Vulnerability {
    #[serde(rename = "Severity", default)]
    severity: Option<String>,
}

/// Counts a report's findings by severity.
fn count(report: Report) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    let vulns = report
        .results
        .into_iter()
        .flatten()
        .flat_map(|r| r.vulnerabilities.into_iter().flatten());
    for v in vulns {
        *counts
            .entry(v.severity.unwrap_or_else(|| "UNKNOWN".into()))
            .or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_counted_by_severity() {
        let dir = ReportDir::create().unwrap();
        let path = dir.0.join("report.json");
        let report = r#"{"Results":[{"Vulnerabilities":[{"Severity":"HIGH"},{"Severity":"LOW"},{"Severity":"HIGH"}]},{"Target":"x"},{"Vulnerabilities":[{}]}]}"#;
        std::fs::write(&path, report).unwrap();
        let counts = read_counts(&path).unwrap();
        assert_eq!(counts.get("HIGH"), Some(&2));
        assert_eq!(counts.get("LOW"), Some(&1));
        assert_eq!(counts.get("UNKNOWN"), Some(&1));
        std::fs::write(&path, "not json").unwrap();
        assert!(read_counts(&path)
            .unwrap_err()
            .contains("not the JSON report"));
        let kept = dir.0.clone();
        drop(dir);
        assert!(!kept.exists(), "the report directory is removed");
    }

    #[test]
    fn a_report_of_megabytes_is_counted_whole() {
        let dir = ReportDir::create().unwrap();
        let path = dir.0.join("report.json");
        let vuln = r#"{"VulnerabilityID":"CVE-2026-0001","PkgName":"libexample","Description":"a long description of the finding, as trivy prints them","Severity":"HIGH"}"#;
        let vulns = vec![vuln; 20_000].join(",");
        std::fs::write(
            &path,
            format!(r#"{{"Results":[{{"Vulnerabilities":[{vulns}]}}]}}"#),
        )
        .unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 2_000_000);
        assert_eq!(read_counts(&path).unwrap().get("HIGH"), Some(&20_000));
    }
}
