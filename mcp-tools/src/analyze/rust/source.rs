//! What a Rust binary's code says: the port it binds (`TcpListener::bind("0.0.0.0:3000")`,
//! actix's `.bind(("0.0.0.0", 8080))`, `SocketAddr::from(([0, 0, 0, 0], 8080))`, a `PORT`
//! default), whether it listens at all, and a health route (`.route("/healthz", …)`,
//! `#[get("/health")]`).
//!
//! The rules read lines of the package's sources (the binary's file first), not a syntax
//! tree, and record the file and line of each fact they take.

use super::super::repo::join;
use super::super::{AnalyzeResult, Evidence, Repo, ServiceKind};
use super::cargo::{shown, Package};

/// The port when the code says nothing (Rocket's own default is 8000).
const FALLBACK_PORT: u16 = 8080;

/// How many lines after `var("PORT")` a default is looked for.
const DEFAULT_WINDOW: usize = 3;

/// The most source files read for one package.
const MAX_FILES: usize = 200;

/// Sets the port, kind and health path of `r` from the sources of `pkg`, the file of
/// binary `bin` first. Returns the environment (`KEY=value`) the image must set so the
/// binary binds exactly that port on all interfaces: `PORT` when the code reads it
/// without a default found, Rocket's `ROCKET_ADDRESS`/`ROCKET_PORT` (Rocket binds
/// 127.0.0.1 unless told otherwise).
pub(super) fn apply(
    repo: &Repo,
    pkg: &Package,
    bin: &str,
    dir: &str,
    r: &mut AnalyzeResult,
) -> Vec<String> {
    let main = pkg
        .bins
        .iter()
        .find(|b| b.name == bin)
        .map(|b| join(&pkg.dir, &b.path));
    let mut paths: Vec<String> = main.clone().into_iter().collect();
    paths.extend(
        repo.walk(&join(&pkg.dir, "src"), 4)
            .into_iter()
            .filter(|e| e.name.ends_with(".rs") && Some(&e.path) != main.as_ref())
            .map(|e| e.path)
            .take(MAX_FILES),
    );
    let files: Vec<(String, String)> = paths
        .iter()
        .filter_map(|p| Some((shown(p, dir), repo.read(p)?)))
        .collect();
    let found = port(&files);
    let web = !r.framework.is_empty()
        || found.is_some()
        || ["hyper", "tonic", "tiny_http", "tide", "salvo"]
            .iter()
            .any(|d| pkg.deps.iter().any(|x| x == d));
    if !web {
        r.kind = ServiceKind::Worker;
        r.port = 0;
        r.facts.record(
            "kind",
            "worker",
            Evidence::rule("no web framework among the dependencies and no bind in the code"),
        );
        r.facts
            .record("port", 0, Evidence::rule("a worker listens on nothing"));
        return Vec::new();
    }
    let mut env = Vec::new();
    r.kind = ServiceKind::Web;
    match found {
        Some((file, line, port, text)) => {
            r.port = port;
            r.facts.record(
                "port",
                port,
                Evidence::at(&file, Some(line), "the address the binary binds"),
            );
            r.facts.record(
                "kind",
                "web",
                Evidence::at(&file, Some(line), "the binary binds a port"),
            );
            if text.contains("127.0.0.1") || text.contains("localhost") || text.contains("[127") {
                r.checks.push(format!("{file}:{line} binds the loopback address: nothing outside the container can reach it; bind 0.0.0.0"));
            }
        }
        None if r.framework == "rocket" => {
            let toml = join(&pkg.dir, "Rocket.toml");
            let configured = repo.find_line(&toml, |l| l.trim_start().starts_with("port"));
            let port = configured.as_ref().and_then(|(_, l)| {
                l.split_once('=')
                    .and_then(|(_, v)| v.trim().parse::<u16>().ok())
            });
            match (port, configured) {
                (Some(p), Some((line, _))) => {
                    r.port = p;
                    let file = shown(&toml, dir);
                    r.facts.record(
                        "port",
                        p,
                        Evidence::at(&file, Some(line), "Rocket.toml port"),
                    );
                }
                _ => {
                    r.port = 8000;
                    r.facts
                        .fallback("port", 8000, "no port configured: Rocket's default 8000");
                }
            }
            env.push("ROCKET_ADDRESS=0.0.0.0".to_owned());
            env.push(format!("ROCKET_PORT={}", r.port));
            r.facts
                .record("kind", "web", Evidence::rule("depends on rocket"));
        }
        None => {
            r.port = FALLBACK_PORT;
            r.facts.fallback(
                "port",
                FALLBACK_PORT,
                "no bind in the code: 8080, a common default",
            );
            let reads_port = files.iter().any(|(_, t)| t.contains("var(\"PORT\")"));
            if reads_port {
                env.push(format!("PORT={FALLBACK_PORT}"));
            }
            r.facts.record(
                "kind",
                "web",
                Evidence::rule(format!("depends on {}", r.framework)),
            );
        }
    }
    if let Some((file, line, path)) = health(&files) {
        r.facts.record(
            "health",
            &path,
            Evidence::at(&file, Some(line), "a health route registered"),
        );
        r.health_path = Some(path);
    }
    env
}

/// The first port the sources bind: (file, line, port, the line's text).
fn port(files: &[(String, String)]) -> Option<(String, u32, u16, String)> {
    for (file, text) in files {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.trim_start().starts_with("//") {
                continue;
            }
            let at = |p: u16| Some((file.clone(), i as u32 + 1, p, (*l).to_owned()));
            if let Some(p) = address_literal(l).or_else(|| tuple_port(l)) {
                return at(p);
            }
            if l.contains("var(\"PORT\")") || l.contains("var_os(\"PORT\")") {
                for (k, w) in lines.iter().skip(i).take(DEFAULT_WINDOW + 1).enumerate() {
                    if let Some(p) = default_literal(w) {
                        let line = (i + k) as u32 + 1;
                        return Some((file.clone(), line, p, (*w).to_owned()));
                    }
                }
            }
        }
    }
    None
}

/// `"0.0.0.0:3000"`, `"[::]:3000"`, `"127.0.0.1:3000"` in a binding line.
fn address_literal(l: &str) -> Option<u16> {
    let binds = ["bind(", "parse", "SocketAddr", "listen(", "serve(", "run("];
    if !binds.iter().any(|b| l.contains(b)) {
        return None;
    }
    for host in [
        "\"0.0.0.0:",
        "\"[::]:",
        "\"127.0.0.1:",
        "\"localhost:",
        "\":",
    ] {
        if let Some(i) = l.find(host) {
            let digits: String = l[i + host.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(p) = digits.parse::<u16>() {
                return (p > 0).then_some(p);
            }
        }
    }
    None
}

/// `.bind(("0.0.0.0", 8080))` and `SocketAddr::from(([0, 0, 0, 0], 8080))`: the number
/// after the host of a tuple.
fn tuple_port(l: &str) -> Option<u16> {
    let after = if let Some(i) = l.find("bind((") {
        let rest = &l[i..];
        &rest[rest.find(',')? + 1..]
    } else if l.contains("SocketAddr") || l.contains("from(([") {
        let i = l.find("],")?;
        &l[i + 2..]
    } else {
        return None;
    };
    let digits: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok().filter(|p| *p > 0)
}

/// `unwrap_or("8080")`, `unwrap_or(8080)`, `"3000".to_string()`: a default port.
fn default_literal(l: &str) -> Option<u16> {
    let i = l.find("unwrap_or").or_else(|| l.find(".to_string()"))?;
    let start = l[..i].rfind('"').map_or(i, |_| 0);
    let digits: String = l[start..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|d| d.len() >= 2)?
        .to_owned();
    digits.parse().ok().filter(|p| *p > 0)
}

/// The first health route: `.route("/healthz", …)`, `#[get("/health")]`,
/// `web::resource("/health")`, `.at("/health")`.
fn health(files: &[(String, String)]) -> Option<(String, u32, String)> {
    let registers = [".route(\"", "#[get(\"", "resource(\"", ".at(\"", "path!(\""];
    let known = [
        "/healthz", "/health", "/livez", "/readyz", "/ping", "/status",
    ];
    for (file, text) in files {
        for (i, l) in text.lines().enumerate() {
            if l.trim_start().starts_with("//") {
                continue;
            }
            for reg in registers {
                let Some(at) = l.find(reg) else { continue };
                let lit = &l[at + reg.len()..];
                let Some(end) = lit.find('"') else { continue };
                let path = &lit[..end];
                let path = if path.starts_with('/') {
                    path.to_owned()
                } else {
                    format!("/{path}")
                };
                if known.contains(&path.as_str()) {
                    return Some((file.clone(), i as u32 + 1, path));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_from_the_common_binds() {
        let bind = "let l = tokio::net::TcpListener::bind(\"0.0.0.0:3000\").await.unwrap();";
        assert_eq!(address_literal(bind), Some(3000));
        assert_eq!(
            tuple_port("        .bind((\"0.0.0.0\", 8080))?"),
            Some(8080)
        );
        assert_eq!(
            tuple_port("let addr = SocketAddr::from(([0, 0, 0, 0], 7000));"),
            Some(7000)
        );
        assert_eq!(
            default_literal("let port = env::var(\"PORT\").unwrap_or_else(|_| \"8081\".into());"),
            Some(8081)
        );
        assert_eq!(default_literal(".unwrap_or(9000);"), Some(9000));
    }
}
