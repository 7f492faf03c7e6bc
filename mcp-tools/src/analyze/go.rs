//! Go: the module (`go.mod` in the directory or an ancestor inside the repository), its
//! main packages (`package main` at the root, under `cmd/*`, deeper), the toolchain from the
//! `go` and `toolchain` lines, and what the chosen main package's code says about its port,
//! health route and whether it listens at all (`source.rs`).
//!
//! One main package is the service; several are refused with the candidates
//! ([`AnalyzeError::Mains`]) unless `repo_path` is one of them. A `repo_path` below the
//! module root (`cmd/api` of a module at `../..`) builds from the module root: the build
//! context is that root and the package path (`./cmd/api`) is what `go build` builds.

mod replace;
mod source;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::repo::{join, parent};
use super::{AnalyzeError, AnalyzeResult, Candidate, Detection, Evidence, Repo, ServiceKind};
use super::{Details, ToolchainFact};
use crate::toolchain::{self, Declared, Ecosystem, Source};

/// What a Go Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct GoDetails {
    /// The package `go build` builds, relative to the module root (`.`, `./cmd/api`).
    pub package: String,
    /// Whether the module root holds a `go.sum` (copied with `go.mod` before the
    /// dependency download).
    pub go_sum: bool,
    /// Whether the module vendors its dependencies (`vendor/modules.txt`): then nothing is
    /// downloaded and the build uses `-mod=vendor`.
    pub vendored: bool,
    /// `PORT` the image must set: the code reads `PORT` but no default for it was found,
    /// so the container says which port it binds.
    pub port_env: Option<u16>,
    /// Arguments the entrypoint passes (`-addr :8080` for a flag whose default address
    /// is the loopback one).
    pub args: Vec<String>,
    /// The `go.mod`/`go.sum` files to copy before the download, relative to the build
    /// context (the module's own, then those of its local `replace` targets).
    pub module_files: Vec<String>,
    /// The module's directory relative to the build context (empty: the context itself;
    /// `api` when a local `replace` target lies beside it).
    pub module_dir: String,
}

/// How deep below the module root main packages are searched for.
const MAIN_SEARCH_DEPTH: usize = 4;

/// Directories that hold no deployable main package.
const NOT_MAINS: &[&str] = &["testdata", "examples", "example", "docs", "hack", "tools"];

/// Reads directory `dir` of `repo` as a Go module or a main package of one.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let module = module_root(repo, dir)?;
    let here_is_main = is_main_package(repo, dir);
    if module != dir && !here_is_main {
        // A directory inside a module that is no main package (`pkg/models`, `cmd`).
        return None;
    }
    let gomod_file = join(&module, "go.mod");
    let gomod = repo.read(&gomod_file).unwrap_or_default();
    let package = if here_is_main {
        package_path(&module, dir)
    } else {
        let (mains, nested) = main_packages(repo, &module);
        match mains.as_slice() {
            // Modules of their own below (a repository of several Go services): they are
            // the candidates, not this one.
            [] if nested => return None,
            [] => {
                return Detection::refusal(AnalyzeError::Library {
                    path: shown(repo, dir),
                    detail: "a Go module without a main package".into(),
                })
            }
            [one] => package_path(&module, one),
            several => {
                let candidates = several
                    .iter()
                    .map(|m| Candidate {
                        path: relative(m, dir),
                        stack: "go".into(),
                    })
                    .collect();
                return Detection::refusal(AnalyzeError::Mains {
                    path: shown(repo, dir),
                    candidates,
                });
            }
        }
    };
    let main_dir = if package == "." {
        module.clone()
    } else {
        join(&module, package.trim_start_matches("./"))
    };
    let mut r = AnalyzeResult {
        language: "go".into(),
        build_tool: "go".into(),
        ..AnalyzeResult::default()
    };
    let up = up_to(dir, &module);
    let gomod_shown = join(&up, "go.mod");
    r.evidence.push(gomod_shown.clone());
    r.facts.record(
        "language",
        "go",
        Evidence::at(&gomod_shown, None, "a go.mod module"),
    );
    r.facts.record(
        "manager",
        "go",
        Evidence::at(&gomod_shown, None, "go modules"),
    );
    toolchain_fact(&gomod, &gomod_shown, &mut r);
    framework(&gomod, &gomod_shown, &mut r);
    module_name(&gomod, &package, &mut r);
    r.entrypoint = package.clone();
    r.facts.record(
        "entrypoint",
        &package,
        Evidence::at(
            &relative(&main_dir, dir),
            None,
            "the main package go build builds",
        ),
    );
    // Local `replace` targets must be in the build context too.
    let locals = match replace::local_targets(&gomod, &module) {
        Ok(l) => l,
        Err(target) => {
            return Detection::refusal(AnalyzeError::Unsupported {
                path: shown(repo, dir),
                detail: format!("{gomod_shown} replaces a module with {target}, outside the repository; analyze a directory that holds both"),
            })
        }
    };
    let context = locals
        .iter()
        .fold(module.clone(), |c, l| replace::common_ancestor(&c, l));
    let context_up = up_to(dir, &context);
    if context != dir {
        r.build_context = context_up.clone();
        let rule = if context == module {
            "the module root above repo_path"
        } else {
            "the directory holding the module and its local replace targets"
        };
        r.facts.record(
            "context",
            &context_up,
            Evidence::at(&gomod_shown, None, rule),
        );
    }
    let mut module_dirs = vec![module.clone()];
    module_dirs.extend(locals);
    let module_files = replace::module_files(|f| repo.is_file(f), &module_dirs, &context);
    let module_path = gomod
        .lines()
        .find_map(|l| l.trim().strip_prefix("module "))
        .map(|m| m.trim().trim_matches('"'))
        .unwrap_or_default();
    let read = source::read_main(repo, &main_dir, &module, module_path, dir);
    let binding = source::apply(&read, &mut r);
    let binary = std::iter::once("/server".to_owned())
        .chain(binding.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    r.build_command = format!("CGO_ENABLED=0 go build -trimpath -o /out/app {package}");
    r.start_command = binary;
    if r.kind == ServiceKind::Worker {
        r.port = 0;
    }
    r.details = Details::Go(GoDetails {
        package,
        go_sum: repo.is_file(&join(&module, "go.sum")),
        vendored: repo.is_file(&join(&module, "vendor/modules.txt")),
        port_env: binding.port_env,
        args: binding.args,
        module_files,
        module_dir: replace::below(&module, &context),
    });
    Detection::service(r)
}

/// The directory of the `go.mod` that governs `dir`: `dir` itself or its nearest ancestor
/// inside the repository holding one.
fn module_root(repo: &Repo, dir: &str) -> Option<String> {
    let mut d = dir.trim_matches('/').to_owned();
    loop {
        if repo.is_file(&join(&d, "go.mod")) {
            return Some(d);
        }
        if d.is_empty() {
            return None;
        }
        d = parent(&d).to_owned();
    }
}

/// Whether `dir` holds a non-test `.go` file of `package main`.
fn is_main_package(repo: &Repo, dir: &str) -> bool {
    repo.list(dir)
        .iter()
        .filter(|e| !e.is_dir && is_source(&e.name))
        .any(|e| repo.read(&e.path).is_some_and(|text| is_main_file(&text)))
}

/// Whether a Go file is `package main` and built: a `//go:build ignore` (or
/// `// +build ignore`) generator script at the module root is not the service.
fn is_main_file(text: &str) -> bool {
    for line in text.lines().map(str::trim) {
        if line.starts_with("//go:build") || line.starts_with("// +build") {
            if line.split_whitespace().any(|w| w == "ignore") {
                return false;
            }
        } else if let Some(name) = line.strip_prefix("package ") {
            return name.split_whitespace().next() == Some("main");
        }
    }
    false
}

/// A Go source file that is part of a build (not a test).
fn is_source(name: &str) -> bool {
    name.ends_with(".go") && !name.ends_with("_test.go")
}

/// The main packages of the module at `module`, sorted: directories down to
/// [`MAIN_SEARCH_DEPTH`], not entering nested modules, vendored or example code; and
/// whether nested modules were seen.
fn main_packages(repo: &Repo, module: &str) -> (Vec<String>, bool) {
    let mut mains = Vec::new();
    let mut nested = false;
    let mut queue = vec![(module.to_owned(), 0usize)];
    while let Some((d, depth)) = (!queue.is_empty()).then(|| queue.remove(0)) {
        if is_main_package(repo, &d) {
            mains.push(d.clone());
        }
        if depth >= MAIN_SEARCH_DEPTH {
            continue;
        }
        for e in repo.list(&d).into_iter().filter(|e| e.is_dir) {
            let skipped = super::repo::skipped_dir(&e.name) || NOT_MAINS.contains(&&*e.name);
            if skipped {
                continue;
            }
            if repo.is_file(&join(&e.path, "go.mod")) {
                nested = true;
            } else {
                queue.push((e.path, depth + 1));
            }
        }
    }
    mains.sort();
    (mains, nested)
}

/// `./cmd/api` for `module/cmd/api`, `.` for the module root itself.
fn package_path(module: &str, main_dir: &str) -> String {
    match relative(main_dir, module).as_str() {
        "" | "." => ".".into(),
        p => format!("./{p}"),
    }
}

/// `path` relative to its ancestor `dir` (both relative to the repo root).
fn relative(path: &str, dir: &str) -> String {
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

/// `..` per level from `dir` up to its ancestor `module` (`.` when they are the same).
fn up_to(dir: &str, module: &str) -> String {
    let below = relative(dir, module);
    if below == "." {
        return ".".into();
    }
    vec![".."; below.split('/').count()].join("/")
}

/// The directory as the user passed it, for refusals.
fn shown(repo: &Repo, dir: &str) -> String {
    repo.root().join(dir).display().to_string()
}

/// The toolchain from `go.mod`'s `go` and `toolchain` lines, through the policy; a line
/// the policy cannot read becomes a check and the default is used.
fn toolchain_fact(gomod: &str, file: &str, r: &mut AnalyzeResult) {
    let mut decls = Vec::new();
    let mut values = Vec::new();
    for (i, line) in gomod.lines().enumerate() {
        let l = line.trim();
        let source = match l.split_whitespace().next() {
            Some("go") => Source::GoDirective,
            Some("toolchain") => Source::GoToolchain,
            _ => continue,
        };
        let Some(value) = l.split_whitespace().nth(1) else {
            continue;
        };
        let evidence = toolchain::Evidence::new(file, i as u32 + 1);
        match Declared::parse(source, l, evidence) {
            Ok(d) => {
                // The `go` directive's value is the declaration that names the module's
                // minimum; `toolchain` only ever raises it.
                let value = value.trim_start_matches("go").to_owned();
                if source == Source::GoDirective {
                    values.insert(0, value);
                } else {
                    values.push(value);
                }
                decls.push(d);
            }
            Err(e) => r.checks.push(e.to_string()),
        }
    }
    let choice = toolchain::choose(Ecosystem::Go, &decls).or_else(|e| {
        r.checks.push(e.to_string());
        values.clear();
        toolchain::choose(Ecosystem::Go, &[])
    });
    let Ok(choice) = choice else { return };
    let raw: Vec<&str> = values.iter().map(String::as_str).collect();
    let fact = ToolchainFact::from_choice(&choice, &raw);
    let evidence = match &choice.evidence {
        Some(e) => Evidence::at(&e.file, Some(e.line), choice.reason.clone()),
        None => Evidence::rule(choice.reason.clone()),
    };
    if choice.evidence.is_none() {
        r.facts.fallback("toolchain", &fact.tag, &choice.reason);
    } else {
        r.facts.record("toolchain", &fact.tag, evidence);
    }
    // Out of upstream support or newer than the policy knows: the build works as
    // declared, but the assistant should say so.
    if fact.flags.iter().any(|f| f != "fallback") {
        r.checks.push(format!(
            "toolchain {} ({}): {}",
            fact.tag,
            fact.flags.join(", "),
            fact.reason
        ));
    }
    r.toolchain = Some(fact);
}

/// The web framework `go.mod` requires, when it is one of the common ones.
fn framework(gomod: &str, file: &str, r: &mut AnalyzeResult) {
    const KNOWN: &[(&str, &str)] = &[
        ("github.com/gin-gonic/gin", "gin"),
        ("github.com/labstack/echo", "echo"),
        ("github.com/gofiber/fiber", "fiber"),
        ("github.com/go-chi/chi", "chi"),
        ("github.com/gorilla/mux", "gorilla"),
    ];
    for (i, line) in gomod.lines().enumerate() {
        let l = line.trim().trim_start_matches("require").trim();
        let Some(module) = l.split_whitespace().next() else {
            continue;
        };
        if module.contains('/') && !l.starts_with("//") && !l.starts_with("module") {
            r.dependencies.push(module.to_owned());
        }
        if r.framework.is_empty() {
            if let Some((_, name)) = KNOWN.iter().find(|(m, _)| module.starts_with(m)) {
                r.framework = (*name).into();
                r.facts.record(
                    "framework",
                    name,
                    Evidence::at(file, Some(i as u32 + 1), format!("requires {module}")),
                );
            }
        }
    }
}

/// The name: the main package's directory (`cmd/billing-server` → `billing-server`), or
/// the module path's last element for a main package at the module root.
fn module_name(gomod: &str, package: &str, r: &mut AnalyzeResult) {
    let module = gomod
        .lines()
        .find_map(|l| l.trim().strip_prefix("module "))
        .map(|m| m.trim().trim_matches('"'));
    r.app_name = match package.rsplit('/').next() {
        Some(last) if package != "." => last.to_owned(),
        _ => module
            .and_then(|m| m.rsplit('/').next())
            .unwrap_or_default()
            .to_owned(),
    };
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

    #[test]
    fn a_package_below_the_module_root_builds_from_the_root() {
        let dir = tree(&[
            ("go.mod", "module x\n\ngo 1.26\n"),
            ("cmd/a/main.go", "package main\n"),
            ("cmd/b/main.go", "package main\n"),
            ("pkg/m/m.go", "package m\n"),
        ]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let r = detect(&repo, "cmd/b").and_then(|d| d.outcome.ok()).unwrap();
        assert_eq!(
            (r.entrypoint.as_str(), r.build_context.as_str()),
            ("./cmd/b", "../..")
        );
        assert_eq!(r.kind, ServiceKind::Worker);
        assert!(detect(&repo, "pkg/m").is_none());
        assert!(detect(&repo, "cmd").is_none());
        let err = detect(&repo, "").and_then(|d| d.outcome.err()).unwrap();
        assert_eq!(err.kind(), "mains");
    }

    #[test]
    fn a_main_that_delegates_listens_where_its_own_package_does() {
        let dir = tree(&[
            ("go.mod", "module example.com/svc\n\ngo 1.26\n"),
            (
                "cmd/server/main.go",
                "package main\n\nimport \"example.com/svc/internal/server\"\n\nfunc main() { server.Run() }\n",
            ),
            (
                "internal/server/server.go",
                "package server\n\nimport \"net/http\"\n\nfunc Run() {\n\thttp.HandleFunc(\"/readyz\", ok)\n\thttp.ListenAndServe(\":9000\", nil)\n}\n",
            ),
            (
                "cmd/cli/main.go",
                "package main\n\nfunc main() { app.Run(os.Args) }\n",
            ),
        ]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let r = detect(&repo, "cmd/server")
            .and_then(|d| d.outcome.ok())
            .unwrap();
        assert_eq!((r.kind, r.port), (ServiceKind::Web, 9000), "{:?}", r.facts);
        assert_eq!(r.health_path.as_deref(), Some("/readyz"));
        let cli = detect(&repo, "cmd/cli")
            .and_then(|d| d.outcome.ok())
            .unwrap();
        assert_eq!((cli.kind, cli.port), (ServiceKind::Worker, 0));
    }

    #[test]
    fn a_loopback_flag_default_is_overridden_to_all_interfaces() {
        let dir = tree(&[
            ("go.mod", "module x\n\ngo 1.26\n"),
            (
                "main.go",
                "package main\n\nvar addr = flag.String(\"addr\", \"localhost:8081\", \"listen address\")\n\nfunc main() { http.ListenAndServe(*addr, nil) }\n",
            ),
        ]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let r = detect(&repo, "").and_then(|d| d.outcome.ok()).unwrap();
        assert_eq!(
            (r.port, r.start_command.as_str()),
            (8081, "/server -addr :8081")
        );
        let d = crate::generate::dockerfile(&r);
        assert!(
            d.contains("ENTRYPOINT [\"/server\", \"-addr\", \":8081\"]"),
            "{d}"
        );
    }

    #[test]
    fn a_local_replace_target_widens_the_build_context() {
        let dir = tree(&[
            (
                "svc/api/go.mod",
                "module example.com/api\n\ngo 1.26\n\nreplace example.com/shared => ../shared\n",
            ),
            ("svc/api/go.sum", ""),
            ("svc/api/main.go", "package main\n"),
            (
                "svc/shared/go.mod",
                "module example.com/shared\n\ngo 1.26\n",
            ),
        ]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let r = detect(&repo, "svc/api")
            .and_then(|d| d.outcome.ok())
            .unwrap();
        assert_eq!(r.build_context, "..");
        let Details::Go(g) = &r.details else {
            panic!("{r:?}")
        };
        assert_eq!(
            g.module_files,
            ["api/go.mod", "api/go.sum", "shared/go.mod"]
        );
        let d = crate::generate::dockerfile(&r);
        assert!(
            d.contains("COPY api/go.mod api/go.sum api/\nCOPY shared/go.mod shared/\nWORKDIR /src/api\nRUN go mod download\n"),
            "{d}"
        );
    }

    #[test]
    fn a_module_without_mains_is_a_library() {
        let dir = tree(&[("go.mod", "module x\n\ngo 1.26\n"), ("x.go", "package x\n")]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let err = detect(&repo, "").and_then(|d| d.outcome.err()).unwrap();
        assert_eq!(err.kind(), "library");
        let several = tree(&[
            ("go.mod", "module x\n\ngo 1.26\n"),
            ("svc/a/go.mod", "module a\n\ngo 1.26\n"),
            ("svc/a/main.go", "package main\n"),
        ]);
        let repo = Repo::new(several.path().canonicalize().unwrap());
        assert!(
            detect(&repo, "").is_none(),
            "nested modules are the candidates"
        );
        assert_eq!(up_to("a/b", ""), "../..");
        assert_eq!(up_to("a", "a"), ".");
    }

    #[test]
    fn every_directory_of_the_fixture_corpus_reads_without_panicking() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repos");
        let repo = Repo::new(corpus.canonicalize().unwrap());
        let mut dirs = vec![String::new()];
        let mut seen = 0;
        while let Some(d) = dirs.pop() {
            let _ = detect(&repo, &d);
            seen += 1;
            dirs.extend(
                repo.list(&d)
                    .into_iter()
                    .filter(|e| e.is_dir)
                    .map(|e| e.path),
            );
        }
        assert!(seen > 30, "{seen} directories");
    }

    #[test]
    fn malformed_modules_and_sources_do_not_panic() {
        let dir = tree(&[
            ("go.mod", "module\ngo ü\ntoolchain\nreplace =>\nreplace (\n"),
            (
                "main.go",
                "package main\nflag.Int(\"port\"\nhttp.ListenAndServe(\"ü:\nos.Getenv(\"PORT\")\n\"\nr.Run(\n",
            ),
        ]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let r = detect(&repo, "").and_then(|d| d.outcome.ok()).unwrap();
        assert_eq!(r.port, 8080);
        assert!(!r.checks.is_empty(), "the unreadable go line is a check");
    }

    #[test]
    fn an_ignored_generator_script_is_no_main_package() {
        assert!(!is_main_file("//go:build ignore\n\npackage main\n"));
        assert!(!is_main_file("// +build ignore\n\npackage main\n"));
        assert!(is_main_file(
            "// Command api serves.\npackage main // import \"x\"\n"
        ));
        assert!(!is_main_file("package mainly\n"));
    }
}
