//! `analyze_repository`'s real work: the facts of one deployable service — stack,
//! toolchain, entrypoint, port, health path, build context — each with its evidence, read
//! from the repository through [`Repo`] (bounded, confined reads), or a refusal saying why
//! `repo_path` is not one service ([`AnalyzeError`]).
//!
//! Each ecosystem has its file (`node.rs`, `python.rs`, `go.rs`, `rust.rs`, `java.rs` for
//! Maven and Gradle, `dotnet.rs`) with a `detect(repo, dir)` that reads one directory and
//! says how strongly it is a service of that ecosystem ([`Strength`]). [`analyze_dir`] takes
//! the strongest detection at `repo_path`; when none is a service it looks for services in
//! the subdirectories and refuses with the candidates (a monorepo root), or refuses as a
//! library or an unknown stack. `port.rs` reads a port stated in the sources and, for every
//! stack, the generic sources (an existing `EXPOSE`, compose ports, `.env`) that replace a
//! defaulted port; `compose.rs` reads compose files; `facts.rs` holds the facts, their
//! evidence and the refusals.

mod compose;
mod dotnet;
// The reader and the facts API serve the ecosystem detectors, which are being moved onto
// them one by one (issue #11); until then parts are unused.
#[allow(dead_code)]
mod facts;
mod go;
mod java;
mod node;
mod port;
mod python;
#[allow(dead_code)]
pub(crate) mod repo;
mod rust;
mod services;
mod summary;

use std::path::Path;

pub use self::facts::{AnalyzeError, Candidate, Evidence, Fact, Facts, ServiceKind};

pub(crate) use self::node::{NodeDetails, NodeRuntime};
pub use self::repo::Skipped;
pub(crate) use self::repo::{Repo, MAX_ANALYSIS_TIME};
pub(crate) use self::{go::GoDetails, rust::RustDetails};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the analysis found (the Go server's `analyze_result` fields).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AnalyzeResult {
    /// `javascript`, `typescript`, `python`, `go`, `java`, `rust`, `csharp`, or `unknown`.
    pub language: String,
    /// The web framework, when one is recognized (`express`, `flask`, `spring-boot`, …).
    #[serde(default)]
    pub framework: String,
    /// The build tool (`npm`, `pip`, `go`, `maven`, `gradle`, `cargo`, `dotnet`, …).
    #[serde(default)]
    pub build_tool: String,
    /// The port the application listens on.
    #[serde(default, deserialize_with = "lenient_port")]
    pub port: u16,
    /// The command that installs dependencies and builds.
    #[serde(default)]
    pub build_command: String,
    /// The command that starts the application.
    #[serde(default)]
    pub start_command: String,
    /// Direct dependencies found in the manifest.
    #[serde(default)]
    pub dependencies: Vec<String>,
    /// Development dependencies found in the manifest.
    #[serde(default)]
    pub dev_dependencies: Vec<String>,
    /// The application's name (manifest name or directory name), sanitized for images.
    #[serde(default)]
    pub app_name: String,
    /// Files that decided the result.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The repository directory the analysis read, after the workspace check resolved it.
    #[serde(default)]
    pub repo_path: String,
    /// `web` (listens on `port`: gets a Service and probes) or `worker` (listens on
    /// nothing: no Service, no port probe).
    #[serde(default)]
    pub kind: ServiceKind,
    /// What starts the service: a Python `module:object`, a Node script, a Go package path,
    /// a jar, a Rust binary, a .NET assembly (case preserved).
    #[serde(default)]
    pub entrypoint: String,
    /// The base image's toolchain version and why it was chosen.
    #[serde(default)]
    pub toolchain: Option<ToolchainFact>,
    /// An HTTP path that answers when the service is healthy, when one is known (a route in
    /// the code, Spring Boot's actuator); probes fall back to TCP without it.
    #[serde(default)]
    pub health_path: Option<String>,
    /// The build context relative to `repo_path` (`.`, or a module root above it such as
    /// `../..` for a Go main package two levels below its `go.mod`).
    #[serde(default = "dot")]
    pub build_context: String,
    /// Every fact with its evidence (file and line, or the rule that gave it).
    #[serde(default)]
    pub facts: Facts,
    /// What the assistant should check: the facts that are fallbacks, and warnings.
    #[serde(default)]
    pub checks: Vec<String>,
    /// What the Dockerfile of this stack needs beyond the common facts.
    #[serde(default)]
    pub details: Details,
    /// Repository entries the analysis did not read, each with why (a symlink leading out
    /// of the allowed root, a FIFO or device, a file over the 1 MiB cap or past the
    /// analysis's total budget): a fact that depends on one of them may be missing.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

fn dot() -> String {
    ".".into()
}

/// The base image's version: the image, its tag, and the reason (from the declared
/// toolchain, see `crate::toolchain`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ToolchainFact {
    /// The official image (`golang`, `python`, `node`, `eclipse-temurin`, `rust`, …).
    pub image: String,
    /// The version part of its tag (`1.26`, `3.11`, `22`, `21`, `10.0`, `1`).
    pub tag: String,
    /// .NET: the SDK tag of the build stage when `global.json` asks for a newer one.
    pub build_sdk: Option<String>,
    /// The declaration that decided it, as written (`go 1.24`, `>=3.10`), empty when the
    /// project declares none.
    pub declared: String,
    /// Why this version, in one sentence (the declaration and the policy).
    pub reason: String,
    /// `fallback` (nothing declared), `unsupported` (out of upstream support),
    /// `newer_than_known`.
    pub flags: Vec<String>,
}

#[allow(dead_code)] // used by the detectors as they move onto the toolchain policy (#11)
impl ToolchainFact {
    /// The fact for a `choice` of `crate::toolchain::choose`, decided by the declarations
    /// `declared` (their raw text, the deciding one first; empty when none).
    pub(crate) fn from_choice(choice: &crate::toolchain::Choice, declared: &[&str]) -> Self {
        use crate::toolchain::Flag;
        ToolchainFact {
            image: choice.ecosystem.image().to_owned(),
            tag: choice.tag.clone(),
            build_sdk: choice.build_sdk.clone(),
            reason: choice.reason.clone(),
            declared: declared
                .first()
                .map(|d| (*d).to_owned())
                .unwrap_or_default(),
            flags: choice
                .flags
                .iter()
                .map(|f| match f {
                    Flag::Fallback => "fallback",
                    Flag::NewerThanKnown => "newer_than_known",
                    Flag::Unsupported => "unsupported",
                })
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// Per-stack facts the Dockerfile needs, written by that stack's detector.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "stack", rename_all = "snake_case")]
pub enum Details {
    /// Nothing beyond the common facts (an analysis stored by an older version).
    #[default]
    None,
    /// Python.
    Python(python::PythonDetails),
    /// Node.js, Bun, Deno.
    Node(node::NodeDetails),
    /// Go.
    Go(go::GoDetails),
    /// Rust.
    Rust(rust::RustDetails),
    /// Java on Maven or Gradle.
    Java(java::JavaDetails),
    /// .NET.
    Dotnet(dotnet::DotnetDetails),
}

/// How strongly a directory is a service of one ecosystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[allow(dead_code)]
pub(crate) enum Strength {
    /// Only tooling (a `package.json` of linters next to a Django app).
    Tooling,
    /// Builds, but runs nothing (libraries), or refuses for a reason of its own
    /// (several main packages): a refusal unless a service is found elsewhere.
    Refusal,
    /// One deployable service.
    Service,
}

/// One ecosystem's reading of a directory.
#[derive(Debug)]
pub(crate) struct Detection {
    pub(crate) strength: Strength,
    pub(crate) outcome: Result<AnalyzeResult, AnalyzeError>,
}

#[allow(dead_code)]
impl Detection {
    /// A deployable service.
    pub(crate) fn service(r: AnalyzeResult) -> Option<Detection> {
        Some(Detection {
            strength: Strength::Service,
            outcome: Ok(r),
        })
    }

    /// A refusal, unless a service is found in a subdirectory.
    pub(crate) fn refusal(e: AnalyzeError) -> Option<Detection> {
        Some(Detection {
            strength: Strength::Refusal,
            outcome: Err(e),
        })
    }

    /// Tooling only: the directory is no service of this ecosystem.
    pub(crate) fn tooling(r: AnalyzeResult) -> Option<Detection> {
        Some(Detection {
            strength: Strength::Tooling,
            outcome: Ok(r),
        })
    }
}

/// A detector: one ecosystem's reading of directory `dir` (relative to the repo's root).
type Detector = fn(&Repo, &str) -> Option<Detection>;

/// Every detector, in the order that breaks ties between equally strong detections.
const DETECTORS: [Detector; 6] = [
    node::detect,
    go::detect,
    rust::detect,
    java::detect,
    dotnet::detect,
    python::detect,
];

fn lenient_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.as_f64())
        .filter(|p| *p >= 0.0 && *p <= 65535.0)
        .map_or(0, |p| p as u16))
}

/// Analyzes the repository at `root` (its own root): [`analyze_dir`] of `root` in `root`.
///
/// # Errors
/// [`AnalyzeError`] when `root` is not one deployable service.
pub fn analyze(root: &Path) -> Result<AnalyzeResult, AnalyzeError> {
    analyze_dir(root, root)
}

/// Analyzes the directory `dir`, reading nothing outside `bound` (the workspace root that
/// holds it): a module root above `dir` (a `go.mod` one level up, a .NET solution) may be
/// read when it lies inside `bound`.
///
/// # Errors
/// [`AnalyzeError`] when `dir` is not one deployable service: services below it
/// (with the candidates), several Go main packages, only libraries, or no known stack.
pub fn analyze_dir(bound: &Path, dir: &Path) -> Result<AnalyzeResult, AnalyzeError> {
    analyze_dir_reporting(bound, dir).0
}

/// [`analyze_dir`], and the entries it did not read (also in the result's `skipped`, and
/// returned here for a refusal too).
pub fn analyze_dir_reporting(
    bound: &Path,
    dir: &Path,
) -> (Result<AnalyzeResult, AnalyzeError>, Vec<Skipped>) {
    let repo = Repo::new(bound);
    let mut outcome = analyze_in(&repo, bound, dir);
    let skipped = repo.skipped();
    if let Ok(r) = &mut outcome {
        r.skipped = skipped.clone();
    }
    (outcome, skipped)
}

fn analyze_in(repo: &Repo, bound: &Path, dir: &Path) -> Result<AnalyzeResult, AnalyzeError> {
    let rel = dir
        .strip_prefix(bound)
        .ok()
        .and_then(|p| p.to_str())
        .unwrap_or("")
        .to_owned();
    let shown = dir.display().to_string();
    let best = detect_at(repo, &rel);
    let mut result = match best {
        Some(Detection {
            strength: Strength::Service,
            outcome,
        }) => outcome?,
        // A refusal of the directory's own ecosystem (a library-only workspace, several Go
        // mains) is final: its subdirectories are its own packages, not services.
        Some(Detection {
            strength: Strength::Refusal,
            outcome: Err(e),
        }) => return Err(e),
        other => {
            let candidates = services::candidates(repo, &rel);
            if !candidates.is_empty() {
                return Err(AnalyzeError::Services {
                    path: shown,
                    candidates,
                });
            }
            return Err(match other {
                Some(Detection {
                    outcome: Err(e), ..
                }) => e,
                _ => AnalyzeError::Unknown {
                    path: shown,
                    detail: "no package.json with a start script or server, go.mod, Cargo.toml, pom.xml, build.gradle(.kts), *.csproj, requirements.txt, pyproject.toml or Pipfile".into(),
                },
            });
        }
    };
    finish(repo, &rel, dir, &mut result);
    Ok(result)
}

/// The strongest detection at `dir`, ties going to the earlier detector.
fn detect_at(repo: &Repo, dir: &str) -> Option<Detection> {
    let mut best: Option<Detection> = None;
    for detect in DETECTORS {
        if let Some(d) = detect(repo, dir) {
            if best.as_ref().is_none_or(|b| d.strength > b.strength) {
                best = Some(d);
            }
        }
    }
    best
}

/// `path` relative to `dir` (both relative to the repo root, `dir` an ancestor).
fn relative_to(path: &str, dir: &str) -> String {
    match dir {
        "" | "." => path.to_owned(),
        d => path
            .strip_prefix(d)
            .map_or(path, |p| p.trim_start_matches('/'))
            .to_owned(),
    }
}

/// What every analysis ends with: the path, a DNS-1035 name, the common facts.
fn finish(repo: &Repo, rel: &str, dir: &Path, r: &mut AnalyzeResult) {
    r.repo_path = dir.display().to_string();
    let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("app");
    if r.app_name.is_empty() {
        r.app_name = dir_name.to_owned();
    }
    r.app_name = sanitize_name(&r.app_name);
    if r.build_context.is_empty() {
        r.build_context = dot();
    }
    if r.facts.get("language").is_none() {
        r.facts
            .record("language", &r.language, Evidence::rule("detected stack"));
    }
    if r.facts.get("name").is_none() {
        r.facts.record(
            "name",
            &r.app_name,
            Evidence::rule("manifest or directory name, as a DNS-1035 label"),
        );
    }
    port::apply_generic_port(repo, rel, r);
    let mut checks = r.facts.checks();
    // The toolchain's reason when its choice is flagged, unless a check says it already:
    // the toolchain fact's own (a fallback), or the detector's (which quotes the reason).
    if let Some(t) = &r.toolchain {
        let said = r.facts.get("toolchain").is_some_and(|f| f.fallback);
        let quoted = !t.reason.is_empty() && r.checks.iter().any(|c| c.contains(&t.reason));
        let flags: Vec<&str> = (t.flags.iter().map(String::as_str))
            .filter(|f| !(said && *f == "fallback"))
            .collect();
        if !flags.is_empty() && !quoted {
            checks.push(format!(
                "toolchain {}:{} is flagged {}: {}",
                t.image,
                t.tag,
                t.flags.join(", "),
                t.reason
            ));
        }
    }
    checks.append(&mut r.checks);
    checks.dedup();
    r.checks = checks;
}

/// A DNS-1035 label, as image names and Kubernetes Services need: lowercase `[a-z0-9-]`,
/// starting with a letter (`2048` → `app-2048`), no double or edge dashes, at most 50
/// characters (room for suffixes within the 63 a label allows).
pub fn sanitize_name(name: &str) -> String {
    let mut s = String::new();
    for c in name.to_ascii_lowercase().chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if !(c == '-' && (s.is_empty() || s.ends_with('-'))) {
            s.push(c);
        }
    }
    let mut s = s.trim_end_matches('-').to_owned();
    if s.is_empty() {
        return "app".into();
    }
    if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
        s = format!("app-{s}");
    }
    s.truncate(50);
    s.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        dir
    }

    fn check(
        files: &[(&str, &str)],
        language: &str,
        framework: &str,
        port: u16,
        build: &str,
        start: &str,
    ) {
        let dir = repo(files);
        let root = dir.path().canonicalize().unwrap();
        let r = analyze(&root).unwrap();
        assert_eq!(
            (r.language.as_str(), r.framework.as_str(), r.port),
            (language, framework, port),
            "{r:?}"
        );
        assert!(r.build_command.contains(build), "{r:?}");
        assert!(r.start_command.contains(start), "{r:?}");
    }

    #[test]
    fn detects_the_common_stacks() {
        check(
            &[
                (
                    "package.json",
                    r#"{"name":"@acme/shop","scripts":{"start":"node server.js"},"dependencies":{"express":"^4"}}"#,
                ),
                ("package-lock.json", "{}"),
                ("server.js", "app.listen(8081)"),
            ],
            "javascript",
            "express",
            8081,
            "npm ci",
            "node server.js",
        );
        check(
            &[
                (
                    "package.json",
                    r#"{"dependencies":{"next":"14"},"devDependencies":{"typescript":"5"},"scripts":{"build":"next build","start":"next start"}}"#,
                ),
                ("yarn.lock", ""),
            ],
            "typescript",
            "nextjs",
            3000,
            "yarn run build",
            "next start -H 0.0.0.0 -p 3000",
        );
        check(
            &[
                ("requirements.txt", "Flask==3.0\ngunicorn\n"),
                ("app.py", "app.run(port=5001)"),
            ],
            "python",
            "flask",
            5001,
            "pip install",
            "gunicorn",
        );
        check(
            &[
                (
                    "pyproject.toml",
                    "[project]\ndependencies=['fastapi','uvicorn']",
                ),
                ("main.py", ""),
            ],
            "python",
            "fastapi",
            8000,
            "pip install",
            "uvicorn main:app",
        );
        check(&[("go.mod", "module github.com/acme/api\n\ngo 1.22\n\nrequire github.com/gin-gonic/gin v1.9.1\n"), ("main.go", "package main\n\nfunc main() { r.Run(\":9090\") }\n")], "go", "gin", 9090, "go build", "/server");
        check(&[("pom.xml", "<project><parent><artifactId>spring-boot-starter-parent</artifactId></parent><artifactId>orders</artifactId></project>")], "java", "spring-boot", 8080, "mvn -B package", "java -jar");
        check(
            &[
                ("build.gradle.kts", "plugins { id(\"io.quarkus\") }"),
                ("gradlew", ""),
            ],
            "java",
            "quarkus",
            8080,
            "./gradlew build",
            "java -jar",
        );
        check(
            &[(
                "Cargo.toml",
                "[package]\nname = \"svc\"\n\n[dependencies]\naxum = \"0.7\"\n",
            )],
            "rust",
            "axum",
            8080,
            "cargo build --release",
            "/usr/local/bin/svc",
        );
        check(
            &[(
                "Api.csproj",
                "<Project Sdk=\"Microsoft.NET.Sdk.Web\"></Project>",
            )],
            "csharp",
            "aspnet-core",
            8080,
            "dotnet publish",
            "dotnet Api.dll",
        );
    }

    #[test]
    fn an_unknown_stack_is_refused_not_given_a_placeholder() {
        let dir = repo(&[
            ("README.md", "hi"),
            ("hello.c", "int main(void) { return 0; }"),
        ]);
        let err = analyze(&dir.path().canonicalize().unwrap()).unwrap_err();
        assert_eq!(err.kind(), "unknown", "{err}");
    }

    #[test]
    fn a_monorepo_root_is_refused_with_its_services() {
        let dir = repo(&[
            ("services/api/go.mod", "module x\n\ngo 1.26\n"),
            ("services/api/main.go", "package main"),
            ("services/worker/requirements.txt", "celery\n"),
            ("README.md", "platform"),
        ]);
        let err = analyze(&dir.path().canonicalize().unwrap()).unwrap_err();
        assert_eq!(err.kind(), "services", "{err}");
        let paths: Vec<&str> = err.candidates().iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["services/api", "services/worker"]);
    }

    #[test]
    fn a_flagged_toolchain_is_a_check_with_its_reason() {
        let dir = repo(&[]);
        let root = dir.path().canonicalize().unwrap();
        let mut r = AnalyzeResult {
            toolchain: Some(ToolchainFact {
                image: "python".into(),
                tag: "3.13".into(),
                reason: "nothing declared: the policy's default".into(),
                flags: vec!["fallback".into()],
                ..ToolchainFact::default()
            }),
            ..AnalyzeResult::default()
        };
        r.facts.fallback("port", 8000, "uvicorn's default");
        finish(&Repo::new(&root), "", &root, &mut r);
        assert_eq!(r.checks.len(), 2, "{:?}", r.checks);
        assert!(r.checks[0].starts_with("port = 8000 is a fallback"));
        assert_eq!(
            r.checks[1],
            "toolchain python:3.13 is flagged fallback: nothing declared: the policy's default"
        );
        // Said once: the toolchain fact's own check already names the fallback.
        r.checks.clear();
        r.facts.fallback(
            "toolchain",
            "3.13",
            "nothing declared: the policy's default",
        );
        finish(&Repo::new(&root), "", &root, &mut r);
        assert_eq!(r.checks.len(), 2, "{:?}", r.checks);
        assert!(
            r.checks.iter().all(|c| !c.contains("is flagged")),
            "{:?}",
            r.checks
        );
        r.checks.clear();
        if let Some(t) = r.toolchain.as_mut() {
            t.flags.push("unsupported".into());
        }
        finish(&Repo::new(&root), "", &root, &mut r);
        assert!(
            r.checks[2].contains("flagged fallback, unsupported"),
            "{:?}",
            r.checks
        );
        r.checks = vec!["nothing declared: the policy's default: check the tag".into()];
        finish(&Repo::new(&root), "", &root, &mut r);
        assert!(
            r.checks.iter().all(|c| !c.contains("is flagged")),
            "{:?}",
            r.checks
        );
    }

    #[test]
    fn names_are_sanitized_for_images() {
        assert_eq!(sanitize_name("My_App.Service"), "my-app-service");
        assert_eq!(sanitize_name("___"), "app");
        assert_eq!(sanitize_name("2048"), "app-2048");
        assert_eq!(sanitize_name("a--b__c"), "a-b-c");
    }
}
