//! A Python project with no web framework: a worker that listens on nothing, started as a
//! Celery worker, a `Procfile` worker line, a console script or a script run as `__main__`.

use super::code::{self, AppObject, PyFile};
use super::{name_rank, Project};
use crate::analyze::{AnalyzeResult, Evidence, ServiceKind};

/// A worker: a Celery app (`celery -A tasks worker`), a `Procfile` worker line, a console
/// script, or a script run as `__main__`; `None` when nothing runs.
pub(super) fn worker(p: &Project, objects: &[AppObject], r: &mut AnalyzeResult) -> Option<String> {
    let (repo, dir, m, files) = (p.repo, p.dir, p.manifest, p.files);
    r.kind = ServiceKind::Worker;
    r.port = 0;
    let celery = objects.iter().find(|o| o.framework == "celery");
    let (entry, start, evidence, file) = if let Some(c) = celery {
        r.framework = "celery".into();
        let var = c.target.rsplit(':').next().unwrap_or("app");
        let app = if matches!(var, "app" | "celery") {
            c.module.clone()
        } else {
            c.target.clone()
        };
        let start = format!("celery -A {app} worker --loglevel=INFO");
        let ev = Evidence::at(&c.file, Some(c.line), "a Celery application");
        (c.target.clone(), start, ev, c.file.clone())
    } else if let Some((line, cmd)) = code::procfile(repo, dir, "worker") {
        let ev = Evidence::at("Procfile", Some(line), "the Procfile's worker command");
        (cmd.clone(), cmd, ev, String::new())
    } else if let Some((name, target)) = m.scripts.first() {
        let ev = Evidence::at("pyproject.toml", None, "[project.scripts]");
        (target.clone(), name.clone(), ev, String::new())
    } else if let Some(f) = main_script(files) {
        let (entry, start) = match f.rel.strip_suffix("/__main__.py") {
            Some(_) => {
                let pkg = f.module.trim_end_matches(".__main__").to_owned();
                (pkg.clone(), format!("python -m {pkg}"))
            }
            None => (f.rel.clone(), format!("python {}", f.rel)),
        };
        let ev = Evidence::at(&f.rel, None, "a script run as __main__");
        (entry, start, ev, f.rel.clone())
    } else if m.has("celery") {
        r.framework = "celery".into();
        let dep = Evidence::rule("celery in the dependencies");
        r.facts.record("framework", "celery", dep);
        let start = "celery -A tasks worker --loglevel=INFO".to_owned();
        r.facts.fallback(
            "entrypoint",
            "tasks",
            "celery in the dependencies, no Celery() found: the conventional module",
        );
        r.facts.record(
            "kind",
            "worker",
            Evidence::rule("no web framework: a worker listens on nothing"),
        );
        r.facts
            .record("port", 0, Evidence::rule("a worker listens on nothing"));
        r.start_command = start;
        r.entrypoint = "tasks".into();
        return Some(String::new());
    } else {
        return None;
    };
    if !r.framework.is_empty() {
        r.facts.record("framework", &r.framework, evidence.clone());
    }
    r.facts.record("entrypoint", &entry, evidence);
    r.facts.record(
        "kind",
        "worker",
        Evidence::rule("no web framework: a worker listens on nothing"),
    );
    r.facts
        .record("port", 0, Evidence::rule("a worker listens on nothing"));
    r.entrypoint = entry;
    r.start_command = start;
    Some(file)
}

/// The script a worker runs: a top-level file run as `__main__`, the conventional names
/// first, else a package's `__main__.py`.
fn main_script(files: &[PyFile]) -> Option<&PyFile> {
    let top = files
        .iter()
        .filter(|f| !f.rel.contains('/') && code::is_script(f));
    let best = top.min_by_key(|f| name_rank(f.rel.trim_end_matches(".py")));
    best.or_else(|| {
        files
            .iter()
            .find(|f| f.rel.ends_with("/__main__.py") && f.rel.matches('/').count() <= 2)
    })
}
