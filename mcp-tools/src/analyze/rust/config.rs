//! The files beside the manifests that change how cargo builds: `rust-toolchain(.toml)`
//! (the channel it pins) and `.cargo/config.toml` (a build target, a linker, rustflags the
//! builder image must provide).

use toml::{Table, Value};

use super::super::repo::join;
use super::super::Repo;
use super::cargo::shown;

/// The channel a `rust-toolchain(.toml)` file names, as written (`1.88.0`, `stable`).
pub(super) fn channel_value(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("channel"))
        .or_else(|| text.lines().next())
        .unwrap_or_default();
    let value = line.split_once('=').map_or(line, |(_, v)| v);
    value.trim().trim_matches('"').trim_matches('\'').to_owned()
}

/// The checks `.cargo/config.toml` (at the workspace root or at `dir`) calls for: a
/// linker, rustflags or a build target the builder image must provide. Returns the
/// `[build] target` triple, which moves the binary to `target/<triple>/release`.
pub(super) fn config_checks(
    repo: &Repo,
    root: &str,
    dir: &str,
    checks: &mut Vec<String>,
) -> Option<String> {
    let mut triple = None;
    let mut dirs = vec![root.to_owned()];
    if dir != root {
        dirs.push(dir.to_owned());
    }
    for d in dirs {
        for name in [".cargo/config.toml", ".cargo/config"] {
            let path = join(&d, name);
            let Some(t) = repo.read(&path).and_then(|s| s.parse::<Table>().ok()) else {
                continue;
            };
            let shown = shown(&path, dir);
            let build = t.get("build").and_then(Value::as_table);
            if let Some(target) = build.and_then(|b| b.get("target")).and_then(Value::as_str) {
                checks.push(format!("{shown} builds for target {target}: the builder image needs it installed (rustup target add {target}) and its linker"));
                triple = Some(target.to_owned());
            }
            if build.is_some_and(|b| b.contains_key("rustflags")) {
                checks.push(format!(
                    "{shown} sets build.rustflags: check that they suit the builder image"
                ));
            }
            for (triple, cfg) in t
                .get("target")
                .and_then(Value::as_table)
                .into_iter()
                .flatten()
            {
                if let Some(linker) = cfg.get("linker").and_then(Value::as_str) {
                    checks.push(format!("{shown} sets linker = {linker} for {triple}: the builder image must provide it"));
                }
                if cfg.get("rustflags").is_some() {
                    checks.push(format!("{shown} sets rustflags for {triple}: check that the builder image supports them"));
                }
            }
        }
    }
    triple
}
