//! `cargo xtask ci`: the checks of `.ci/run`, one command.

use std::process::Command;

use anyhow::{bail, Context};

/// Runs fmt, the dependency-edge and file-size checks, clippy and the tests in the workspace
/// root, stopping at the first failure (like `.ci/run`, without starting etcd).
pub(crate) fn run() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask lives inside the workspace")?;
    let steps: [(&str, &[&str]); 5] = [
        ("cargo", &["fmt", "--all", "--", "--check"]),
        ("bash", &[".ci/check-edges.sh"]),
        ("bash", &[".ci/check-file-size.sh"]),
        (
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        ),
        ("cargo", &["test", "--workspace", "--locked"]),
    ];
    for (program, args) in steps {
        eprintln!("==> {program} {}", args.join(" "));
        let status = Command::new(program)
            .args(args)
            .current_dir(root)
            .status()
            .with_context(|| format!("cannot run {program}"))?;
        if !status.success() {
            bail!("`{program} {}` failed ({status})", args.join(" "));
        }
    }
    eprintln!("==> all CI checks passed");
    Ok(())
}
