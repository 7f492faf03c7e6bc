//! `analyze_repository`'s real work: detect language, framework, port, build and start
//! commands from the repository's files.
//!
//! [`analyze`] picks the ecosystem by its manifest; each ecosystem has its file (`node.rs`,
//! `python.rs`, `go.rs`, `rust.rs`, `java.rs` for Maven and Gradle, `dotnet.rs`), and
//! `port.rs` reads a port stated in the sources, which wins over the ecosystem's default.

mod dotnet;
mod go;
mod java;
mod node;
mod port;
mod python;
mod rust;

use std::path::Path;

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
}

fn lenient_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.as_f64())
        .filter(|p| *p >= 0.0 && *p <= 65535.0)
        .map_or(0, |p| p as u16))
}

/// The file `name` under `root` as text, `None` when it is missing or unreadable.
fn read(root: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(root.join(name)).ok()
}

/// Whether `root` holds a file or directory `name`.
fn exists(root: &Path, name: &str) -> bool {
    root.join(name).exists()
}

/// Analyzes the repository at `root`. Never fails: an unrecognized repository is
/// `language: "unknown"` with a note in `evidence`.
pub fn analyze(root: &Path) -> AnalyzeResult {
    let dir_name = root.file_name().and_then(|n| n.to_str()).unwrap_or("app");
    let mut r = AnalyzeResult {
        repo_path: root.display().to_string(),
        ..Default::default()
    };
    if let Some(pkg) = read(root, "package.json") {
        node::node(root, &pkg, &mut r);
    } else if exists(root, "go.mod") {
        go::go(root, &mut r);
    } else if exists(root, "Cargo.toml") {
        rust::rust(root, &mut r);
    } else if exists(root, "pom.xml") {
        java::maven(root, &mut r);
    } else if exists(root, "build.gradle") || exists(root, "build.gradle.kts") {
        java::gradle(root, &mut r);
    } else if let Some(csproj) = find_ext(root, "csproj") {
        dotnet::dotnet(root, &csproj, &mut r);
    } else if exists(root, "requirements.txt")
        || exists(root, "pyproject.toml")
        || exists(root, "Pipfile")
    {
        python::python(root, &mut r);
    } else {
        r.language = "unknown".into();
        r.evidence.push("no package.json, go.mod, Cargo.toml, pom.xml, build.gradle, *.csproj, requirements.txt or pyproject.toml found".into());
    }
    if r.app_name.is_empty() {
        r.app_name = dir_name.to_owned();
    }
    r.app_name = sanitize_name(&r.app_name);
    if let Some(port) = port::port_from_sources(root) {
        r.port = port;
    }
    r
}

/// Lowercase `[a-z0-9-]`, as image and Kubernetes names need.
pub fn sanitize_name(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-').to_owned();
    if s.is_empty() {
        "app".into()
    } else {
        s.chars().take(50).collect()
    }
}

/// The first (by name) file of `root` with extension `ext`, e.g. a `*.csproj`.
fn find_ext(root: &Path, ext: &str) -> Option<String> {
    let entries = std::fs::read_dir(root).ok()?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.ends_with(&format!(".{ext}")))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// The trimmed text between the first `open` and the next `close` (an XML element's text).
fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].trim())
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
        let r = analyze(dir.path());
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
            "npm start",
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
            "next",
            3000,
            "yarn run build",
            "yarn start",
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
        check(&[("go.mod", "module github.com/acme/api\n\ngo 1.22\n\nrequire github.com/gin-gonic/gin v1.9.1\n"), ("main.go", "r.Run(\":9090\")")], "go", "gin", 9090, "go build", "/server");
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
            "aspnetcore",
            8080,
            "dotnet publish",
            "dotnet Api.dll",
        );
        check(&[("README.md", "hi")], "unknown", "", 0, "", "");
    }

    #[test]
    fn names_are_sanitized_for_images() {
        assert_eq!(sanitize_name("My_App.Service"), "my-app-service");
        assert_eq!(sanitize_name("___"), "app");
    }
}
