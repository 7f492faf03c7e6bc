//! What a Node.js or Bun service's sources say about how it listens: the port
//! (`listen(8080)`, `process.env.PORT || 3000`, `const PORT = 8080`, `Bun.serve({ port })`),
//! the environment variables it reads the port from, and an HTTP health route
//! (`app.get('/healthz', …)`, NestJS `@Controller('health')`).

use super::super::repo::Entry;
use super::super::Repo;

/// How many source files are read at most.
const MAX_SOURCES: usize = 300;

/// Health paths recognized in route definitions, the preferred first.
const HEALTH_PATHS: [&str; 6] = [
    "/healthz",
    "/health",
    "/livez",
    "/readyz",
    "/api/health",
    "/_health",
];

/// A value read from one line of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Found<T> {
    pub(super) value: T,
    /// The file, relative to the analyzed directory.
    pub(super) file: String,
    pub(super) line: u32,
    pub(super) rule: &'static str,
}

/// What the sources say.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) port: Option<Found<u16>>,
    /// `PORT`, `APP_PORT`: environment variables the code reads a port from.
    pub(super) port_env: Vec<String>,
    pub(super) health: Option<Found<String>>,
    /// NestJS's `app.setGlobalPrefix('api')`: every controller's path starts with it.
    pub(super) global_prefix: Option<String>,
    /// Whether any file calls `listen(` or `serve(`: the package runs a server.
    pub(super) listens: bool,
    /// A `listen(…)` bound to the loopback address, unreachable from outside a container.
    pub(super) loopback: Option<(String, u32)>,
    /// Whether any file names `0.0.0.0` or `::` (a host bound on every interface).
    pub(super) binds_all: bool,
}

/// The source files of directory `dir` (JavaScript and TypeScript, no tests, no build
/// output, no config files), those whose stem is `entry_stem` first.
pub(super) fn sources(repo: &Repo, dir: &str, entry_stem: &str) -> Vec<Entry> {
    let walked = repo.walk(dir, 4);
    // A directory below with a package.json of its own is another package (a workspace
    // member, an example): its code is not this service's.
    let own = super::super::repo::join(dir, "package.json");
    let nested: Vec<String> = walked
        .iter()
        .filter(|e| e.name == "package.json" && e.path != own)
        .map(|e| format!("{}/", super::super::repo::parent(&e.path)))
        .collect();
    let mut files: Vec<Entry> = walked
        .into_iter()
        .filter(|e| is_source(&e.path, &e.name))
        .filter(|e| !nested.iter().any(|n| e.path.starts_with(n.as_str())))
        .take(MAX_SOURCES)
        .collect();
    files.sort_by_key(|e| stem(&e.name) != entry_stem);
    files
}

fn is_source(path: &str, name: &str) -> bool {
    let code = [".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".jsx", ".tsx"]
        .iter()
        .any(|x| name.ends_with(x));
    let skipped = path.split('/').any(|seg| {
        matches!(
            seg,
            "dist" | "build" | "out" | "coverage" | "test" | "tests" | "__tests__" | "public"
        )
    });
    code && !skipped
        && !name.ends_with(".d.ts")
        && ![".test.", ".spec.", ".config."]
            .iter()
            .any(|m| name.contains(m))
}

/// `server.ts` → `server`.
pub(super) fn stem(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.split('.').next().unwrap_or(base)
}

/// Reads `files` (paths relative to the repo root; `dir` is stripped for the evidence).
pub(super) fn scan(repo: &Repo, dir: &str, files: &[Entry]) -> Scan {
    let mut out = Scan::default();
    for f in files {
        let Some(text) = repo.read(&f.path) else {
            continue;
        };
        let shown = super::super::relative_to(&f.path, dir);
        let mut previous = "";
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.starts_with("//") || l.starts_with('*') || l.starts_with("/*") {
                continue;
            }
            let line_no = i as u32 + 1;
            let listen = l.contains("listen(") || l.contains("serve(");
            out.listens |= listen;
            out.binds_all |= l.contains("0.0.0.0") || l.contains("'::'") || l.contains("\"::\"");
            if listen
                && (l.contains("127.0.0.1")
                    || l.contains("'localhost'")
                    || l.contains("\"localhost\""))
            {
                out.loopback.get_or_insert((shown.clone(), line_no));
            }
            for name in port_env_names(l) {
                if !out.port_env.contains(&name) {
                    out.port_env.push(name);
                }
            }
            if out.port.is_none() {
                out.port = port_on_line(l, previous).map(|(value, rule)| Found {
                    value,
                    file: shown.clone(),
                    line: line_no,
                    rule,
                });
            }
            if let Some(rest) = l.split("setGlobalPrefix(").nth(1) {
                let prefix: String = rest
                    .trim_start_matches(['\'', '"', '`', '/'])
                    .chars()
                    .take_while(|c| !matches!(c, '\'' | '"' | '`'))
                    .collect();
                out.global_prefix = Some(prefix.trim_end_matches('/').to_owned());
            }
            if out.health.is_none() {
                out.health = health_on_line(l).map(|(value, rule)| Found {
                    value,
                    file: shown.clone(),
                    line: line_no,
                    rule,
                });
            }
            previous = l;
        }
    }
    if let (Some(prefix), Some(h)) = (&out.global_prefix, &mut out.health) {
        if h.rule == NEST_HEALTH && !prefix.is_empty() {
            h.value = format!("/{prefix}{}", h.value);
        }
    }
    out
}

/// The rule of a health path read from a NestJS controller.
const NEST_HEALTH: &str = "a NestJS health controller";

/// The environment variables named `…PORT…` that `line` reads (`process.env.PORT`,
/// `Bun.env.APP_PORT`, `process.env['PORT']`).
fn port_env_names(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (idx, _) in line.match_indices("env.").chain(line.match_indices("env[")) {
        let rest = line[idx + 4..].trim_start_matches(['\'', '"']);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.to_ascii_uppercase().contains("PORT") {
            out.push(name);
        }
    }
    out
}

/// The digits at the start of `s` as a port (1..=65535).
fn leading_port(s: &str) -> Option<u16> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u16>().ok().filter(|p| *p > 0)
}

/// A port stated on `line` (`previous` is the line before, for an object literal opened
/// there), with the rule that read it.
fn port_on_line(line: &str, previous: &str) -> Option<(u16, &'static str)> {
    // `process.env.PORT || 3000`, `process.env.PORT ?? 3000`
    for (idx, _) in line.match_indices("env.") {
        let rest = &line[idx + 4..];
        let name_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if !rest[..name_len].to_ascii_uppercase().contains("PORT") {
            continue;
        }
        let after = &rest[name_len..];
        // `parseInt(process.env.PORT, 10) || 3000`
        let after = after.strip_prefix(", 10").unwrap_or(after);
        let after = after.trim_start_matches([')', ' ']);
        // `process.env.PORT ? Number(process.env.PORT) : 3000`
        let ternary = after
            .strip_prefix('?')
            .filter(|t| !t.starts_with('?'))
            .and_then(|t| t.rsplit_once(':'))
            .map(|(_, d)| d);
        if let Some(default) = after
            .strip_prefix("||")
            .or_else(|| after.strip_prefix("??"))
            .or(ternary)
        {
            if let Some(p) = leading_port(default.trim_start().trim_start_matches(['\'', '"'])) {
                return Some((p, "the default of the PORT environment variable"));
            }
        }
    }
    // `.listen(8080`
    for (idx, _) in line.match_indices("listen(") {
        if let Some(p) = leading_port(&line[idx + 7..]) {
            return Some((p, "listen(port)"));
        }
    }
    // `const PORT = 8080`, `port: 4000` (in `Bun.serve({ port: 4000 })`)
    let lower = line.to_ascii_lowercase();
    for (idx, _) in lower.match_indices("port") {
        let word_start = lower[..idx]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let after_word = &lower[idx + 4..];
        if after_word.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let word = &lower[word_start..idx + 4];
        if !matches!(
            word,
            "port" | "http_port" | "httpport" | "server_port" | "serverport" | "app_port"
        ) {
            continue;
        }
        let rest = after_word.trim_start();
        let (value, colon) = if let Some(v) = rest.strip_prefix(':') {
            (v, true)
        } else if let Some(v) = rest
            .strip_prefix('=')
            .filter(|v| !v.starts_with(['=', '>']))
        {
            (v, false)
        } else {
            continue;
        };
        let server_context = [&lower, &previous.to_ascii_lowercase()]
            .iter()
            .any(|l| l.contains("serve(") || l.contains("listen(") || l.contains("export default"));
        if colon && !server_context && !lower.contains("fetch") {
            continue;
        }
        if let Some(p) = leading_port(value.trim_start()) {
            return Some((p, "a port constant"));
        }
    }
    None
}

/// A health route defined on `line`: a known health path in a route call, or a NestJS
/// controller named for health.
fn health_on_line(line: &str) -> Option<(String, &'static str)> {
    for q in ['\'', '"', '`'] {
        if let Some(rest) = line.split("@Controller(").nth(1) {
            let name = rest.trim_start_matches(q).split(q).next().unwrap_or("");
            if rest.starts_with(q) && HEALTH_PATHS.contains(&format!("/{name}").as_str()) {
                return Some((format!("/{name}"), NEST_HEALTH));
            }
        }
        let routes = [
            ".get(", ".all(", ".head(", ".route(", ".use(", "path:", "url:",
        ];
        if !routes.iter().any(|r| line.contains(r)) {
            continue;
        }
        for path in HEALTH_PATHS {
            if line.contains(&format!("{q}{path}{q}")) {
                return Some((path.to_owned(), "a health route"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_from_the_common_idioms() {
        let cases = [
            ("const port = process.env.PORT || 3000;", Some(3000)),
            ("const port = Number(process.env.PORT ?? 5050);", Some(5050)),
            ("await app.listen(process.env.PORT ?? 3000);", Some(3000)),
            ("app.listen(8081)", Some(8081)),
            ("const PORT = 8080;", Some(8080)),
            ("Bun.serve({ port: 4000, fetch: app.fetch });", Some(4000)),
            ("const db = { host, port: 5432 };", None),
            ("if (port == 80) {}", None),
            ("app.listen(config.port);", None),
            (
                "const port = parseInt(process.env.PORT, 10) || 4321;",
                Some(4321),
            ),
            (
                "const port = process.env.PORT ? Number(process.env.PORT) : 8123;",
                Some(8123),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(port_on_line(line, "").map(|p| p.0), want, "{line}");
        }
        assert_eq!(
            port_on_line("  port: 3001,", "export default {"),
            Some((3001, "a port constant"))
        );
    }

    #[test]
    fn port_variables_and_health_routes_are_found() {
        assert_eq!(
            port_env_names("module.exports = { port: process.env.APP_PORT };"),
            ["APP_PORT"]
        );
        assert_eq!(
            health_on_line("app.get('/healthz', (req, res) => res.send('ok'));").map(|h| h.0),
            Some("/healthz".into())
        );
        assert_eq!(
            health_on_line("@Controller('health')").map(|h| h.0),
            Some("/health".into())
        );
        assert_eq!(health_on_line("const s = '/health';"), None);
    }
}
