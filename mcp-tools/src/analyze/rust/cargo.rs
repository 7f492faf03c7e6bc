//! The Cargo model the Rust detector works on: the workspace that builds a directory
//! (its root, its member packages with globs expanded), each package's binaries, library
//! and dependencies, `rust-version`, and the `.cargo/config.toml` settings a build needs.
//!
//! Manifests are parsed with the `toml` crate; only the parts a Dockerfile depends on are
//! kept.

use toml::{Table, Value};

use super::super::repo::{join, parent};
use super::super::Repo;

/// How many levels above a package a workspace root is looked for.
const WORKSPACE_SEARCH_UP: usize = 4;

/// The workspace that builds a directory (a lone package is a workspace of one).
#[derive(Debug)]
pub(super) struct Workspace {
    /// The directory of its root `Cargo.toml`, relative to the repository root.
    pub(super) root: String,
    /// A `[workspace]` root without a `[package]` of its own.
    pub(super) virtual_root: bool,
    /// The build context: `root`, or the common ancestor of a lone package and the path
    /// dependencies it reaches outside its own directory.
    pub(super) context: String,
    /// Its packages, the root package (if any) first, then the members in order (for a
    /// lone package: then its path dependencies).
    pub(super) packages: Vec<Package>,
    /// The root manifest's `[workspace.package] rust-version`, with its line.
    ws_rust_version: Option<(String, u32)>,
}

/// One package of a workspace.
#[derive(Debug)]
pub(super) struct Package {
    /// `[package] name`.
    pub(super) name: String,
    /// Its directory, relative to the repository root.
    pub(super) dir: String,
    /// Its binary targets.
    pub(super) bins: Vec<Bin>,
    /// `[package] default-run`: the binary `cargo run` picks among several.
    pub(super) default_run: Option<String>,
    /// The library target's path relative to `dir`, when it has one.
    lib: Option<String>,
    /// The build script's path relative to `dir`, when it has one.
    build_script: Option<String>,
    /// Its dependencies' crate names (renames resolved to the real package).
    pub(super) deps: Vec<String>,
    /// The directories of its `path` dependencies, relative to the repository root
    /// (`None` for one that leaves the repository).
    path_deps: Vec<Option<String>>,
    /// `rust-version`: `Some(Ok(value))`, or `Some(Err(()))` for `workspace = true`.
    rust_version: Option<Result<String, ()>>,
    /// The manifest's text, for line numbers.
    text: String,
}

/// A binary target.
#[derive(Debug)]
pub(super) struct Bin {
    /// The binary's name (`--bin`).
    pub(super) name: String,
    /// Its source file relative to the package directory.
    pub(super) path: String,
}

impl Package {
    /// Its target files (binaries, library, build script) relative to the repository
    /// root.
    pub(super) fn targets(&self) -> Vec<String> {
        self.bins
            .iter()
            .map(|b| b.path.clone())
            .chain(self.lib.clone())
            .chain(self.build_script.clone())
            .map(|p| join(&self.dir, &p))
            .collect()
    }

    /// The 1-based line of the manifest that declares dependency `dep`.
    pub(super) fn dep_line(&self, dep: &str) -> Option<u32> {
        let keys = [
            format!("{dep} ="),
            format!("{dep}="),
            format!("{dep}."),
            format!("[dependencies.{dep}]"),
        ];
        line_of(&self.text, |l| {
            keys.iter().any(|k| l.starts_with(k.as_str()))
        })
    }
}

/// The first 1-based line of `text` whose trimmed text satisfies `pred`.
fn line_of(text: &str, pred: impl Fn(&str) -> bool) -> Option<u32> {
    text.lines()
        .position(|l| pred(l.trim()))
        .map(|i| i as u32 + 1)
}

/// The workspace that builds `dir`: its own manifest's, or one above whose members include
/// it (inside the repository). `Err` with what is wrong when a manifest does not parse.
pub(super) fn workspace_of(repo: &Repo, dir: &str) -> Result<Workspace, String> {
    let own = manifest(repo, dir)?;
    if own.get("workspace").is_some() {
        return workspace_at(repo, dir, &own);
    }
    let mut up = dir.to_owned();
    for _ in 0..WORKSPACE_SEARCH_UP {
        if up.is_empty() {
            break;
        }
        up = parent(&up).to_owned();
        if !repo.is_file(&join(&up, "Cargo.toml")) {
            continue;
        }
        let Ok(root) = manifest(repo, &up) else {
            continue;
        };
        if root.get("workspace").is_some() {
            let ws = workspace_at(repo, &up, &root)?;
            if ws.packages.iter().any(|p| p.dir == dir) {
                return Ok(ws);
            }
        }
    }
    let mut packages: Vec<Package> = package(repo, dir, &own)?.into_iter().collect();
    let mut context = dir.to_owned();
    let mut next = 0;
    while next < packages.len() && packages.len() < MAX_PATH_DEPS {
        let deps = packages[next].path_deps.clone();
        next += 1;
        for dep in deps {
            let Some(dep) = dep else {
                return Err(format!("{} has a path dependency outside the repository; analyze a directory that holds both", join(dir, "Cargo.toml")));
            };
            if dep == dir
                || dep.starts_with(&format!("{dir}/"))
                || packages.iter().any(|p| p.dir == dep)
            {
                continue;
            }
            if let Ok(t) = manifest(repo, &dep) {
                context = common_ancestor(&context, &dep);
                packages.extend(package(repo, &dep, &t)?);
            }
        }
    }
    Ok(Workspace {
        root: dir.to_owned(),
        context,
        virtual_root: false,
        packages,
        ws_rust_version: None,
    })
}

/// The most packages a lone package's path dependencies bring in.
const MAX_PATH_DEPS: usize = 32;

/// The deepest directory holding both `a` and `b` (relative paths, `""` the root).
fn common_ancestor(a: &str, b: &str) -> String {
    let common: Vec<&str> = a
        .split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    common.join("/")
}

/// `rel` joined to `dir` with `.` and `..` resolved; `None` when it leaves the root.
fn normalize(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// `path` (relative to the repository root) as reached from directory `from`: relative
/// when below it, through `..` to their common ancestor when not.
pub(super) fn path_from(from: &str, path: &str) -> String {
    if from.is_empty() || path.starts_with(&format!("{from}/")) {
        return relative(path, from);
    }
    let common = common_ancestor(from, path);
    join(&up_to(from, &common), &relative(path, &common))
}

/// The parsed `Cargo.toml` of `dir`.
fn manifest(repo: &Repo, dir: &str) -> Result<Table, String> {
    let path = join(dir, "Cargo.toml");
    let text = repo
        .read(&path)
        .ok_or_else(|| format!("{path} cannot be read"))?;
    text.parse::<Table>()
        .map_err(|e| format!("{path} is not valid TOML ({e}); fix it so cargo can read it"))
}

/// The workspace whose root manifest `root` sits at `dir`.
fn workspace_at(repo: &Repo, dir: &str, root: &Table) -> Result<Workspace, String> {
    let ws = root.get("workspace").and_then(Value::as_table);
    let strings = |key: &str| -> Vec<String> {
        ws.and_then(|w| w.get(key))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let exclude: Vec<String> = strings("exclude").iter().map(|e| join(dir, e)).collect();
    let mut packages: Vec<Package> = package(repo, dir, root)?.into_iter().collect();
    let virtual_root = packages.is_empty();
    for member in strings("members") {
        for m in expand(repo, dir, &member) {
            if exclude.contains(&m) || packages.iter().any(|p| p.dir == m) {
                continue;
            }
            if let Ok(t) = manifest(repo, &m) {
                packages.extend(package(repo, &m, &t)?);
            }
        }
    }
    let text = repo.read(&join(dir, "Cargo.toml")).unwrap_or_default();
    let ws_rust_version = ws
        .and_then(|w| w.get("package"))
        .and_then(|p| p.get("rust-version"))
        .and_then(Value::as_str)
        .map(|v| {
            let line = line_of(&text, |l| l.starts_with("rust-version")).unwrap_or(1);
            (v.to_owned(), line)
        });
    Ok(Workspace {
        root: dir.to_owned(),
        context: dir.to_owned(),
        virtual_root,
        packages,
        ws_rust_version,
    })
}

/// The member directories a `members` entry names: a path, or a glob whose last element
/// holds `*` (`crates/*`, `services/svc-*`); only directories with a `Cargo.toml`.
fn expand(repo: &Repo, root: &str, member: &str) -> Vec<String> {
    let member = member.trim_end_matches('/');
    let (base, last) = member.rsplit_once('/').unwrap_or(("", member));
    if !last.contains('*') {
        return vec![join(root, member)];
    }
    let base = join(root, base);
    let (pre, post) = last.split_once('*').unwrap_or((last, ""));
    repo.list(&base)
        .into_iter()
        .filter(|e| e.is_dir && e.name.starts_with(pre) && e.name.ends_with(post))
        .filter(|e| repo.is_file(&join(&e.path, "Cargo.toml")))
        .map(|e| e.path)
        .collect()
}

/// The `[package]` of manifest `t` at `dir`, `None` when it declares none.
fn package(repo: &Repo, dir: &str, t: &Table) -> Result<Option<Package>, String> {
    let Some(pkg) = t.get("package").and_then(Value::as_table) else {
        return Ok(None);
    };
    let name = pkg
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{} has a [package] without a name", join(dir, "Cargo.toml")))?
        .to_owned();
    let file = |p: &str| repo.is_file(&join(dir, p));
    let auto = |key: &str| pkg.get(key).and_then(Value::as_bool) != Some(false);
    let mut bins: Vec<Bin> = t
        .get("bin")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_table)
        .map(|b| {
            let bin = b.get("name").and_then(Value::as_str).unwrap_or(&name);
            let path = b.get("path").and_then(Value::as_str).map_or_else(
                || {
                    if bin == name {
                        "src/main.rs".to_owned()
                    } else {
                        format!("src/bin/{bin}.rs")
                    }
                },
                str::to_owned,
            );
            Bin {
                name: bin.to_owned(),
                path,
            }
        })
        .collect();
    if auto("autobins") {
        let mut found = Vec::new();
        if file("src/main.rs") {
            found.push((name.clone(), "src/main.rs".to_owned()));
        }
        for e in repo.list(&join(dir, "src/bin")) {
            if !e.is_dir {
                if let Some(stem) = e.name.strip_suffix(".rs") {
                    found.push((stem.to_owned(), format!("src/bin/{}", e.name)));
                }
            } else if file(&format!("src/bin/{}/main.rs", e.name)) {
                found.push((e.name.clone(), format!("src/bin/{}/main.rs", e.name)));
            }
        }
        for (n, p) in found {
            if !bins.iter().any(|b| b.name == n || b.path == p) {
                bins.push(Bin { name: n, path: p });
            }
        }
    }
    let lib = match t
        .get("lib")
        .and_then(|l| l.get("path"))
        .and_then(Value::as_str)
    {
        Some(p) => Some(p.to_owned()),
        None => (file("src/lib.rs") || t.get("lib").is_some()).then(|| "src/lib.rs".to_owned()),
    };
    if bins.is_empty() && lib.is_none() && auto("autobins") {
        // No target found (the sources are not there yet): cargo's default, a binary of
        // the package's name at src/main.rs.
        bins.push(Bin {
            name: name.clone(),
            path: "src/main.rs".into(),
        });
    }
    let build_script = match pkg.get("build") {
        Some(Value::String(p)) => Some(p.clone()),
        Some(Value::Boolean(false)) => None,
        _ => file("build.rs").then(|| "build.rs".to_owned()),
    };
    let rust_version = match pkg.get("rust-version") {
        Some(Value::String(v)) => Some(Ok(v.clone())),
        Some(Value::Table(w)) if w.get("workspace").is_some() => Some(Err(())),
        _ => None,
    };
    Ok(Some(Package {
        name,
        dir: dir.to_owned(),
        bins,
        default_run: pkg
            .get("default-run")
            .and_then(Value::as_str)
            .map(str::to_owned),
        lib,
        build_script,
        deps: deps(t),
        path_deps: path_deps(t, dir),
        rust_version,
        text: repo.read(&join(dir, "Cargo.toml")).unwrap_or_default(),
    }))
}

/// The crate names of `[dependencies]` and `[target.*.dependencies]` (a rename's
/// `package = "…"` gives the real name).
fn deps(t: &Table) -> Vec<String> {
    let tables = t.get("dependencies").into_iter().chain(
        t.get("target")
            .and_then(Value::as_table)
            .into_iter()
            .flat_map(|targets| targets.values())
            .filter_map(|target| target.get("dependencies")),
    );
    let mut out = Vec::new();
    for table in tables.filter_map(Value::as_table) {
        for (key, spec) in table {
            let real = spec.get("package").and_then(Value::as_str).unwrap_or(key);
            out.push(real.to_owned());
        }
    }
    out
}

/// The directories of the `path` dependencies of manifest `t` at `dir`.
fn path_deps(t: &Table, dir: &str) -> Vec<Option<String>> {
    let tables = ["dependencies", "build-dependencies"]
        .into_iter()
        .filter_map(|k| t.get(k).and_then(Value::as_table));
    tables
        .flat_map(|table| table.values())
        .filter_map(|spec| spec.get("path").and_then(Value::as_str))
        .map(|p| normalize(dir, p))
        .collect()
}

/// The package's `rust-version` (inherited from `[workspace.package]` when it says
/// `workspace = true`): its value, the manifest it is written in (relative to the
/// repository root) and the line.
pub(super) fn rust_version(ws: &Workspace, pkg: &Package) -> Option<(String, String, u32)> {
    let root_manifest = join(&ws.root, "Cargo.toml");
    match &pkg.rust_version {
        Some(Ok(v)) => {
            let line = line_of(&pkg.text, |l| l.starts_with("rust-version")).unwrap_or(1);
            Some((v.clone(), join(&pkg.dir, "Cargo.toml"), line))
        }
        Some(Err(())) => ws
            .ws_rust_version
            .clone()
            .map(|(v, line)| (v, root_manifest, line)),
        None => None,
    }
}

/// `path` (relative to the repository root) as seen from `dir`: relative when below it,
/// through `..` when not.
pub(super) fn shown(path: &str, dir: &str) -> String {
    if dir.is_empty() || path.starts_with(&format!("{dir}/")) {
        return relative(path, dir);
    }
    join(&up_to(dir, ""), path)
}

/// `path` relative to its ancestor `dir` (`.` for `dir` itself).
pub(super) fn relative(path: &str, dir: &str) -> String {
    let rel = match dir {
        "" => path,
        d => path
            .strip_prefix(d)
            .map_or(path, |p| p.trim_start_matches('/')),
    };
    if rel.is_empty() {
        ".".into()
    } else {
        rel.to_owned()
    }
}

/// `..` per level from `dir` up to its ancestor `root` (`.` when they are the same).
pub(super) fn up_to(dir: &str, root: &str) -> String {
    match relative(dir, root).as_str() {
        "." => ".".into(),
        below => vec![".."; below.split('/').count()].join("/"),
    }
}
