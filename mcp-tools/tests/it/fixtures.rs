//! The fixture corpus (`tests/repos/`): each target's expected facts (`expected.toml`)
//! against what `analyze_dir` finds, fact by fact.
//!
//! A ratchet while the analysis grows into the corpus: targets in [`PENDING`] are reported
//! but not asserted; every other target must match every fact it states, and a pending
//! target that starts matching fails the test until it is taken off the list.

use std::path::{Path, PathBuf};

use mcp_tools::{analyze_dir, AnalyzeError, AnalyzeResult};
use serde::Deserialize;

/// Targets (`fixture` or `fixture/path`) the analysis does not meet yet.
pub(crate) const PENDING: &[&str] = &[];

#[derive(Debug, Deserialize)]
struct Table {
    target: Vec<Target>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Target {
    fixture: String,
    path: Option<String>,
    language: Option<String>,
    framework: Option<String>,
    manager: Option<String>,
    declared: Option<String>,
    toolchain: Option<String>,
    entrypoint: Option<String>,
    port: Option<u16>,
    kind: Option<String>,
    health: Option<String>,
    context: Option<String>,
    name: Option<String>,
    refusal: Option<String>,
    candidates: Option<Vec<String>>,
}

impl Target {
    fn id(&self) -> String {
        match &self.path {
            Some(p) => format!("{}/{p}", self.fixture),
            None => self.fixture.clone(),
        }
    }
}

pub fn repos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repos")
}

fn table() -> Table {
    let text = std::fs::read_to_string(repos().join("expected.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

/// Analyzes one target as the tool does: its fixture directory is the workspace root.
fn analyze_target(t: &Target) -> Result<AnalyzeResult, AnalyzeError> {
    let bound = repos().join(&t.fixture).canonicalize().unwrap();
    let dir = match &t.path {
        Some(p) => bound.join(p),
        None => bound.clone(),
    };
    analyze_dir(&bound, &dir)
}

/// `(fact, expected, found)` for every fact the target states that the analysis got wrong.
fn mismatches(t: &Target) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    let mut check = |fact: &'static str, want: Option<String>, got: String| {
        if let Some(want) = want {
            if want != got {
                out.push((fact, want, got));
            }
        }
    };
    match analyze_target(t) {
        Err(e) => {
            check(
                "refusal",
                Some(t.refusal.clone().unwrap_or_default()),
                e.kind().into(),
            );
            let got: Vec<String> = e.candidates().iter().map(|c| c.path.clone()).collect();
            check(
                "candidates",
                t.candidates.as_ref().map(|c| c.join(",")),
                got.join(","),
            );
            if t.refusal.is_none() {
                out.push(("error", String::new(), e.to_string()));
            }
        }
        Ok(r) => {
            check("refusal", t.refusal.clone(), String::new());
            check("language", t.language.clone(), r.language.clone());
            check("framework", t.framework.clone(), r.framework.clone());
            check("manager", t.manager.clone(), r.build_tool.clone());
            let tc = r.toolchain.clone().unwrap_or_default();
            check("declared", t.declared.clone(), tc.declared);
            check("toolchain", t.toolchain.clone(), tc.tag);
            check("entrypoint", t.entrypoint.clone(), r.entrypoint.clone());
            check("port", t.port.map(|p| p.to_string()), r.port.to_string());
            check("kind", t.kind.clone(), r.kind.as_str().into());
            check(
                "health",
                t.health.clone(),
                r.health_path.clone().unwrap_or_default(),
            );
            check("context", t.context.clone(), r.build_context.clone());
            check("name", t.name.clone(), r.app_name.clone());
        }
    }
    out
}

#[test]
fn every_fixture_target_has_its_expected_facts() {
    let table = table();
    assert!(table.target.len() >= 40, "the corpus shrank");
    let mut report = Vec::new();
    let mut failed = Vec::new();
    let (mut right, mut wrong) = (0usize, 0usize);
    for t in &table.target {
        let id = t.id();
        let bad = mismatches(t);
        let stated = [
            t.language.is_some(),
            t.framework.is_some(),
            t.manager.is_some(),
            t.declared.is_some(),
            t.toolchain.is_some(),
            t.entrypoint.is_some(),
            t.port.is_some(),
            t.kind.is_some(),
            t.health.is_some(),
            t.context.is_some(),
            t.name.is_some(),
            true, // refusal, or its absence
            t.candidates.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        wrong += bad.len();
        right += stated.saturating_sub(bad.len());
        let pending = PENDING.contains(&id.as_str());
        for (fact, want, got) in &bad {
            report.push(format!("{id}: {fact}: expected {want:?}, found {got:?}"));
        }
        match (pending, bad.is_empty()) {
            (false, false) => failed.push(id),
            (true, true) => failed.push(format!("{id} now matches: take it off PENDING")),
            _ => {}
        }
    }
    eprintln!(
        "fixture facts: {right} right, {wrong} wrong\n{}",
        report.join("\n")
    );
    assert!(
        failed.is_empty(),
        "targets failing: {failed:#?}\n{}",
        report.join("\n")
    );
}
