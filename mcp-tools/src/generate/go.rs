//! The Go Dockerfile, from the analysis's facts: a `golang` builder at the toolchain the
//! module declares, the module files and `go mod download` before the sources (or the
//! vendored dependencies as they are), a static binary of the chosen main package, and a
//! distroless runtime running as its own numeric non-root user.

use super::{render, template};
use crate::analyze::{AnalyzeResult, Details, GoDetails, ServiceKind};
use crate::toolchain::{choose, Ecosystem};

/// The dependency layer: the module files, then the download.
const DEPS: &str = include_str!("../../templates/dockerfile/go-deps.Dockerfile");

/// The Go Dockerfile for `a`. A worker exposes nothing; `PORT` is set when the code
/// reads it without a default the analysis found.
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let fallback = GoDetails {
        package: ".".into(),
        ..GoDetails::default()
    };
    let d = match &a.details {
        Details::Go(d) => d,
        _ => &fallback,
    };
    let files = if d.module_files.is_empty() {
        // An analysis without Go details does not say whether go.sum exists.
        vec![if matches!(a.details, Details::Go(_)) {
            "go.mod"
        } else {
            "go.*"
        }
        .to_owned()]
    } else {
        d.module_files.clone()
    };
    let (copies, download) = if d.vendored {
        (String::new(), "")
    } else {
        (
            render(DEPS, &[("copies", &copies(&files))]),
            "RUN go mod download\n",
        )
    };
    // go runs in the module's directory when the context holds more than the module.
    let workdir = if d.module_dir.is_empty() {
        String::new()
    } else {
        format!("WORKDIR /src/{}\n", d.module_dir)
    };
    let expose = match a.kind {
        ServiceKind::Worker => String::new(),
        ServiceKind::Web => format!("EXPOSE {port}\n"),
    };
    let env = d
        .port_env
        .map(|p| format!("ENV PORT={p}\n"))
        .unwrap_or_default();
    let entrypoint = super::exec_form(
        &std::iter::once("/server")
            .chain(d.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let package = if d.package.is_empty() {
        "."
    } else {
        &d.package
    };
    render(
        template::GO,
        &[
            ("tag", &tag(a)),
            ("copies", &copies),
            ("workdir", &workdir),
            ("download", download),
            ("mod", if d.vendored { " -mod=vendor" } else { "" }),
            ("package", package),
            ("env", &env),
            ("expose", &expose),
            ("entrypoint", &entrypoint),
        ],
    )
}

/// One `COPY` per directory of `files` (`COPY go.mod go.sum ./`, `COPY shared/go.mod
/// shared/`), in the order first seen.
fn copies(files: &[String]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for f in files {
        let dir = f
            .rsplit_once('/')
            .map_or("./".to_owned(), |(d, _)| format!("{d}/"));
        match groups.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, fs)) => fs.push(f),
            None => groups.push((dir, vec![f])),
        }
    }
    groups
        .into_iter()
        .map(|(dir, fs)| format!("COPY {} {dir}\n", fs.join(" ")))
        .collect()
}

/// The `golang` tag the analysis chose, else the policy's default.
fn tag(a: &AnalyzeResult) -> String {
    a.toolchain
        .as_ref()
        .filter(|t| !t.tag.is_empty())
        .map(|t| t.tag.clone())
        .or_else(|| choose(Ecosystem::Go, &[]).ok().map(|c| c.tag))
        .unwrap_or_else(|| "1".into())
}

#[cfg(test)]
pub(super) mod tests {
    use std::path::Path;

    /// The Dockerfile generated for target `path` of fixture `fixture` (tests/repos).
    pub(crate) fn generated(fixture: &str, path: Option<&str>) -> String {
        let bound = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/repos")
            .join(fixture)
            .canonicalize()
            .unwrap();
        let dir = path.map_or(bound.clone(), |p| bound.join(p));
        let a = crate::analyze::analyze_dir(&bound, &dir).unwrap();
        super::super::dockerfile(&a)
    }

    /// Compares `actual` with `templates/golden/<name>`; `UPDATE_GOLDEN=1` rewrites it.
    pub(crate) fn check_golden(name: &str, actual: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert!(
            actual == expected,
            "{name} differs from its golden:\n{actual}"
        );
    }

    #[test]
    fn go_fixtures_generate_their_goldens() {
        for (golden, fixture, path) in [
            ("go-root-main.Dockerfile", "go-root-main", None),
            ("go-cmd-single.Dockerfile", "go-cmd-single", None),
            (
                "go-multi-main-api.Dockerfile",
                "go-multi-main",
                Some("cmd/api"),
            ),
            (
                "go-multi-main-worker.Dockerfile",
                "go-multi-main",
                Some("cmd/worker"),
            ),
            (
                "go-monorepo-api.Dockerfile",
                "monorepo-services",
                Some("services/api"),
            ),
        ] {
            check_golden(golden, &generated(fixture, path));
        }
    }

    #[test]
    fn a_worker_exposes_nothing_and_a_module_without_go_sum_copies_go_mod_alone() {
        let worker = generated("go-multi-main", Some("cmd/worker"));
        assert!(!worker.contains("EXPOSE"), "{worker}");
        assert!(worker.contains("./cmd/worker"), "{worker}");
        let single = generated("go-cmd-single", None);
        assert!(single.contains("COPY go.mod ./\n"), "{single}");
        assert!(single.contains("FROM golang:1.26 AS build"), "{single}");
    }
}
