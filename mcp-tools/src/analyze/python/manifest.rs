//! What a Python project's manifests say: its dependencies (`requirements.txt`,
//! `pyproject.toml` — PEP 621 or Poetry —, `Pipfile`), the manager whose lockfile decides
//! the install (`uv.lock`, `poetry.lock`, `Pipfile.lock`, else pip), its name, its
//! `[project.scripts]`, and the toolchain declarations the version policy reads.

use crate::analyze::repo::join;
use crate::analyze::Repo;
use crate::toolchain::{Declared, Source};

/// The dependency manager, named as `build_tool` names it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Manager {
    /// `pip install -r requirements.txt`, or the `[project]` dependencies of pyproject.toml.
    #[default]
    Pip,
    /// `uv sync --frozen` from `uv.lock`.
    Uv,
    /// `poetry install --no-root` from `poetry.lock`.
    Poetry,
    /// `pipenv install --deploy` from `Pipfile.lock`.
    Pipenv,
}

impl Manager {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Manager::Pip => "pip",
            Manager::Uv => "uv",
            Manager::Poetry => "poetry",
            Manager::Pipenv => "pipenv",
        }
    }
}

/// The manifests of one directory, read.
#[derive(Debug, Default)]
pub(super) struct Manifest {
    /// Runtime requirements as written (`fastapi[standard]>=0.115`), lowercased.
    pub(super) requirements: Vec<String>,
    /// Development requirements (Poetry's dev group, Pipfile's dev-packages, uv's `dev`).
    pub(super) dev: Vec<String>,
    /// The manager and the file that chose it (the lockfile, or the manifest).
    pub(super) manager: (Manager, &'static str),
    /// The files the image copies and installs before the sources, in that order.
    pub(super) dep_files: Vec<&'static str>,
    /// `dep_files` and the requirement files they include (`-r requirements/base.txt`).
    pub(super) files: Vec<String>,
    /// A requirement is a path of the project itself (`-e .`, `./libs/common`): the install
    /// needs the sources.
    pub(super) local_requirements: bool,
    /// `requirements.txt` holds the pip dependencies (rather than pyproject's `[project]`).
    pub(super) requirements_txt: bool,
    /// `[project].name` or `[tool.poetry].name`.
    pub(super) name: Option<String>,
    /// `[project.scripts]`: the console scripts (name, `module:function`).
    pub(super) scripts: Vec<(String, String)>,
    /// pyproject.toml has a `[build-system]`: the project can be installed as a package.
    pub(super) buildable: bool,
    /// `uv sync` installs the project itself (`[tool.uv] package`, by default whether it
    /// has a build system).
    pub(super) uv_package: bool,
    /// The toolchain declarations, each with its value as written, pyproject's first.
    pub(super) declared: Vec<(Declared, String)>,
    /// Declarations that could not be read, as sentences for `checks`.
    pub(super) unreadable: Vec<String>,
    /// A declaration no `python` image can satisfy (PyPy in `.python-version`): the message.
    pub(super) refusal: Option<String>,
}

impl Manifest {
    /// The normalized names of the runtime requirements (`Flask_Login[x]>=1` → `flask-login`).
    pub(super) fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.requirements.iter().map(|r| req_name(r))
    }

    /// Whether `name` is a runtime requirement.
    pub(super) fn has(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// Whether a runtime requirement `name` carries `extra` (`fastapi[standard]`).
    pub(super) fn has_extra(&self, name: &str, extra: &str) -> bool {
        self.requirements.iter().any(|r| {
            req_name(r) == name
                && r.split_once('[')
                    .and_then(|(_, rest)| rest.split_once(']'))
                    .is_some_and(|(extras, _)| extras.split(',').any(|e| e.trim() == extra))
        })
    }
}

/// The project name of a requirement, normalized as PyPI does (`Foo_Bar` → `foo-bar`).
pub(super) fn req_name(req: &str) -> String {
    req.trim()
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace(['_', '.'], "-")
}

/// Reads the manifests of `dir`; `None` when it holds none (not a Python project).
pub(super) fn read(repo: &Repo, dir: &str) -> Option<Manifest> {
    let file = |name: &str| repo.read(&join(dir, name));
    let requirements = file("requirements.txt");
    let pyproject = file("pyproject.toml");
    let pipfile = file("Pipfile");
    if requirements.is_none() && pyproject.is_none() && pipfile.is_none() {
        return None;
    }
    let mut m = Manifest::default();
    let mut included = Vec::new();
    if let Some(text) = &requirements {
        m.requirements_txt = true;
        requirement_lines(repo, dir, text, &mut m.requirements, &mut included, 0);
        m.local_requirements = m.requirements.iter().any(|r| is_local(r));
        m.requirements.retain(|r| !is_local(r));
    }
    let py: toml::Table = pyproject
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    let poetry = py
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.as_table());
    if let Some(project) = py.get("project").and_then(|p| p.as_table()) {
        if !m.requirements_txt {
            m.requirements.extend(strings(project.get("dependencies")));
        }
        m.name = project
            .get("name")
            .and_then(|n| n.as_str())
            .map(str::to_owned);
        if let Some(scripts) = project.get("scripts").and_then(|s| s.as_table()) {
            m.scripts = scripts
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect();
        }
    }
    if let Some(groups) = py.get("dependency-groups").and_then(|g| g.as_table()) {
        m.dev.extend(strings(groups.get("dev")));
    }
    if let Some(poetry) = poetry {
        m.name = m.name.take().or_else(|| {
            poetry
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_owned)
        });
        m.requirements
            .extend(table_keys(poetry.get("dependencies")));
        let dev = poetry
            .get("group")
            .and_then(|g| g.get("dev"))
            .and_then(|d| d.get("dependencies"));
        m.dev
            .extend(table_keys(dev.or(poetry.get("dev-dependencies"))));
    }
    m.buildable = py.contains_key("build-system");
    m.uv_package = py
        .get("tool")
        .and_then(|t| t.get("uv"))
        .and_then(|u| u.get("package"))
        .and_then(|p| p.as_bool())
        .unwrap_or(m.buildable);
    let pip: toml::Table = pipfile
        .as_deref()
        .and_then(|t| t.parse().ok())
        .unwrap_or_default();
    if pipfile.is_some() && !m.requirements_txt {
        m.requirements.extend(table_keys(pip.get("packages")));
        m.dev.extend(table_keys(pip.get("dev-packages")));
    }
    m.requirements.retain(|r| req_name(r) != "python");
    let exists = |name: &str| repo.is_file(&join(dir, name));
    (m.manager, m.dep_files) = if exists("uv.lock") && pyproject.is_some() {
        ((Manager::Uv, "uv.lock"), vec!["pyproject.toml", "uv.lock"])
    } else if exists("poetry.lock") && pyproject.is_some() {
        let files = vec!["pyproject.toml", "poetry.lock"];
        ((Manager::Poetry, "poetry.lock"), files)
    } else if exists("Pipfile.lock") && pipfile.is_some() {
        let files = vec!["Pipfile", "Pipfile.lock"];
        ((Manager::Pipenv, "Pipfile.lock"), files)
    } else if m.requirements_txt {
        let files = vec!["requirements.txt"];
        ((Manager::Pip, "requirements.txt"), files)
    } else if poetry.is_some() {
        ((Manager::Poetry, "pyproject.toml"), vec!["pyproject.toml"])
    } else if pipfile.is_some() {
        ((Manager::Pipenv, "Pipfile"), vec!["Pipfile"])
    } else {
        ((Manager::Pip, "pyproject.toml"), vec!["pyproject.toml"])
    };
    m.files = m.dep_files.iter().map(|f| (*f).to_owned()).collect();
    if m.manager.0 == Manager::Pip && m.requirements_txt {
        m.files.extend(included);
    }
    declarations(repo, dir, &py, &pip, &mut m);
    Some(m)
}

/// How deep `-r other.txt` includes are followed.
const MAX_INCLUDE_DEPTH: usize = 3;

/// The requirements of a requirements file's `text` into `out`, following `-r`/`-c`
/// includes (inside `dir`) whose paths go into `included`.
fn requirement_lines(
    repo: &Repo,
    dir: &str,
    text: &str,
    out: &mut Vec<String>,
    included: &mut Vec<String>,
    depth: usize,
) {
    for line in text.lines() {
        let l = line.split(" #").next().unwrap_or("").trim();
        let include = ["--requirement", "--constraint", "-r", "-c"]
            .iter()
            .find_map(|flag| l.strip_prefix(flag))
            .map(|rest| rest.trim_start_matches('=').trim());
        if let Some(path) = include {
            let path = path.trim_start_matches("./");
            let inside = !path.is_empty() && !path.starts_with('/') && !path.contains("..");
            if inside && !included.iter().any(|p| p == path) && depth < MAX_INCLUDE_DEPTH {
                included.push(path.to_owned());
                if let Some(text) = repo.read(&join(dir, path)) {
                    requirement_lines(repo, dir, &text, out, included, depth + 1);
                }
            }
            continue;
        }
        let editable = l
            .strip_prefix("-e")
            .or_else(|| l.strip_prefix("--editable"))
            .map(|rest| rest.trim_start_matches('=').trim());
        if let Some(path) = editable.filter(|p| is_local(p)) {
            out.push(path.to_owned());
        } else if !l.is_empty() && !l.starts_with('#') && !l.starts_with('-') {
            out.push(l.to_ascii_lowercase());
        }
    }
}

/// A requirement that is a local path (`.`, `./libs/common`, `../shared`).
fn is_local(req: &str) -> bool {
    req == "." || req.starts_with("./") || req.starts_with("../")
}

/// The strings of a TOML array (absent or not an array: none).
fn strings(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str())
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

/// The keys of a TOML table, lowercased (Poetry's and Pipfile's dependency tables).
fn table_keys(v: Option<&toml::Value>) -> Vec<String> {
    v.and_then(|v| v.as_table())
        .map(|t| {
            t.iter()
                .map(|(k, v)| {
                    let extras = v
                        .get("extras")
                        .and_then(|e| e.as_array())
                        .map(|e| e.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>());
                    match extras {
                        Some(e) if !e.is_empty() => format!("{k}[{}]", e.join(",")),
                        _ => k.clone(),
                    }
                })
                .map(|k| k.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default()
}

/// The toolchain declarations: `requires-python`, Poetry's `python`, Pipfile's
/// `python_version`, `.python-version`, `runtime.txt` — in that order, so that on a tie the
/// manifest's own range is the one named.
fn declarations(repo: &Repo, dir: &str, py: &toml::Table, pip: &toml::Table, m: &mut Manifest) {
    let poetry_python = py
        .get("tool")
        .and_then(|t| t.get("poetry"))
        .and_then(|p| p.get("dependencies"))
        .and_then(|d| d.get("python"))
        .and_then(|v| v.as_str());
    let requires = py
        .get("project")
        .and_then(|p| p.get("requires-python"))
        .and_then(|v| v.as_str());
    let pipfile_python = pip.get("requires").and_then(|r| {
        r.get("python_full_version")
            .or_else(|| r.get("python_version"))
            .and_then(|v| v.as_str())
    });
    let mut keyed = |file: &str, key: &str, source: Source, value: Option<&str>| {
        let Some(value) = value else { return };
        let line = repo
            .find_line(&join(dir, file), |l| {
                l.trim_start().starts_with(key) && l.contains(value)
            })
            .map_or(0, |(n, _)| n);
        push(m, source, value, file, line);
    };
    keyed(
        "pyproject.toml",
        "requires-python",
        Source::RequiresPython,
        requires,
    );
    keyed(
        "pyproject.toml",
        "python",
        Source::PoetryPython,
        poetry_python,
    );
    keyed("Pipfile", "python_", Source::PipfilePython, pipfile_python);
    for (file, source) in [
        (".python-version", Source::PythonVersionFile),
        ("runtime.txt", Source::RuntimeTxt),
    ] {
        if let Some(text) = repo.read(&join(dir, file)) {
            let value = text
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty() && !l.starts_with('#'))
                .unwrap_or("")
                .to_owned();
            if !value.is_empty() {
                push(m, source, &value, file, 1);
            }
        }
    }
}

fn push(m: &mut Manifest, source: Source, value: &str, file: &str, line: u32) {
    let evidence = crate::toolchain::Evidence::new(file, line);
    match Declared::parse(source, value, evidence) {
        Ok(d) => m.declared.push((d, value.to_owned())),
        Err(crate::toolchain::ToolchainError::Unreadable { .. }) => m.unreadable.push(format!(
            "{file}: cannot read {value:?} as a Python version; the version policy ignored it"
        )),
        // Another interpreter than CPython: no `python` image runs it.
        Err(e) => m.refusal = Some(e.to_string()),
    }
}
