//! `analyze_repository`'s real work: detect language, framework, port, build and start
//! commands from the repository's files.

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
    /// The analyzed path.
    #[serde(default)]
    pub repo_path: String,
}

fn lenient_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.as_f64())
        .filter(|p| *p >= 0.0 && *p <= 65535.0)
        .map_or(0, |p| p as u16))
}

fn read(root: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(root.join(name)).ok()
}

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
        node(root, &pkg, &mut r);
    } else if exists(root, "go.mod") {
        go(root, &mut r);
    } else if exists(root, "Cargo.toml") {
        rust(root, &mut r);
    } else if exists(root, "pom.xml") {
        maven(root, &mut r);
    } else if exists(root, "build.gradle") || exists(root, "build.gradle.kts") {
        gradle(root, &mut r);
    } else if let Some(csproj) = find_ext(root, "csproj") {
        dotnet(root, &csproj, &mut r);
    } else if exists(root, "requirements.txt")
        || exists(root, "pyproject.toml")
        || exists(root, "Pipfile")
    {
        python(root, &mut r);
    } else {
        r.language = "unknown".into();
        r.evidence.push("no package.json, go.mod, Cargo.toml, pom.xml, build.gradle, *.csproj, requirements.txt or pyproject.toml found".into());
    }
    if r.app_name.is_empty() {
        r.app_name = dir_name.to_owned();
    }
    r.app_name = sanitize_name(&r.app_name);
    if let Some(port) = port_from_sources(root) {
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

fn node(root: &Path, pkg: &str, r: &mut AnalyzeResult) {
    r.evidence.push("package.json".into());
    let v: serde_json::Value = serde_json::from_str(pkg).unwrap_or_default();
    let keys = |field: &str| -> Vec<String> {
        v.get(field)
            .and_then(|d| d.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    r.dependencies = keys("dependencies");
    r.dev_dependencies = keys("devDependencies");
    r.language =
        if exists(root, "tsconfig.json") || r.dev_dependencies.iter().any(|d| d == "typescript") {
            "typescript".into()
        } else {
            "javascript".into()
        };
    let has = |d: &str| r.dependencies.iter().any(|x| x == d);
    r.framework = [
        "next",
        "@nestjs/core",
        "fastify",
        "express",
        "koa",
        "@hapi/hapi",
    ]
    .iter()
    .find(|f| has(f))
    .map(|f| {
        f.trim_start_matches('@')
            .split('/')
            .next()
            .unwrap_or(f)
            .to_string()
    })
    .unwrap_or_default();
    r.port = 3000;
    let (tool, install) = if exists(root, "pnpm-lock.yaml") {
        ("pnpm", "pnpm install --frozen-lockfile")
    } else if exists(root, "yarn.lock") {
        ("yarn", "yarn install --frozen-lockfile")
    } else if exists(root, "package-lock.json") {
        ("npm", "npm ci")
    } else {
        ("npm", "npm install")
    };
    r.build_tool = tool.into();
    let scripts = v.get("scripts").and_then(|s| s.as_object());
    let has_script = |s: &str| scripts.is_some_and(|o| o.contains_key(s));
    r.build_command = if has_script("build") {
        format!("{install} && {tool} run build")
    } else {
        install.into()
    };
    r.start_command = if has_script("start") {
        format!("{tool} start")
    } else {
        let main = v.get("main").and_then(|m| m.as_str()).unwrap_or("index.js");
        format!("node {main}")
    };
    if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
        r.app_name = name.rsplit('/').next().unwrap_or(name).to_owned();
    }
}

fn python(root: &Path, r: &mut AnalyzeResult) {
    r.language = "python".into();
    let mut text = String::new();
    for f in ["requirements.txt", "pyproject.toml", "Pipfile"] {
        if let Some(t) = read(root, f) {
            r.evidence.push(f.into());
            text.push_str(&t.to_ascii_lowercase());
            text.push('\n');
        }
    }
    if exists(root, "requirements.txt") {
        r.dependencies = read(root, "requirements.txt")
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-'))
            .map(|l| {
                l.split(|c: char| "=<>!~[; ".contains(c))
                    .next()
                    .unwrap_or(l)
                    .to_ascii_lowercase()
            })
            .collect();
    }
    let has = |d: &str| text.contains(d);
    let entry = ["app.py", "main.py", "wsgi.py", "server.py"]
        .into_iter()
        .find(|f| exists(root, f))
        .unwrap_or("app.py");
    let module = entry.trim_end_matches(".py");
    (r.framework, r.port, r.start_command) = if has("fastapi") {
        (
            "fastapi".into(),
            8000,
            format!("uvicorn {module}:app --host 0.0.0.0 --port 8000"),
        )
    } else if has("django") {
        (
            "django".into(),
            8000,
            "gunicorn --bind 0.0.0.0:8000 wsgi:application".into(),
        )
    } else if has("flask") {
        let start = if has("gunicorn") {
            format!("gunicorn --bind 0.0.0.0:5000 {module}:app")
        } else {
            format!("python {entry}")
        };
        ("flask".into(), 5000, start)
    } else {
        (String::new(), 8000, format!("python {entry}"))
    };
    r.build_tool = if exists(root, "requirements.txt") {
        "pip"
    } else {
        "pip (pyproject)"
    }
    .into();
    r.build_command = if exists(root, "requirements.txt") {
        "pip install --no-cache-dir -r requirements.txt".into()
    } else {
        "pip install --no-cache-dir .".into()
    };
}

fn go(root: &Path, r: &mut AnalyzeResult) {
    r.language = "go".into();
    r.build_tool = "go".into();
    r.evidence.push("go.mod".into());
    let gomod = read(root, "go.mod").unwrap_or_default();
    r.dependencies = gomod
        .lines()
        .map(str::trim)
        .filter(|l| l.contains('/') && !l.starts_with("module") && !l.starts_with("//"))
        .filter_map(|l| {
            l.trim_start_matches("require")
                .split_whitespace()
                .next()
                .map(str::to_owned)
        })
        .filter(|d| d != "(")
        .collect();
    r.framework = [
        ("gin-gonic/gin", "gin"),
        ("labstack/echo", "echo"),
        ("gofiber/fiber", "fiber"),
        ("go-chi/chi", "chi"),
        ("gorilla/mux", "gorilla"),
    ]
    .iter()
    .find(|(m, _)| gomod.contains(m))
    .map(|(_, f)| f.to_string())
    .unwrap_or_default();
    if let Some(module) = gomod.lines().find_map(|l| l.strip_prefix("module ")) {
        r.app_name = module.trim().rsplit('/').next().unwrap_or("app").to_owned();
    }
    r.port = 8080;
    r.build_command = "go build -o /out/server .".into();
    r.start_command = "/server".into();
}

fn rust(root: &Path, r: &mut AnalyzeResult) {
    r.language = "rust".into();
    r.build_tool = "cargo".into();
    r.evidence.push("Cargo.toml".into());
    let toml = read(root, "Cargo.toml").unwrap_or_default();
    let mut in_deps = false;
    for line in toml.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                r.dependencies.push(name.trim().to_owned());
            }
        }
        if r.app_name.is_empty() {
            if let Some(name) = line
                .strip_prefix("name")
                .and_then(|l| l.trim().strip_prefix('='))
            {
                r.app_name = name.trim().trim_matches('"').to_owned();
            }
        }
    }
    r.framework = ["axum", "actix-web", "rocket", "warp", "poem"]
        .iter()
        .find(|f| r.dependencies.iter().any(|d| d == *f))
        .map(|f| f.to_string())
        .unwrap_or_default();
    r.port = 8080;
    r.build_command = "cargo build --release".into();
    r.start_command = format!(
        "/usr/local/bin/{}",
        if r.app_name.is_empty() {
            "app"
        } else {
            &r.app_name
        }
    );
}

fn maven(root: &Path, r: &mut AnalyzeResult) {
    r.language = "java".into();
    r.build_tool = "maven".into();
    r.evidence.push("pom.xml".into());
    let pom = read(root, "pom.xml").unwrap_or_default();
    java_framework(&pom, r);
    if let Some(id) = between(&pom, "<artifactId>", "</artifactId>") {
        // The first artifactId may be the parent's; prefer the one after </parent>.
        let after_parent = pom
            .split("</parent>")
            .nth(1)
            .and_then(|p| between(p, "<artifactId>", "</artifactId>"));
        r.app_name = after_parent.unwrap_or(id).to_owned();
    }
    r.build_command = if exists(root, "mvnw") {
        "./mvnw -B package -DskipTests"
    } else {
        "mvn -B package -DskipTests"
    }
    .into();
    r.start_command = "java -jar /app/app.jar".into();
}

fn gradle(root: &Path, r: &mut AnalyzeResult) {
    r.language = "java".into();
    r.build_tool = "gradle".into();
    let file = if exists(root, "build.gradle.kts") {
        "build.gradle.kts"
    } else {
        "build.gradle"
    };
    r.evidence.push(file.into());
    let text = read(root, file).unwrap_or_default();
    java_framework(&text, r);
    r.build_command = if exists(root, "gradlew") {
        "./gradlew build -x test"
    } else {
        "gradle build -x test"
    }
    .into();
    r.start_command = "java -jar /app/app.jar".into();
}

fn java_framework(build_file: &str, r: &mut AnalyzeResult) {
    r.framework = if build_file.contains("spring-boot") {
        "spring-boot"
    } else if build_file.contains("quarkus") {
        "quarkus"
    } else if build_file.contains("micronaut") {
        "micronaut"
    } else {
        ""
    }
    .into();
    r.port = 8080;
}

fn dotnet(root: &Path, csproj: &str, r: &mut AnalyzeResult) {
    r.language = "csharp".into();
    r.build_tool = "dotnet".into();
    r.evidence.push(csproj.to_owned());
    let text = read(root, csproj).unwrap_or_default();
    r.framework = if text.contains("Microsoft.NET.Sdk.Web") {
        "aspnetcore"
    } else {
        ""
    }
    .into();
    r.app_name = csproj.trim_end_matches(".csproj").to_owned();
    r.port = 8080;
    r.build_command = "dotnet publish -c Release -o /out".into();
    r.start_command = format!("dotnet {}.dll", r.app_name);
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(text[start..end].trim())
}

/// A port stated in the code or config: `server.port=`, `EXPOSE`, `.listen(NNNN`, `PORT || NNNN`,
/// `port=NNNN`, `":NNNN"`. Looks only at a few likely files, shallowly.
fn port_from_sources(root: &Path) -> Option<u16> {
    let candidates = [
        "src/main/resources/application.properties",
        "index.js",
        "server.js",
        "app.js",
        "src/index.js",
        "src/server.js",
        "src/app.js",
        "src/index.ts",
        "src/main.ts",
        "app.py",
        "main.py",
        "server.py",
        "main.go",
        "cmd/server/main.go",
        "src/main.rs",
        "Program.cs",
    ];
    for f in candidates {
        let Some(text) = read(root, f) else { continue };
        for line in text.lines() {
            let l = line.trim();
            if l.starts_with("//") || l.starts_with('#') {
                continue;
            }
            let lower = l.to_ascii_lowercase();
            for marker in [
                "server.port=",
                ".listen(",
                "port || ",
                "port=",
                "port = ",
                "\":",
                "'0.0.0.0:",
                "\"0.0.0.0:",
                "127.0.0.1:",
                "localhost:",
            ] {
                if let Some(idx) = lower.find(marker) {
                    let digits: String = lower[idx + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_digit())
                        .collect();
                    if let Ok(p) = digits.parse::<u16>() {
                        if p >= 80 {
                            return Some(p);
                        }
                    }
                }
            }
        }
    }
    None
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
