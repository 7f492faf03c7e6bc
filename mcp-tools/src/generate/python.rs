//! The Python Dockerfile, from the analysis's facts: a builder stage that installs the
//! dependencies into a venv at `/opt/venv` with the project's manager (pip, uv, Poetry,
//! Pipenv), its manifests and lockfile copied and installed before the sources; a slim
//! runtime stage that copies the venv and the sources and runs the server as uid 10001.

use super::{exec_form, render, template};
use crate::analyze::{AnalyzeResult, Details, ServiceKind};

/// The builder stage's install steps, one template per manager.
const PIP: &str = include_str!("../../templates/dockerfile/python-pip.Dockerfile");
const PYPROJECT: &str = include_str!("../../templates/dockerfile/python-pyproject.Dockerfile");
const UV: &str = include_str!("../../templates/dockerfile/python-uv.Dockerfile");
const POETRY: &str = include_str!("../../templates/dockerfile/python-poetry.Dockerfile");
const PIPENV: &str = include_str!("../../templates/dockerfile/python-pipenv.Dockerfile");

/// The uv image the builder copies `uv` from, pinned (Astral's documented way, with the
/// tag its Docker guide names).
const UV_VERSION: &str = "0.10.2";
/// The Poetry and Pipenv the builder installs, pinned.
const POETRY_PIN: &str = "poetry==2.1.3";
const PIPENV_PIN: &str = "pipenv==2024.4.0";
/// The image tag when the analysis chose none (the policy's default).
const DEFAULT_TAG: &str = "3.13";

/// The Python Dockerfile for `a`, exposing `port` (nothing for a worker).
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let d = match &a.details {
        Details::Python(d) => d.clone(),
        _ => Default::default(),
    };
    let copy = if d.install_needs_sources {
        "COPY . .".to_owned()
    } else {
        copy_lines(&d.dep_files)
    };
    let mut install = match d.manager.as_str() {
        "uv" => render(UV, &[("uv", UV_VERSION), ("copy", &copy)]),
        "poetry" => render(POETRY, &[("poetry", POETRY_PIN), ("copy", &copy)]),
        "pipenv" => {
            // `--deploy` refuses a Pipfile.lock out of date with the Pipfile.
            let deploy = if d.locked { " --deploy" } else { "" };
            let values = [("pipenv", PIPENV_PIN), ("copy", &copy), ("deploy", deploy)];
            render(PIPENV, &values)
        }
        _ if !d.requirements_txt && d.dep_files.iter().any(|f| f == "pyproject.toml") => {
            PYPROJECT.to_owned()
        }
        _ => render(PIP, &[("copy", &copy)]),
    };
    if !d.extra_packages.is_empty() {
        let pins = d.extra_packages.join(" ");
        let add = match d.manager.as_str() {
            "uv" => format!("uv pip install --python /opt/venv/bin/python {pins}"),
            _ => format!("pip install --no-cache-dir {pins}"),
        };
        // Onto the install's last RUN (every install template ends with one): one layer.
        let trimmed = install.trim_end().to_owned();
        install = format!("{trimmed} \\\n    && {add}\n");
    }
    if d.install_project {
        install.push_str("COPY . .\nRUN pip install --no-cache-dir --no-deps .\n");
    }
    let tag = a
        .toolchain
        .as_ref()
        .map(|t| t.tag.as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_TAG);
    let pythonpath = d
        .python_path
        .as_ref()
        .map(|p| format!(" PYTHONPATH={p}"))
        .unwrap_or_default();
    let web = a.kind == ServiceKind::Web;
    let expose = if web {
        format!("EXPOSE {port}\n")
    } else {
        String::new()
    };
    let healthcheck = match &a.health_path {
        Some(path) if web => {
            let probe = format!(
                "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}{path}', timeout=2)"
            );
            let cmd = serde_json::json!(["python", "-c", probe]).to_string();
            let cmd = cmd.replace("\",\"", "\", \"");
            format!("HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD {cmd}\n")
        }
        _ => String::new(),
    };
    let start = if a.start_command.is_empty() {
        "python app.py".to_owned()
    } else if web {
        rebind(&a.start_command, port)
    } else {
        a.start_command.clone()
    };
    render(
        template::PYTHON,
        &[
            ("tag", tag),
            ("install", &install),
            ("pythonpath", &pythonpath),
            ("expose", &expose),
            ("healthcheck", &healthcheck),
            ("cmd", &exec_form(&start)),
        ],
    )
}

/// `cmd` listening on `port`: the address of gunicorn's `--bind 0.0.0.0:N` and uvicorn's
/// `--port N` set to it, so that the CMD binds what EXPOSE says even when a later source
/// (an existing Dockerfile's EXPOSE, a compose file) changed the analysis's port.
fn rebind(cmd: &str, port: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut tokens = cmd.split_whitespace();
    while let Some(t) = tokens.next() {
        out.push(t.to_owned());
        match t {
            "--bind" | "-b" => {
                if let Some(addr) = tokens.next() {
                    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                    out.push(format!("{host}:{port}"));
                }
            }
            "--port" if tokens.next().is_some() => out.push(port.to_owned()),
            _ => {}
        }
    }
    out.join(" ")
}

/// The `COPY` lines of the dependency files, each into its own directory
/// (`requirements/base.txt` → `COPY requirements/base.txt requirements/`): the root's files
/// in one line, then one line a directory.
fn copy_lines(files: &[String]) -> String {
    let default = ["requirements.txt".to_owned()];
    let files = if files.is_empty() {
        &default[..]
    } else {
        files
    };
    let mut dirs: Vec<(&str, Vec<&str>)> = Vec::new();
    for f in files {
        let dir = f.rsplit_once('/').map_or("", |(d, _)| d);
        match dirs.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, list)) => list.push(f),
            None => dirs.push((dir, vec![f])),
        }
    }
    dirs.iter()
        .map(|(dir, list)| {
            let to = if dir.is_empty() {
                "./".to_owned()
            } else {
                format!("{dir}/")
            };
            format!("COPY {} {to}", list.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::super::dockerfile;
    use crate::analyze::{analyze_dir, AnalyzeResult, Details};

    /// The Python targets of `tests/repos/expected.toml` (fixture, path) and their goldens.
    const FIXTURES: &[(&str, &str, &str)] = &[
        ("flask-minimal", "", "python-flask-minimal.Dockerfile"),
        ("flask-factory", "", "python-flask-factory.Dockerfile"),
        (
            "flask-service-module",
            "",
            "python-flask-service-module.Dockerfile",
        ),
        (
            "fastapi-app-package",
            "",
            "python-fastapi-app-package.Dockerfile",
        ),
        ("fastapi-uv", "", "python-fastapi-uv.Dockerfile"),
        ("fastapi-poetry", "", "python-fastapi-poetry.Dockerfile"),
        (
            "django-lint-package-json",
            "",
            "python-django-lint-package-json.Dockerfile",
        ),
        ("django-pipenv", "", "python-django-pipenv.Dockerfile"),
        ("python-procfile", "", "python-procfile.Dockerfile"),
        ("python-worker", "", "python-worker.Dockerfile"),
        ("python-dotenv-port", "", "python-dotenv-port.Dockerfile"),
        ("python-src-layout", "", "python-src-layout.Dockerfile"),
        (
            "monorepo-services",
            "services/worker",
            "python-celery-worker.Dockerfile",
        ),
        (
            "compose-fullstack",
            "backend",
            "python-compose-backend.Dockerfile",
        ),
    ];

    /// Analyzes each fixture as the tool does, generates its Dockerfile and compares it with
    /// `templates/golden/<name>`; `UPDATE_GOLDEN=1` rewrites the goldens.
    #[test]
    fn python_fixtures_generate_their_golden_dockerfiles() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut failed = Vec::new();
        for (fixture, path, golden) in FIXTURES {
            let bound = root
                .join("tests/repos")
                .join(fixture)
                .canonicalize()
                .unwrap();
            let dir = if path.is_empty() {
                bound.clone()
            } else {
                bound.join(path)
            };
            let a = analyze_dir(&bound, &dir).unwrap();
            // The Node detector may still claim django-lint-package-json's package.json.
            if a.language != "python" {
                continue;
            }
            let actual = dockerfile(&a);
            let file = root.join("templates/golden").join(golden);
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::write(&file, &actual).unwrap();
            }
            let expected = std::fs::read_to_string(&file).unwrap_or_default();
            if actual != expected {
                failed.push(format!("{golden}:\n{actual}"));
            }
        }
        assert!(
            failed.is_empty(),
            "differ from their goldens (UPDATE_GOLDEN=1 rewrites):\n{}",
            failed.join("\n")
        );
    }

    /// A Python analysis whose details are `details` (JSON, as a stored analysis holds them).
    fn analysis(details: serde_json::Value, kind: &str) -> AnalyzeResult {
        let mut details = details;
        details["stack"] = "python".into();
        AnalyzeResult {
            language: "python".into(),
            port: 8000,
            kind: serde_json::from_value(kind.into()).unwrap(),
            start_command: "gunicorn --bind 0.0.0.0:8000 app:app".into(),
            health_path: Some("/healthz".into()),
            details: serde_json::from_value::<Details>(details).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn the_cmd_binds_the_port_the_image_exposes() {
        let mut a = analysis(json!({"manager": "pip"}), "web");
        a.port = 9000;
        let d = dockerfile(&a);
        assert!(
            d.contains("EXPOSE 9000") && d.contains("\"0.0.0.0:9000\""),
            "{d}"
        );
        a.start_command = "uvicorn app:app --host 0.0.0.0 --port 8000".into();
        let d = dockerfile(&a);
        assert!(d.contains("\"--port\", \"9000\"]"), "{d}");
    }

    #[test]
    fn every_manager_installs_before_the_sources_and_adds_its_pins_in_one_layer() {
        let cases = [
            json!({"manager": "pip", "dep_files": ["requirements.txt"], "requirements_txt": true}),
            json!({"manager": "pip", "dep_files": ["pyproject.toml"], "install_project": true}),
            json!({"manager": "uv", "dep_files": ["pyproject.toml", "uv.lock"], "locked": true}),
            json!({"manager": "poetry", "dep_files": ["pyproject.toml", "poetry.lock"], "locked": true}),
            json!({"manager": "pipenv", "dep_files": ["Pipfile", "Pipfile.lock"], "locked": true}),
            json!({"manager": "pipenv", "dep_files": ["Pipfile"]}),
        ];
        for mut details in cases {
            details["extra_packages"] = json!(["gunicorn==23.0.0"]);
            let d = dockerfile(&analysis(details.clone(), "web"));
            let (builder, runtime) = d.rsplit_once("\nFROM ").unwrap();
            let deps = builder.find("COPY ").unwrap();
            let sources = builder.find("COPY . .").unwrap_or(usize::MAX);
            assert!(deps < sources, "{details}: {d}");
            assert!(
                builder.contains("&& pip install --no-cache-dir gunicorn==23.0.0")
                    || builder.contains(
                        "&& uv pip install --python /opt/venv/bin/python gunicorn==23.0.0"
                    ),
                "{d}"
            );
            assert!(!builder.contains("RUN pip install gunicorn"), "{d}");
            assert!(
                runtime.contains("USER 10001\nEXPOSE 8000\nHEALTHCHECK"),
                "{d}"
            );
            let locked = details["locked"].as_bool().unwrap_or(false);
            assert_eq!(
                d.contains("--deploy"),
                locked && details["manager"] == "pipenv",
                "{d}"
            );
        }
        let worker = dockerfile(&analysis(json!({"manager": "pip"}), "worker"));
        assert!(
            !worker.contains("EXPOSE") && !worker.contains("HEALTHCHECK"),
            "{worker}"
        );
        assert!(worker.contains("COPY requirements.txt ./"), "{worker}");
    }
}
