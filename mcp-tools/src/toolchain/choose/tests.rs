//! Tests of [`choose`]: every `declared` → `toolchain` pair of the fixture table
//! (`tests/repos/expected.toml`), read from the fixture files at the lines given, then the
//! edge cases of the policy.

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

// --- Edge cases ------------------------------------------------------------------------

fn decl(source: Source, raw: &str) -> Declared {
    let file = format!("{source:?}");
    match Declared::parse(source, raw, Evidence::new(file, 1)) {
        Ok(d) => d,
        Err(e) => panic!("{raw}: {e}"),
    }
}

/// Chooses for `decls` and compares tag and flags.
fn check(ecosystem: Ecosystem, decls: &[(Source, &str)], tag: &str, flags: &[Flag]) {
    let declared: Vec<Declared> = decls.iter().map(|&(s, raw)| decl(s, raw)).collect();
    match choose(ecosystem, &declared) {
        Ok(choice) => {
            assert_eq!(
                (choice.tag.as_str(), choice.flags.as_slice()),
                (tag, flags),
                "{decls:?}: {}",
                choice.reason
            );
        }
        Err(e) => panic!("{decls:?}: {e}"),
    }
}

fn check_err(ecosystem: Ecosystem, decls: &[(Source, &str)], needle: &str) {
    let declared: Vec<Declared> = decls.iter().map(|&(s, raw)| decl(s, raw)).collect();
    match choose(ecosystem, &declared) {
        Ok(choice) => panic!("{decls:?} chose {}", choice.tag),
        Err(e) => assert!(e.to_string().contains(needle), "{e}"),
    }
}

#[test]
fn an_eol_minimum_is_bumped_up_never_down() {
    check(Go, &[(GoDirective, "go 1.21")], "1.26", &[]);
    check(Go, &[(GoDirective, "go 1.27.1")], "1.27", &[]);
    check(Python, &[(PythonVersionFile, "3.10")], "3.11", &[]);
    check(Python, &[(RequiresPython, ">=3.9,<3.13")], "3.11", &[]);
    check(Python, &[(PoetryPython, "~3.11")], "3.11", &[]);
    check(Python, &[(RequiresPython, "3.12.*")], "3.12", &[]);
    check(Node, &[(EnginesNode, "18.x || 20.x || 22.x")], "22", &[]);
    check(Node, &[(EnginesNode, "^22")], "22", &[]);
    check(Node, &[(EnginesNode, ">=23")], "24", &[]);
    check(
        Java,
        &[(
            MavenProperty,
            "<maven.compiler.source>1.8</maven.compiler.source>",
        )],
        "11",
        &[],
    );
    check(
        Java,
        &[(Gradle, "sourceCompatibility = JavaVersion.VERSION_17")],
        "17",
        &[],
    );
    check(
        Java,
        &[(Gradle, "java { sourceCompatibility = '22' }")],
        "25",
        &[],
    );
}

#[test]
fn the_higher_of_go_and_toolchain_counts() {
    check(
        Go,
        &[
            (GoDirective, "go 1.26"),
            (GoToolchain, "toolchain go1.27.2"),
        ],
        "1.27",
        &[],
    );
    let declared = [
        decl(GoDirective, "go 1.24"),
        decl(GoToolchain, "toolchain go1.27.0"),
    ];
    let choice = choose(Go, &declared).ok();
    assert_eq!(
        choice.and_then(|c| c.evidence).map(|e| e.file),
        Some("GoToolchain".to_owned())
    );
}

#[test]
fn the_reason_says_where_and_why() {
    let go = Declared::parse(GoDirective, "go 1.24", Evidence::new("go.mod", 3));
    let choice = go.and_then(|go| choose(Go, &[go]));
    assert_eq!(
        choice.map(|c| c.reason).ok().as_deref(),
        Some(
            "go.mod line 3 says go 1.24; 1.24 is out of support, so golang:1.26, \
             the lowest supported release above it"
        )
    );
}

#[test]
fn nothing_declared_falls_back_to_the_default() {
    check(Go, &[], "1.27", &[Flag::Fallback]);
    check(Python, &[], "3.13", &[Flag::Fallback]);
    check(Node, &[], "24", &[Flag::Fallback]);
    check(Java, &[], "21", &[Flag::Fallback]);
    check(Rust, &[], "1", &[Flag::Fallback]);
    check(Ecosystem::Bun, &[], "1", &[Flag::Fallback]);
    check_err(Dotnet, &[], "declares no .NET version");
}

#[test]
fn a_declaration_newer_than_the_table_is_used_as_declared() {
    check(
        Go,
        &[(GoDirective, "go 1.28")],
        "1.28",
        &[Flag::NewerThanKnown],
    );
    check(
        Go,
        &[(GoDirective, "go 1.55")],
        "1.55",
        &[Flag::NewerThanKnown],
    );
    check(
        Python,
        &[(RequiresPython, ">=3.16")],
        "3.16",
        &[Flag::NewerThanKnown],
    );
    check(
        Node,
        &[(NodeVersionFile, "v27.1.0")],
        "27",
        &[Flag::NewerThanKnown],
    );
    check(
        Java,
        &[(MavenProperty, "26")],
        "26",
        &[Flag::NewerThanKnown],
    );
    check(
        Rust,
        &[(RustVersion, "rust-version = \"1.101\"")],
        "1.101",
        &[Flag::NewerThanKnown],
    );
    check(
        Dotnet,
        &[(TargetFramework, "net12.0")],
        "12.0",
        &[Flag::NewerThanKnown],
    );
}

#[test]
fn a_range_below_the_table_gets_the_newest_release_it_allows() {
    check(
        Python,
        &[(RequiresPython, ">=3.8,<3.11")],
        "3.10",
        &[Flag::Unsupported],
    );
    check(
        Node,
        &[(EnginesNode, "16.x || 18.x")],
        "18",
        &[Flag::Unsupported],
    );
}

#[test]
fn exact_pins_are_used_exactly() {
    check(
        Rust,
        &[(RustToolchain, "[toolchain]\nchannel = \"1.88\"\n")],
        "1.88",
        &[Flag::Unsupported],
    );
    check(Rust, &[(RustToolchain, "1.100.0")], "1.100", &[]);
    check(Rust, &[(RustToolchain, "stable")], "1", &[]);
    check(
        Rust,
        &[(RustToolchain, "nightly-2024-05-01")],
        "1",
        &[Flag::Unsupported],
    );
    check(
        Rust,
        &[(RustVersion, "1.85"), (RustToolchain, "1.88.0")],
        "1.88",
        &[Flag::Unsupported],
    );
    check(Dotnet, &[(TargetFramework, "net10.0")], "10.0", &[]);
    check(
        Dotnet,
        &[(
            TargetFramework,
            "<TargetFrameworks>net8.0;net9.0</TargetFrameworks>",
        )],
        "9.0",
        &[Flag::Unsupported],
    );
    check(
        Dotnet,
        &[(TargetFramework, "netcoreapp3.1")],
        "3.1",
        &[Flag::Unsupported],
    );
    check(
        Dotnet,
        &[(TargetFramework, "net10.0;net10.0-android")],
        "10.0",
        &[],
    );
}

#[test]
fn a_newer_global_json_sdk_builds_an_older_target_framework() {
    let declared = [
        decl(TargetFramework, "net8.0"),
        decl(GlobalJson, "\"version\": \"9.0.100\""),
    ];
    let choice = choose(Dotnet, &declared).ok();
    assert_eq!(choice.as_ref().map(|c| c.tag.as_str()), Some("8.0"));
    assert_eq!(choice.and_then(|c| c.build_sdk).as_deref(), Some("9.0"));
}

#[test]
fn contradictions_name_both_files() {
    check_err(
        Python,
        &[(RequiresPython, ">=3.13"), (PythonVersionFile, "3.11")],
        "RequiresPython line 1 says requires-python >=3.13 but PythonVersionFile line 1 says 3.11",
    );
    check_err(
        Node,
        &[(EnginesNode, "^22"), (NodeVersionFile, "20")],
        "NodeVersionFile line 1",
    );
    check_err(
        Python,
        &[(RequiresPython, ">=3.13"), (PoetryPython, "<3.12")],
        "no release satisfies both",
    );
    check_err(
        Rust,
        &[(RustVersion, "1.90"), (RustToolchain, "1.88.0")],
        "make them agree",
    );
    check_err(
        Dotnet,
        &[(TargetFramework, "net8.0"), (TargetFramework, "net9.0")],
        "make them agree",
    );
}

#[test]
fn a_declaration_of_another_ecosystem_is_refused() {
    check_err(
        Go,
        &[(RequiresPython, ">=3.10")],
        "declares a Python version, not a Go one",
    );
}

#[test]
fn node_aliases_resolve_through_the_table() {
    check(Node, &[(NodeVersionFile, "lts/*")], "26", &[]);
    check(Node, &[(NodeVersionFile, "lts/iron")], "22", &[]);
    check(Node, &[(NodeVersionFile, "lts/jod\n")], "22", &[]);
    check(Node, &[(NodeVersionFile, "node")], "26", &[]);
}
/// The sentence a tool result shows for `decls`.
fn check_reason(ecosystem: Ecosystem, decls: &[(Source, &str)], expected: &str) {
    let declared: Vec<Declared> = decls.iter().map(|&(s, raw)| decl(s, raw)).collect();
    let reason = choose(ecosystem, &declared).map_or_else(|e| e.to_string(), |c| c.reason);
    assert_eq!(reason, expected);
}

#[test]
fn reasons_say_what_was_declared_and_why_this_tag() {
    check_reason(
        Python,
        &[(RequiresPython, ">=3.12")],
        "RequiresPython line 1 says requires-python >=3.12, so python:3.12, \
         the lowest supported release that satisfies it",
    );
    check_reason(
        Rust,
        &[(RustVersion, "1.85")],
        "RustVersion line 1 says rust-version 1.85, which the latest release (1.100) meets, \
         so rust:1",
    );
    check_reason(
        Rust,
        &[(RustToolchain, "1.88.0")],
        "RustToolchain line 1 pins channel 1.88.0, so rust:1.88 exactly; \
         1.88 is out of support (supported: 1.100)",
    );
    check_reason(
        Dotnet,
        &[(TargetFramework, "net8.0"), (GlobalJson, "9.0.100")],
        "TargetFramework line 1 targets net8.0, so the 8.0 runtime (a .NET app does not roll \
         forward to a newer major), built with sdk:9.0 as global.json asks; \
         8.0 is out of support (supported: 10.0, 11.0)",
    );
    check_reason(
        Go,
        &[(GoDirective, "go 1.28")],
        "GoDirective line 1 says go 1.28, newer than every supported release (1.26, 1.27), \
         so golang:1.28, as declared",
    );
    check_reason(
        Python,
        &[(RequiresPython, ">=3.8,<3.11")],
        "RequiresPython line 1 says requires-python >=3.8,<3.11, which only out-of-support \
         releases satisfy, so python:3.10, the newest of them",
    );
    check_reason(
        Rust,
        &[(RustToolchain, "nightly-2024-05-01")],
        "RustToolchain line 1 pins channel nightly-2024-05-01, which no rust image carries, \
         so rust:1, whose rustup installs nightly-2024-05-01 from the rust-toolchain file \
         when cargo first runs",
    );
    check_reason(
        Node,
        &[(NodeVersionFile, "lts/iron")],
        "NodeVersionFile line 1 says lts/iron (Node.js 20); 20 is out of support, so node:22, \
         the lowest supported release above it",
    );
}
