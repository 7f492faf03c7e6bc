//! [`choose()`] on the policy's edge cases: out-of-support minimums bumped up, newer than
//! the table, exact pins, defaults, contradictions, nvm aliases, and the reason sentences.

use super::*;
use crate::toolchain::{Evidence, Source};
use Ecosystem::{Dotnet, Go, Java, Node, Python, Rust};
use Source::*;

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
        "8",
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

#[test]
fn a_minimum_beside_a_range_decides_when_higher() {
    check(
        Python,
        &[(RequiresPython, ">=3.10"), (PythonVersionFile, "3.12")],
        "3.12",
        &[],
    );
    check(Python, &[(PoetryPython, ">=3.9,<3.13")], "3.11", &[]);
    check(
        Node,
        &[(EnginesNode, ">=18"), (NodeVersionFile, "v24.1.0")],
        "24",
        &[],
    );
}

#[test]
fn what_no_image_can_run_is_refused_when_read() {
    let refuse = |source: Source, raw: &str| {
        let read = Declared::parse(source, raw, Evidence::new("f", 1));
        read.map(|d| d.raw().to_owned())
            .unwrap_or_else(|e| e.to_string())
    };
    assert!(refuse(PythonVersionFile, "pypy3.10").contains("not CPython"));
    assert!(refuse(TargetFramework, "netstandard2.0").contains("a library"));
    assert!(refuse(TargetFramework, "net48").contains("Windows only"));
    assert!(refuse(NodeVersionFile, "lts/unobtainium").contains("not a Node.js release line"));
}
