//! `build_image`, step 3: build the image from the workflow's Dockerfile with the container
//! engine (docker or podman), in the analysis's build context (the repository, or the module
//! root above it that the Dockerfile copies from).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::generate_dockerfile::DockerfileArtifact;
use super::{artifact, commands, image_name, need, repo_of, Artifact, Failure, StepArgs, StepTool};
use crate::analyze::AnalyzeResult;
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::log_text::{log_safe, LOG_NAME_CHARS};
use crate::params::{FixParams, MAX_ID_CHARS, MAX_NAME_CHARS};
use crate::policy::{check_step, PolicyInput, PolicyViolation};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `build_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct BuildArtifact {
    /// The image built, `<name>:latest`; scan and tag work on it (tag_image gives it the
    /// version the manifests deploy).
    pub image: String,
    /// The image's name without tag (the app name).
    pub image_name: String,
    /// The Dockerfile it was built from.
    pub dockerfile: String,
    /// The build command, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
    /// The target platforms asked for (`linux/amd64,linux/arm64`), normalised; absent when
    /// the engine's own platform was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The organisation policy's `warn` messages for this build (`--policy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_warnings: Vec<PolicyViolation>,
}

/// Arguments of `build_image`: the session, an optional target platform list and the
/// repair context.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
pub struct BuildParams {
    /// The workflow's session id, as returned by start_workflow. An unknown id is an error.
    #[schemars(length(max = MAX_ID_CHARS))]
    pub session_id: String,
    /// Target platforms, comma-separated `os/arch[/variant]` (e.g. `linux/amd64,linux/arm64`),
    /// for a multi-arch build: docker runs `docker buildx build --platform ...`, podman
    /// `podman build --platform ...`. Absent: the engine's own platform (a plain build).
    /// An unknown os or architecture, or a duplicate, is refused before the session is
    /// touched.
    #[serde(default)]
    #[schemars(length(max = MAX_NAME_CHARS))]
    pub platform: Option<String>,
    /// The optional repair context (`fixing_mode`, `previous_error`, `failed_tool`).
    #[serde(flatten)]
    pub fix: FixParams,
}

impl StepArgs for BuildParams {
    fn session_id(&self) -> &str {
        &self.session_id
    }
    fn fix(&self) -> &FixParams {
        &self.fix
    }
}

/// Operating systems a container platform names (the OCI image index's `os` values in use).
const OSES: &[&str] = &["linux", "windows", "freebsd", "darwin"];
/// Architectures (GOARCH values, as OCI and buildx spell them).
const ARCHES: &[&str] = &[
    "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "mips64", "loong64",
    "wasm",
];

/// Checks a `platform` list and returns it normalised (trimmed, lower case, comma-joined).
pub fn parse_platforms(raw: &str) -> Result<String, String> {
    let mut seen: Vec<String> = Vec::new();
    for item in raw.split(',') {
        let item = item.trim().to_ascii_lowercase();
        let parts: Vec<&str> = item.split('/').collect();
        let ok = match parts.as_slice() {
            [os, arch] => OSES.contains(os) && ARCHES.contains(arch),
            [os, arch, variant] => {
                OSES.contains(os)
                    && ARCHES.contains(arch)
                    && (1..=8).contains(&variant.len())
                    && variant.chars().all(|c| c.is_ascii_alphanumeric())
            }
            _ => false,
        };
        if !ok {
            return Err(format!(
                "platform {} is not os/arch[/variant] with a known os ({}) and architecture ({})",
                log_safe(&item, LOG_NAME_CHARS),
                OSES.join(", "),
                ARCHES.join(", ")
            ));
        }
        if seen.contains(&item) {
            return Err(format!("platform {item} is listed twice"));
        }
        seen.push(item);
    }
    Ok(seen.join(","))
}

/// The build argv for `engine`: `buildx build --platform` on docker, `build --platform` on
/// podman (and any engine whose file name is not docker's), plain `build` without platforms.
pub(crate) fn build_args(
    engine: &str,
    platform: Option<&str>,
    image: &str,
    dockerfile: &str,
    context: &str,
) -> Vec<String> {
    let is_podman = std::path::Path::new(engine)
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("podman"));
    let mut args: Vec<String> = Vec::new();
    if let Some(platform) = platform {
        if !is_podman {
            args.push("buildx".into());
        }
        args.extend(["build".into(), "--platform".into(), platform.into()]);
    } else {
        args.push("build".into());
    }
    args.extend([
        "-t".into(),
        image.into(),
        "-f".into(),
        dockerfile.into(),
        context.into(),
    ]);
    args
}

impl Artifact for BuildArtifact {
    const STEP: Step = Step::BuildImage;
}

pub(crate) struct BuildImage;

impl StepTool for BuildImage {
    const TITLE: &'static str = "Build the image";
    const DESCRIPTION: &'static str = "Step 3: build the container image with docker or podman.";
    const LONG_RUNNING: bool = true;
    type Params = BuildParams;
    type Input = Option<String>;
    type Artifact = BuildArtifact;

    fn validate(
        _: &Toolbox,
        p: &BuildParams,
        _: &CallContext,
    ) -> Result<Option<String>, ToolError> {
        match p.platform.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(raw) => parse_platforms(raw).map(Some).map_err(|e| {
                ToolError::invalid(e).with_hint_next(
                    "the target platform list could not be read",
                    "call build_image again with platform like linux/amd64,linux/arm64, or without platform",
                )
            }),
        }
    }

    async fn work(
        tools: &Toolbox,
        platform: Option<String>,
        st: WorkflowState,
    ) -> Result<BuildArtifact, Failure> {
        let step = Step::BuildImage;
        let repo = need(repo_of(&st), step, "a repository")?;
        let dockerfile = artifact::<DockerfileArtifact>(&st)
            .map(|d| d.path)
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| Some(repo.join("Dockerfile")).filter(|p| p.exists()));
        let dockerfile = need(dockerfile, step, "a Dockerfile")?;
        // The analysis's build context: the repository, or a module root above it (a
        // go.mod, a Cargo workspace, a .NET solution) the generated Dockerfile copies from.
        let context = artifact::<AnalyzeResult>(&st)
            .map(|a| a.build_context)
            .filter(|c| !matches!(c.trim().trim_end_matches('/'), "" | "."))
            .map(|c| repo.join(c.trim()))
            .map(|c| c.canonicalize().unwrap_or(c))
            .unwrap_or_else(|| repo.clone());
        let name = image_name(&st, &repo);
        let image = format!("{name}:latest");
        let engine = tools.config().exec.container_engine.clone();
        let policy_warnings = check_step(tools, || {
            let params = serde_json::json!({ "image": image, "platform": platform });
            PolicyInput::from_state(step.name(), &st, params)
        })?;
        let args = build_args(
            &engine,
            platform.as_deref(),
            &image,
            &dockerfile.display().to_string(),
            &context.display().to_string(),
        );
        let commands = commands(tools, &repo, vec![(engine, args)]).await?;
        Ok(BuildArtifact {
            image,
            image_name: name,
            dockerfile: dockerfile.display().to_string(),
            commands,
            platform,
            policy_warnings,
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> BuildParams {
        BuildParams {
            session_id: session_id.into(),
            platform: None,
            fix: FixParams::default(),
        }
    }
}
