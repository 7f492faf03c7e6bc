//! Our rules (`CK…`), which need what hadolint cannot know: the repository's analysis.
//!
//! - `CK001` dependency manifests copied and installed before the sources (a source change
//!   then keeps the dependency layer cached);
//! - `CK002` a numeric, non-root final `USER` (Kubernetes' `runAsNonRoot` can only verify a
//!   number);
//! - `CK003` a `HEALTHCHECK` when the application has a known health path;
//! - `CK004` `EXPOSE` of the port the application listens on;
//! - `CK005` a base image at least the toolchain version the repository declares;
//! - `CK006` a `.dockerignore` in the build context.

use super::model::{copy_args, Inst, Parsed};
use super::shell::commands;
use super::{finding, Context, Finding, Severity};

use Severity::{Info, Warning};

/// The install commands CK001 knows, with the manifests they read.
pub(crate) const INSTALLS: &[(&str, &str)] = &[
    ("npm ci", "package*.json"),
    ("npm install", "package*.json"),
    ("yarn install", "package.json yarn.lock"),
    ("pnpm install", "package.json pnpm-lock.yaml"),
    ("pip install -r", "requirements*.txt"),
    ("go mod download", "go.mod go.sum"),
    ("bundle install", "Gemfile Gemfile.lock"),
    ("dotnet restore", "*.csproj"),
    ("mvn dependency:go-offline", "pom.xml"),
];

/// The manifest file names a dependency-first COPY names.
const MANIFESTS: &[&str] = &[
    "package",
    "requirements",
    "go.mod",
    "go.sum",
    "pom.xml",
    "Cargo.toml",
    "Cargo.lock",
    ".csproj",
    "pyproject.toml",
    "poetry.lock",
    "Pipfile",
    "Gemfile",
    "build.gradle",
    "yarn.lock",
    "pnpm-lock.yaml",
    "uv.lock",
    "settings.gradle",
];

pub(crate) fn check(p: &Parsed, ctx: &Context) -> Vec<Finding> {
    let mut out = Vec::new();
    for stage in 0..p.stages {
        if let Some((copy, _)) = sources_before_install(p, stage) {
            out.push(finding("CK001", Warning, copy.line,
                "the sources are copied before the dependencies are installed: every source change reinstalls them",
                "COPY the dependency manifests first, RUN the install, then COPY the sources"));
        }
    }
    let last_user = p.final_stage().filter(|i| i.keyword == "USER").last();
    let from_line = p.final_from().map_or(1, |f| f.line);
    match last_user {
        None => out.push(finding("CK002", Warning, from_line,
            "the final stage sets no USER: the container runs as the image's default user (usually root)",
            "add USER 10001 (a numeric non-root id) after the steps that need root")),
        Some(u) => {
            let name = u.args.split(':').next().unwrap_or("").trim();
            let numeric = name.parse::<u32>().is_ok();
            if !numeric && name != "root" && !name.starts_with('$') {
                out.push(finding("CK002", Warning, u.line,
                    format!("USER {name} is a name: Kubernetes' runAsNonRoot cannot verify that it is not root"),
                    "use its numeric id (e.g. USER 1000 for node, 65532 for distroless nonroot)"));
            }
        }
    }
    if let Some(path) = &ctx.health_path {
        if !p.final_stage().any(|i| i.keyword == "HEALTHCHECK") {
            out.push(finding("CK003", Info, from_line,
                format!("no HEALTHCHECK, and the application answers on {path}"),
                format!("add HEALTHCHECK CMD a request to {path} (with a tool the image has: wget, curl, or the runtime)")));
        }
    }
    if let Some(port) = ctx.port {
        let exposes: Vec<&Inst> = p.final_stage().filter(|i| i.keyword == "EXPOSE").collect();
        let ports: Vec<String> = exposes
            .iter()
            .flat_map(|e| {
                e.args
                    .split_whitespace()
                    .map(|w| w.split('/').next().unwrap_or(w).to_owned())
            })
            .collect();
        if !ports
            .iter()
            .any(|x| x == &port.to_string() || x.contains('$'))
        {
            let line = exposes.first().map_or(from_line, |e| e.line);
            out.push(finding(
                "CK004",
                Warning,
                line,
                if ports.is_empty() {
                    format!("no EXPOSE; the application listens on {port}")
                } else {
                    format!(
                        "EXPOSE {} but the application listens on {port}",
                        ports.join(" ")
                    )
                },
                format!("EXPOSE {port}"),
            ));
        }
    }
    if let Some((image, tag, declared)) = &ctx.toolchain {
        for f in p.insts.iter().filter(|i| i.keyword == "FROM") {
            if let Some(found) = older_base(f, image, declared) {
                out.push(finding("CK005", Warning, f.line,
                    format!("FROM {found} is older than the toolchain the repository declares ({declared})"),
                    format!("use {image}:{tag} (keeping the variant suffix)")));
            }
        }
    }
    if ctx.dockerignore == Some(false) {
        out.push(finding("CK006", Warning, 0,
            "the build context has no .dockerignore: .git, node_modules, local secrets and build output go into the context",
            "add a .dockerignore (generate_dockerfile writes one)"));
    }
    out
}

/// The first COPY of the whole context in `stage` that comes before an install command,
/// when no manifest was copied before it, with the install RUN.
pub(crate) fn sources_before_install(p: &Parsed, stage: usize) -> Option<(&Inst, &Inst)> {
    let insts: Vec<&Inst> = p.insts.iter().filter(|i| i.stage == stage).collect();
    let mut manifest_copied = false;
    let mut whole: Option<&Inst> = None;
    for i in insts {
        match i.keyword.as_str() {
            "COPY" | "ADD" => {
                let (flags, sources, _) = copy_args(&i.args);
                if flags.iter().any(|f| f.starts_with("--from")) {
                    continue;
                }
                if sources
                    .iter()
                    .any(|s| MANIFESTS.iter().any(|m| s.contains(m)))
                {
                    manifest_copied = true;
                }
                if whole.is_none()
                    && sources
                        .iter()
                        .any(|s| matches!(s.as_str(), "." | "./" | "*"))
                {
                    whole = Some(i);
                }
            }
            "RUN" if install_of(&i.args).is_some() => {
                return whole.filter(|_| !manifest_copied).map(|w| (w, i));
            }
            _ => {}
        }
    }
    None
}

/// The manifests of the first install command of `script`, if it runs one.
pub(crate) fn install_of(script: &str) -> Option<&'static str> {
    commands(script).iter().find_map(|c| {
        let line = c.words.join(" ");
        INSTALLS
            .iter()
            .find(|(cmd, _)| {
                line.starts_with(cmd)
                    && (*cmd != "npm install" || c.words.len() == 2 || c.words[2].starts_with('-'))
            })
            .map(|(_, m)| *m)
    })
}

/// `image:tag` of `f` when it is the toolchain's image at a version below the declaration's
/// lowest version.
fn older_base(f: &Inst, image: &str, declared: &str) -> Option<String> {
    let from = f.from.as_ref()?;
    let name = from.image.rsplit('/').next()?;
    if name != image {
        return None;
    }
    let tag = from.tag.as_deref()?;
    let have = version(tag)?;
    let want = version(declared.trim_start_matches(|c: char| !c.is_ascii_digit()))?;
    let n = want.len().min(have.len());
    (have[..n] < want[..n]).then(|| format!("{}:{tag}", from.image))
}

/// The leading dotted number of `s` (`22.1-alpine` → [22, 1]).
pub(crate) fn version(s: &str) -> Option<Vec<u64>> {
    let head: String = s
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let v: Vec<u64> = head
        .split('.')
        .filter(|p| !p.is_empty())
        .map_while(|p| p.parse().ok())
        .collect();
    (!v.is_empty()).then_some(v)
}
