//! The toolchain of a Node.js or Bun project: `engines.node`, `.nvmrc` and `.node-version`
//! handed to [`crate::toolchain`], which picks the `node` image's release line; Bun runs on
//! `oven/bun`'s.

use super::super::repo::join;
use super::super::{Evidence, Repo, ToolchainFact};
use super::Package;
use crate::toolchain::{self, Declared, Ecosystem, Source};

/// The toolchain fact (`node` from `engines.node` / `.nvmrc` / `.node-version`, or Bun's
/// image), the evidence to record and whether it is a fallback. A declaration the policy
/// cannot read (`engines.node: "*"`) is left out with a sentence in `checks`; declarations
/// that no release satisfies together are an error.
pub(super) fn node_toolchain(
    repo: &Repo,
    dir: &str,
    pkg: &Package,
    bun: bool,
    checks: &mut Vec<String>,
) -> Result<(ToolchainFact, Evidence, bool), toolchain::ToolchainError> {
    let mut decls = Vec::new();
    if !bun {
        let engines = pkg
            .value
            .get("engines")
            .and_then(|e| e.get("node"))
            .and_then(|n| n.as_str());
        if let Some(raw) = engines {
            let line = pkg
                .text
                .lines()
                .position(|l| l.contains("\"node\"") && l.contains(raw))
                .map_or(0, |i| i as u32 + 1);
            let ev = toolchain::Evidence::new("package.json", line);
            decls.extend(readable(
                Declared::parse(Source::EnginesNode, raw, ev),
                checks,
            ));
        }
        for f in [".nvmrc", ".node-version"] {
            if let Some(raw) = repo.read(&join(dir, f)) {
                let ev = toolchain::Evidence::new(f, 1);
                let decl = Declared::parse(Source::NodeVersionFile, raw.trim(), ev);
                decls.extend(readable(decl, checks));
            }
        }
    }
    let ecosystem = if bun { Ecosystem::Bun } else { Ecosystem::Node };
    let choice = toolchain::choose(ecosystem, &decls)?;
    let deciding = choice
        .evidence
        .as_ref()
        .and_then(|ev| decls.iter().find(|d| d.evidence() == ev))
        .or(decls.first());
    let raw: Vec<&str> = deciding.map(|d| d.raw().trim()).into_iter().collect();
    let fact = ToolchainFact::from_choice(&choice, &raw);
    let ev = match deciding {
        Some(d) => Evidence::at(
            &d.evidence().file,
            Some(d.evidence().line).filter(|l| *l > 0),
            choice.reason.clone(),
        ),
        None => Evidence::rule(choice.reason.clone()),
    };
    Ok((fact, ev, deciding.is_none()))
}

/// The declaration, or `None` with the reason in `checks`.
fn readable(
    decl: Result<Declared, toolchain::ToolchainError>,
    checks: &mut Vec<String>,
) -> Option<Declared> {
    decl.map_err(|e| checks.push(format!("{e}; it was not used")))
        .ok()
}
