//! Node.js and Bun: a `package.json` read for the service it starts.
//!
//! The manager comes from the lockfile (`manager.rs`), the entrypoint from `scripts.start`,
//! Next.js's output mode, NestJS's build, `main` (only when the file exists) or `bin`
//! (`entry.rs`), the port and the health route from the sources (`scan.rs`), the toolchain
//! from `engines.node` / `.nvmrc` / `.node-version` through [`crate::toolchain`]. A
//! `package.json` of linters only (no framework, no start script, nothing that listens) is
//! [`Detection::tooling`], so a Python or other service beside it wins.

mod entry;
mod manager;
mod scan;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::repo::join;
use super::{AnalyzeResult, Detection, Evidence, Repo, ToolchainFact};
use crate::toolchain::{self, Declared, Ecosystem, Source};

/// How the image runs the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeRuntime {
    /// `node` runs the entrypoint (Express, Koa, NestJS, `next start`, …).
    #[default]
    Node,
    /// `bun` runs the entrypoint, on the `oven/bun` image.
    Bun,
    /// A Next.js standalone build: `.next/standalone/server.js` with its own trimmed
    /// `node_modules`.
    NextStandalone,
    /// A static site (Vite, a Next.js static export): built, then served by unprivileged
    /// nginx on 8080.
    StaticSite,
}

/// What a Node.js or Bun Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct NodeDetails {
    /// How the image runs the service.
    pub runtime: NodeRuntime,
    /// Files the install reads (`package.json`, the lockfile), copied before the sources so
    /// the install layer is cached until they change.
    pub manifests: Vec<String>,
    /// Installs every dependency from the lockfile (`npm ci`), for the build.
    pub install: String,
    /// Installs the production dependencies only (`npm ci --omit=dev`), for the runtime.
    pub install_prod: String,
    /// Run before the manager: `corepack enable` for pnpm and Yarn Berry, empty otherwise.
    pub setup: String,
    /// The build (`npm run build`), empty when the package has no build script.
    pub build: String,
    /// The directory the build writes and the runtime needs (`dist`, `.next`); empty
    /// without a build.
    pub build_output: String,
    /// Next.js standalone: a `public/` directory to copy beside `server.js`.
    pub public_dir: bool,
    /// Environment variables the code reads its port from (`PORT`, `APP_PORT`): the image
    /// sets each to the port.
    pub port_env: Vec<String>,
}

/// `package.json`: its text (for line numbers) and its value.
pub(super) struct Package {
    text: String,
    value: serde_json::Value,
}

impl Package {
    /// The 1-based number of the first line containing `needle`.
    fn line_of(&self, needle: &str) -> Option<u32> {
        self.text
            .lines()
            .position(|l| l.contains(needle))
            .map(|i| i as u32 + 1)
    }

    fn str_field(&self, key: &str) -> Option<&str> {
        self.value.get(key)?.as_str()
    }

    fn script(&self, name: &str) -> Option<&str> {
        self.value.get("scripts")?.get(name)?.as_str()
    }

    fn keys(&self, field: &str) -> Vec<String> {
        self.value
            .get(field)
            .and_then(|d| d.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    }
}

/// Frameworks by the dependency that brings them, the first found wins.
const FRAMEWORKS: [(&str, &str); 9] = [
    ("next", "nextjs"),
    ("@nestjs/core", "nestjs"),
    ("fastify", "fastify"),
    ("hono", "hono"),
    ("koa", "koa"),
    ("express", "express"),
    ("@hapi/hapi", "hapi"),
    ("elysia", "elysia"),
    ("vite", "vite"),
];

/// Reads directory `dir` of `repo` as a Node.js or Bun project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let text = repo.read(&join(dir, "package.json"))?;
    let mut r = AnalyzeResult {
        language: "javascript".into(),
        ..AnalyzeResult::default()
    };
    r.evidence.push("package.json".into());
    let Ok(value @ serde_json::Value::Object(_)) = serde_json::from_str(&text) else {
        r.checks
            .push("package.json is not a JSON object: it was not read".into());
        return Detection::tooling(r);
    };
    let pkg = Package { text, value };
    r.dependencies = pkg.keys("dependencies");
    r.dev_dependencies = pkg.keys("devDependencies");
    if let Some(name) = pkg.str_field("name") {
        r.app_name = name.rsplit('/').next().unwrap_or(name).to_owned();
    }
    let mgr = manager::detect(repo, dir, &pkg.text, &pkg.value);
    put(
        &mut r,
        "manager",
        mgr.tool,
        mgr.evidence.clone(),
        mgr.fallback,
    );
    if mgr.fallback {
        r.checks.push(format!(
            "no lockfile: `{}` installs whatever versions resolve today; commit one",
            mgr.install
        ));
    }
    r.build_tool = mgr.tool.into();

    let all_deps = || r.dependencies.iter().chain(&r.dev_dependencies);
    let framework = FRAMEWORKS
        .iter()
        .find(|(dep, _)| all_deps().any(|d| d == dep))
        .map(|(dep, name)| (*dep, *name));
    if let Some((dep, name)) = framework {
        r.framework = name.into();
        let ev = Evidence::at("package.json", pkg.line_of(&format!("\"{dep}\"")), dep);
        r.facts.record("framework", name, ev);
    }
    let next_output = next_output(repo, dir);
    let is_next = r.framework == "nextjs";
    let out_dir = tsc_out_dir(repo, dir);
    let build = pkg
        .script("build")
        .map(|_| format!("{} run build", mgr.tool));
    let static_site = match (&r.framework[..], &next_output) {
        ("vite", _) => pkg.script("start").is_none() && build.is_some(),
        ("nextjs", Some((o, _, _))) => o == "export",
        _ => false,
    };
    let standalone = is_next && matches!(&next_output, Some((o, _, _)) if o == "standalone");
    let build_output = match (&r.framework[..], build.is_some()) {
        (_, false) => String::new(),
        ("vite", _) => "dist".into(),
        ("nextjs", _) if static_site => "out".into(),
        ("nextjs", _) => ".next".into(),
        _ => out_dir.clone().unwrap_or_else(|| "dist".into()),
    };
    let bun = mgr.tool == "bun"
        || pkg
            .script("start")
            .is_some_and(|s| s.trim_start().starts_with("bun "));

    let entry = if static_site {
        None
    } else {
        entry::find(
            repo,
            dir,
            &pkg,
            is_next.then_some(standalone),
            r.framework == "nestjs",
            build.as_ref().map(|_| build_output.as_str()),
        )
    };
    let entry_stem = entry
        .as_ref()
        .map_or("index", |e| scan::stem(&e.path))
        .to_owned();
    let sources = scan::sources(repo, dir, &entry_stem);
    let found = scan::scan(repo, dir, &sources);

    let typescript = repo.is_file(&join(dir, "tsconfig.json"))
        || all_deps().any(|d| d == "typescript")
        || entry.as_ref().is_some_and(|e| e.path.ends_with(".ts"))
        || sources
            .iter()
            .any(|s| s.name.ends_with(".ts") || s.name.ends_with(".tsx"));
    if typescript {
        r.language = "typescript".into();
    }

    let service = !r.framework.is_empty()
        || pkg.script("start").is_some()
        || pkg.value.get("bin").is_some()
        || (entry.is_some() && found.listens);
    if !service {
        r.checks.push(
            "package.json carries no server (no framework, start script or listening entry): tooling only"
                .into(),
        );
        return Detection::tooling(r);
    }

    let runtime = if static_site {
        NodeRuntime::StaticSite
    } else if standalone {
        NodeRuntime::NextStandalone
    } else if bun {
        NodeRuntime::Bun
    } else {
        NodeRuntime::Node
    };

    // The port: nginx-unprivileged's, a Next.js `-p`, the code's, else a default.
    if runtime == NodeRuntime::StaticSite {
        r.port = 8080;
        r.facts.record(
            "port",
            8080,
            Evidence::rule(
                "a static site served by nginxinc/nginx-unprivileged, which listens on 8080",
            ),
        );
    } else if let Some(p) = next_port(&pkg).filter(|_| is_next) {
        r.port = p;
        let ev = Evidence::at("package.json", pkg.line_of("\"start\""), "next start -p");
        r.facts.record("port", p, ev);
    } else if let Some(f) = &found.port {
        r.port = f.value;
        r.facts
            .record("port", f.value, Evidence::at(&f.file, Some(f.line), f.rule));
    } else {
        r.port = 3000;
        let rule = if is_next {
            "Next.js's default port"
        } else {
            "the Node.js convention (3000): no port in the code"
        };
        r.facts.fallback("port", 3000, rule);
    }
    if let Some(h) = &found.health {
        r.health_path = Some(h.value.clone());
        r.facts.record(
            "health",
            &h.value,
            Evidence::at(&h.file, Some(h.line), h.rule),
        );
    }

    // The entrypoint and the command that starts it, binding the port on 0.0.0.0.
    match (&entry, runtime) {
        (_, NodeRuntime::StaticSite) => {
            r.entrypoint = "nginx".into();
            r.start_command = "nginx -g daemon off;".into();
            r.facts.record(
                "entrypoint",
                "nginx",
                Evidence::at(
                    "package.json",
                    pkg.line_of("\"build\""),
                    format!("a static site: the build writes {build_output}/, nginx serves it"),
                ),
            );
        }
        (Some(e), _) => {
            r.entrypoint = e.path.clone();
            r.start_command = match runtime {
                NodeRuntime::Bun => format!("bun {}", e.path),
                _ if e.path == "next start" => {
                    format!("node_modules/.bin/next start -H 0.0.0.0 -p {}", r.port)
                }
                _ => format!("node {}", e.path),
            };
            let ev = match e.line {
                Some(line) => Evidence::at("package.json", Some(line), e.rule.clone()),
                None if standalone => next_output
                    .as_ref()
                    .map(|(_, f, l)| Evidence::at(f, Some(*l), e.rule.clone()))
                    .unwrap_or_else(|| Evidence::rule(e.rule.clone())),
                None => Evidence::rule(e.rule.clone()),
            };
            put(&mut r, "entrypoint", &e.path, ev, e.fallback);
        }
        (None, _) => {
            r.entrypoint = "index.js".into();
            r.start_command = "node index.js".into();
            r.facts.fallback(
                "entrypoint",
                "index.js",
                "no start script, main, bin or entry file found",
            );
        }
    }

    // The toolchain.
    match node_toolchain(repo, dir, &pkg, bun) {
        Ok((fact, ev, fallback)) => {
            put(&mut r, "toolchain", &fact.tag, ev, fallback);
            r.toolchain = Some(fact);
        }
        Err(e) => {
            return Detection::refusal(super::AnalyzeError::Unsupported {
                path: repo.root().join(dir).display().to_string(),
                detail: e.to_string(),
            })
        }
    }

    let setup = mgr.setup.to_owned();
    let prefix = if setup.is_empty() {
        String::new()
    } else {
        format!("{setup} && ")
    };
    r.build_command = match &build {
        Some(b) => format!("{prefix}{} && {b}", mgr.install),
        None => format!("{prefix}{}", mgr.install),
    };
    let mut port_env = found.port_env.clone();
    if !port_env.iter().any(|p| p == "PORT") && runtime != NodeRuntime::StaticSite {
        port_env.insert(0, "PORT".into());
    }
    r.details = super::Details::Node(NodeDetails {
        runtime,
        manifests: mgr.manifests.clone(),
        install: mgr.install.clone(),
        install_prod: mgr.install_prod.clone(),
        setup,
        build: build.unwrap_or_default(),
        build_output,
        public_dir: repo.is_dir(&join(dir, "public")),
        port_env,
    });
    Detection::service(r)
}

/// Records a fact, as a fallback when `fallback`.
fn put(r: &mut AnalyzeResult, fact: &str, value: &str, ev: Evidence, fallback: bool) {
    if fallback {
        r.facts.fallback(fact, value, &ev.rule);
    } else {
        r.facts.record(fact, value, ev);
    }
}

/// Next.js's `output` mode (`standalone`, `export`) from `next.config.*`, with the file and
/// line.
fn next_output(repo: &Repo, dir: &str) -> Option<(String, String, u32)> {
    [
        "next.config.js",
        "next.config.mjs",
        "next.config.ts",
        "next.config.cjs",
    ]
    .iter()
    .find_map(|f| {
        let (line, text) = repo.find_line(&join(dir, f), |l| {
            l.trim_start().starts_with("output:") || l.trim_start().starts_with("output :")
        })?;
        let mode = ["standalone", "export"]
            .into_iter()
            .find(|m| text.contains(m))?;
        Some((mode.to_owned(), (*f).to_owned(), line))
    })
}

/// The `-p`/`--port` of a `next start` script.
fn next_port(pkg: &Package) -> Option<u16> {
    let script = pkg.script("start")?;
    let mut words = script.split_whitespace();
    while let Some(w) = words.next() {
        if let Some(v) = w.strip_prefix("--port=") {
            return v.parse().ok();
        }
        if w == "-p" || w == "--port" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// `compilerOptions.outDir` of `tsconfig.json` (`./dist` → `dist`), read by line: a
/// tsconfig may hold comments that JSON parsers refuse.
fn tsc_out_dir(repo: &Repo, dir: &str) -> Option<String> {
    let (_, line) = repo.find_line(&join(dir, "tsconfig.json"), |l| l.contains("\"outDir\""))?;
    let after = line.split("\"outDir\"").nth(1)?;
    let value = after.split('"').nth(1)?;
    let value = value.trim_start_matches("./").trim_end_matches('/');
    (!value.is_empty() && value != ".").then(|| value.to_owned())
}

/// The toolchain fact (`node` from `engines.node` / `.nvmrc` / `.node-version`, or Bun's
/// image), the evidence to record and whether it is a fallback.
fn node_toolchain(
    repo: &Repo,
    dir: &str,
    pkg: &Package,
    bun: bool,
) -> Result<(ToolchainFact, Evidence, bool), toolchain::ToolchainError> {
    let mut decls = Vec::new();
    if !bun {
        let engines = pkg
            .value
            .get("engines")
            .and_then(|e| e.get("node"))
            .and_then(|n| n.as_str());
        if let Some(raw) = engines {
            let line = pkg
                .text
                .lines()
                .position(|l| l.contains("\"node\"") && l.contains(raw))
                .map_or(0, |i| i as u32 + 1);
            let ev = toolchain::Evidence::new("package.json", line);
            decls.push(Declared::parse(Source::EnginesNode, raw, ev)?);
        }
        for f in [".nvmrc", ".node-version"] {
            if let Some(raw) = repo.read(&join(dir, f)) {
                let ev = toolchain::Evidence::new(f, 1);
                decls.push(Declared::parse(Source::NodeVersionFile, raw.trim(), ev)?);
            }
        }
    }
    let ecosystem = if bun { Ecosystem::Bun } else { Ecosystem::Node };
    let choice = toolchain::choose(ecosystem, &decls)?;
    let deciding = choice
        .evidence
        .as_ref()
        .and_then(|ev| decls.iter().find(|d| d.evidence() == ev))
        .or(decls.first());
    let raw: Vec<&str> = deciding.map(|d| d.raw().trim()).into_iter().collect();
    let fact = ToolchainFact::from_choice(&choice, &raw);
    let ev = match deciding {
        Some(d) => Evidence::at(
            &d.evidence().file,
            Some(d.evidence().line).filter(|l| *l > 0),
            choice.reason.clone(),
        ),
        None => Evidence::rule(choice.reason.clone()),
    };
    Ok((fact, ev, deciding.is_none()))
}
