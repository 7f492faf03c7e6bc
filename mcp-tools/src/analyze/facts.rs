//! The analysis as facts with their evidence, and the refusals.
//!
//! Every fact the analysis reports (stack, toolchain, entrypoint, port, health path, build
//! context, …) is recorded once with [`Facts::record`] together with where it was read
//! (file and line) or the rule that gave it, and whether it is a fallback the assistant
//! should check. The step result shows them, so a wrong Dockerfile can be traced to the one
//! fact that was wrong.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a fact came from: a file and line of the repository, or a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Evidence {
    /// The file (relative to `repo_path`) the fact was read from, when it was read.
    pub file: Option<String>,
    /// The 1-based line of `file`, when one line says it.
    pub line: Option<u32>,
    /// How the fact was decided (`"flask: module-level Flask(...)"`, `"framework default"`).
    pub rule: String,
}

impl Evidence {
    /// Read from `file` at `line`, by `rule`.
    pub(crate) fn at(file: &str, line: Option<u32>, rule: impl Into<String>) -> Evidence {
        Evidence {
            file: Some(file.to_owned()),
            line,
            rule: rule.into(),
        }
    }

    /// Decided by a rule, not read from a file (a framework default, a convention).
    pub(crate) fn rule(rule: impl Into<String>) -> Evidence {
        Evidence {
            file: None,
            line: None,
            rule: rule.into(),
        }
    }
}

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line} ({})", self.rule),
            (Some(file), None) => write!(f, "{file} ({})", self.rule),
            (None, _) => f.write_str(&self.rule),
        }
    }
}

/// One recorded fact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Fact {
    /// Which fact (`language`, `framework`, `manager`, `toolchain`, `entrypoint`, `port`,
    /// `kind`, `health`, `context`, `name`).
    pub fact: String,
    /// Its value as text.
    pub value: String,
    /// Where it came from.
    pub evidence: Evidence,
    /// True when nothing in the repository said it and a default was used: the assistant
    /// should check it (and can pass its own Dockerfile or manifests instead).
    pub fallback: bool,
}

/// The facts of one analysis, in the order they were decided.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Facts(pub Vec<Fact>);

impl Facts {
    /// Records `fact = value`, read or decided as `evidence`; a later record of the same
    /// fact replaces the earlier one (a stronger source overrides a default).
    pub(crate) fn record(&mut self, fact: &str, value: impl ToString, evidence: Evidence) {
        self.put(fact, value.to_string(), evidence, false);
    }

    /// Records a fallback: nothing in the repository said it.
    pub(crate) fn fallback(&mut self, fact: &str, value: impl ToString, rule: &str) {
        self.put(fact, value.to_string(), Evidence::rule(rule), true);
    }

    fn put(&mut self, fact: &str, value: String, evidence: Evidence, fallback: bool) {
        self.0.retain(|f| f.fact != fact);
        self.0.push(Fact {
            fact: fact.to_owned(),
            value,
            evidence,
            fallback,
        });
    }

    /// The recorded fact named `fact`.
    pub fn get(&self, fact: &str) -> Option<&Fact> {
        self.0.iter().find(|f| f.fact == fact)
    }

    /// The facts that are fallbacks, as sentences for the assistant to check.
    pub fn checks(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|f| f.fallback)
            .map(|f| {
                format!(
                    "{} = {} is a fallback ({}): check it",
                    f.fact, f.value, f.evidence.rule
                )
            })
            .collect()
    }
}

/// Whether the service listens: a web service gets a Service and probes, a worker neither.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// Listens on `port`.
    #[default]
    Web,
    /// Listens on nothing (a queue consumer, a scheduler).
    Worker,
}

impl ServiceKind {
    /// `web` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Web => "web",
            ServiceKind::Worker => "worker",
        }
    }
}

/// A directory that looks like one deployable service, listed by a refusal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Candidate {
    /// The directory, relative to the analyzed `repo_path`.
    pub path: String,
    /// What was detected there (`go`, `python/fastapi`, `typescript/nextjs`).
    pub stack: String,
}

/// Why the analysis refuses: `repo_path` is not one service it can containerize. The
/// message says what to do (usually: analyze one of the candidates).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "refusal", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AnalyzeError {
    /// Deployable services below `repo_path`, which is none itself (a monorepo root, or a
    /// solution or repository root with its one service in a subdirectory).
    #[error("{} is not one service; the services below it: {}; call analyze_repository with repo_path set to one of them", .path, list(.candidates))]
    Services {
        /// The analyzed directory.
        path: String,
        /// The service directories, sorted.
        candidates: Vec<Candidate>,
    },
    /// A Go module with several `main` packages and none at `repo_path`.
    #[error("{} has several main packages ({}); call analyze_repository with repo_path set to the one to deploy", .path, list(.candidates))]
    Mains {
        /// The analyzed directory.
        path: String,
        /// The main packages' directories, sorted.
        candidates: Vec<Candidate>,
    },
    /// Only libraries: nothing to run.
    #[error("{path} builds only libraries ({detail}); nothing here runs as a service: point repo_path at an application")]
    Library {
        /// The analyzed directory.
        path: String,
        /// What was found (`a Cargo workspace of 2 library crates`).
        detail: String,
    },
    /// No stack the analysis knows.
    #[error("no supported stack found in {path} ({detail}); pass dockerfile_content to generate_dockerfile to containerize it anyway")]
    Unknown {
        /// The analyzed directory.
        path: String,
        /// What was looked for.
        detail: String,
    },
    /// The project declares something that cannot be containerized as declared (a Windows-only
    /// .NET target, contradictory toolchain versions).
    #[error("{path}: {detail}")]
    Unsupported {
        /// The analyzed directory.
        path: String,
        /// What is wrong, and where it is declared.
        detail: String,
    },
}

impl AnalyzeError {
    /// `services`, `mains`, `library`, `unknown` or `unsupported`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnalyzeError::Services { .. } => "services",
            AnalyzeError::Mains { .. } => "mains",
            AnalyzeError::Library { .. } => "library",
            AnalyzeError::Unknown { .. } => "unknown",
            AnalyzeError::Unsupported { .. } => "unsupported",
        }
    }

    /// The candidate directories a refusal lists (empty for the others).
    pub fn candidates(&self) -> &[Candidate] {
        match self {
            AnalyzeError::Services { candidates, .. } | AnalyzeError::Mains { candidates, .. } => {
                candidates
            }
            _ => &[],
        }
    }
}

fn list(candidates: &[Candidate]) -> String {
    candidates
        .iter()
        .map(|c| format!("{} [{}]", c.path, c.stack))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_record_replaces_a_fallback_and_checks_name_the_rest() {
        let mut f = Facts::default();
        f.fallback("port", 8000, "uvicorn's default");
        f.fallback("health", "/", "no health route found");
        f.record("port", 7000, Evidence::at(".env", Some(1), "PORT in .env"));
        assert_eq!(f.get("port").map(|p| p.value.as_str()), Some("7000"));
        assert!(!f.get("port").is_some_and(|p| p.fallback));
        assert_eq!(f.checks().len(), 1);
        assert_eq!(
            Evidence::at(".env", Some(1), "PORT in .env").to_string(),
            ".env:1 (PORT in .env)"
        );
    }

    #[test]
    fn refusals_list_their_candidates() {
        let e = AnalyzeError::Services {
            path: "/w/platform".into(),
            candidates: vec![
                Candidate {
                    path: "services/api".into(),
                    stack: "go".into(),
                },
                Candidate {
                    path: "services/web".into(),
                    stack: "typescript/nextjs".into(),
                },
            ],
        };
        assert_eq!(e.kind(), "services");
        assert!(e
            .to_string()
            .contains("services/api [go], services/web [typescript/nextjs]"));
    }
}
