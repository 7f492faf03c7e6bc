//! What a Go main package's code says: the port it listens on (a flag default, a literal
//! address, a `PORT` default), whether it listens at all (a worker does not), and a health
//! route.
//!
//! The rules read lines, not a Go syntax tree: they look for the calls real services make
//! (`flag.Int("port", 9090, …)`, `http.ListenAndServe(":8080", …)`, gin's `r.Run(":8080")`,
//! `os.Getenv("PORT")` with a default assigned on the next lines) and record the file and
//! line of each fact they take.

use super::super::repo::join;
use super::super::{AnalyzeResult, Evidence, Repo, ServiceKind};
use super::{is_source, relative};

/// The port a Go service listens on when its code says nothing.
const FALLBACK_PORT: u16 = 8080;

/// How many lines after `os.Getenv("PORT")` a default is looked for.
const DEFAULT_WINDOW: usize = 4;

/// The most source files read for one service.
const MAX_FILES: usize = 200;

/// The sources read: the main package's files first, then the module's other packages
/// (for a health route registered in an `internal/api` package).
pub(super) struct Sources {
    /// The main package's files: (path shown relative to `repo_path`, text).
    main: Vec<(String, String)>,
    /// The files of the module's own packages the main package imports (where a
    /// `cmd/server/main.go` that calls `server.Run()` really listens).
    imported: Vec<(String, String)>,
    /// The other packages' files of the module.
    rest: Vec<(String, String)>,
    /// Whether the main package imports `net/http`.
    imports_http: bool,
}

/// Reads the main package at `main_dir`, the packages of `module` (whose import path is
/// `module_path`) it imports, and the module's other non-main packages.
pub(super) fn read_main(
    repo: &Repo,
    main_dir: &str,
    module: &str,
    module_path: &str,
    dir: &str,
) -> Sources {
    let files = |d: &str| -> Vec<(String, String)> {
        repo.list(d)
            .into_iter()
            .filter(|e| !e.is_dir && is_source(&e.name))
            .filter_map(|e| Some((shown(&e.path, dir), repo.read(&e.path)?)))
            .collect()
    };
    let main = files(main_dir);
    let prefix = format!("\"{module_path}/");
    let mut imported_dirs: Vec<String> = main
        .iter()
        .flat_map(|(_, text)| text.lines())
        .filter_map(|l| {
            let at = l.find(&prefix)? + prefix.len();
            let rest = &l[at..];
            Some(join(module, &rest[..rest.find('"')?]))
        })
        .collect();
    imported_dirs.sort();
    imported_dirs.dedup();
    let imported = imported_dirs.iter().flat_map(|d| files(d)).collect();
    let imports_http = main.iter().any(|(_, text)| text.contains("\"net/http\""));
    let rest = repo
        .walk(module, super::MAIN_SEARCH_DEPTH)
        .into_iter()
        .filter(|e| is_source(&e.name) && !e.path.starts_with("vendor/"))
        .take(MAX_FILES)
        .filter_map(|e| Some((shown(&e.path, dir), repo.read(&e.path)?)))
        .filter(|(_, text)| !super::is_main_file(text))
        .collect();
    Sources {
        main,
        imported,
        rest,
        imports_http,
    }
}

/// `path` as the user reads it from `repo_path`: relative, with `..` when it lies above.
fn shown(path: &str, dir: &str) -> String {
    if dir.is_empty() || path.starts_with(&format!("{dir}/")) {
        return relative(path, dir);
    }
    let up = super::up_to(dir, "");
    join(&up, path)
}

/// What the image must add so the binary binds the analyzed port on all interfaces.
#[derive(Debug, Default)]
pub(super) struct Binding {
    /// `PORT` to set: the code reads it without a default found.
    pub(super) port_env: Option<u16>,
    /// Arguments to pass: a flag whose default address is the loopback one
    /// (`-addr :8080` for `flag.String("addr", "localhost:8080", …)`).
    pub(super) args: Vec<String>,
}

/// Sets the port, kind and health path of `r` from `s`; returns what the image must set
/// so the binary binds that port on all interfaces.
pub(super) fn apply(s: &Sources, r: &mut AnalyzeResult) -> Binding {
    // `.Run(` or `.Start(` alone also starts CLIs and job runners: they count in a main
    // package that imports net/http or in a module that requires a web framework.
    let web_module = s.imports_http || !r.framework.is_empty();
    let listens = find(&s.main, |l| {
        strong_listen(l) || (web_module && weak_listen(l))
    })
    .or_else(|| find(&s.imported, strong_listen));
    let Some((listen_file, listen_line, _)) = listens else {
        r.kind = ServiceKind::Worker;
        r.port = 0;
        r.facts.record(
            "kind",
            "worker",
            Evidence::rule(
                "the main package never calls ListenAndServe, net.Listen, Run, Start or Serve",
            ),
        );
        r.facts
            .record("port", 0, Evidence::rule("a worker listens on nothing"));
        return Binding::default();
    };
    r.kind = ServiceKind::Web;
    r.facts.record(
        "kind",
        "web",
        Evidence::at(&listen_file, Some(listen_line), "the main package listens"),
    );
    let mut binding = Binding::default();
    if let Some((file, line, port, rule, text)) = port(&s.main).or_else(|| port(&s.imported)) {
        r.port = port;
        r.facts
            .record("port", port, Evidence::at(&file, Some(line), rule));
        if text.contains("\"localhost:") || text.contains("\"127.0.0.1:") {
            match flag_args(&text) {
                Some((flag, _)) => {
                    binding.args = vec![format!("-{flag}"), format!(":{port}")];
                    r.checks.push(format!("{file}:{line}: the -{flag} flag defaults to the loopback address, which nothing outside the container reaches; the image passes -{flag} :{port}"));
                }
                None => r.checks.push(format!("{file}:{line} listens on the loopback address, which nothing outside the container reaches; listen on :{port} instead")),
            }
        }
    } else {
        r.port = FALLBACK_PORT;
        r.facts.fallback(
            "port",
            FALLBACK_PORT,
            "no port in the main package's code: 8080, the common Go default",
        );
        let reads_port = |l: &str| l.contains("Getenv(\"PORT\")");
        if find(&s.main, reads_port)
            .or_else(|| find(&s.imported, reads_port))
            .is_some()
        {
            binding.port_env = Some(FALLBACK_PORT);
        }
    }
    let health = find(&s.main, is_health_route)
        .or_else(|| find(&s.imported, is_health_route))
        .or_else(|| find(&s.rest, is_health_route));
    if let Some((file, line, text)) = health {
        if let Some(path) = health_path(&text) {
            r.facts.record(
                "health",
                &path,
                Evidence::at(&file, Some(line), "a health route registered"),
            );
            r.health_path = Some(path);
        }
    }
    binding
}

/// A call that listens whatever the receiver: `http.ListenAndServe`, `net.Listen`, a
/// literal address passed to `Run`, `Start` or `Listen`.
fn strong_listen(l: &str) -> bool {
    [
        "ListenAndServe",
        "net.Listen(",
        ".Serve(",
        ".Run(\":",
        ".Start(\":",
        ".Listen(\":",
    ]
    .iter()
    .any(|m| l.contains(m))
}

/// A call that listens when the receiver is a web server (`r.Run()`, `e.Start(addr)`).
fn weak_listen(l: &str) -> bool {
    [".Run(", ".Start(", ".Listen("]
        .iter()
        .any(|m| l.contains(m))
}

/// The first line (file, 1-based line, text) of `files` for which `pred` holds, outside
/// `//` comments.
fn find(files: &[(String, String)], pred: impl Fn(&str) -> bool) -> Option<(String, u32, String)> {
    files.iter().find_map(|(file, text)| {
        text.lines()
            .enumerate()
            .find(|(_, l)| !l.trim_start().starts_with("//") && pred(l))
            .map(|(i, l)| (file.clone(), i as u32 + 1, l.to_owned()))
    })
}

/// A port a main package states: file, line, port, rule, the line's text.
type Stated = (String, u32, u16, &'static str, String);

/// The port the main package states, with its file, line and rule.
fn port(files: &[(String, String)]) -> Option<Stated> {
    for (file, text) in files {
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if l.trim_start().starts_with("//") {
                continue;
            }
            let at = |p: u16, rule| Some((file.clone(), i as u32 + 1, p, rule, (*l).to_owned()));
            if let Some(p) = flag_default(l) {
                return at(p, "the default of a port/addr flag");
            }
            if let Some(p) = listen_literal(l) {
                return at(p, "a literal listen address");
            }
            if l.contains("Getenv(\"PORT\")") {
                let window = lines.iter().skip(i).take(DEFAULT_WINDOW + 1);
                for (k, w) in window.enumerate() {
                    if let Some(p) = quoted_port(w) {
                        let line = (i + k) as u32 + 1;
                        return Some((
                            file.clone(),
                            line,
                            p,
                            "the default of PORT",
                            (*w).to_owned(),
                        ));
                    }
                }
            }
        }
    }
    None
}

/// `flag.Int("port", 9090, …)`, `flag.String("addr", ":8080", …)`, `flag.IntVar(&p, "port",
/// 8080, …)`: the default of a flag named for a port or address.
fn flag_default(l: &str) -> Option<u16> {
    let (name, value) = flag_args(l)?;
    let name = name.to_ascii_lowercase();
    if ![
        "port",
        "addr",
        "address",
        "listen",
        "http",
        "http-addr",
        "listen-addr",
    ]
    .contains(&name.as_str())
    {
        return None;
    }
    let digits = value.rsplit(':').next()?;
    digits.parse().ok().filter(|p| *p > 0)
}

/// The name and default of a `flag.X("name", default, …)` or `flag.XVar(&v, "name",
/// default, …)` definition.
fn flag_args(l: &str) -> Option<(String, &str)> {
    let call = l.find("flag.")?;
    let args = &l[call..];
    let args = &args[args.find('(')? + 1..];
    let mut parts = args.split(',').map(str::trim);
    let mut name = parts.next()?;
    if name.starts_with('&') {
        name = parts.next()?;
    }
    let value = parts.next()?.trim_matches('"');
    Some((name.trim_matches('"').to_owned(), value))
}

/// `":8080"` or `"0.0.0.0:8080"` in a listening call.
fn listen_literal(l: &str) -> Option<u16> {
    let calls = [
        "ListenAndServe",
        "Listen(",
        ".Run(",
        ".Start(",
        "Addr:",
        "Addr =",
    ];
    if !calls.iter().any(|c| l.contains(c)) {
        return None;
    }
    let start = l.find('"')?;
    let lit = &l[start + 1..];
    let lit = &lit[..lit.find('"')?];
    let digits = lit.rsplit_once(':')?.1;
    digits.parse().ok().filter(|p| *p > 0)
}

/// A quoted port (`"8000"`, `":8000"`) on a line that assigns or returns a default.
fn quoted_port(l: &str) -> Option<u16> {
    let mut rest = l;
    while let Some(open) = rest.find('"') {
        let after = &rest[open + 1..];
        let close = after.find('"')?;
        let lit = after[..close].trim_start_matches(':');
        if let Ok(p) = lit.parse::<u16>() {
            if p > 0 {
                return Some(p);
            }
        }
        rest = &after[close + 1..];
    }
    None
}

/// A route registration whose path names a health check.
fn is_health_route(l: &str) -> bool {
    let registers = ["HandleFunc(", "Handle(", ".Get(", ".GET(", ".Any(", ".Add("];
    registers.iter().any(|c| l.contains(c)) && health_path(l).is_some()
}

/// The first quoted path of `l` that names a health check (`/healthz`, `/health`,
/// `/livez`, `/readyz`, `/ping`), with a `GET ` method prefix of Go 1.22 patterns dropped.
fn health_path(l: &str) -> Option<String> {
    let open = l.find('"')?;
    let after = &l[open + 1..];
    let lit = &after[..after.find('"')?];
    let path = lit.strip_prefix("GET ").unwrap_or(lit);
    let known = [
        "/healthz", "/health", "/livez", "/readyz", "/ping", "/status",
    ];
    known
        .iter()
        .any(|k| path == *k || path.starts_with(&format!("{k}/")))
        .then(|| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_from_flags_literals_and_defaults() {
        assert_eq!(
            flag_default("port := flag.Int(\"port\", 9090, \"port\")"),
            Some(9090)
        );
        assert_eq!(
            flag_default("flag.StringVar(&addr, \"addr\", \":7000\", \"\")"),
            Some(7000)
        );
        assert_eq!(flag_default("flag.Int(\"workers\", 4, \"\")"), None);
        assert_eq!(
            listen_literal("log.Fatal(http.ListenAndServe(\":7070\", nil))"),
            Some(7070)
        );
        assert_eq!(listen_literal("r.Run(\":9090\")"), Some(9090));
        assert_eq!(listen_literal("http.ListenAndServe(\":\"+port, nil)"), None);
        assert_eq!(quoted_port("\t\tport = \"8000\""), Some(8000));
        assert_eq!(
            health_path("mux.HandleFunc(\"GET /healthz\", h)").as_deref(),
            Some("/healthz")
        );
    }
}
