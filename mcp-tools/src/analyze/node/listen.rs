//! The port a Node.js or Bun service listens on, decided in order: none for a worker,
//! 8080 for a static site on nginx-unprivileged, a `next start -p`, a port variable the code
//! reads set in `.env`, the port the code states, else the convention (a fallback the
//! assistant should check). Also the checks for a server bound to the loopback address.

use super::super::repo::join;
use super::super::{AnalyzeResult, Evidence, Repo, ServiceKind};
use super::next::next_port;
use super::scan::Scan;
use super::{NodeRuntime, Package};

/// How the service runs, as far as its port is concerned.
pub(super) struct How {
    /// Nothing listens (no framework, no `listen()`/`serve()`, no port).
    pub(super) worker: bool,
    pub(super) runtime: NodeRuntime,
    /// A Next.js app (default 3000, `-p` in the start script).
    pub(super) is_next: bool,
}

/// Sets `r.port` (and `r.kind` for a worker) and records the fact with its evidence.
pub(super) fn decide_port(
    r: &mut AnalyzeResult,
    repo: &Repo,
    dir: &str,
    pkg: &Package,
    found: &Scan,
    how: How,
) {
    let How {
        worker,
        runtime,
        is_next,
    } = how;
    // The port: nginx-unprivileged's, a Next.js `-p`, the code's, else a default.
    if worker {
        r.port = 0;
        r.kind = ServiceKind::Worker;
        let rule = "no listen(), serve() or port in the sources: a worker";
        r.facts.fallback("kind", "worker", rule);
        r.facts.fallback("port", 0, rule);
    } else if runtime == NodeRuntime::StaticSite {
        r.port = 8080;
        r.facts.record(
            "port",
            8080,
            Evidence::rule(
                "a static site served by nginxinc/nginx-unprivileged, which listens on 8080",
            ),
        );
    } else if let Some(p) = next_port(pkg).filter(|_| is_next) {
        r.port = p;
        let ev = Evidence::at("package.json", pkg.line_of("\"start\""), "next start -p");
        r.facts.record("port", p, ev);
    } else if let Some((var, p, line)) = env_file_port(repo, dir, &found.port_env) {
        r.port = p;
        let rule = format!("{var} in .env, which the code reads");
        r.facts
            .record("port", p, Evidence::at(".env", Some(line), rule));
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
    if let Some((file, line)) = &found.loopback {
        r.checks.push(format!(
            "{file}:{line} listens on the loopback address: nothing outside the container reaches it; bind 0.0.0.0"
        ));
    } else if r.framework == "fastify" && !found.binds_all {
        r.checks.push(
            "fastify listens on 127.0.0.1 unless told otherwise: pass host: '0.0.0.0' to listen()"
                .into(),
        );
    }
}

/// A port variable the code reads (`vars`: `PORT`, `APP_PORT`) set in `.env`: the
/// variable, its port and the line.
fn env_file_port(repo: &Repo, dir: &str, vars: &[String]) -> Option<(String, u16, u32)> {
    let text = repo.read(&join(dir, ".env"))?;
    text.lines().enumerate().find_map(|(i, l)| {
        let (k, v) = l.trim().trim_start_matches("export ").split_once('=')?;
        let k = k.trim();
        let v = v.trim().trim_matches(['"', '\'']);
        let port = v.parse::<u16>().ok().filter(|p| *p > 0)?;
        vars.iter()
            .any(|x| x == k)
            .then(|| (k.to_owned(), port, i as u32 + 1))
    })
}
