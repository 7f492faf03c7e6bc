//! What a .NET project's C# code says: whether it builds a web host, the URL or port it
//! listens on, a line that maps health checks. Read line by line from the project's
//! directory (two levels down, `Program.cs` first).

use super::project::{relative, Project};
use crate::analyze::repo::{join, parent};
use crate::analyze::{AnalyzeResult, Evidence, Repo};

/// Whether the project's code builds a web host (`WebApplication.Create…`,
/// `ConfigureWebHost…`).
pub(super) fn uses_web_host(repo: &Repo, p: &Project) -> bool {
    code_line(repo, p, |l| {
        l.contains("WebApplication.Create") || l.contains("ConfigureWebHost")
    })
    .is_some()
}

/// The first line of the project's C# code (its directory, two levels down) for which
/// `pred` holds: `(file, line, text)`.
pub(super) fn code_line(
    repo: &Repo,
    p: &Project,
    pred: impl Fn(&str) -> bool,
) -> Option<(String, u32, String)> {
    let mut files: Vec<String> = repo
        .walk(parent(&p.path), 2)
        .into_iter()
        .filter(|e| e.name.ends_with(".cs"))
        .map(|e| e.path)
        .collect();
    // Program.cs first: that is where hosts and endpoints are set up.
    files.sort_by_key(|f| (!f.ends_with("Program.cs"), f.clone()));
    files.into_iter().find_map(|f| {
        let (line, text) = repo.find_line(&f, |l| pred(l))?;
        Some((f, line, text))
    })
}

/// The port: a Kestrel endpoint of `appsettings.json`, a URL or port set in the code
/// (`app.Run("http://0.0.0.0:5000")`, `UseUrls`, `app.Urls.Add`, `ListenAnyIP(5000)`), else
/// 8080, where ASP.NET Core 8+ images listen
/// (`ASPNETCORE_HTTP_PORTS`) and where the start command's `--urls` binds older ones too.
pub(super) fn port_fact(repo: &Repo, p: &Project, dir: &str, r: &mut AnalyzeResult) {
    if let Some((file, line, port)) = kestrel_endpoint(repo, p) {
        r.port = port;
        r.facts.record(
            "port",
            port,
            Evidence::at(
                &relative(&file, dir),
                Some(line),
                "Kestrel:Endpoints in appsettings.json (it overrides --urls)",
            ),
        );
        return;
    }
    let in_code = code_line(repo, p, |l| {
        (l.contains("UseUrls(\"")
            || l.contains(".Run(\"http")
            || l.contains("Urls.Add(\"")
            || l.contains("ListenAnyIP("))
            && code_port(l).is_some()
    });
    if let Some((f, line, text)) = in_code {
        if text.contains("localhost") || text.contains("127.0.0.1") {
            r.checks.push(format!(
                "{}:{line} listens on localhost only: nothing outside the container reaches it; listen on http://0.0.0.0:PORT or http://+:PORT",
                relative(&f, dir)
            ));
        }
        if let Some(port) = code_port(&text) {
            r.port = port;
            r.facts.record(
                "port",
                port,
                Evidence::at(
                    &relative(&f, dir),
                    Some(line),
                    "the URL the code listens on",
                ),
            );
            return;
        }
    }
    r.port = 8080;
    let launch = join(parent(&p.path), "Properties/launchSettings.json");
    let dev = if repo.is_file(&launch) {
        format!(
            "; {} is development-only (dotnet run), not read",
            relative(&launch, dir)
        )
    } else {
        String::new()
    };
    r.facts.fallback(
        "port",
        8080,
        &format!("ASP.NET Core images listen on 8080 (ASPNETCORE_HTTP_PORTS){dev}"),
    );
}

/// The port of the first `Kestrel:Endpoints:<name>:Url` in the project's `appsettings.json`,
/// with the line that sets it.
fn kestrel_endpoint(repo: &Repo, p: &Project) -> Option<(String, u32, u16)> {
    let file = join(parent(&p.path), "appsettings.json");
    let text = repo.read(&file)?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    let endpoints = json.pointer("/Kestrel/Endpoints")?.as_object()?;
    let url = endpoints
        .values()
        .find_map(|e| e.get("Url").and_then(|u| u.as_str()))?;
    let port = code_port(&format!("(\"{url}\")"))?;
    let line = repo
        .find_line(&file, |l| l.contains(url))
        .map_or(1, |(n, _)| n);
    Some((file, line, port))
}

/// The port in `UseUrls("http://*:5000")`, `Run("http://0.0.0.0:5000")`, `ListenAnyIP(5000)`.
fn code_port(l: &str) -> Option<u16> {
    if let Some((_, after)) = l.split_once("ListenAnyIP(") {
        return after.split([')', ',']).next()?.trim().parse().ok();
    }
    let url = l.split('"').nth(1)?;
    let port = url.rsplit(':').next()?.trim_end_matches('/');
    port.parse().ok().filter(|p| *p > 0)
}
