//! The server that runs a Python web application, the port it binds and its exact command:
//! gunicorn for WSGI (Flask, Django), uvicorn for ASGI (FastAPI, Starlette), or the
//! `Procfile`'s `web:` command rebound to the port.

use super::code;
use super::Project;
use crate::analyze::repo::join;
use crate::analyze::{AnalyzeResult, Evidence};

/// The gunicorn the image adds when the project does not depend on a WSGI server.
pub(super) const GUNICORN: &str = "gunicorn==23.0.0";

/// The uvicorn the image adds when the project does not depend on an ASGI server.
pub(super) const UVICORN: &str = "uvicorn==0.34.0";

/// The servers a start command may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Server {
    Gunicorn,
    Uvicorn,
}

/// The `module:object` a server command serves (`gunicorn main:server -w 2` → `main:server`).
pub(super) fn target_of(cmd: &str) -> Option<String> {
    let mut tokens = cmd.split_whitespace();
    server_of(tokens.next()?)?;
    tokens
        .filter(|t| !t.starts_with('-'))
        .find(|t| {
            t.split_once(':').is_some_and(|(m, o)| {
                !m.is_empty()
                    && o.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && !m.contains('/')
            })
        })
        .map(str::to_owned)
}

fn server_of(program: &str) -> Option<Server> {
    match program {
        "gunicorn" => Some(Server::Gunicorn),
        "uvicorn" => Some(Server::Uvicorn),
        _ => None,
    }
}

/// The options of a server command that say where it listens, each with its value.
const BIND_FLAGS: &[&str] = &["--bind", "-b", "--host", "--port"];

/// `cmd` without its listen options, and the port they named (when a number).
fn unbind(cmd: &str) -> (Vec<String>, Option<u16>) {
    let mut out = Vec::new();
    let mut port = None;
    let mut tokens = cmd.split_whitespace();
    while let Some(t) = tokens.next() {
        let (flag, value) = match t.split_once('=') {
            Some((f, v)) if BIND_FLAGS.contains(&f) => (f, Some(v.to_owned())),
            _ if BIND_FLAGS.contains(&t) => (t, tokens.next().map(str::to_owned)),
            _ => {
                out.push(t.to_owned());
                continue;
            }
        };
        let value = value.unwrap_or_default();
        let digits = match flag {
            "--port" => Some(value.as_str()),
            "--host" => None,
            _ => value.rsplit_once(':').map(|(_, p)| p),
        };
        // `${PORT:-8000}`: the shell default is the port the command binds without PORT.
        let shell_default = value
            .find(":-")
            .and_then(|at| code::number(&value[at + 2..]));
        if let Some(p) = shell_default.or_else(|| digits.and_then(code::number)) {
            port = Some(p);
        }
    }
    (out, port)
}

/// Decides port, start command and the server the image must add, for a web application
/// whose entrypoint lives in `file`; `extras` receives the pinned packages to add.
pub(super) fn web(
    p: &Project,
    procfile: Option<(u32, String)>,
    file: &str,
    r: &mut AnalyzeResult,
    extras: &mut Vec<String>,
) {
    let m = p.manifest;
    // A command of another program that needs a shell for `$PORT` cannot run as exec form.
    let procfile = match procfile {
        Some((_, cmd))
            if cmd.contains('$') && cmd.split_whitespace().next().and_then(server_of).is_none() =>
        {
            r.checks.push(format!(
                "the Procfile's web command ({cmd}) needs a shell to expand its variables: the image runs the detected server instead"
            ));
            None
        }
        other => other,
    };
    let asgi = matches!(r.framework.as_str(), "fastapi" | "starlette" | "quart");
    let proc_server = procfile
        .as_ref()
        .and_then(|(_, cmd)| server_of(cmd.split_whitespace().next()?));
    let server = proc_server.unwrap_or(if asgi {
        Server::Uvicorn
    } else {
        Server::Gunicorn
    });
    let (proc_tokens, proc_port) = match &procfile {
        Some((_, cmd)) if proc_server.is_some() => unbind(cmd),
        _ => (Vec::new(), None),
    };
    r.port = match (proc_port, &procfile) {
        (Some(p), Some((line, _))) => {
            let ev = Evidence::at("Procfile", Some(*line), "the Procfile's listen address");
            r.facts.record("port", p, ev);
            p
        }
        _ => code_port(p, file, procfile.as_ref(), server, proc_server, r),
    };
    let bind = format!("0.0.0.0:{}", r.port);
    let port = r.port.to_string();
    r.start_command = match (&procfile, proc_server) {
        (Some(_), Some(Server::Gunicorn)) => {
            let rest = proc_tokens[1..].join(" ");
            format!("gunicorn --bind {bind} {rest}")
        }
        (Some(_), Some(Server::Uvicorn)) => {
            let rest = proc_tokens[1..].join(" ");
            format!("uvicorn {rest} --host 0.0.0.0 --port {port}")
        }
        (Some((_, cmd)), None) => {
            r.checks.push(format!(
                "the Procfile's web command ({cmd}) is used as it is: check that it listens on 0.0.0.0:{port}"
            ));
            cmd.clone()
        }
        (None, _) if server == Server::Gunicorn => {
            format!("gunicorn --bind {bind} {}", r.entrypoint)
        }
        (None, _) => match r.entrypoint.strip_suffix("()") {
            Some(factory) => format!("uvicorn --factory {factory} --host 0.0.0.0 --port {port}"),
            None => format!("uvicorn {} --host 0.0.0.0 --port {port}", r.entrypoint),
        },
    };
    if r.start_command.contains('$') {
        r.checks.push(format!(
            "the start command ({}) names a shell variable, which an exec-form CMD does not expand",
            r.start_command
        ));
    }
    let (has_server, pinned, name) = match server {
        Server::Gunicorn => (m.has("gunicorn"), GUNICORN, "gunicorn"),
        Server::Uvicorn => (
            m.has("uvicorn") || m.has_extra("fastapi", "standard"),
            UVICORN,
            "uvicorn",
        ),
    };
    if !has_server && (procfile.is_none() || proc_server.is_some()) {
        extras.push(pinned.to_owned());
        r.checks.push(format!(
            "the project does not depend on {name}: the image adds {pinned}; add {name} to the project's dependencies to choose its version"
        ));
    }
}

/// The config files gunicorn reads from its working directory (the first one found).
const GUNICORN_CONFS: &[&str] = &["gunicorn.conf.py", "gunicorn_conf.py", "gunicorn_config.py"];

/// The port of a `bind = "0.0.0.0:8000"` (or `["0.0.0.0:8000"]`) in gunicorn's config file.
fn gunicorn_conf(p: &Project) -> Option<(&'static str, u32, u16)> {
    GUNICORN_CONFS.iter().find_map(|name| {
        let (line, text) = p.repo.find_line(&join(p.dir, name), |l| {
            l.starts_with("bind") && l[4..].trim_start().starts_with('=')
        })?;
        let port = text
            .rsplit_once(':')
            .and_then(|(_, port)| code::number(port))?;
        Some((*name, line, port))
    })
}

/// The port from gunicorn's config file, the code, a `.env` PORT the code reads, else the server's default (a
/// fallback).
fn code_port(
    p: &Project,
    file: &str,
    procfile: Option<&(u32, String)>,
    server: Server,
    proc_server: Option<Server>,
    r: &mut AnalyzeResult,
) -> u16 {
    let (repo, dir, files) = (p.repo, p.dir, p.files);
    if server == Server::Gunicorn {
        if let Some((file, line, port)) = gunicorn_conf(p) {
            let ev = Evidence::at(file, Some(line), "bind in gunicorn's config file");
            r.facts.record("port", port, ev);
            return port;
        }
    }
    if let Some(found) = code::port(files, file) {
        let ev = Evidence::at(&found.file, Some(found.line), found.rule);
        r.facts.record("port", found.value, ev);
        return found.value;
    }
    let reads_env = code::reads_port_env(files)
        || procfile.is_some_and(|(_, cmd)| cmd.contains("$PORT") || cmd.contains("${PORT"));
    if reads_env {
        let env = repo.find_line(&join(dir, ".env"), |l| l.trim_start().starts_with("PORT="));
        if let Some((line, text)) = env {
            if let Some(p) = text.split_once('=').and_then(|(_, v)| code::number(v)) {
                let ev = Evidence::at(".env", Some(line), "PORT in .env, which the code reads");
                r.facts.record("port", p, ev);
                return p;
            }
        }
    }
    let (port, rule) = match (proc_server, r.framework.as_str()) {
        (Some(Server::Gunicorn), _) => (8000, "gunicorn's default port"),
        (Some(Server::Uvicorn), _) => (8000, "uvicorn's default port"),
        (None, "flask") => (5000, "Flask's default port"),
        (None, "django") => (8000, "Django's and gunicorn's default port"),
        _ => (8000, "uvicorn's default port"),
    };
    r.facts.fallback("port", port, rule);
    port
}
