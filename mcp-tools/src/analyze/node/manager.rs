//! Which package manager installs a Node.js or Bun project, decided by its lockfile (and
//! the `packageManager` field of `package.json` when it names one), and the commands that
//! install from that lockfile without changing it.

use super::super::repo::join;
use super::super::{Evidence, Repo};

/// The lockfiles, in the order that breaks a tie when several lie side by side and the
/// `packageManager` field says nothing.
const LOCKFILES: [(&str, &str); 6] = [
    ("pnpm-lock.yaml", "pnpm"),
    ("yarn.lock", "yarn"),
    ("bun.lock", "bun"),
    ("bun.lockb", "bun"),
    ("package-lock.json", "npm"),
    ("npm-shrinkwrap.json", "npm"),
];

/// The manager and its commands.
#[derive(Debug, Clone)]
pub(super) struct Manager {
    /// `npm`, `yarn`, `pnpm` or `bun`.
    pub(super) tool: &'static str,
    /// Files the install reads, copied before the sources: `package.json`, the lockfile,
    /// `.yarnrc.yml` / `.npmrc` when present.
    pub(super) manifests: Vec<String>,
    /// Installs every dependency as the lockfile pins it.
    pub(super) install: String,
    /// Installs the production dependencies only.
    pub(super) install_prod: String,
    /// Run before the manager (`corepack enable`), empty when the image ships the manager.
    pub(super) setup: &'static str,
    /// Why this manager.
    pub(super) evidence: Evidence,
    /// True when nothing pinned the install (no lockfile).
    pub(super) fallback: bool,
    /// What the assistant should check about the install.
    pub(super) checks: Vec<String>,
}

/// The manager of directory `dir`, whose `package.json` (text `pkg`, value `v`) may carry a
/// `packageManager` field such as `pnpm@9.15.1`.
pub(super) fn detect(repo: &Repo, dir: &str, pkg: &str, v: &serde_json::Value) -> Manager {
    let field = v.get("packageManager").and_then(|m| m.as_str());
    let (field_tool, field_major) = match field.and_then(|f| f.split_once('@')) {
        Some((tool, version)) => (
            Some(tool),
            version
                .split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok()),
        ),
        None => (field, None),
    };
    let present: Vec<(&str, &str)> = LOCKFILES
        .iter()
        .copied()
        .filter(|(f, _)| repo.is_file(&join(dir, f)))
        .collect();
    let chosen = present
        .iter()
        .find(|(_, t)| Some(*t) == field_tool)
        .or(present.first())
        .copied();
    let field_line = || {
        pkg.lines()
            .position(|l| l.contains("\"packageManager\""))
            .map(|i| i as u32 + 1)
    };
    let (tool, lockfile, evidence) = match chosen {
        Some((file, tool)) => (
            tool,
            Some(file.to_owned()),
            Evidence::at(file, None, format!("{file} is {tool}'s lockfile")),
        ),
        None => match field_tool {
            Some(t @ ("pnpm" | "yarn" | "bun" | "npm")) => {
                let t: &'static str = match t {
                    "pnpm" => "pnpm",
                    "yarn" => "yarn",
                    "bun" => "bun",
                    _ => "npm",
                };
                (
                    t,
                    None,
                    Evidence::at("package.json", field_line(), "the packageManager field"),
                )
            }
            _ => (
                "npm",
                None,
                Evidence::rule("no lockfile and no packageManager field: npm"),
            ),
        },
    };
    let berry = tool == "yarn"
        && (repo.is_file(&join(dir, ".yarnrc.yml"))
            || (field_tool == Some("yarn") && field_major.is_some_and(|m| m >= 2))
            || repo
                .read(&join(dir, "yarn.lock"))
                .is_some_and(|l| l.contains("__metadata:")));
    let locked = lockfile.is_some();
    let (install, install_prod, setup) = match (tool, locked) {
        ("pnpm", true) => (
            "pnpm install --frozen-lockfile",
            "pnpm install --frozen-lockfile --prod",
            "corepack enable",
        ),
        ("pnpm", false) => ("pnpm install", "pnpm install --prod", "corepack enable"),
        ("yarn", _) if berry => (
            if locked {
                "yarn install --immutable"
            } else {
                "yarn install"
            },
            "yarn workspaces focus --all --production",
            "corepack enable",
        ),
        ("yarn", true) => (
            "yarn install --frozen-lockfile",
            "yarn install --frozen-lockfile --production",
            "",
        ),
        ("yarn", false) => ("yarn install", "yarn install --production", ""),
        ("bun", true) => (
            "bun install --frozen-lockfile",
            "bun install --frozen-lockfile --production",
            "",
        ),
        ("bun", false) => ("bun install", "bun install --production", ""),
        (_, true) => ("npm ci", "npm ci --omit=dev", ""),
        (_, false) => ("npm install", "npm install --omit=dev", ""),
    };
    let mut manifests = vec!["package.json".to_owned()];
    manifests.extend(lockfile.clone());
    for extra in [".npmrc", ".yarnrc.yml"] {
        if repo.is_file(&join(dir, extra)) && (extra == ".npmrc" || berry) {
            manifests.push(extra.to_owned());
        }
    }
    let mut checks = Vec::new();
    // Yarn Berry defaults to Plug'n'Play (no node_modules); the image's stages copy
    // node_modules, so the install asks for that linker (the lockfile does not depend on it).
    let pnp = berry
        && !repo
            .read(&join(dir, ".yarnrc.yml"))
            .is_some_and(|y| y.contains("nodeLinker"));
    let linker = if pnp {
        "YARN_NODE_LINKER=node-modules "
    } else {
        ""
    };
    if berry && field_tool != Some("yarn") {
        checks.push(
            "Yarn Berry without a packageManager field: corepack would run Yarn 1; add \"packageManager\": \"yarn@<version>\""
                .to_owned(),
        );
    }
    if !locked {
        if let Some(up) = ancestor_lockfile(repo, dir) {
            checks.push(format!(
                "no lockfile here but {up} holds one: this looks like a workspace member; build from the workspace root or the install is not reproducible"
            ));
        }
    }
    Manager {
        tool,
        manifests,
        install: format!("{linker}{install}"),
        install_prod: format!("{linker}{install_prod}"),
        setup,
        evidence,
        fallback: !locked,
        checks,
    }
}

/// The nearest lockfile in a directory above `dir` (inside the repository), as a path
/// relative to the repository root.
fn ancestor_lockfile(repo: &Repo, dir: &str) -> Option<String> {
    let mut d = dir.trim_end_matches('/');
    while !d.is_empty() && d != "." {
        d = super::super::repo::parent(d);
        if let Some((f, _)) = LOCKFILES.iter().find(|(f, _)| repo.is_file(&join(d, f))) {
            return Some(join(d, f));
        }
    }
    None
}
