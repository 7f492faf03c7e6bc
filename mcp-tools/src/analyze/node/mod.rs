//! Node.js and Bun: a `package.json` read for the service it starts.
//!
//! The manager comes from the lockfile (`manager.rs`), the entrypoint from `scripts.start`,
//! Next.js's output mode, NestJS's build, `main` (only when the file exists) or `bin`
//! (`entry.rs`), the port and the health route from the sources (`scan.rs`), the toolchain
//! from `engines.node` / `.nvmrc` / `.node-version` through [`crate::toolchain`]. A
//! `package.json` of linters only (no framework, no start script, nothing that listens) is
//! [`Detection::tooling`], so a Python or other service beside it wins.

mod details;
mod entry;
mod listen;
mod manager;
mod next;
mod scan;
mod start;
mod toolchain;

pub use self::details::{NodeDetails, NodeRuntime};

use super::repo::join;
use super::{AnalyzeResult, Detection, Evidence, Repo};
use next::{next_output, tsc_out_dir};

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
const FRAMEWORKS: [(&str, &str); 10] = [
    ("next", "nextjs"),
    ("@nestjs/core", "nestjs"),
    ("fastify", "fastify"),
    ("hono", "hono"),
    ("koa", "koa"),
    ("express", "express"),
    ("@hapi/hapi", "hapi"),
    ("elysia", "elysia"),
    ("vite", "vite"),
    ("react-scripts", "create-react-app"),
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
    // A workspace root (npm/yarn `workspaces`, pnpm-workspace.yaml) holds packages; its
    // services are in them.
    if pkg.value.get("workspaces").is_some() || repo.is_file(&join(dir, "pnpm-workspace.yaml")) {
        r.checks
            .push("a workspace root: its services are its member packages".into());
        return Detection::tooling(r);
    }
    let mgr = manager::detect(repo, dir, &pkg.text, &pkg.value);
    put(
        &mut r,
        "manager",
        mgr.tool,
        mgr.evidence.clone(),
        mgr.fallback,
    );
    r.checks.extend(mgr.checks.iter().cloned());
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
    // The build script, else the build the framework implies (a Next.js, NestJS or Vite
    // app without a `build` script still needs its build for the runtime).
    let implied = match &r.framework[..] {
        "nextjs" => Some("next build"),
        "nestjs" => Some("nest build"),
        "vite" => Some("vite build"),
        _ => None,
    };
    let build = match (pkg.script("build"), implied) {
        (Some(_), _) => Some(format!("{} run build", mgr.tool)),
        (None, Some(b)) => {
            r.checks.push(format!(
                "no build script: the image runs node_modules/.bin/{b}"
            ));
            Some(format!("node_modules/.bin/{b}"))
        }
        (None, None) => None,
    };
    let served = next::static_server(&pkg);
    let static_site = served.is_some()
        || match (&r.framework[..], &next_output) {
            // No start script, or one that runs Vite's own dev/preview server.
            ("vite", _) => {
                build.is_some()
                    && pkg
                        .script("start")
                        .is_none_or(|s| s.trim_start().starts_with("vite"))
            }
            ("create-react-app", _) => build.is_some(),
            ("nextjs", Some((o, _, _))) => o == "export",
            _ => false,
        };
    let standalone = is_next && matches!(&next_output, Some((o, _, _)) if o == "standalone");
    let build_output = match (&r.framework[..], build.is_some()) {
        _ if served.is_some() => served.clone().unwrap_or_default(),
        (_, false) => String::new(),
        ("vite", _) => "dist".into(),
        ("create-react-app", _) => "build".into(),
        ("nextjs", _) if static_site => "out".into(),
        ("nextjs", _) => ".next".into(),
        ("nestjs", _) => out_dir.clone().unwrap_or_else(|| "dist".into()),
        // Unknown until the entry says where it lives: "." keeps the whole build stage.
        _ => out_dir.clone().unwrap_or_else(|| ".".into()),
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
    // A start script that runs what the build writes outside `dist` (SvelteKit's `build`,
    // Nuxt's `.output/server/index.mjs`): the runtime copies that directory.
    let mut build_output = build_output;
    if let Some(e) = entry.as_ref().filter(|_| build.is_some()) {
        // The built file, or the first path a server binary is given.
        let built = match &e.command {
            None => Some(e.path.as_str())
                .filter(|p| *p != "next start" && !standalone && !repo.is_file(&join(dir, p))),
            Some(c) => c
                .split_whitespace()
                .skip(1)
                .find(|w| !w.starts_with('-') && (w.contains('/') || w.ends_with(".js"))),
        };
        if let Some(path) = built {
            let path = path.trim_start_matches("./");
            build_output = path.split('/').next().unwrap_or(path).to_owned();
        }
    }
    if build_output == "." {
        r.checks.push(
            "the build's output directory is unknown: the image keeps the whole build stage, dev dependencies included"
                .into(),
        );
    }
    let entry_stem = entry
        .as_ref()
        .map_or("index", |e| scan::stem(&e.path))
        .to_owned();
    let mut sources = scan::sources(repo, dir, &entry_stem);
    // The entry itself, when the walk skipped it (`bin/www` has no extension).
    if let Some(e) = &entry {
        let path = join(dir, &e.path);
        if repo.is_file(&path) && !sources.iter().any(|s| s.path == path) {
            let name = e.path.rsplit('/').next().unwrap_or(&e.path).to_owned();
            sources.insert(
                0,
                super::repo::Entry {
                    path,
                    name,
                    is_dir: false,
                },
            );
        }
    }
    let found = scan::scan(repo, dir, &sources);

    let ts_source = sources
        .iter()
        .find(|s| s.name.ends_with(".ts") || s.name.ends_with(".tsx"));
    let typescript = if repo.is_file(&join(dir, "tsconfig.json")) {
        Some(Evidence::at("tsconfig.json", None, "a TypeScript project"))
    } else if all_deps().any(|d| d == "typescript") {
        let line = pkg.line_of("\"typescript\"");
        Some(Evidence::at(
            "package.json",
            line,
            "the typescript dependency",
        ))
    } else {
        ts_source.map(|s| {
            let shown = super::relative_to(&s.path, dir);
            Evidence::at(&shown, None, "TypeScript sources")
        })
    };
    let language = match typescript {
        Some(ev) => {
            r.language = "typescript".into();
            ev
        }
        None => Evidence::rule("package.json without TypeScript"),
    };
    r.facts.record("language", &r.language, language);

    let service = !r.framework.is_empty()
        || pkg.script("start").is_some()
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

    // A start script whose code neither listens nor serves is a worker: no port, no probe.
    let worker = r.framework.is_empty()
        && !static_site
        // Only an entry whose code was read (not a binary's command, not a built file).
        && entry
            .as_ref()
            .is_some_and(|e| e.command.is_none() && repo.is_file(&join(dir, &e.path)))
        && !found.listens
        && found.port.is_none();
    if !worker {
        let why = if r.framework.is_empty() {
            "the code listens"
        } else {
            "a web framework"
        };
        r.facts.record("kind", "web", Evidence::rule(why));
    }
    listen::decide_port(
        &mut r,
        repo,
        dir,
        &pkg,
        &found,
        listen::How {
            worker,
            runtime,
            is_next,
        },
    );
    if let Some(h) = &found.health {
        r.health_path = Some(h.value.clone());
        r.facts.record(
            "health",
            &h.value,
            Evidence::at(&h.file, Some(h.line), h.rule),
        );
    }

    // The entrypoint and the command that starts it, binding the port on 0.0.0.0.
    let config = next_output.as_ref().filter(|_| standalone);
    match (&entry, runtime) {
        (_, NodeRuntime::StaticSite) => start::static_site(&mut r, &pkg, &build_output),
        (Some(e), _) => start::entry(&mut r, e, runtime, config.map(|(_, f, l)| (f.as_str(), *l))),
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
    match toolchain::node_toolchain(repo, dir, &pkg, bun, &mut r.checks) {
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
    if !port_env.iter().any(|p| p == "PORT") && runtime != NodeRuntime::StaticSite && !worker {
        port_env.insert(0, "PORT".into());
    }
    r.details = super::Details::Node(NodeDetails {
        runtime,
        manifests: mgr.manifests.clone(),
        install: mgr.install.clone(),
        // A TypeScript runner (tsx, ts-node) is a dev dependency the runtime needs.
        install_prod: if entry.as_ref().is_some_and(|e| e.needs_dev) {
            mgr.install.clone()
        } else {
            mgr.install_prod.clone()
        },
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

#[cfg(test)]
mod tests;
