//! The Python detector on small repositories: one rule each.

use super::super::{Details, Detection, Repo, Strength};
use super::detect;
use crate::analyze::{AnalyzeResult, ServiceKind};

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    dir
}

fn detection(files: &[(&str, &str)]) -> Detection {
    let dir = tree(files);
    let repo = Repo::new(dir.path().canonicalize().unwrap());
    detect(&repo, "").expect("a Python project")
}

fn service(files: &[(&str, &str)]) -> AnalyzeResult {
    let d = detection(files);
    assert_eq!(d.strength, Strength::Service, "{d:?}");
    d.outcome.unwrap()
}

fn details(r: &AnalyzeResult) -> &super::PythonDetails {
    match &r.details {
        Details::Python(d) => d,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_procfile_bind_is_rebound_to_the_port_it_names() {
    let app = (
        "wsgi.py",
        "from flask import Flask\napp = Flask(__name__)\n",
    );
    let reqs = ("requirements.txt", "flask\ngunicorn\n");
    let r = service(&[
        reqs,
        app,
        ("Procfile", "web: gunicorn -b :9000 wsgi:app -w 4\n"),
    ]);
    assert_eq!(r.port, 9000);
    assert_eq!(
        r.start_command,
        "gunicorn --bind 0.0.0.0:9000 wsgi:app -w 4"
    );
    assert_eq!(r.facts.get("port").unwrap().evidence.line, Some(1));
    // `$PORT` is not expanded by an exec-form CMD: the port comes from the server's default.
    let r = service(&[
        reqs,
        app,
        ("Procfile", "web: gunicorn --bind 0.0.0.0:$PORT wsgi:app\n"),
    ]);
    assert_eq!(
        (r.port, r.start_command.as_str()),
        (8000, "gunicorn --bind 0.0.0.0:8000 wsgi:app")
    );
    assert!(r.facts.get("port").unwrap().fallback);
    let shell = (
        "Procfile",
        "web: uvicorn wsgi:app --host=0.0.0.0 --port=${PORT:-5050}\n",
    );
    let r = service(&[reqs, app, shell]);
    assert_eq!(
        r.start_command,
        "uvicorn wsgi:app --host 0.0.0.0 --port 5050"
    );
}

#[test]
fn a_missing_server_is_added_pinned_and_said() {
    let r = service(&[
        ("requirements.txt", "fastapi==0.115.6\n"),
        (
            "main.py",
            "from fastapi import FastAPI\n\napp = FastAPI()\n",
        ),
    ]);
    assert_eq!(details(&r).extra_packages, ["uvicorn==0.34.0"]);
    assert!(
        r.checks.iter().any(|c| c.contains("uvicorn")),
        "{:?}",
        r.checks
    );
    let with_standard = service(&[
        ("requirements.txt", "fastapi[standard]>=0.115\n"),
        (
            "main.py",
            "from fastapi import FastAPI\n\napp = FastAPI()\n",
        ),
    ]);
    assert!(details(&with_standard).extra_packages.is_empty());
}

#[test]
fn an_asgi_factory_runs_with_uvicorns_factory_flag() {
    let main =
        "from fastapi import FastAPI\n\n\ndef create_app():\n    app = FastAPI()\n    return app\n";
    let r = service(&[
        ("requirements.txt", "fastapi\nuvicorn\n"),
        ("svc/main.py", main),
    ]);
    assert_eq!(r.entrypoint, "svc.main:create_app()");
    assert_eq!(
        r.start_command,
        "uvicorn --factory svc.main:create_app --host 0.0.0.0 --port 8000"
    );
}

#[test]
fn tests_are_not_the_application() {
    let r = service(&[
        ("requirements.txt", "flask\n"),
        (
            "tests/test_app.py",
            "from flask import Flask\nfixture = Flask('t')\n",
        ),
        (
            "web/app.py",
            "import flask\napplication = flask.Flask(__name__)\n",
        ),
    ]);
    assert_eq!(r.entrypoint, "web.app:application");
    assert_eq!(r.port, 5000);
}

#[test]
fn a_manifest_of_tools_is_no_service() {
    let d = detection(&[("requirements.txt", "mkdocs==1.6.1\nmkdocs-material\n")]);
    assert_eq!(d.strength, Strength::Tooling, "{d:?}");
}

#[test]
fn declarations_no_python_image_satisfies_are_refused() {
    let pypy = detection(&[
        ("requirements.txt", "flask\n"),
        (".python-version", "pypy3.10\n"),
    ]);
    let contradiction = detection(&[
        (
            "pyproject.toml",
            "[project]\nname = \"x\"\nrequires-python = \">=3.13\"\ndependencies = [\"flask\"]\n",
        ),
        (".python-version", "3.11\n"),
    ]);
    for d in [pypy, contradiction] {
        assert_eq!(d.strength, Strength::Refusal);
        assert_eq!(d.outcome.unwrap_err().kind(), "unsupported");
    }
}

#[test]
fn a_package_run_as_main_is_a_worker_on_its_src_path() {
    let r = service(&[
        ("requirements.txt", "redis\n"),
        ("src/jobs/__init__.py", ""),
        (
            "src/jobs/__main__.py",
            "if __name__ == \"__main__\":\n    print('work')\n",
        ),
    ]);
    assert_eq!((r.kind, r.port), (ServiceKind::Worker, 0));
    assert_eq!(r.start_command, "python -m jobs");
    assert_eq!(details(&r).python_path.as_deref(), Some("/app/src"));
}

#[test]
fn django_wins_over_a_package_json_of_linters_on_the_python_side() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/repos/django-lint-package-json")
        .canonicalize()
        .unwrap();
    let d = detect(&Repo::new(root), "").unwrap();
    assert_eq!(d.strength, Strength::Service);
    let r = d.outcome.unwrap();
    // Its golden, written here while the Node detector still claims the package.json
    // (generate/python.rs checks it through analyze_dir once it no longer does).
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("templates/golden/python-django-lint-package-json.Dockerfile");
    let actual = crate::generate::dockerfile(&r);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &actual).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&golden).unwrap_or_default(), actual);
    assert_eq!(r.entrypoint, "mysite.wsgi:application");
    let fact = r.facts.get("entrypoint").unwrap();
    assert_eq!(fact.evidence.file.as_deref(), Some("mysite/settings.py"));
    assert_eq!(
        r.start_command,
        "gunicorn --bind 0.0.0.0:8000 mysite.wsgi:application"
    );
}

#[test]
fn included_requirement_files_are_read_and_copied() {
    let r = service(&[
        ("requirements.txt", "-r requirements/base.txt\n"),
        ("requirements/base.txt", "Django==5.1\n"),
        (
            "manage.py",
            "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site.settings')\n",
        ),
        (
            "site/settings.py",
            "WSGI_APPLICATION = 'site.wsgi.application'\n",
        ),
        (
            "site/urls.py",
            "urlpatterns = [path(\"healthz/\", health)]\n",
        ),
    ]);
    assert_eq!(
        details(&r).dep_files,
        ["requirements.txt", "requirements/base.txt"]
    );
    assert!(
        r.dependencies.iter().any(|d| d == "django"),
        "{:?}",
        r.dependencies
    );
    assert_eq!(r.entrypoint, "site.wsgi:application");
    assert_eq!(r.health_path.as_deref(), Some("/healthz/"));
    let d = crate::generate::dockerfile(&r);
    assert!(
        d.contains("COPY requirements.txt ./\nCOPY requirements/base.txt requirements/\n"),
        "{d}"
    );
}

#[test]
fn ports_come_from_constants_and_gunicorns_config() {
    let app = "from flask import Flask\n\nPORT = 8001\napp = Flask(__name__)\n\nif __name__ == '__main__':\n    app.run(port=PORT)\n";
    let reqs = ("requirements.txt", "flask\ngunicorn\n");
    assert_eq!(service(&[reqs, ("app.py", app)]).port, 8001);
    let conf = ("gunicorn.conf.py", "workers = 2\nbind = \"0.0.0.0:8200\"\n");
    let r = service(&[reqs, ("app.py", app), conf]);
    assert_eq!(r.port, 8200);
    assert_eq!(r.start_command, "gunicorn --bind 0.0.0.0:8200 app:app");
    let fact = r.facts.get("port").unwrap();
    assert_eq!(
        (fact.evidence.file.as_deref(), fact.evidence.line),
        (Some("gunicorn.conf.py"), Some(2))
    );
}

#[test]
fn a_procfile_command_that_needs_a_shell_gives_way_to_the_server() {
    let r = service(&[
        ("requirements.txt", "django\ngunicorn\n"),
        (
            "Procfile",
            "web: python manage.py runserver 0.0.0.0:$PORT\n",
        ),
        ("proj/wsgi.py", "application = get_wsgi_application()\n"),
    ]);
    assert_eq!(
        r.start_command,
        "gunicorn --bind 0.0.0.0:8000 proj.wsgi:application"
    );
    assert!(
        r.checks.iter().any(|c| c.contains("needs a shell")),
        "{:?}",
        r.checks
    );
}

#[test]
fn a_requirement_on_the_project_itself_copies_the_sources_first() {
    let r = service(&[
        ("requirements.txt", "-e .\nflask==3.1.0\n"),
        (
            "setup.py",
            "from setuptools import setup\nsetup(name='x')\n",
        ),
        ("app.py", "from flask import Flask\napp = Flask(__name__)\n"),
    ]);
    assert!(details(&r).install_needs_sources);
    assert_eq!(r.dependencies, ["flask"]);
    let d = crate::generate::dockerfile(&r);
    assert!(
        d.contains("COPY . .\nRUN pip install --no-cache-dir -r requirements.txt"),
        "{d}"
    );
}

#[test]
fn a_console_script_the_install_does_not_create_runs_its_module() {
    let pyproject = "[tool.poetry]\nname = \"jobs\"\n\n[tool.poetry.dependencies]\npython = \"^3.12\"\nredis = \"*\"\n\n[project.scripts]\njobs = \"jobs.__main__:main\"\n";
    let r = service(&[
        ("pyproject.toml", pyproject),
        ("poetry.lock", ""),
        ("jobs/__init__.py", ""),
        ("jobs/__main__.py", "def main():\n    pass\n"),
    ]);
    assert_eq!(
        (r.kind, r.build_tool.as_str()),
        (ServiceKind::Worker, "poetry")
    );
    assert_eq!(r.start_command, "python -m jobs");
}

#[test]
fn malformed_manifests_and_sources_never_panic() {
    let weird = [
        ("pyproject.toml", "[project\nname = \"x"),
        ("requirements.txt", "-r\n-r ../../etc/passwd\n-e\né==1\n[\n-c=\n"),
        ("Procfile", "web:\nweb: gunicorn --bind\nworker:"),
        (".python-version", "\n\n"),
        ("runtime.txt", "python-"),
        (".env", "PORT=\nPORT=99999999"),
        ("gunicorn.conf.py", "bind\nbind = \nbind = ':'"),
        ("app.py", "é = Flask(\n= Flask(\napp=Flask\n    x = FastAPI(\napp.run(port=)\napp.run(port=PORT\nos.environ.get(\"PORT\", )\n@app.get(\"/healthz\n"),
        ("manage.py", "DJANGO_SETTINGS_MODULE\nDJANGO_SETTINGS_MODULE'"),
        ("x/settings.py", "WSGI_APPLICATION = \"\"\nWSGI_APPLICATION = 'nodot'\n"),
    ];
    for n in 1..=weird.len() {
        let d = detection(&weird[..n]);
        if let Ok(r) = d.outcome {
            let _ = crate::generate::dockerfile(&r);
        }
    }
}
