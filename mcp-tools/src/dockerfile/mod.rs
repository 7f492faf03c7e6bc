//! Existing Dockerfiles reviewed and fixed (issue #22): `validate` parses a Dockerfile with
//! the `dockerfile-parser` crate and checks hadolint's production rules (by hadolint's ids)
//! plus ours (`CK001`…, which use the repository's analysis); `fix` applies the mechanical
//! fixes; `hadolint` merges the findings of a `hadolint` binary on PATH.
//!
//! `model.rs` turns the parser's tree into instructions with line numbers, `shell.rs` splits
//! a `RUN` into commands and words, `rules.rs` holds hadolint's rules, `ours.rs` ours.

mod fix;
mod hadolint;
mod model;
mod ours;
mod rules;
mod shell;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::analyze::AnalyzeResult;

pub(crate) use self::fix::fix;
pub use self::fix::Change;
pub(crate) use self::hadolint::merge_hadolint;
pub(crate) use self::model::Parsed;

/// How much a finding matters (hadolint's levels).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The image is wrong or unsafe: fix before building.
    Error,
    /// Works, but not for production (reproducibility, security, size).
    Warning,
    /// Worth knowing.
    Info,
    /// Style only.
    Style,
}

impl Severity {
    /// Points taken off the score per finding.
    fn cost(self) -> u32 {
        match self {
            Severity::Error => 20,
            Severity::Warning => 8,
            Severity::Info => 2,
            Severity::Style => 1,
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            "info" => Severity::Info,
            "style" => Severity::Style,
            _ => return None,
        })
    }
}

/// One problem found in a Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// The rule: hadolint's id (`DL3006`, `DL4006`, …) or ours (`CK001`…).
    pub rule: String,
    /// How much it matters.
    pub severity: Severity,
    /// The 1-based line of the instruction; 0 when the finding is about the file as a whole
    /// (a missing `.dockerignore`).
    pub line: usize,
    /// What is wrong.
    pub message: String,
    /// What to change.
    pub fix: String,
    /// Who found it: `container-kit`, `hadolint`, or `both`.
    pub source: String,
}

/// What the repository's analysis tells the rules (all optional: without a repository only
/// the Dockerfile's own rules run).
#[derive(Clone, Debug, Default)]
pub(crate) struct Context {
    /// The port the application listens on (web services only).
    pub(crate) port: Option<u16>,
    /// A health path the application answers on.
    pub(crate) health_path: Option<String>,
    /// The toolchain image (`node`), the chosen tag (`22`) and the declaration (`>=18`).
    pub(crate) toolchain: Option<(String, String, String)>,
    /// Whether the build context has a `.dockerignore` (None: no repository known).
    pub(crate) dockerignore: Option<bool>,
    /// The file names at the top of the build context (None: no repository known); the
    /// dependency-first fix copies only manifests that exist.
    pub(crate) root_files: Option<Vec<String>>,
}

impl Context {
    /// The context of an analysis.
    pub(crate) fn of(a: &AnalyzeResult) -> Context {
        Context {
            port: (a.kind == crate::analyze::ServiceKind::Web && a.port != 0).then_some(a.port),
            health_path: a.health_path.clone(),
            toolchain: a
                .toolchain
                .as_ref()
                .filter(|t| !t.image.is_empty() && !t.tag.is_empty())
                .map(|t| (t.image.clone(), t.tag.clone(), t.declared.clone())),
            dockerignore: None,
            root_files: None,
        }
    }
}

/// The findings on one Dockerfile and its score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Report {
    /// 0–100: 100 less 20 per error, 8 per warning, 2 per info, 1 per style finding.
    pub score: u32,
    /// Errors among the findings.
    pub errors: usize,
    /// Warnings among the findings.
    pub warnings: usize,
    /// Every finding, by line.
    pub findings: Vec<Finding>,
}

impl Report {
    pub(crate) fn of(mut findings: Vec<Finding>) -> Report {
        findings.sort_by(|a, b| (a.line, &a.rule).cmp(&(b.line, &b.rule)));
        findings.dedup_by(|a, b| a.line == b.line && a.rule == b.rule);
        let cost: u32 = findings.iter().map(|f| f.severity.cost()).sum();
        Report {
            score: 100u32.saturating_sub(cost),
            errors: findings
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count(),
            warnings: findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .count(),
            findings,
        }
    }
}

/// Why a Dockerfile could not be checked.
#[derive(Debug, thiserror::Error)]
#[error("the Dockerfile does not parse: {0}; fix its syntax (every instruction a keyword such as FROM or RUN, continuation lines ending in \\)")]
pub(crate) struct ParseError(pub(crate) String);

/// Checks `content` with our rules (no hadolint; see [`merge_hadolint`]).
pub(crate) fn validate(content: &str, ctx: &Context) -> Result<Report, ParseError> {
    let parsed = Parsed::parse(content)?;
    let mut findings = rules::check(&parsed);
    findings.extend(ours::check(&parsed, ctx));
    Ok(Report::of(findings))
}

/// A finding of ours.
pub(crate) fn finding(
    rule: &str,
    severity: Severity,
    line: usize,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        rule: rule.into(),
        severity,
        line,
        message: message.into(),
        fix: fix.into(),
        source: "container-kit".into(),
    }
}

/// `old` → `new` as a unified diff of `name` (empty when they are equal).
pub(crate) fn unified_diff(old: &str, new: &str, name: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}
