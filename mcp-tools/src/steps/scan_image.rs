//! `scan_image`, step 4: scan the built image with trivy, and count its findings by
//! severity from trivy's JSON report.

use std::collections::BTreeMap;

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
    const TITLE: &'static str = "Scan the image";
    const DESCRIPTION: &'static str =
        "Step 4: scan the built image for vulnerabilities with trivy.";
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
        let args = vec![
            "image".into(),
            "--quiet".into(),
            "--format".into(),
            "json".into(),
            image.clone(),
        ];
        let commands = commands(tools, &repo, vec![(trivy, args)]).await?;
        let vulnerabilities = commands
            .first()
            .filter(|c| c.executed)
            .map(|c| severity_counts(&c.stdout));
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

/// Counts trivy's findings by severity from its JSON report; a report that does not parse
/// counts nothing.
fn severity_counts(report: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    if let Ok(report) = serde_json::from_str::<Report>(report) {
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
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_counted_by_severity() {
        let report = r#"{"Results":[{"Vulnerabilities":[{"Severity":"HIGH"},{"Severity":"LOW"},{"Severity":"HIGH"}]},{"Target":"x"},{"Vulnerabilities":[{}]}]}"#;
        let counts = severity_counts(report);
        assert_eq!(counts.get("HIGH"), Some(&2));
        assert_eq!(counts.get("LOW"), Some(&1));
        assert_eq!(counts.get("UNKNOWN"), Some(&1));
        assert!(severity_counts("not json").is_empty());
    }
}
