//! .NET: the one service project of a directory — a project file in it, or the projects of
//! its solution (`.sln`, `.slnx`) or of `src/*/` — test projects and libraries set aside.
//!
//! The web SDK (or an ASP.NET Core framework reference, or `WebApplication` in the code)
//! makes an ASP.NET Core web service on the `aspnet` runtime image; the worker SDK or a
//! console app makes a worker on the `runtime` image, listening on nothing. The
//! TargetFramework (the project's, else `Directory.Build.props`'s) decides the exact image
//! tag, `global.json` the build stage's SDK; the assembly is `AssemblyName` or the project
//! file's name, case preserved. `project.rs` reads the MSBuild files.

mod code;
mod project;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use self::code::{code_line, port_fact, uses_web_host};
use self::project::{is_project_file, relative, Project};
use super::repo::{join, parent};
use super::{
    AnalyzeError, AnalyzeResult, Candidate, Detection, Evidence, Repo, ServiceKind, ToolchainFact,
};
use crate::toolchain::{self, Declared, Ecosystem, Evidence as TcEvidence, Flag, Source};

/// What a .NET Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DotnetDetails {
    /// The service's project file, relative to the build context
    /// (`src/Contoso.Web/Contoso.Web.csproj`).
    pub project: String,
    /// The files `dotnet restore` needs, copied before the sources so the restore is a
    /// cached layer: the project files it references, `Directory.Build.props`,
    /// `Directory.Packages.props`, `global.json`, `NuGet.config` (relative to the context).
    pub restore_files: Vec<String>,
    /// The runtime image: `aspnet` for a web service, `runtime` for a worker.
    pub runtime: String,
    /// The SDK image's tag of the build stage (`10.0`; newer than the runtime's when
    /// `global.json` asks for a newer SDK).
    pub sdk_tag: String,
}

/// Reads directory `dir` of `repo` as a .NET project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let shown = || repo.root().join(dir).display().to_string();
    let unsupported = |detail: String| {
        Detection::refusal(AnalyzeError::Unsupported {
            path: shown(),
            detail,
        })
    };
    let entries = repo.list(dir);
    let own: Vec<String> = entries
        .iter()
        .filter(|e| !e.is_dir && is_project_file(&e.name))
        .map(|e| e.path.clone())
        .collect();
    let (paths, via) = if !own.is_empty() {
        (own, "")
    } else if let Some(sln) = entries
        .iter()
        .find(|e| !e.is_dir && (e.name.ends_with(".sln") || e.name.ends_with(".slnx")))
    {
        (
            project::solution_projects(repo, &sln.path),
            sln.path.as_str(),
        )
    } else {
        let src = join(dir, "src");
        let below: Vec<String> = repo
            .list(&src)
            .into_iter()
            .filter(|e| e.is_dir)
            .flat_map(|d| repo.list(&d.path))
            .filter(|e| !e.is_dir && is_project_file(&e.name))
            .map(|e| e.path)
            .collect();
        if below.is_empty() {
            return None;
        }
        (below, "src/")
    };
    let mut projects = Vec::new();
    // A solution may list projects that are not in the repository (or outside it): skip
    // those; a project file that is there but unreadable is refused.
    for p in paths.iter().filter(|p| repo.is_file(p)) {
        match project::read(repo, p) {
            Ok(p) if !p.is_test() => projects.push(p),
            Ok(_) => {}
            Err(e) => return unsupported(e),
        }
    }
    let mut services: Vec<(Project, bool)> = Vec::new();
    for p in projects {
        if let Some(web) = runnable(repo, &p) {
            services.push((p, web));
        }
    }
    if services.len() > 1 {
        return Detection::refusal(AnalyzeError::Services {
            path: shown(),
            candidates: services
                .iter()
                .map(|(p, web)| Candidate {
                    path: relative(parent(&p.path), dir),
                    stack: if *web {
                        "csharp/aspnet-core"
                    } else {
                        "csharp/dotnet-worker"
                    }
                    .into(),
                })
                .collect(),
        });
    }
    let Some((project, web)) = services.pop() else {
        if via == "src/" {
            // Libraries one level down do not make this directory .NET: other services
            // may sit beside `src/`.
            return None;
        }
        return Detection::refusal(AnalyzeError::Library {
            path: shown(),
            detail: format!(
                "the projects of {} are libraries or tests",
                if via.is_empty() { "the directory" } else { via }
            ),
        });
    };
    let mut r = AnalyzeResult::default();
    match facts(repo, dir, &project, web, via, &mut r) {
        Ok(()) => Detection::service(r),
        Err(detail) => unsupported(detail),
    }
}

/// Whether `p` runs (`Some(true)` a web service, `Some(false)` a worker or console app) or
/// is a library (`None`).
fn runnable(repo: &Repo, p: &Project) -> Option<bool> {
    let sdk = p.sdk.as_str();
    let aspnet = p.frameworks.iter().any(|f| f == "Microsoft.AspNetCore.App");
    if p.prop("IsAspireHost")
        .is_some_and(|v| v.value.eq_ignore_ascii_case("true"))
    {
        // An Aspire AppHost orchestrates the services locally; it is none itself.
        return None;
    }
    // `Microsoft.NET.Sdk.Razor` builds Razor class libraries: not a web host by itself.
    if sdk.ends_with(".Web") || sdk.ends_with(".Web.Sdk") {
        return Some(true);
    }
    if sdk.ends_with(".Worker") {
        return Some(aspnet && uses_web_host(repo, p));
    }
    let exe = p.prop("OutputType").is_some_and(|o| {
        o.value.eq_ignore_ascii_case("exe") || o.value.eq_ignore_ascii_case("winexe")
    });
    exe.then(|| aspnet && uses_web_host(repo, p))
}

/// Every fact of the service project `p` (found in `dir` by `via`).
fn facts(
    repo: &Repo,
    dir: &str,
    p: &Project,
    web: bool,
    via: &str,
    r: &mut AnalyzeResult,
) -> Result<(), String> {
    let file = relative(&p.path, dir);
    r.language = "csharp".into();
    r.build_tool = "dotnet".into();
    r.evidence.push(file.clone());
    let manager = match via {
        "" => Evidence::at(&file, None, "the directory's project file"),
        "src/" => Evidence::at(&file, None, "the one service project under src/"),
        sln => Evidence::at(
            &relative(sln, dir),
            None,
            format!("the solution's one service project, {file}"),
        ),
    };
    r.facts.record("manager", "dotnet", manager);
    let (framework, kind) = if web {
        ("aspnet-core", ServiceKind::Web)
    } else {
        ("dotnet-worker", ServiceKind::Worker)
    };
    r.framework = framework.into();
    r.kind = kind;
    let sdk_rule = format!("Sdk=\"{}\"", p.sdk);
    r.facts.record(
        "framework",
        framework,
        Evidence::at(&file, Some(p.sdk_line), &sdk_rule),
    );
    r.facts.record(
        "kind",
        kind.as_str(),
        Evidence::at(&file, Some(p.sdk_line), &sdk_rule),
    );
    let tag = toolchain_fact(repo, dir, p, r)?;
    let (assembly, evidence) = match p.prop("AssemblyName").filter(|a| !a.value.contains("$(")) {
        Some(a) => {
            let e = Evidence::at(&relative(&a.file, dir), Some(a.line), "AssemblyName");
            (a.value, e)
        }
        None => (
            p.file_stem().to_owned(),
            Evidence::at(&file, None, "the project file's name (no AssemblyName)"),
        ),
    };
    let dll = format!("{assembly}.dll");
    r.facts.record("entrypoint", &dll, evidence);
    r.entrypoint = dll.clone();
    r.app_name = assembly;
    if web {
        port_fact(repo, p, dir, r);
        r.start_command = format!("dotnet {dll} --urls http://0.0.0.0:{}", r.port);
        if let Some((f, line, text)) = code_line(repo, p, |l| l.contains("MapHealthChecks(\"")) {
            if let Some(path) = text.split('"').nth(1).filter(|s| s.starts_with('/')) {
                r.facts.record(
                    "health",
                    path,
                    Evidence::at(&relative(&f, dir), Some(line), "MapHealthChecks"),
                );
                r.health_path = Some(path.to_owned());
            }
        }
    } else {
        r.port = 0;
        r.facts
            .record("port", 0, Evidence::rule("a worker listens on nothing"));
        r.start_command = format!("dotnet {dll}");
    }
    // The build context: the project's directory, widened to hold every project it
    // references and the MSBuild/NuGet/SDK files that apply to it (a solution's root).
    let refs = project::references(repo, p);
    let mut applying: Vec<String> = [
        "Directory.Build.props",
        "Directory.Packages.props",
        "NuGet.config",
        "nuget.config",
        "global.json",
    ]
    .iter()
    .filter_map(|f| project::nearest(repo, parent(&p.path), f))
    .collect();
    applying.dedup();
    let ctx = project::common_ancestor(dir, refs.iter().chain(&applying).map(|f| parent(f)));
    let context = relative(&ctx, dir);
    let in_ctx = |f: &str| relative(f, &ctx);
    let project_file = in_ctx(&p.path);
    r.build_command = format!("dotnet publish {project_file} -c Release -o /app");
    let rule = if context == "." {
        "the project's directory holds everything it references".to_owned()
    } else {
        format!("{context} holds the projects and build files {file} references")
    };
    r.facts
        .record("context", &context, Evidence::at(&file, None, rule));
    r.build_context = context;
    let mut restore_files = vec![project_file.clone()];
    restore_files.extend(refs.iter().map(|f| in_ctx(f)));
    restore_files.extend(applying.iter().map(|f| in_ctx(f)));
    restore_files.sort();
    restore_files.dedup();
    r.details = super::Details::Dotnet(DotnetDetails {
        project: project_file,
        restore_files,
        runtime: if web { "aspnet" } else { "runtime" }.into(),
        sdk_tag: r
            .toolchain
            .as_ref()
            .and_then(|t| t.build_sdk.clone())
            .unwrap_or(tag),
    });
    Ok(())
}

/// The TargetFramework (the project's or `Directory.Build.props`'s) and `global.json`'s
/// SDK, chosen by the policy; returns the runtime tag. An out-of-support TFM is used and
/// flagged; a project without one falls back to the newest supported release.
fn toolchain_fact(
    repo: &Repo,
    dir: &str,
    p: &Project,
    r: &mut AnalyzeResult,
) -> Result<String, String> {
    let mut decls = Vec::new();
    let mut values = Vec::new();
    if let Some(tfm) = p
        .prop("TargetFramework")
        .or_else(|| p.prop("TargetFrameworks"))
    {
        let e = TcEvidence::new(relative(&tfm.file, dir), tfm.line);
        decls.push(
            Declared::parse(Source::TargetFramework, &tfm.value, e).map_err(|e| e.to_string())?,
        );
        values.push(tfm.value);
    }
    let global = project::nearest(repo, parent(&p.path), "global.json").unwrap_or_default();
    if let Some(text) = repo.read(&global) {
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.pointer("/sdk/version")?.as_str().map(str::to_owned));
        if let (Some(v), false) = (version, decls.is_empty()) {
            let line = repo
                .find_line(&global, |l| l.contains("\"version\""))
                .map_or(0, |(n, _)| n);
            let e = TcEvidence::new(relative(&global, dir), line);
            decls.push(Declared::parse(Source::GlobalJson, &v, e).map_err(|e| e.to_string())?);
        }
    }
    if decls.is_empty() {
        let tag = "10.0".to_owned();
        r.facts.fallback(
            "toolchain",
            &tag,
            "no TargetFramework in the project or Directory.Build.props: the newest supported .NET",
        );
        r.toolchain = Some(ToolchainFact {
            image: Ecosystem::Dotnet.image().to_owned(),
            tag: tag.clone(),
            reason: "no TargetFramework declared; .NET 10.0, the newest supported release".into(),
            flags: vec!["fallback".into()],
            ..ToolchainFact::default()
        });
        return Ok(tag);
    }
    let choice = toolchain::choose(Ecosystem::Dotnet, &decls).map_err(|e| e.to_string())?;
    if choice.has(toolchain::Flag::NewerThanKnown) {
        r.checks.push(format!(
            "{}: check that the image tag {} is published",
            choice.reason, choice.tag
        ));
    }
    let first = decls[0].evidence();
    r.facts.record(
        "toolchain",
        &choice.tag,
        Evidence::at(&first.file, Some(first.line), choice.reason.clone()),
    );
    if choice.has(Flag::Unsupported) {
        r.checks.push(format!(
            "{} ({}) is out of support upstream: the {} images still run it but get no fixes; retarget the project to a supported TargetFramework",
            values[0], first, choice.tag
        ));
    }
    let declared: Vec<&str> = values.iter().map(String::as_str).collect();
    r.toolchain = Some(ToolchainFact::from_choice(&choice, &declared));
    Ok(choice.tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_in(files: &[(&str, &str)]) -> Detection {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        detect(&Repo::new(dir.path().canonicalize().unwrap()), "").unwrap()
    }

    fn fixture(name: &str) -> AnalyzeResult {
        let repos = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repos");
        crate::analyze::analyze(&repos.join(name).canonicalize().unwrap()).unwrap()
    }

    #[test]
    fn the_evidence_names_the_files_and_the_caveats() {
        let web = fixture("aspnet-solution");
        let port = web.facts.get("port").unwrap();
        assert!(
            port.fallback
                && port
                    .evidence
                    .rule
                    .contains("launchSettings.json is development-only")
        );
        let manager = web.facts.get("manager").unwrap();
        assert_eq!(manager.evidence.file.as_deref(), Some("Contoso.sln"));
        let health = web.facts.get("health").unwrap();
        assert_eq!(
            health.evidence.to_string(),
            "src/Contoso.Web/Program.cs:6 (MapHealthChecks)"
        );
        let old = fixture("dotnet-assembly-name");
        let tc = old.facts.get("toolchain").unwrap();
        assert_eq!(
            (tc.evidence.file.as_deref(), tc.evidence.line),
            (Some("Directory.Build.props"), Some(3))
        );
        assert!(
            old.checks
                .iter()
                .any(|c| c.starts_with("net9.0 (Directory.Build.props line 3) is out of support")),
            "{:?}",
            old.checks
        );
        assert_eq!(old.facts.get("entrypoint").unwrap().evidence.line, Some(3));
    }

    #[test]
    fn the_code_port_and_a_tfm_list_decide() {
        let d = detect_in(&[
            ("Api.csproj", "<Project Sdk=\"Microsoft.NET.Sdk.Web\"><PropertyGroup><TargetFrameworks>net8.0;net10.0</TargetFrameworks></PropertyGroup></Project>"),
            ("Program.cs", "var app = WebApplication.Create();\napp.Run(\"http://0.0.0.0:5005\");\n"),
        ]);
        let r = d.outcome.unwrap();
        assert_eq!((r.port, r.entrypoint.as_str()), (5005, "Api.dll"));
        assert_eq!(r.toolchain.unwrap().tag, "10.0");
        assert_eq!(r.start_command, "dotnet Api.dll --urls http://0.0.0.0:5005");
    }

    #[test]
    fn a_project_with_references_above_it_builds_from_their_common_root() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("src/Api/Api.csproj", "<Project Sdk=\"Microsoft.NET.Sdk.Web\"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup><ItemGroup><ProjectReference Include=\"..\\Lib\\Lib.csproj\" /></ItemGroup></Project>"),
            ("src/Lib/Lib.csproj", "<Project Sdk=\"Microsoft.NET.Sdk\"></Project>"),
            ("Directory.Packages.props", "<Project></Project>"),
        ] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let r = detect(&Repo::new(dir.path().canonicalize().unwrap()), "src/Api")
            .unwrap()
            .outcome
            .unwrap();
        assert_eq!(r.build_context, "../..");
        let super::super::Details::Dotnet(d) = &r.details else {
            panic!("{r:?}")
        };
        assert_eq!(d.project, "src/Api/Api.csproj");
        assert_eq!(
            d.restore_files,
            [
                "Directory.Packages.props",
                "src/Api/Api.csproj",
                "src/Lib/Lib.csproj"
            ]
        );
    }

    #[test]
    fn a_kestrel_endpoint_in_appsettings_decides_the_port() {
        let d = detect_in(&[
            ("Api.csproj", "<Project Sdk=\"Microsoft.NET.Sdk.Web\"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup></Project>"),
            ("appsettings.json", "{\n  \"Kestrel\": {\n    \"Endpoints\": {\n      \"Http\": { \"Url\": \"http://0.0.0.0:5100\" }\n    }\n  }\n}\n"),
        ]);
        let r = d.outcome.unwrap();
        assert_eq!(r.port, 5100);
        assert_eq!(r.facts.get("port").unwrap().evidence.line, Some(4));
    }

    #[test]
    fn an_aspire_host_a_razor_library_and_tests_are_no_services() {
        let tfm = "<PropertyGroup><TargetFramework>net10.0</TargetFramework><OutputType>Exe</OutputType><IsAspireHost>true</IsAspireHost></PropertyGroup>";
        let d = detect_in(&[
            ("src/AppHost/AppHost.csproj", &format!("<Project Sdk=\"Microsoft.NET.Sdk\">{tfm}</Project>")),
            ("src/Ui/Ui.csproj", "<Project Sdk=\"Microsoft.NET.Sdk.Razor\"></Project>"),
            ("src/Web/Web.csproj", "<Project Sdk=\"Microsoft.NET.Sdk.Web\"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup></Project>"),
            ("src/Web.Tests/Web.Tests.csproj", "<Project Sdk=\"Microsoft.NET.Sdk\"><ItemGroup><PackageReference Include=\"xunit\" /></ItemGroup></Project>"),
        ]);
        let r = d.outcome.unwrap();
        assert_eq!(
            r.build_command,
            "dotnet publish src/Web/Web.csproj -c Release -o /app"
        );
    }

    #[test]
    fn libraries_and_windows_targets_are_refused() {
        let lib = detect_in(&[("Lib.csproj", "<Project Sdk=\"Microsoft.NET.Sdk\"><PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup></Project>")]);
        assert_eq!(lib.outcome.unwrap_err().kind(), "library");
        let win = detect_in(&[("App.csproj", "<Project Sdk=\"Microsoft.NET.Sdk.Web\"><PropertyGroup><TargetFramework>net48</TargetFramework></PropertyGroup></Project>")]);
        assert_eq!(win.outcome.unwrap_err().kind(), "unsupported");
        let bad = detect_in(&[("App.csproj", "<Project")]);
        assert_eq!(bad.outcome.unwrap_err().kind(), "unsupported");
    }
}
