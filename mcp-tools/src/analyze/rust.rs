//! Rust: a Cargo package or workspace (`Cargo.toml`, read with the `toml` crate), its
//! binaries (`[[bin]]`, `src/main.rs`, `src/bin/*.rs`), the toolchain (`rust-toolchain(.toml)`
//! pins exactly, `rust-version` is a minimum), the lockfile, `.cargo/config.toml` settings
//! the build needs, and what the binary's code says about its port and health route
//! (`source.rs`).
//!
//! A workspace (or a package) without a binary is refused as a library; several binaries
//! resolve to the one whose package depends on a web framework, else are refused with the
//! candidates. A package inside a workspace builds from the workspace root (where the
//! lockfile and the path dependencies are) with `-p <package> --bin <bin>`.

mod cargo;
mod config;
mod source;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use self::cargo::{Package, Workspace};
use super::repo::join;
use super::{AnalyzeError, AnalyzeResult, Candidate, Details, Detection, Evidence, Repo};
use super::{ServiceKind, ToolchainFact};
use crate::toolchain::{self, Declared, Ecosystem, Source};

/// What a Rust Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RustDetails {
    /// The binary `cargo build` builds and the image runs.
    pub bin: String,
    /// The package (`-p`) when the build context is a workspace.
    pub package: Option<String>,
    /// Whether `Cargo.lock` is at the build context (then `--locked`).
    pub locked: bool,
    /// The manifests to copy before the sources, relative to the build context
    /// (`Cargo.toml`, `api/Cargo.toml`, `rust-toolchain.toml`, `.cargo/config.toml`).
    pub manifests: Vec<String>,
    /// The workspace's target files relative to `cargo_dir` (`api/src/main.rs`,
    /// `../shared/src/lib.rs`), created empty so `cargo fetch` can read the manifests
    /// before the sources are copied.
    pub targets: Vec<String>,
    /// The directory cargo runs in, relative to the build context (empty: the context
    /// itself; `api` for a package whose path dependencies lie beside it).
    pub cargo_dir: String,
    /// Environment the image sets (`KEY=value`) so the binary binds the port on all
    /// interfaces (`PORT=8080`, `ROCKET_ADDRESS=0.0.0.0`).
    pub env: Vec<String>,
    /// `[build] target` of `.cargo/config.toml`: the binary lands in
    /// `target/<triple>/release`.
    pub target_triple: Option<String>,
}

/// The web frameworks recognized in a package's dependencies.
const FRAMEWORKS: &[&str] = &["axum", "actix-web", "rocket", "warp", "poem"];

/// Reads directory `dir` of `repo` as a Cargo package or workspace.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let manifest = join(dir, "Cargo.toml");
    if !repo.is_file(&manifest) {
        return None;
    }
    let shown = repo.root().join(dir).display().to_string();
    // The workspace that builds `dir`: its own, or one above whose members include it.
    let ws = match cargo::workspace_of(repo, dir) {
        Ok(ws) => ws,
        Err(detail) => {
            return Detection::refusal(AnalyzeError::Unsupported {
                path: shown,
                detail,
            })
        }
    };
    let in_dir: Vec<&Package> = ws
        .packages
        .iter()
        .filter(|p| p.dir == dir || dir.is_empty() || p.dir.starts_with(&format!("{dir}/")))
        .collect();
    let bins: Vec<BinOf> = in_dir
        .iter()
        .flat_map(|p| p.bins.iter().map(move |b| (*p, b.name.as_str())))
        .collect();
    let (pkg, bin) = match pick(&bins) {
        Ok(Some(one)) => one,
        Ok(None) => {
            return Detection::refusal(AnalyzeError::Library {
                path: shown,
                detail: format!(
                    "a Cargo {} of {} library crate{}",
                    if ws.virtual_root {
                        "workspace"
                    } else {
                        "package"
                    },
                    in_dir.len(),
                    if in_dir.len() == 1 { "" } else { "s" }
                ),
            })
        }
        Err(candidates) if candidates.windows(2).all(|w| w[0].0.dir == w[1].0.dir) => {
            // Binaries of one package: no repo_path chooses between them.
            let names: Vec<&str> = candidates.iter().map(|(_, b)| *b).collect();
            return Detection::refusal(AnalyzeError::Unsupported {
                path: shown,
                detail: format!(
                    "{} builds several binaries ({}) and none is the web service; pass a Dockerfile for the one to deploy as dockerfile_content to generate_dockerfile",
                    cargo::shown(&join(&candidates[0].0.dir, "Cargo.toml"), dir),
                    names.join(", ")
                ),
            });
        }
        Err(candidates) => {
            return Detection::refusal(AnalyzeError::Mains {
                path: shown,
                candidates: candidates
                    .into_iter()
                    .map(|(p, b)| Candidate {
                        path: cargo::relative(&p.dir, dir),
                        stack: format!("rust bin {b}"),
                    })
                    .collect(),
            })
        }
    };
    let mut r = AnalyzeResult {
        language: "rust".into(),
        build_tool: "cargo".into(),
        app_name: bin.to_owned(),
        entrypoint: bin.to_owned(),
        dependencies: pkg.deps.clone(),
        ..AnalyzeResult::default()
    };
    let up = cargo::up_to(dir, &ws.context);
    let cargo_dir = match cargo::relative(&ws.root, &ws.context).as_str() {
        "." => String::new(),
        d => d.to_owned(),
    };
    let pkg_manifest = cargo::shown(&join(&pkg.dir, "Cargo.toml"), dir);
    r.evidence.push(pkg_manifest.clone());
    r.facts.record(
        "language",
        "rust",
        Evidence::at(&pkg_manifest, None, "a Cargo package"),
    );
    let lock = join(&ws.root, "Cargo.lock");
    let locked = repo.is_file(&lock);
    let (manager_file, manager_rule) = if locked {
        (
            cargo::shown(&lock, dir),
            "cargo, with the lockfile (--locked)",
        )
    } else {
        (pkg_manifest.clone(), "cargo, no lockfile")
    };
    r.facts.record(
        "manager",
        "cargo",
        Evidence::at(&manager_file, None, manager_rule),
    );
    if !locked {
        r.checks.push(format!(
            "no Cargo.lock at {}: dependency versions are resolved at build time; commit Cargo.lock for reproducible builds",
            if up == "." { "repo_path" } else { &up }
        ));
    }
    r.facts.record(
        "entrypoint",
        bin,
        Evidence::at(&pkg_manifest, None, "the binary target"),
    );
    if let Some(f) = FRAMEWORKS.iter().find(|f| pkg.deps.iter().any(|d| d == *f)) {
        r.framework = (*f).into();
        r.facts.record(
            "framework",
            f,
            Evidence::at(&pkg_manifest, pkg.dep_line(f), "a dependency"),
        );
    }
    toolchain_fact(repo, &ws, pkg, dir, &mut r);
    let triple = config::config_checks(repo, &ws.root, dir, &mut r.checks);
    if ws.context != dir {
        r.build_context = up.clone();
        let evidence = if ws.context == ws.root {
            Evidence::at(
                &cargo::shown(&join(&ws.root, "Cargo.toml"), dir),
                None,
                "the workspace root: its lockfile and the path dependencies",
            )
        } else {
            Evidence::at(
                &pkg_manifest,
                None,
                "the directory holding the package and its path dependencies",
            )
        };
        r.facts.record("context", &up, evidence);
    }
    let package = (ws.packages.len() > 1 || ws.virtual_root).then(|| pkg.name.clone());
    let mut build = String::from("cargo build --release");
    if locked {
        build.push_str(" --locked");
    }
    if let Some(p) = &package {
        build.push_str(&format!(" -p {p}"));
    }
    build.push_str(&format!(" --bin {bin}"));
    r.build_command = build;
    r.start_command = format!("/usr/local/bin/{bin}");
    let env = source::apply(repo, pkg, bin, dir, &mut r);
    if r.kind == ServiceKind::Worker {
        r.port = 0;
    }
    // Relative to the build context: the cargo root's files, then every package's.
    let mut manifests = vec![join(&cargo_dir, "Cargo.toml")];
    if locked {
        manifests.push(join(&cargo_dir, "Cargo.lock"));
    }
    for p in &ws.packages {
        let m = cargo::relative(&join(&p.dir, "Cargo.toml"), &ws.context);
        if !manifests.contains(&m) {
            manifests.push(m);
        }
    }
    for extra in [
        "rust-toolchain.toml",
        "rust-toolchain",
        ".cargo/config.toml",
    ] {
        if repo.is_file(&join(&ws.root, extra)) {
            manifests.push(join(&cargo_dir, extra));
        }
    }
    r.details = Details::Rust(RustDetails {
        bin: bin.to_owned(),
        package,
        locked,
        manifests,
        targets: ws
            .packages
            .iter()
            .flat_map(|p| p.targets())
            .map(|t| cargo::path_from(&ws.root, &t))
            .collect(),
        cargo_dir,
        env,
        target_triple: triple,
    });
    Detection::service(r)
}

/// A binary and the package it belongs to.
type BinOf<'a> = (&'a Package, &'a str);

/// The one binary to deploy: the only one, or the only one whose package depends on a
/// web framework; among several of one package its `default-run`, else the binary named
/// for the package. `Ok(None)` when there is none,
/// `Err` with the candidates when several remain.
fn pick<'a>(bins: &[BinOf<'a>]) -> Result<Option<BinOf<'a>>, Vec<BinOf<'a>>> {
    match bins {
        [] => return Ok(None),
        [one] => return Ok(Some(*one)),
        _ => {}
    }
    let web: Vec<_> = bins
        .iter()
        .copied()
        .filter(|(p, _)| FRAMEWORKS.iter().any(|f| p.deps.iter().any(|d| d == f)))
        .collect();
    let pool = if web.is_empty() { bins.to_vec() } else { web };
    match pool.as_slice() {
        [one] => Ok(Some(*one)),
        several => {
            let packages: Vec<&str> = several.iter().map(|(p, _)| p.name.as_str()).collect();
            let same_package = packages.windows(2).all(|w| w[0] == w[1]);
            let own = several
                .iter()
                .find(|(p, b)| p.default_run.as_deref() == Some(*b))
                .or_else(|| several.iter().find(|(p, b)| p.name == *b));
            match own {
                Some(one) if same_package => Ok(Some(*one)),
                _ => Err(several.to_vec()),
            }
        }
    }
}

/// The toolchain: `rust-toolchain(.toml)` at the workspace root pins exactly, the
/// package's (or workspace's) `rust-version` is a minimum; through the policy.
fn toolchain_fact(repo: &Repo, ws: &Workspace, pkg: &Package, dir: &str, r: &mut AnalyzeResult) {
    let mut decls = Vec::new();
    let mut values = Vec::new();
    for file in ["rust-toolchain.toml", "rust-toolchain"] {
        let path = join(&ws.root, file);
        let Some(text) = repo.read(&path) else {
            continue;
        };
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with("channel"))
            .map_or(1, |i| i as u32 + 1);
        let shown = cargo::shown(&path, dir);
        match Declared::parse(
            Source::RustToolchain,
            &text,
            toolchain::Evidence::new(&shown, line),
        ) {
            Ok(d) => {
                values.push(config::channel_value(&text));
                decls.push(d);
            }
            Err(e) => r.checks.push(e.to_string()),
        }
        break;
    }
    if let Some((value, file, line)) = cargo::rust_version(ws, pkg) {
        let shown = cargo::shown(&file, dir);
        let raw = format!("rust-version = \"{value}\"");
        match Declared::parse(
            Source::RustVersion,
            &raw,
            toolchain::Evidence::new(&shown, line),
        ) {
            Ok(d) => {
                values.push(value);
                decls.push(d);
            }
            Err(e) => r.checks.push(e.to_string()),
        }
    }
    let choice = toolchain::choose(Ecosystem::Rust, &decls).or_else(|e| {
        r.checks.push(e.to_string());
        values.clear();
        toolchain::choose(Ecosystem::Rust, &[])
    });
    let Ok(choice) = choice else { return };
    let raw: Vec<&str> = values.iter().map(String::as_str).collect();
    let fact = ToolchainFact::from_choice(&choice, &raw);
    match &choice.evidence {
        Some(e) => r.facts.record(
            "toolchain",
            &fact.tag,
            Evidence::at(&e.file, Some(e.line), choice.reason.clone()),
        ),
        None => r.facts.fallback("toolchain", &fact.tag, &choice.reason),
    }
    // Out of upstream support or newer than the policy knows: the build works as
    // declared, but the assistant should say so.
    if fact.flags.iter().any(|f| f != "fallback") {
        r.checks.push(format!(
            "toolchain {} ({}): {}",
            fact.tag,
            fact.flags.join(", "),
            fact.reason
        ));
    }
    r.toolchain = Some(fact);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        dir
    }

    fn detected(files: &[(&str, &str)], dir: &str) -> Result<AnalyzeResult, AnalyzeError> {
        let t = tree(files);
        let repo = Repo::new(t.path().canonicalize().unwrap());
        detect(&repo, dir).unwrap().outcome
    }

    const WS: &str = "[workspace]\nmembers = [\"crates/*\"]\n";

    #[test]
    fn a_member_of_a_workspace_builds_from_the_workspace_root() {
        let files = [
            ("Cargo.toml", WS),
            ("Cargo.lock", ""),
            (
                "crates/api/Cargo.toml",
                "[package]\nname = \"api\"\nrust-version.workspace = true\n\n[dependencies]\naxum = \"0.8\"\ncore = { path = \"../core\" }\n",
            ),
            ("crates/api/src/main.rs", "// .route(\"/healthz\", get(ok))\nfn main() {}\n"),
            ("crates/core/Cargo.toml", "[package]\nname = \"core\"\n"),
            ("crates/core/src/lib.rs", ""),
        ];
        let r = detected(&files, "crates/api").unwrap();
        assert_eq!(r.build_context, "../..");
        assert_eq!(
            r.build_command,
            "cargo build --release --locked -p api --bin api"
        );
        assert_eq!((r.port, r.framework.as_str()), (8080, "axum"));
        let Details::Rust(d) = &r.details else {
            panic!("{r:?}")
        };
        assert_eq!(
            d.targets,
            ["crates/api/src/main.rs", "crates/core/src/lib.rs"]
        );
    }

    #[test]
    fn several_binaries_resolve_to_the_web_one_or_are_refused() {
        let web = [
            ("Cargo.toml", WS),
            (
                "crates/api/Cargo.toml",
                "[package]\nname = \"api\"\n\n[dependencies]\nactix-web = \"4\"\n",
            ),
            ("crates/api/src/main.rs", "fn main() {}\n"),
            ("crates/cli/Cargo.toml", "[package]\nname = \"cli\"\n"),
            ("crates/cli/src/main.rs", "fn main() {}\n"),
        ];
        assert_eq!(detected(&web, "").unwrap().entrypoint, "api");
        let tools = [
            ("Cargo.toml", "[package]\nname = \"tools\"\n"),
            ("src/bin/a.rs", "fn main() {}\n"),
            ("src/bin/b.rs", "fn main() {}\n"),
        ];
        let mut chosen = tools;
        chosen[0].1 = "[package]\nname = \"tools\"\ndefault-run = \"b\"\n";
        assert_eq!(detected(&chosen, "").unwrap().entrypoint, "b");
        let err = detected(&tools, "").unwrap_err();
        assert_eq!(err.kind(), "unsupported", "{err}");
        assert!(err.to_string().contains("several binaries (a, b)"), "{err}");
        let two = [
            ("Cargo.toml", WS),
            ("crates/a/Cargo.toml", "[package]\nname = \"a\"\n"),
            ("crates/a/src/main.rs", ""),
            ("crates/b/Cargo.toml", "[package]\nname = \"b\"\n"),
            ("crates/b/src/main.rs", ""),
        ];
        let err = detected(&two, "").unwrap_err();
        assert_eq!(err.kind(), "mains", "{err}");
        let paths: Vec<&str> = err.candidates().iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["crates/a", "crates/b"]);
        let lib = [
            ("Cargo.toml", "[package]\nname = \"l\"\n"),
            ("src/lib.rs", ""),
        ];
        assert_eq!(detected(&lib, "").unwrap_err().kind(), "library");
        let bad = [("Cargo.toml", "[package\n")];
        assert_eq!(detected(&bad, "").unwrap_err().kind(), "unsupported");
    }

    #[test]
    fn path_dependencies_beside_a_package_widen_the_build_context() {
        let files = [
            (
                "api/Cargo.toml",
                "[package]\nname = \"api\"\n\n[dependencies]\nshared = { path = \"../libs/shared\" }\n",
            ),
            ("api/Cargo.lock", ""),
            ("api/src/main.rs", "fn main() {}\n"),
            ("libs/shared/Cargo.toml", "[package]\nname = \"shared\"\n"),
            ("libs/shared/src/lib.rs", ""),
        ];
        let r = detected(&files, "api").unwrap();
        assert_eq!(r.build_context, "..");
        let Details::Rust(d) = &r.details else {
            panic!("{r:?}")
        };
        assert_eq!(d.cargo_dir, "api");
        assert_eq!(d.targets, ["src/main.rs", "../libs/shared/src/lib.rs"]);
        assert_eq!(
            d.manifests,
            ["api/Cargo.toml", "api/Cargo.lock", "libs/shared/Cargo.toml"]
        );
        let outside = [
            (
                "Cargo.toml",
                "[package]\nname = \"a\"\n\n[dependencies]\nx = { path = \"../../x\" }\n",
            ),
            ("src/main.rs", ""),
        ];
        assert_eq!(detected(&outside, "").unwrap_err().kind(), "unsupported");
    }

    #[test]
    fn rocket_is_told_to_bind_all_interfaces_on_its_port() {
        let files = [
            (
                "Cargo.toml",
                "[package]\nname = \"blog\"\n\n[dependencies]\nrocket = \"0.5\"\n",
            ),
            (
                "src/main.rs",
                "#[get(\"/health\")]\nfn health() -> &'static str { \"ok\" }\n",
            ),
            ("Rocket.toml", "[default]\nport = 8100\n"),
        ];
        let r = detected(&files, "").unwrap();
        assert_eq!((r.port, r.health_path.as_deref()), (8100, Some("/health")));
        let Details::Rust(d) = &r.details else {
            panic!("{r:?}")
        };
        assert_eq!(d.env, ["ROCKET_ADDRESS=0.0.0.0", "ROCKET_PORT=8100"]);
    }

    #[test]
    fn cargo_config_settings_the_build_needs_are_checks() {
        let files = [
            ("Cargo.toml", "[package]\nname = \"svc\"\n"),
            ("src/main.rs", "fn main() {}\n"),
            (
                ".cargo/config.toml",
                "[build]\ntarget = \"x86_64-unknown-linux-musl\"\n\n[target.x86_64-unknown-linux-musl]\nlinker = \"musl-gcc\"\n",
            ),
        ];
        let r = detected(&files, "").unwrap();
        assert_eq!(r.kind, ServiceKind::Worker);
        assert!(
            r.checks.iter().any(|c| c.contains("linker = musl-gcc")),
            "{:?}",
            r.checks
        );
        assert!(
            r.checks.iter().any(|c| c.contains("no Cargo.lock")),
            "{:?}",
            r.checks
        );
        let Details::Rust(d) = &r.details else {
            panic!("{r:?}")
        };
        assert_eq!(
            d.target_triple.as_deref(),
            Some("x86_64-unknown-linux-musl")
        );
    }

    #[test]
    fn every_directory_of_the_fixture_corpus_reads_without_panicking() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repos");
        let repo = Repo::new(corpus.canonicalize().unwrap());
        let mut dirs = vec![String::new()];
        let mut seen = 0;
        while let Some(d) = dirs.pop() {
            let _ = detect(&repo, &d);
            seen += 1;
            dirs.extend(
                repo.list(&d)
                    .into_iter()
                    .filter(|e| e.is_dir)
                    .map(|e| e.path),
            );
        }
        assert!(seen > 30, "{seen} directories");
    }

    #[test]
    fn malformed_manifests_and_sources_do_not_panic() {
        let files = [
            ("Cargo.toml", "[package]\nname = \"x\"\nrust-version = 7\n\n[[bin]]\nname = 3\n\n[workspace]\nmembers = [\"*\", 4, \"../..\"]\n"),
            ("src/main.rs", "bind((\"0.0.0.0\"\nSocketAddr::from(([\nvar(\"PORT\")\n.route(\"\n#[get(\""),
            ("rust-toolchain", "ü\n"),
        ];
        let r = detected(&files, "").unwrap();
        assert_eq!(r.entrypoint, "x");
        assert!(
            r.checks.iter().any(|c| c.contains("rust-toolchain")),
            "{:?}",
            r.checks
        );
    }
}
