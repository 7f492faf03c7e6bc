//! What a Python project's code says: the WSGI/ASGI object (`module:variable`, or a
//! factory `module:create_app()`), a Celery app, the port it binds, the health route, read
//! line by line from the project's own `.py` files (tests, migrations and virtualenvs
//! left out).

use crate::analyze::repo::join;
use crate::analyze::Repo;

/// How deep below the project directory the sources are read (`src/pkg/api/main.py`).
const SOURCE_DEPTH: usize = 3;

/// The most source files read: enough for a service, bounded for a huge repository.
const MAX_SOURCES: usize = 300;

/// Directories whose files never hold the service's entrypoint.
const NOT_SOURCES: &[&str] = &[
    "test",
    "tests",
    "testing",
    "docs",
    "doc",
    "examples",
    "migrations",
    "scripts",
    "site-packages",
];

/// One source file of the project.
#[derive(Debug)]
pub(super) struct PyFile {
    /// The path relative to the project directory (`src/weather/app.py`).
    pub(super) rel: String,
    /// Its module (`weather.app`; a package's `__init__.py` is the package).
    pub(super) module: String,
    /// The file lies under `src/` (a src layout: importable only once installed).
    pub(super) in_src: bool,
    pub(super) text: String,
}

/// The project's `.py` files under `dir`, shallowest first.
pub(super) fn sources(repo: &Repo, dir: &str) -> Vec<PyFile> {
    let prefix = match dir {
        "" | "." => String::new(),
        d => format!("{}/", d.trim_end_matches('/')),
    };
    repo.walk(dir, SOURCE_DEPTH)
        .into_iter()
        .filter(|e| e.name.ends_with(".py"))
        .filter_map(|e| {
            let rel = e.path.strip_prefix(&prefix).unwrap_or(&e.path).to_owned();
            let parts: Vec<&str> = rel.split('/').collect();
            let (dirs, name) = parts.split_at(parts.len() - 1);
            let test_file = name[0].starts_with("test_")
                || name[0].ends_with("_test.py")
                || matches!(name[0], "conftest.py" | "setup.py" | "noxfile.py");
            if test_file || dirs.iter().any(|d| NOT_SOURCES.contains(d)) {
                return None;
            }
            let in_src = dirs.first() == Some(&"src");
            let module = module_of(rel.strip_prefix("src/").unwrap_or(&rel))?;
            let text = repo.read(&e.path)?;
            Some(PyFile {
                rel,
                module,
                in_src,
                text,
            })
        })
        .take(MAX_SOURCES)
        .collect()
}

/// `app/main.py` → `app.main`, `flaskr/__init__.py` → `flaskr`; `None` for a path that is
/// no importable module (`my-scripts/x.py`).
fn module_of(path: &str) -> Option<String> {
    let stem = path.strip_suffix(".py")?;
    let stem = stem.strip_suffix("/__init__").unwrap_or(stem);
    let ident = |p: &str| {
        !p.is_empty()
            && !p.starts_with(|c: char| c.is_ascii_digit())
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    stem.split('/').all(ident).then(|| stem.replace('/', "."))
}

/// The constructors an application object is made with, and what they make.
const CONSTRUCTORS: &[(&str, &str)] = &[
    ("Flask", "flask"),
    ("Quart", "quart"),
    ("FastAPI", "fastapi"),
    ("Starlette", "starlette"),
    ("Celery", "celery"),
];

/// An application object found in the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct AppObject {
    /// `service:app`, `flaskr:create_app()`.
    pub(super) target: String,
    /// `flask`, `fastapi`, `starlette`, `quart`, `celery`.
    pub(super) framework: &'static str,
    /// The module (`service`), for Celery's `-A`.
    pub(super) module: String,
    /// The file (relative to the project directory) and 1-based line.
    pub(super) file: String,
    pub(super) line: u32,
    /// Made inside a function: the target calls that factory.
    pub(super) factory: bool,
}

/// Every application object of `files`: module-level `app = Flask(...)` assignments, and
/// factories (a top-level `def create_app(...)` whose body makes one).
pub(super) fn app_objects(files: &[PyFile]) -> Vec<AppObject> {
    let mut out = Vec::new();
    for f in files {
        let mut function: Option<String> = None;
        for (i, line) in f.text.lines().enumerate() {
            let indent = line.len() - line.trim_start().len();
            let code = line.trim();
            if indent == 0 && !code.is_empty() && !code.starts_with('#') && !code.starts_with('@') {
                function = code
                    .strip_prefix("async ")
                    .unwrap_or(code)
                    .strip_prefix("def ")
                    .and_then(|rest| rest.split('(').next())
                    .map(|n| n.trim().to_owned());
            }
            let Some((var, framework)) = assignment(code) else {
                continue;
            };
            let (target, factory) = match (indent, &function) {
                (0, _) => (format!("{}:{var}", f.module), false),
                (_, Some(def)) if framework != "celery" => (format!("{}:{def}()", f.module), true),
                _ => continue,
            };
            if out.iter().any(|o: &AppObject| o.target == target) {
                continue;
            }
            out.push(AppObject {
                target,
                framework,
                module: f.module.clone(),
                file: f.rel.clone(),
                line: i as u32 + 1,
                factory,
            });
        }
    }
    out
}

/// `app = Flask(__name__)`, `api: FastAPI = fastapi.FastAPI(...)` → (`app`, `flask`).
fn assignment(code: &str) -> Option<(&str, &'static str)> {
    let (lhs, rhs) = code.split_once('=')?;
    if rhs.starts_with('=') {
        return None;
    }
    let var = lhs.split(':').next()?.trim();
    if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let callee = rhs.trim().split('(').next()?.trim();
    let callee = callee.rsplit('.').next()?;
    rhs.contains('(')
        .then_some(())
        .and_then(|_| CONSTRUCTORS.iter().find(|(c, _)| *c == callee))
        .map(|(_, f)| (var, *f))
}

/// A fact read from one line of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Found<T> {
    pub(super) value: T,
    pub(super) file: String,
    pub(super) line: u32,
    pub(super) rule: &'static str,
}

/// The lines of `files` that are code, with file and 1-based number; `first` files first.
fn lines<'a>(
    files: &'a [PyFile],
    first: &'a str,
) -> impl Iterator<Item = (&'a PyFile, u32, &'a str)> {
    let preferred = files.iter().filter(move |f| f.rel == first);
    let others = files.iter().filter(move |f| f.rel != first);
    preferred.chain(others).flat_map(|f| {
        f.text
            .lines()
            .enumerate()
            .map(move |(i, l)| (f, i as u32 + 1, l.trim()))
            .filter(|(_, _, l)| !l.starts_with('#'))
    })
}

/// The port the code binds: a `PORT` default (`os.environ.get("PORT", 8080)`,
/// `os.getenv("PORT", "8080")`), else `port=N` in a `.run(...)` call (`app.run`,
/// `uvicorn.run`); the file `first` (the application's) is read first.
pub(super) fn port(files: &[PyFile], first: &str) -> Option<Found<u16>> {
    let found = |f: &PyFile, n: u32, value: u16, rule| Found {
        value,
        file: f.rel.clone(),
        line: n,
        rule,
    };
    for (f, n, l) in lines(files, first) {
        for key in ["environ.get(", "getenv("] {
            if let Some(at) = l.find(key) {
                let args = &l[at + key.len()..];
                let rest = args
                    .strip_prefix("\"PORT\"")
                    .or_else(|| args.strip_prefix("'PORT'"));
                if let Some(p) = rest
                    .and_then(|r| r.trim_start().strip_prefix(','))
                    .and_then(number)
                {
                    return Some(found(f, n, p, "the PORT default in the code"));
                }
            }
        }
    }
    for (f, n, l) in lines(files, first) {
        if !l.contains(".run(") {
            continue;
        }
        let value = word_value(l, "port");
        if let Some(p) = value.and_then(|v| number(v).or_else(|| constant(f, v))) {
            let rule = if l.contains("uvicorn.run(") {
                "uvicorn.run(port=...)"
            } else {
                "app.run(port=...)"
            };
            return Some(found(f, n, p, rule));
        }
    }
    None
}

/// The number a module-level constant of `f` holds, `text` starting with its name
/// (`PORT)` with `PORT = 8001` at the top of the file).
fn constant(f: &PyFile, text: &str) -> Option<u16> {
    let name: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if name.is_empty() {
        return None;
    }
    f.text.lines().find_map(|l| {
        let rest = l.strip_prefix(name.as_str())?.trim_start();
        let value = rest.strip_prefix('=').filter(|v| !v.starts_with('='))?;
        number(value)
    })
}

/// Whether the code reads the `PORT` environment variable (so `.env`'s PORT applies).
pub(super) fn reads_port_env(files: &[PyFile]) -> bool {
    lines(files, "").any(|(_, _, l)| {
        ["environ[", "environ.get(", "getenv("].iter().any(|k| {
            l.match_indices(k).any(|(at, _)| {
                let rest = &l[at + k.len()..];
                rest.starts_with("\"PORT\"") || rest.starts_with("'PORT'")
            })
        })
    })
}

/// The text after `key=` where `key` is a whole word (`port=5000` in `run(host=…, port=5000)`).
fn word_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.match_indices(key).find_map(|(at, _)| {
        let before = line[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        line[at + key.len()..].trim_start().strip_prefix('=')
    })
}

/// The port number at the start of `text` (`8080`, `"8080"`, ` '7000')`).
pub(super) fn number(text: &str) -> Option<u16> {
    let t = text.trim_start().trim_start_matches(['"', '\'']);
    let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|p| *p > 0)
}

/// The health paths a route may have, in order of preference.
const HEALTH_PATHS: &[&str] = &["/healthz", "/health", "/livez", "/readyz", "/ping"];

/// A health route declared in the code: a decorator (`@app.get("/healthz")`), a
/// `Route("/health", …)` or an `add_url_rule` with one of [`HEALTH_PATHS`].
pub(super) fn health(files: &[PyFile], first: &str) -> Option<Found<String>> {
    let routes = |l: &str| {
        l.starts_with('@')
            || l.contains("path(")
            || l.contains("Route(")
            || l.contains("add_url_rule(")
            || l.contains("add_api_route(")
    };
    let mut best: Option<(usize, Found<String>)> = None;
    for (f, n, l) in lines(files, first).filter(|(_, _, l)| routes(l)) {
        for (rank, path) in HEALTH_PATHS.iter().enumerate() {
            // Django's `path("healthz/", …)` has no leading slash and a trailing one.
            let bare = path.trim_start_matches('/');
            let quoted = [
                format!("\"{path}\""),
                format!("'{path}'"),
                format!("\"{bare}/\""),
                format!("'{bare}/'"),
            ];
            if quoted.iter().any(|q| l.contains(q.as_str()))
                && best.as_ref().is_none_or(|(r, _)| rank < *r)
            {
                let django = quoted[2..].iter().any(|q| l.contains(q.as_str()));
                let found = Found {
                    value: if django {
                        format!("{path}/")
                    } else {
                        (*path).to_owned()
                    },
                    file: f.rel.clone(),
                    line: n,
                    rule: "a health route in the code",
                };
                best = Some((rank, found));
            }
        }
    }
    best.map(|(_, f)| f)
}

/// Django's WSGI application: `WSGI_APPLICATION` in the settings module that `manage.py`
/// names (a settings package's modules included), else a `<pkg>/wsgi.py` defining
/// `application`; as `pkg.wsgi:application`.
pub(super) fn django(repo: &Repo, dir: &str, files: &[PyFile]) -> Option<Found<String>> {
    let settings = repo
        .find_line(&join(dir, "manage.py"), |l| {
            l.contains("DJANGO_SETTINGS_MODULE")
        })
        .and_then(|(_, l)| quoted_after(&l, "DJANGO_SETTINGS_MODULE").map(str::to_owned));
    let in_settings = |f: &&PyFile| match &settings {
        Some(s) => {
            f.module == *s
                || f.module.starts_with(&format!("{s}."))
                || s.rsplit_once('.').is_some_and(|(pkg, _)| {
                    f.module.starts_with(&format!("{pkg}.")) && f.module.contains("settings")
                })
        }
        None => f.module.ends_with("settings") || f.module.contains(".settings."),
    };
    for f in files.iter().filter(in_settings) {
        for (i, l) in f.text.lines().enumerate() {
            let l = l.trim();
            if !l.starts_with("WSGI_APPLICATION") {
                continue;
            }
            if let Some((module, object)) =
                quoted_after(l, "WSGI_APPLICATION").and_then(|v| v.rsplit_once('.'))
            {
                return Some(Found {
                    value: format!("{module}:{object}"),
                    file: f.rel.clone(),
                    line: i as u32 + 1,
                    rule: "Django's WSGI_APPLICATION setting",
                });
            }
        }
    }
    files.iter().find_map(|f| {
        if !f.module.ends_with(".wsgi") {
            return None;
        }
        let (i, _) = f
            .text
            .lines()
            .enumerate()
            .find(|(_, l)| l.starts_with("application ="))?;
        Some(Found {
            value: format!("{}:application", f.module),
            file: f.rel.clone(),
            line: i as u32 + 1,
            rule: "the application of a Django wsgi.py",
        })
    })
}

/// The first quoted string after `key` on `line`.
fn quoted_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    // Past the key and its own closing quote (`"DJANGO_SETTINGS_MODULE", "mysite.settings"`).
    let rest = line[line.find(key)? + key.len()..].trim_start_matches(['"', '\'']);
    let open = rest.find(['"', '\''])?;
    let quote = rest[open..].chars().next()?;
    let body = &rest[open + 1..];
    body.find(quote).map(|end| &body[..end])
}

/// Whether a file runs as a script (`if __name__ == "__main__":`).
pub(super) fn is_script(f: &PyFile) -> bool {
    f.text
        .lines()
        .any(|l| l.starts_with("if __name__") && l.contains("__main__"))
}

/// The `web:` (or, for a worker, `worker:`) command of a `Procfile`, with its line.
pub(super) fn procfile(repo: &Repo, dir: &str, process: &str) -> Option<(u32, String)> {
    let key = format!("{process}:");
    repo.find_line(&join(dir, "Procfile"), |l| l.trim_start().starts_with(&key))
        .map(|(n, l)| (n, l.trim_start()[key.len()..].trim().to_owned()))
}
