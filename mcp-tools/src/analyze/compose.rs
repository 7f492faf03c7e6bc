//! Compose files (`docker-compose.yml`, `compose.yaml`, …): which directories their services
//! build, and which container ports those services publish.
//!
//! Two uses: the port of a service whose detector only knew a framework default (the
//! `CONTAINER` side of `HOST:CONTAINER` of the service that builds the directory), and the
//! candidates of a monorepo root (every build context a compose file at the root names).
//! Parsed with `yaml_serde` into typed structs; a file that does not parse, or a service of
//! an unexpected shape, is skipped (a compose file is evidence, never a reason to fail).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::repo::{self, Repo};
use super::Evidence;

/// The names a compose file goes by, in the order Compose itself prefers them.
const COMPOSE_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// One service of a compose file that builds a directory of the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct BuiltService {
    /// The service's name in the compose file.
    pub(super) name: String,
    /// The compose file (relative to the repository root).
    pub(super) file: String,
    /// The build context, relative to the repository root (`""` for the root).
    pub(super) context: String,
    /// The container ports it publishes, in the order written (`8000` of `"5173:8000"`).
    pub(super) ports: Vec<u16>,
}

#[derive(Deserialize)]
struct ComposeFile {
    #[serde(default)]
    services: BTreeMap<String, yaml_serde::Value>,
}

#[derive(Deserialize)]
struct Service {
    build: Option<Build>,
    #[serde(default)]
    ports: Vec<Port>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Build {
    /// `build: ./backend`
    Path(String),
    /// `build: { context: ./backend, dockerfile: … }`
    Spec {
        #[serde(default)]
        context: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Port {
    /// `- 8000` (the container port, published on a random host port).
    Number(u64),
    /// `- "8000:8000"`, `- "127.0.0.1:5173:80/tcp"`, `- "3000"`.
    Short(String),
    /// `- { target: 80, published: 5173 }`.
    Long { target: u64 },
}

impl Port {
    /// The container port, when it is one number (not a range, not a variable).
    fn container(&self) -> Option<u16> {
        match self {
            Port::Number(n) | Port::Long { target: n } => u16::try_from(*n).ok(),
            Port::Short(s) => {
                let last = s.rsplit(':').next()?;
                let number = last.split('/').next()?.trim();
                number.parse().ok()
            }
        }
        .filter(|p| *p != 0)
    }
}

/// The compose files directly in `dir` (relative to the repository root).
pub(super) fn files_in(repo: &Repo, dir: &str) -> Vec<String> {
    COMPOSE_FILES
        .iter()
        .map(|f| repo::join(dir, f))
        .filter(|f| repo.is_file(f))
        .collect()
}

/// The services of compose file `file` that have a build context, with their contexts
/// resolved against the file's directory (a context outside the repository is dropped).
pub(super) fn built_services(repo: &Repo, file: &str) -> Vec<BuiltService> {
    let Some(text) = repo.read(file) else {
        return Vec::new();
    };
    let Ok(parsed) = yaml_serde::from_str::<ComposeFile>(&text) else {
        return Vec::new();
    };
    let base = repo::parent(file);
    parsed
        .services
        .into_iter()
        .filter_map(|(name, value)| {
            let service: Service = yaml_serde::from_value(value).ok()?;
            let context = match service.build? {
                Build::Path(p) => p,
                Build::Spec { context } => context.unwrap_or_else(|| ".".into()),
            };
            Some(BuiltService {
                name,
                file: file.to_owned(),
                context: normalize(base, &context)?,
                ports: service.ports.iter().filter_map(Port::container).collect(),
            })
        })
        .collect()
}

/// The first container port that a compose service building `dir` publishes, from a
/// compose file in `dir` or in its parent, with its evidence (the file, and the line that
/// maps it when one line does).
pub(super) fn port_for(repo: &Repo, dir: &str) -> Option<(u16, Evidence)> {
    let mut dirs = vec![dir.to_owned()];
    if !dir.is_empty() {
        dirs.push(repo::parent(dir).to_owned());
    }
    for d in dirs {
        for file in files_in(repo, &d) {
            for s in built_services(repo, &file) {
                let Some(port) = s.ports.first().copied().filter(|_| s.context == dir) else {
                    continue;
                };
                let line = repo
                    .find_line(&file, |l| published(l, port))
                    .map(|(n, _)| n);
                let rule = format!("compose service {} publishes container port {port}", s.name);
                return Some((port, Evidence::at(&file, line, rule)));
            }
        }
    }
    None
}

/// Whether a compose line maps container port `port` (`- "5173:80"`, `- 80`, `target: 80`).
fn published(line: &str, port: u16) -> bool {
    let l = line
        .trim()
        .trim_start_matches('-')
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let l = l.split('/').next().unwrap_or(l);
    let p = port.to_string();
    l == p || l.ends_with(&format!(":{p}")) || l.strip_prefix("target:").map(str::trim) == Some(&p)
}

/// `base/context` as a path relative to the repository root, `None` when it leaves it.
fn normalize(base: &str, context: &str) -> Option<String> {
    if context.starts_with('/') || context.contains("://") {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in context.split('/') {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        dir
    }

    const COMPOSE: &str = "services:\n  api:\n    build: ./api\n    ports:\n      - \"8000:8000\"\n  web:\n    build:\n      context: web\n      dockerfile: Dockerfile.prod\n    ports:\n      - 127.0.0.1:5173:80/tcp\n  admin:\n    build: ./admin\n    ports:\n      - target: 9000\n        published: 19000\n  db:\n    image: postgres:17\n    ports:\n      - 5432:5432\n  escape:\n    build: ../../elsewhere\n";

    #[test]
    fn reads_build_contexts_and_container_ports() {
        let dir = tree(&[("docker-compose.yml", COMPOSE)]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        assert_eq!(files_in(&repo, ""), ["docker-compose.yml"]);
        let got: Vec<(String, String, Vec<u16>)> = built_services(&repo, "docker-compose.yml")
            .into_iter()
            .map(|s| (s.name, s.context, s.ports))
            .collect();
        assert_eq!(
            got,
            [
                ("admin".into(), "admin".into(), vec![9000]),
                ("api".into(), "api".into(), vec![8000]),
                ("web".into(), "web".into(), vec![80]),
            ]
        );
        let (port, ev) = port_for(&repo, "web").unwrap();
        assert_eq!(
            (port, ev.file.as_deref(), ev.line),
            (80, Some("docker-compose.yml"), Some(11))
        );
        let (port, ev) = port_for(&repo, "admin").unwrap();
        assert_eq!((port, ev.line), (9000, Some(15)));
        assert_eq!(port_for(&repo, ""), None, "db builds nothing");
    }

    #[test]
    fn a_compose_file_that_does_not_parse_is_no_evidence() {
        let dir = tree(&[
            ("compose.yaml", "services: [unclosed\n"),
            (
                "api/compose.yml",
                "services:\n  api:\n    build: .\n    ports: [\"${PORT}:${PORT}\"]\n",
            ),
        ]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        assert!(built_services(&repo, "compose.yaml").is_empty());
        assert_eq!(port_for(&repo, "api"), None, "a variable is not a port");
        assert_eq!(normalize("a/b", "../../.."), None);
        assert_eq!(normalize("a", "./b/../c").as_deref(), Some("a/c"));
    }
}
