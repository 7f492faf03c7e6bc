//! Python: `requirements.txt`, `pyproject.toml` or `Pipfile`; FastAPI, Django or Flask and
//! the server command that fits it.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{exists, read, AnalyzeResult};
use super::{Detection, Repo};

/// What a Python Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PythonDetails {}

/// Reads directory `dir` of `repo` as a Python project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let root = repo.root().join(dir);
    if !["requirements.txt", "pyproject.toml", "Pipfile"]
        .iter()
        .any(|f| repo.is_file(&super::repo::join(dir, f)))
    {
        return None;
    }
    let mut r = AnalyzeResult::default();
    python(&root, &mut r);
    super::legacy_port(&root, &mut r);
    Detection::service(r)
}

/// Framework (FastAPI, Django, Flask), its port and server command, the dependencies of
/// `requirements.txt`, and a `pip install` of the requirements or of the project.
pub(super) fn python(root: &Path, r: &mut AnalyzeResult) {
    r.language = "python".into();
    let mut text = String::new();
    for f in ["requirements.txt", "pyproject.toml", "Pipfile"] {
        if let Some(t) = read(root, f) {
            r.evidence.push(f.into());
            text.push_str(&t.to_ascii_lowercase());
            text.push('\n');
        }
    }
    if exists(root, "requirements.txt") {
        r.dependencies = read(root, "requirements.txt")
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('-'))
            .map(|l| {
                l.split(|c: char| "=<>!~[; ".contains(c))
                    .next()
                    .unwrap_or(l)
                    .to_ascii_lowercase()
            })
            .collect();
    }
    let has = |d: &str| text.contains(d);
    let entry = ["app.py", "main.py", "wsgi.py", "server.py"]
        .into_iter()
        .find(|f| exists(root, f))
        .unwrap_or("app.py");
    let module = entry.trim_end_matches(".py");
    (r.framework, r.port, r.start_command) = if has("fastapi") {
        (
            "fastapi".into(),
            8000,
            format!("uvicorn {module}:app --host 0.0.0.0 --port 8000"),
        )
    } else if has("django") {
        (
            "django".into(),
            8000,
            "gunicorn --bind 0.0.0.0:8000 wsgi:application".into(),
        )
    } else if has("flask") {
        let start = if has("gunicorn") {
            format!("gunicorn --bind 0.0.0.0:5000 {module}:app")
        } else {
            format!("python {entry}")
        };
        ("flask".into(), 5000, start)
    } else {
        (String::new(), 8000, format!("python {entry}"))
    };
    r.build_tool = if exists(root, "requirements.txt") {
        "pip"
    } else {
        "pip (pyproject)"
    }
    .into();
    r.build_command = if exists(root, "requirements.txt") {
        "pip install --no-cache-dir -r requirements.txt".into()
    } else {
        "pip install --no-cache-dir .".into()
    };
}
