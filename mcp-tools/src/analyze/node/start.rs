//! The command that starts a Node.js or Bun service, from its entrypoint: `node [flags]
//! <file>`, `bun <file>`, `next start` bound to 0.0.0.0 and the port, a TypeScript runner or
//! a framework's server binary from `node_modules/.bin`; nginx for a static site.

use super::super::{AnalyzeResult, Evidence};
use super::entry::Entrypoint;
use super::{NodeRuntime, Package};

/// A static site: nginx serves what the build writes to `build_output`.
pub(super) fn static_site(r: &mut AnalyzeResult, pkg: &Package, build_output: &str) {
    let router = [
        "react-router",
        "react-router-dom",
        "vue-router",
        "@tanstack/react-router",
    ];
    if let Some(dep) = r.dependencies.iter().find(|d| router.contains(&d.as_str())) {
        r.checks.push(format!(
                "{dep}: client-side routes need nginx to answer unknown paths with index.html (try_files $uri /index.html)"
            ));
    }
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

/// The entrypoint `e` and its start command; `config` is the Next.js config line that made
/// a standalone build (the evidence for `server.js`).
pub(super) fn entry(
    r: &mut AnalyzeResult,
    e: &Entrypoint,
    runtime: NodeRuntime,
    config: Option<(&str, u32)>,
) {
    r.entrypoint = e.path.clone();
    let runner = match (&e.runner, runtime) {
        (Some(ts), _) => format!("node_modules/.bin/{ts}"),
        (None, NodeRuntime::Bun) => "bun".into(),
        (None, _) => "node".into(),
    };
    r.start_command = if e.path == "next start" {
        format!("node_modules/.bin/next start -H 0.0.0.0 -p {}", r.port)
    } else if let Some(command) = &e.command {
        r.checks.push(format!(
            "scripts.start runs {}: check that it binds 0.0.0.0 on port {}",
            e.path, r.port
        ));
        command.clone()
    } else {
        let flags: String = e.flags.iter().map(|f| format!("{f} ")).collect();
        format!("{runner} {flags}{}", e.path)
    };
    if e.needs_dev {
        r.checks.push(format!(
                "{} runs TypeScript through {runner} without a build: the image keeps the dev dependencies; a tsc build is leaner",
                e.path
            ));
    }
    let ev = match e.line {
        Some(line) => Evidence::at("package.json", Some(line), e.rule.clone()),
        None => match config {
            Some((file, line)) => Evidence::at(file, Some(line), e.rule.clone()),
            None => Evidence::rule(e.rule.clone()),
        },
    };
    super::put(r, "entrypoint", &e.path, ev, e.fallback);
}
