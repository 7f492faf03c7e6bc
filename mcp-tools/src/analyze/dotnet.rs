//! .NET: the first `*.csproj`, ASP.NET Core when it uses the web SDK.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{read, AnalyzeResult};
use super::{Detection, Repo};

/// What a .NET Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct DotnetDetails {}

/// Reads directory `dir` of `repo` as a .NET project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let root = repo.root().join(dir);
    let csproj = super::find_ext(&root, "csproj")?;
    let mut r = AnalyzeResult::default();
    dotnet(&root, &csproj, &mut r);
    super::legacy_port(&root, &mut r);
    Detection::service(r)
}

/// The project named by `csproj` (a file name under `root`): ASP.NET Core for the web SDK,
/// the project name as the assembly to start, port 8080.
pub(super) fn dotnet(root: &Path, csproj: &str, r: &mut AnalyzeResult) {
    r.language = "csharp".into();
    r.build_tool = "dotnet".into();
    r.evidence.push(csproj.to_owned());
    let text = read(root, csproj).unwrap_or_default();
    r.framework = if text.contains("Microsoft.NET.Sdk.Web") {
        "aspnetcore"
    } else {
        ""
    }
    .into();
    r.app_name = csproj.trim_end_matches(".csproj").to_owned();
    r.port = 8080;
    r.build_command = "dotnet publish -c Release -o /out".into();
    r.start_command = format!("dotnet {}.dll", r.app_name);
}
