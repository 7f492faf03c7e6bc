//! Python: `requirements.txt`, `pyproject.toml` (PEP 621, Poetry, uv) or `Pipfile`; the
//! WSGI/ASGI object found in the code, the server that runs it, the port it binds, the
//! manager whose lockfile the image installs from, and the interpreter the project declares.
//!
//! `manifest.rs` reads the manifests and lockfiles, `code.rs` the sources, `serve.rs` turns
//! the application and the port into the server command (a `Procfile`'s when there is one),
//! `worker.rs` starts a project that serves nothing (Celery, a script).

mod code;
mod manifest;
mod serve;
mod worker;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use self::code::{AppObject, PyFile};
use self::manifest::{Manager, Manifest};
use super::repo::join;
use super::ToolchainFact;
use super::{AnalyzeError, AnalyzeResult, Details, Detection, Evidence, Repo, ServiceKind};
use crate::toolchain::{choose, Ecosystem, Flag};

/// What a Python Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PythonDetails {
    /// `pip`, `uv`, `poetry` or `pipenv`: how the builder stage installs the dependencies.
    pub manager: String,
    /// The manifests and lockfiles copied and installed before the sources
    /// (`requirements.txt`; `pyproject.toml`, `uv.lock`; `Pipfile`, `Pipfile.lock`).
    pub dep_files: Vec<String>,
    /// pip only: the dependencies are `requirements.txt`'s (else pyproject's `[project]`).
    pub requirements_txt: bool,
    /// The project itself is installed into the venv after the sources are copied (a src
    /// layout or a console script built by its `[build-system]`).
    pub install_project: bool,
    /// The lockfile is present (`uv.lock`, `poetry.lock`, `Pipfile.lock`): installs are
    /// frozen to it.
    pub locked: bool,
    /// Pinned packages the image adds because the project does not depend on them (the
    /// server: `gunicorn==23.0.0`).
    pub extra_packages: Vec<String>,
    /// `PYTHONPATH` for a src layout that is not installed (`/app/src`).
    pub python_path: Option<String>,
    /// The install needs the sources (a requirement `-e .`): they are copied before it.
    pub install_needs_sources: bool,
}

/// The project being read: its directory, manifests and sources.
struct Project<'a> {
    repo: &'a Repo,
    /// The directory, relative to the repository root.
    dir: &'a str,
    manifest: &'a Manifest,
    files: &'a [PyFile],
}

/// Reads directory `dir` of `repo` as a Python project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let m = manifest::read(repo, dir)?;
    let shown = repo.root().join(dir).display().to_string();
    if let Some(detail) = &m.refusal {
        return Detection::refusal(AnalyzeError::Unsupported {
            path: shown,
            detail: detail.clone(),
        });
    }
    let mut r = AnalyzeResult {
        language: "python".into(),
        ..AnalyzeResult::default()
    };
    let (manager, manager_file) = m.manager;
    r.facts.record(
        "language",
        "python",
        Evidence::at(manager_file, None, "a Python manifest"),
    );
    if let Err(detail) = toolchain(&m, &mut r) {
        return Detection::refusal(AnalyzeError::Unsupported {
            path: shown,
            detail,
        });
    }
    r.dependencies = m.names().collect();
    r.dev_dependencies = m.dev.iter().map(|d| manifest::req_name(d)).collect();
    r.app_name = m.name.clone().unwrap_or_default();
    r.evidence = m.files.clone();
    let files = code::sources(repo, dir);
    let mut extras = Vec::new();
    let project = Project {
        repo,
        dir,
        manifest: &m,
        files: &files,
    };
    let found = service(&project, &mut r, &mut extras);
    let Some(entry_file) = found else {
        // A manifest of tools (a docs or lint requirements file) runs nothing.
        return Detection::tooling(r);
    };
    r.build_tool = manager.as_str().into();
    r.facts.record(
        "manager",
        manager.as_str(),
        Evidence::at(
            manager_file,
            None,
            "the lockfile or manifest the install uses",
        ),
    );
    r.checks.extend(m.unreadable.iter().cloned());
    if m.local_requirements {
        r.checks.push("requirements.txt installs the project itself (a local path such as -e .): the sources are copied before the install, so every change rebuilds the dependency layer".into());
    }
    let src_layout = files.iter().any(|f| f.in_src && f.rel == entry_file)
        || (entry_file.is_empty() && files.iter().any(|f| f.in_src));
    let runs_script = m.scripts.iter().any(|(name, _)| *name == r.start_command);
    let install_project = manager == Manager::Pip && m.buildable && (src_layout || runs_script);
    let installed = install_project || (manager == Manager::Uv && m.uv_package);
    if runs_script && !installed {
        not_installed_script(&m, &mut r);
    }
    r.build_command = install_command(manager, &m, install_project);
    let details = PythonDetails {
        manager: manager.as_str().into(),
        dep_files: m.files.clone(),
        requirements_txt: m.requirements_txt,
        install_project,
        locked: manager_file.ends_with(".lock"),
        extra_packages: extras,
        python_path: (src_layout && !install_project).then(|| "/app/src".to_owned()),
        install_needs_sources: m.local_requirements,
    };
    r.details = Details::Python(details);
    Detection::service(r)
}

/// A console script of a project its manager does not install (`poetry install --no-root`,
/// Pipenv, a uv project with `package = false`): `python -m pkg` for a `pkg.__main__`
/// target, else the script stays, with a check.
fn not_installed_script(m: &Manifest, r: &mut AnalyzeResult) {
    let target = m
        .scripts
        .iter()
        .find(|(name, _)| *name == r.start_command)
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    match target.split(':').next().and_then(|m| m.strip_suffix(".__main__")) {
        Some(pkg) => r.start_command = format!("python -m {pkg}"),
        None => r.checks.push(format!(
            "the start command runs the console script {}, which the install does not create (the project itself is not installed): check it",
            r.start_command
        )),
    }
}

/// The base image's Python version from what the project declares; `Err` with the
/// message when the declarations contradict each other.
fn toolchain(m: &Manifest, r: &mut AnalyzeResult) -> Result<(), String> {
    let decls: Vec<_> = m.declared.iter().map(|(d, _)| d.clone()).collect();
    let choice = choose(Ecosystem::Python, &decls).map_err(|e| e.to_string())?;
    let binding = m
        .declared
        .iter()
        .find(|(d, _)| Some(d.evidence()) == choice.evidence.as_ref());
    let raw: Vec<&str> = binding.map(|(_, v)| v.as_str()).into_iter().collect();
    let fact = ToolchainFact::from_choice(&choice, &raw);
    match binding {
        Some((d, _)) if !choice.has(Flag::Fallback) => {
            let e = d.evidence();
            let line = (e.line > 0).then_some(e.line);
            r.facts.record(
                "toolchain",
                &fact.tag,
                Evidence::at(&e.file, line, choice.reason.clone()),
            );
        }
        _ => r.facts.fallback("toolchain", &fact.tag, &choice.reason),
    }
    r.toolchain = Some(fact);
    Ok(())
}

/// The command the builder stage runs (for the step result; the Dockerfile writes it out
/// in its own steps).
fn install_command(manager: Manager, m: &Manifest, install_project: bool) -> String {
    match manager {
        Manager::Uv => "uv sync --frozen --no-dev".into(),
        Manager::Poetry => "poetry install --no-root --only main".into(),
        Manager::Pipenv if m.dep_files.contains(&"Pipfile.lock") => "pipenv install --deploy".into(),
        Manager::Pipenv => "pipenv install".into(),
        Manager::Pip if m.requirements_txt => "pip install --no-cache-dir -r requirements.txt".into(),
        Manager::Pip if install_project => "pip install --no-cache-dir .".into(),
        Manager::Pip => "pip install --no-cache-dir -r requirements.txt (from pyproject.toml's [project] dependencies)".into(),
    }
}

/// The web frameworks a dependency names when the code shows no application object,
/// in order of preference.
const WEB: &[&str] = &["django", "flask", "fastapi", "starlette", "quart"];

/// Fills framework, entrypoint, kind, port, health and the start command; returns the file
/// of the entrypoint (`""` when none is a file), or `None` when nothing here runs.
fn service(p: &Project, r: &mut AnalyzeResult, extras: &mut Vec<String>) -> Option<String> {
    let (repo, dir, m, files) = (p.repo, p.dir, p.manifest, p.files);
    let procfile = code::procfile(repo, dir, "web");
    let mut objects = code::app_objects(files);
    let proc_target = procfile.as_ref().and_then(|(_, cmd)| serve::target_of(cmd));
    objects.sort_by_key(|o| {
        (
            Some(&o.target) != proc_target.as_ref(),
            o.framework == "celery",
            o.factory,
            o.module.matches('.').count(),
            name_rank(&o.module),
        )
    });
    // A `manage.py` alone is no proof: Flask-Script projects have one too.
    let django_manage = repo
        .find_line(&join(dir, "manage.py"), |l| {
            l.contains("django") || l.contains("DJANGO_SETTINGS_MODULE")
        })
        .is_some();
    let django_dep = m.has("django") || django_manage;
    let web_object = objects.iter().find(|o| o.framework != "celery");
    let framework = if django_dep {
        Some("django")
    } else if let Some(o) = web_object {
        Some(o.framework)
    } else {
        WEB.iter().copied().find(|f| m.has(f))
    };
    let Some(framework) = framework else {
        return worker::worker(p, &objects, r);
    };
    r.framework = framework.into();
    let (entry, file) = entrypoint(p, framework, web_object, proc_target, r);
    r.entrypoint = entry;
    r.kind = ServiceKind::Web;
    r.facts
        .record("kind", "web", Evidence::rule("a web framework serves it"));
    serve::web(p, procfile, &file, r, extras);
    if framework == "django" {
        r.checks.push(
            "Django: the image runs neither `manage.py migrate` nor `collectstatic`; run them (a Job, an init container, or a RUN step) if the project needs them".into(),
        );
    }
    if let Some(h) = code::health(files, &file) {
        r.facts.record(
            "health",
            &h.value,
            Evidence::at(&h.file, Some(h.line), h.rule),
        );
        r.health_path = Some(h.value);
    }
    Some(file)
}

/// The WSGI/ASGI target (`module:variable`) and its file: Django's WSGI application, the
/// object found in the code, else the convention (`app:app`) as a fallback.
fn entrypoint(
    p: &Project,
    framework: &str,
    object: Option<&AppObject>,
    proc_target: Option<String>,
    r: &mut AnalyzeResult,
) -> (String, String) {
    let (repo, dir, files) = (p.repo, p.dir, p.files);
    let evidence = |file: &str, line, rule: &str| Evidence::at(file, Some(line), rule);
    if framework == "django" {
        if let Some(d) = code::django(repo, dir, files) {
            r.facts
                .record("framework", "django", evidence(&d.file, d.line, d.rule));
            r.facts
                .record("entrypoint", &d.value, evidence(&d.file, d.line, d.rule));
            return (d.value, d.file);
        }
        r.facts.record(
            "framework",
            "django",
            Evidence::rule("django in the dependencies"),
        );
    } else if let Some(o) = object {
        let rule = if o.factory {
            format!("{framework}: an application factory")
        } else {
            format!("{framework}: a module-level application object")
        };
        r.facts
            .record("framework", framework, evidence(&o.file, o.line, &rule));
        r.facts
            .record("entrypoint", &o.target, evidence(&o.file, o.line, &rule));
        return (o.target.clone(), o.file.clone());
    } else {
        r.facts.record(
            "framework",
            framework,
            Evidence::rule(format!("{framework} in the dependencies")),
        );
    }
    if let Some(t) = proc_target {
        r.facts.record(
            "entrypoint",
            &t,
            Evidence::at("Procfile", None, "the Procfile's web command"),
        );
        return (t, String::new());
    }
    let file = ["app.py", "main.py", "wsgi.py", "asgi.py", "server.py"]
        .into_iter()
        .find(|f| files.iter().any(|s| s.rel == *f))
        .unwrap_or("app.py");
    let target = match framework {
        "django" => "wsgi:application".to_owned(),
        _ => format!("{}:app", file.trim_end_matches(".py")),
    };
    r.facts.fallback(
        "entrypoint",
        &target,
        "no application object found in the code: the conventional name",
    );
    (target, file.to_owned())
}

/// The conventional module names of an entrypoint, most likely first.
pub(super) fn name_rank(module: &str) -> usize {
    let last = module.rsplit('.').next().unwrap_or(module);
    [
        "worker", "app", "main", "wsgi", "asgi", "server", "service", "api", "run",
    ]
    .iter()
    .position(|n| *n == last)
    .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
