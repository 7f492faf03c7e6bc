//! The .NET Dockerfile, from the analysis's facts: the project files restored first (a
//! cached layer), then the sources published without a second restore; the `aspnet`
//! runtime for a web service (port exposed), the `runtime` image for a worker (nothing
//! exposed), run by the images' own non-root user, uid 1654.

use super::{exec_form, render, template};
use crate::analyze::{AnalyzeResult, Details, ServiceKind};

/// The .NET Dockerfile for `a`, exposing `port` when it is a web service.
pub(super) fn dotnet_dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let d = match &a.details {
        Details::Dotnet(d) => d.clone(),
        _ => Default::default(),
    };
    let tag = a
        .toolchain
        .as_ref()
        .map_or("10.0".to_owned(), |t| t.tag.clone());
    let sdk_tag = if d.sdk_tag.is_empty() {
        tag.clone()
    } else {
        d.sdk_tag.clone()
    };
    let worker = a.kind == ServiceKind::Worker;
    let project = if d.project.is_empty() {
        format!("{}.csproj", a.app_name)
    } else {
        d.project.clone()
    };
    let files = if d.restore_files.is_empty() {
        vec![project.clone()]
    } else {
        d.restore_files.clone()
    };
    // Each file to its own path (one COPY per directory): a project's relative references
    // must still resolve.
    let mut by_dir: Vec<(&str, Vec<&str>)> = Vec::new();
    for f in &files {
        let dir = f.rsplit_once('/').map_or("", |(d, _)| d);
        match by_dir.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, fs)) => fs.push(f),
            None => by_dir.push((dir, vec![f])),
        }
    }
    let copy: String = by_dir
        .iter()
        .map(|(dir, fs)| {
            let to = if dir.is_empty() {
                "./".to_owned()
            } else {
                format!("{dir}/")
            };
            format!("COPY {} {to}\n", fs.join(" "))
        })
        .collect();
    let runtime = match (d.runtime.as_str(), worker) {
        ("", true) => "runtime",
        ("", false) => "aspnet",
        (r, _) => r,
    };
    let dll = if a.entrypoint.is_empty() {
        format!("{}.dll", a.app_name)
    } else {
        a.entrypoint.clone()
    };
    // Built from the port itself, not the start command: a later source (an existing
    // Dockerfile's EXPOSE) may have replaced a fallback port after the command was written.
    let start = if worker {
        format!("dotnet {dll}")
    } else {
        format!("dotnet {dll} --urls http://0.0.0.0:{port}")
    };
    let expose = if worker {
        String::new()
    } else {
        format!("EXPOSE {port}\n")
    };
    render(
        template::DOTNET,
        &[
            ("sdk_tag", &sdk_tag),
            ("copy_restore_files", &copy),
            ("project", &project),
            ("runtime", runtime),
            ("tag", &tag),
            ("expose", &expose),
            ("entrypoint", &exec_form(&start)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use crate::analyze::analyze;
    use crate::generate::dockerfile;
    use crate::generate::tests::check_golden;

    /// The fixtures' Dockerfiles, byte for byte (`UPDATE_GOLDEN=1` rewrites them).
    #[test]
    fn the_fixtures_dockerfiles_match_their_goldens() {
        let repos = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repos");
        for fixture in ["aspnet-solution", "dotnet-worker", "dotnet-assembly-name"] {
            let root = repos.join(fixture).canonicalize().unwrap();
            let a = analyze(&root).unwrap();
            check_golden(&format!("{fixture}.Dockerfile"), &dockerfile(&a));
        }
    }
}
