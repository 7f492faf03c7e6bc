//! [`choose()`] on the fixture corpus: every `declared` → `toolchain` pair of
//! `tests/repos/expected.toml`, each declaration read from its fixture file at the line
//! given, so the evidence is checked too.

use super::*;
use crate::toolchain::{Evidence, Source};

/// A declaration as a fixture holds it: source, file (relative to the fixture target) and
/// line. The text is read from the file, so the evidence is checked too.
type Decl = (Source, &'static str, u32);

/// One analysis target of expected.toml that has a `toolchain` fact.
struct Target {
    /// `fixture` or `fixture/path`, as expected.toml names the target.
    key: &'static str,
    ecosystem: Ecosystem,
    declared: &'static str,
    toolchain: &'static str,
    decls: &'static [Decl],
}

const fn t(
    key: &'static str,
    ecosystem: Ecosystem,
    declared: &'static str,
    toolchain: &'static str,
    decls: &'static [Decl],
) -> Target {
    Target {
        key,
        ecosystem,
        declared,
        toolchain,
        decls,
    }
}

use Ecosystem::{Dotnet, Go, Java, Node, Python, Rust};
use Source::*;

const TARGETS: &[Target] = &[
    t("flask-minimal", Python, "", "3.13", &[]),
    t(
        "flask-factory",
        Python,
        ">=3.10",
        "3.11",
        &[(RequiresPython, "pyproject.toml", 6)],
    ),
    t(
        "flask-service-module",
        Python,
        "3.12",
        "3.12",
        &[(PythonVersionFile, ".python-version", 1)],
    ),
    t("fastapi-app-package", Python, "", "3.13", &[]),
    t(
        "fastapi-uv",
        Python,
        ">=3.13",
        "3.13",
        &[
            (RequiresPython, "pyproject.toml", 4),
            (PythonVersionFile, ".python-version", 1),
        ],
    ),
    t(
        "fastapi-poetry",
        Python,
        "^3.12",
        "3.12",
        &[(PoetryPython, "pyproject.toml", 9)],
    ),
    t("django-lint-package-json", Python, "", "3.13", &[]),
    t(
        "django-pipenv",
        Python,
        "3.12",
        "3.12",
        &[(PipfilePython, "Pipfile", 15)],
    ),
    t(
        "python-procfile",
        Python,
        "python-3.11.9",
        "3.11",
        &[(RuntimeTxt, "runtime.txt", 1)],
    ),
    t("python-worker", Python, "", "3.13", &[]),
    t(
        "python-src-layout",
        Python,
        ">=3.12",
        "3.12",
        &[(RequiresPython, "pyproject.toml", 4)],
    ),
    t(
        "express-src-index",
        Node,
        ">=18",
        "22",
        &[(EnginesNode, "package.json", 11)],
    ),
    t(
        "express-yarn",
        Node,
        "20",
        "22",
        &[(NodeVersionFile, ".nvmrc", 1)],
    ),
    t("nextjs-standalone", Node, "", "24", &[]),
    t(
        "nextjs-pnpm",
        Node,
        ">=20.9.0",
        "22",
        &[(EnginesNode, "package.json", 5)],
    ),
    t("nestjs-api", Node, "", "24", &[]),
    t(
        "node-ts-express",
        Node,
        "22.11.0",
        "22",
        &[(NodeVersionFile, ".node-version", 1)],
    ),
    t("node-existing-dockerfile", Node, "", "24", &[]),
    t(
        "go-root-main",
        Go,
        "1.24",
        "1.26",
        &[(GoDirective, "go.mod", 3), (GoToolchain, "go.mod", 5)],
    ),
    t(
        "go-cmd-single",
        Go,
        "1.26.0",
        "1.26",
        &[(GoDirective, "go.mod", 3)],
    ),
    t(
        "go-multi-main/cmd/api",
        Go,
        "1.25",
        "1.26",
        &[(GoDirective, "../../go.mod", 3)],
    ),
    t(
        "spring-maven-actuator",
        Java,
        "21",
        "21",
        &[(MavenProperty, "pom.xml", 17)],
    ),
    t(
        "spring-gradle-kts",
        Java,
        "17",
        "17",
        &[(Gradle, "build.gradle.kts", 12)],
    ),
    t(
        "quarkus-maven",
        Java,
        "21",
        "21",
        &[(MavenProperty, "pom.xml", 9)],
    ),
    t(
        "axum-api",
        Rust,
        "1.85",
        "1",
        &[(RustVersion, "Cargo.toml", 5)],
    ),
    t(
        "actix-workspace",
        Rust,
        "1.88.0",
        "1.88",
        &[(RustToolchain, "rust-toolchain.toml", 2)],
    ),
    t(
        "aspnet-solution",
        Dotnet,
        "net10.0",
        "10.0",
        &[(TargetFramework, "src/Contoso.Web/Contoso.Web.csproj", 4)],
    ),
    t(
        "dotnet-worker",
        Dotnet,
        "net8.0",
        "8.0",
        &[(TargetFramework, "Worker.csproj", 4)],
    ),
    t(
        "dotnet-assembly-name",
        Dotnet,
        "net9.0",
        "9.0",
        &[
            (TargetFramework, "Directory.Build.props", 3),
            (GlobalJson, "global.json", 3),
        ],
    ),
    t(
        "monorepo-services/services/api",
        Go,
        "1.26",
        "1.26",
        &[(GoDirective, "go.mod", 3)],
    ),
    t(
        "compose-fullstack/backend",
        Python,
        ">=3.10,<4.0",
        "3.11",
        &[(RequiresPython, "pyproject.toml", 4)],
    ),
];

const REPOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/repos");

/// Reads the target's declarations from its fixture files and chooses.
fn choose_for(target: &Target) -> Result<Choice, ToolchainError> {
    let mut declared = Vec::new();
    for &(source, file, line) in target.decls {
        let path = format!("{REPOS}/{}/{file}", target.key);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let Some(raw) = text.lines().nth(line as usize - 1) else {
            panic!("{path} has no line {line}");
        };
        declared.push(Declared::parse(source, raw, Evidence::new(file, line))?);
    }
    choose(target.ecosystem, &declared)
}

#[test]
fn every_fixture_target_gets_its_expected_toolchain() {
    for target in TARGETS {
        match choose_for(target) {
            Ok(choice) => {
                assert_eq!(
                    choice.tag, target.toolchain,
                    "{}: {}",
                    target.key, choice.reason
                );
                assert_eq!(
                    choice.has(Flag::Fallback),
                    target.decls.is_empty(),
                    "{}",
                    target.key
                );
            }
            Err(e) => panic!("{}: {e}", target.key),
        }
    }
}

/// The `[[target]]`s of expected.toml that have a `toolchain`: (key, declared, toolchain).
fn expected_toml_targets() -> Vec<(String, String, String)> {
    let text = include_str!("../../../tests/repos/expected.toml");
    let mut targets = Vec::new();
    for block in text.split("[[target]]").skip(1) {
        let field = |name: &str| {
            block.lines().find_map(|l| {
                let (key, value) = l.split_once('=')?;
                (key.trim() == name).then(|| value.trim().trim_matches('"').to_owned())
            })
        };
        let Some(toolchain) = field("toolchain") else {
            continue;
        };
        let fixture = field("fixture").unwrap_or_default();
        let key = match field("path") {
            Some(path) if path != "." => format!("{fixture}/{path}"),
            _ => fixture,
        };
        targets.push((key, field("declared").unwrap_or_default(), toolchain));
    }
    targets
}

#[test]
fn the_table_covers_every_toolchain_fact_of_expected_toml() {
    let expected = expected_toml_targets();
    assert!(expected.len() >= 30, "read only {} targets", expected.len());
    for (key, declared, toolchain) in &expected {
        let Some(target) = TARGETS.iter().find(|t| t.key == key) else {
            panic!("expected.toml target {key} has no case in TARGETS");
        };
        assert_eq!(
            (target.declared, target.toolchain),
            (declared.as_str(), toolchain.as_str())
        );
    }
    assert_eq!(TARGETS.len(), expected.len());
}
