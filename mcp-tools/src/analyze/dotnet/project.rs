//! MSBuild files read as XML (`roxmltree`): a project's SDK, its properties
//! (`TargetFramework(s)`, `AssemblyName`, `OutputType`, `IsTestProject`) each with its line,
//! the packages and projects it references; the nearest `Directory.Build.props` above it; and
//! the projects a solution (`.sln`, `.slnx`) lists.

use roxmltree::{Document, Node};

use crate::analyze::repo::{join, parent};
use crate::analyze::Repo;

/// A property's value and where it is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Prop {
    pub(super) value: String,
    pub(super) file: String,
    pub(super) line: u32,
}

/// One `*.csproj` (or `*.fsproj`, `*.vbproj`).
#[derive(Debug, Default)]
pub(super) struct Project {
    /// The path relative to the repository's root.
    pub(super) path: String,
    /// `Microsoft.NET.Sdk.Web`, `Microsoft.NET.Sdk.Worker`, `Microsoft.NET.Sdk`, …
    pub(super) sdk: String,
    /// The line of the project file that names the SDK.
    pub(super) sdk_line: u32,
    /// The properties of its `PropertyGroup`s, then those of `Directory.Build.props`.
    pub(super) props: Vec<(String, Prop)>,
    /// The `PackageReference`s (`xunit`, `Microsoft.Extensions.Hosting`).
    pub(super) packages: Vec<String>,
    /// The `FrameworkReference`s (`Microsoft.AspNetCore.App`).
    pub(super) frameworks: Vec<String>,
    /// The referenced projects' paths, relative to the repository's root.
    pub(super) references: Vec<String>,
}

impl Project {
    /// The property `name` (`$(Other)` references resolved from the same properties).
    pub(super) fn prop(&self, name: &str) -> Option<Prop> {
        let p = self.raw_prop(name)?;
        let mut value = p.value.clone();
        for _ in 0..4 {
            let Some(start) = value.find("$(") else { break };
            let Some(len) = value[start..].find(')') else {
                break;
            };
            let key = &value[start + 2..start + len];
            let sub = match key {
                "MSBuildProjectName" => self.file_stem().to_owned(),
                _ => match self.raw_prop(key) {
                    Some(s) => s.value.clone(),
                    None => break,
                },
            };
            value = format!("{}{sub}{}", &value[..start], &value[start + len + 1..]);
        }
        Some(Prop { value, ..p.clone() })
    }

    fn raw_prop(&self, name: &str) -> Option<&Prop> {
        self.props
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, p)| p)
    }

    /// The file name without its extension (`Contoso.Web`), case preserved.
    pub(super) fn file_stem(&self) -> &str {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        name.rsplit_once('.').map_or(name, |(s, _)| s)
    }

    /// A test project: `IsTestProject`, a test framework package, or a `.Tests` name.
    pub(super) fn is_test(&self) -> bool {
        let flagged = self
            .prop("IsTestProject")
            .is_some_and(|p| p.value.eq_ignore_ascii_case("true"));
        let framework = self.packages.iter().any(|p| {
            let p = p.to_ascii_lowercase();
            p == "microsoft.net.test.sdk"
                || p.starts_with("xunit")
                || p.starts_with("nunit")
                || p.starts_with("mstest")
        });
        let stem = self.file_stem().to_ascii_lowercase();
        flagged || framework || stem.ends_with(".tests") || stem.ends_with(".test")
    }
}

/// Reads the project file `path` (relative to the repository's root) and the nearest
/// `Directory.Build.props` at or above its directory; `Err` says why it is unreadable.
pub(super) fn read(repo: &Repo, path: &str) -> Result<Project, String> {
    let text = repo
        .read(path)
        .ok_or_else(|| format!("{path} is unreadable (too large or not UTF-8)"))?;
    let doc = Document::parse(&text).map_err(|e| format!("{path} is not well-formed XML: {e}"))?;
    let root = doc.root_element();
    let dir = parent(path);
    let mut p = Project {
        path: path.to_owned(),
        sdk: root.attribute("Sdk").unwrap_or("").to_owned(),
        ..Project::default()
    };
    if p.sdk.is_empty() {
        // `<Sdk Name="Microsoft.NET.Sdk.Web" />` or `<Import Sdk=...>`.
        p.sdk = root
            .descendants()
            .find_map(|n| {
                n.has_tag_name("Sdk")
                    .then(|| n.attribute("Name"))
                    .flatten()
                    .or_else(|| {
                        n.has_tag_name("Import")
                            .then(|| n.attribute("Sdk"))
                            .flatten()
                    })
            })
            .unwrap_or("")
            .to_owned();
    }
    p.props = properties(&text, root, path);
    for item in root.descendants().filter(Node::is_element) {
        let include = item.attribute("Include").unwrap_or("").to_owned();
        match item.tag_name().name() {
            "PackageReference" => p.packages.push(include),
            "FrameworkReference" => p.frameworks.push(include),
            "ProjectReference" => p.references.push(normalize(&join(dir, &include))),
            _ => {}
        }
    }
    if let Some(props) = build_props(repo, dir) {
        p.props.extend(props);
    }
    Ok(p)
}

/// The `PropertyGroup` properties of a parsed MSBuild file, each with its line.
fn properties(text: &str, root: Node, file: &str) -> Vec<(String, Prop)> {
    root.children()
        .filter(|n| n.has_tag_name("PropertyGroup"))
        .flat_map(|g| g.children().filter(Node::is_element))
        .map(|e| {
            let line = text[..e.range().start].matches('\n').count() as u32 + 1;
            let prop = Prop {
                value: e.text().unwrap_or("").trim().to_owned(),
                file: file.to_owned(),
                line,
            };
            (e.tag_name().name().to_owned(), prop)
        })
        .collect()
}

/// The properties of the first `Directory.Build.props` found from `dir` up to the root (the
/// one MSBuild imports); `None` when there is none or it is not XML.
fn build_props(repo: &Repo, dir: &str) -> Option<Vec<(String, Prop)>> {
    let mut d = dir.to_owned();
    loop {
        let path = join(&d, "Directory.Build.props");
        if let Some(text) = repo.read(&path) {
            let doc = Document::parse(&text).ok()?;
            return Some(properties(&text, doc.root_element(), &path));
        }
        if d.is_empty() {
            return None;
        }
        d = parent(&d).to_owned();
    }
}

/// The project files a solution in `dir` lists (relative to the repository's root), from
/// `Project("{…}") = "Name", "src\Name\Name.csproj", …` lines or `.slnx`'s
/// `<Project Path="…" />`.
pub(super) fn solution_projects(repo: &Repo, sln: &str) -> Vec<String> {
    let dir = parent(sln);
    let Some(text) = repo.read(sln) else {
        return Vec::new();
    };
    let paths: Vec<String> = if sln.ends_with(".slnx") {
        match Document::parse(&text) {
            Ok(doc) => doc
                .descendants()
                .filter(|n| n.has_tag_name("Project"))
                .filter_map(|n| n.attribute("Path").map(str::to_owned))
                .collect(),
            Err(_) => Vec::new(),
        }
    } else {
        text.lines()
            .filter(|l| l.trim_start().starts_with("Project("))
            .filter_map(|l| l.split('"').nth(5).map(str::to_owned))
            .collect()
    };
    paths
        .into_iter()
        .filter(|p| is_project_file(p))
        .map(|p| normalize(&join(dir, &p)))
        .collect()
}

/// A C#, F# or VB project file name.
pub(super) fn is_project_file(name: &str) -> bool {
    [".csproj", ".fsproj", ".vbproj"]
        .iter()
        .any(|e| name.ends_with(e))
}

/// `a/b/../c\d.csproj` → `a/c/d.csproj`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// `path` relative to `dir`, both relative to the repository's root: `src/A/A.csproj` from
/// `src` is `A/A.csproj`, from `tests/T` it is `../../src/A/A.csproj`; `dir` itself is `.`.
pub(super) fn relative(path: &str, dir: &str) -> String {
    let p: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let d: Vec<&str> = dir
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let common = p.iter().zip(&d).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; d.len() - common];
    parts.extend(&p[common..]);
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// The deepest directory that holds `dir` and every one of `dirs` (all relative to the
/// repository's root; `""` is the root).
pub(super) fn common_ancestor<'a>(dir: &str, dirs: impl IntoIterator<Item = &'a str>) -> String {
    let mut common: Vec<&str> = dir.split('/').filter(|c| !c.is_empty()).collect();
    for other in dirs {
        let o: Vec<&str> = other.split('/').filter(|c| !c.is_empty()).collect();
        let n = common.iter().zip(&o).take_while(|(a, b)| a == b).count();
        common.truncate(n);
    }
    common.join("/")
}

/// The nearest file `name` in `dir` or above it (MSBuild's and the SDK's own lookup).
pub(super) fn nearest(repo: &Repo, dir: &str, name: &str) -> Option<String> {
    let mut d = dir.to_owned();
    loop {
        let path = join(&d, name);
        if repo.is_file(&path) {
            return Some(path);
        }
        if d.is_empty() {
            return None;
        }
        d = parent(&d).to_owned();
    }
}

/// Every project `p` references, directly or through another, relative to the root.
pub(super) fn references(repo: &Repo, p: &Project) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut queue = p.references.clone();
    while let Some(reference) = queue.pop() {
        if out.contains(&reference) || out.len() > 64 {
            continue;
        }
        if let Ok(rp) = read(repo, &reference) {
            queue.extend(rp.references);
        }
        out.push(reference);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized() {
        assert_eq!(
            normalize("tests/X/../../src\\A\\A.csproj"),
            "src/A/A.csproj"
        );
        assert!(is_project_file("A.fsproj") && !is_project_file("A.sln"));
        assert_eq!(relative("src/A/A.csproj", "src"), "A/A.csproj");
        assert_eq!(
            relative("src/A/A.csproj", "tests/T"),
            "../../src/A/A.csproj"
        );
        assert_eq!(relative("src", "src"), ".");
        assert_eq!(relative("x", ""), "x");
        assert_eq!(common_ancestor("src/A", ["src/B", "src/A/C"]), "src");
        assert_eq!(common_ancestor("src/A", ["lib"]), "");
    }
}
