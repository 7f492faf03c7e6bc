//! `push_image`, step 6: push the tagged image — re-tagged into the registry given and pushed
//! there, or, without one, pushed to the image's own registry, which the result names
//! (Docker Hub for a bare name).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::tag_image::{image_reference, TagArtifact};
use super::{artifact, built_image, commands, need, repo_of, Artifact, Failure, StepTool};
use crate::error::ToolError;
use crate::exec::CommandRecord;
use crate::log_text::{log_safe, LOG_NAME_CHARS};
use crate::params::{FixParams, PushParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `push_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PushArtifact {
    /// The reference pushed (`<registry>/<name>:<tag>` with a registry); deployments use it.
    pub image: String,
    /// The registry given, normalized (no trailing `/`).
    pub registry: Option<String>,
    /// The registry host the image went to: the one given, else the image's own — the host
    /// its name starts with, or `docker.io` (Docker Hub) for a bare name such as `web:0.1.0`.
    pub destination: String,
    /// What to check about the destination: set when no registry was given, since the push
    /// then goes to the image's own registry (Docker Hub for a bare name), which needs a
    /// login there and is rarely what a local kind cluster wants.
    pub note: Option<String>,
    /// The tag and push commands, run or (dry-run) recorded.
    pub commands: Vec<CommandRecord>,
    /// The organisation policy's `warn` messages for this push (`--policy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_warnings: Vec<crate::policy::PolicyViolation>,
}

impl Artifact for PushArtifact {
    const STEP: Step = Step::PushImage;
}

pub(crate) struct PushImage;

impl StepTool for PushImage {
    const TITLE: &'static str = "Push the image";
    const DESCRIPTION: &'static str = "Step 6: push the tagged image: re-tagged as <registry>/<name>:<tag> and pushed there when registry is given; without one, to the image's own registry (Docker Hub for a bare name), which the result's destination and note say.";
    const DESTRUCTIVE: bool = true;
    const LONG_RUNNING: bool = true;
    type Params = PushParams;
    type Input = Option<String>;
    type Artifact = PushArtifact;

    /// The registry without surrounding blanks or trailing `/`, if given and well formed:
    /// `<registry>/image` must parse as an OCI reference whose name starts with it (so `-D`,
    /// a scheme, uppercase in the path, quotes, blanks and control characters are refused).
    fn validate(_: &Toolbox, p: &PushParams, _: &CallContext) -> Result<Option<String>, ToolError> {
        let registry = p
            .registry
            .as_deref()
            .map(|r| r.trim().trim_end_matches('/').to_owned())
            .filter(|r| !r.is_empty());
        if let Some(r) = &registry {
            let probe = format!("{r}/image");
            if let Err(e) = image_reference(&probe) {
                return Err(ToolError::invalid(format!(
                    "registry {} must be a host[:port][/namespace] such as ghcr.io/acme or localhost:5001, without a scheme, in lowercase: {e}",
                    log_safe(r, LOG_NAME_CHARS)
                )));
            }
        }
        Ok(registry)
    }

    async fn work(
        tools: &Toolbox,
        registry: Option<String>,
        st: WorkflowState,
    ) -> Result<PushArtifact, Failure> {
        let step = Step::PushImage;
        let tagged = artifact::<TagArtifact>(&st)
            .map(|t| t.target)
            .filter(|t| !t.is_empty());
        let source = need(tagged.or_else(|| built_image(&st)), step, "a tagged image")?;
        let repo = need(repo_of(&st), step, "a repository")?;
        let engine = tools.config().exec.container_engine.clone();
        let target = match &registry {
            Some(r) => {
                let base = source.rsplit('/').next().unwrap_or(&source);
                format!("{r}/{base}")
            }
            None => source.clone(),
        };
        image_reference(&target).map_err(Failure::Precondition)?;
        let policy_warnings = crate::policy::check_step(tools, || {
            let params = serde_json::json!({
                "image": target,
                "source": source,
                "registry": registry_host(&target),
            });
            crate::policy::PolicyInput::from_state(step.name(), &st, params)
        })?;
        let mut cmds = Vec::new();
        if target != source {
            let args = vec!["tag".into(), source.clone(), target.clone()];
            cmds.push((engine.clone(), args));
        }
        cmds.push((engine, vec!["push".into(), target.clone()]));
        let commands = commands(tools, &repo, cmds).await?;
        let destination = registry_host(&target).to_owned();
        let note = registry.is_none().then(|| {
            format!(
                "no registry given: {target} was pushed to its own registry, {destination}{}; pass registry (e.g. localhost:5001 for a local registry) to push elsewhere",
                if destination == DOCKER_HUB { " (Docker Hub, the default for a bare name)" } else { "" }
            )
        });
        Ok(PushArtifact {
            image: target,
            registry,
            destination,
            note,
            commands,
            policy_warnings,
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> PushParams {
        // No registry: push_image says in its result where that sends the image.
        PushParams {
            session_id: session_id.into(),
            registry: None,
            fix: FixParams::default(),
        }
    }
}

/// The registry of a reference without one: Docker Hub.
const DOCKER_HUB: &str = "docker.io";

/// The registry host `reference` names, as the engine reads it: its first path component
/// when that looks like a host (has a `.` or a `:`, or is `localhost`), else Docker Hub.
fn registry_host(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => DOCKER_HUB,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_name_goes_to_docker_hub_and_a_host_to_itself() {
        assert_eq!(registry_host("web:0.1.0"), "docker.io");
        assert_eq!(registry_host("acme/web:1"), "docker.io");
        assert_eq!(registry_host("ghcr.io/acme/web:1"), "ghcr.io");
        assert_eq!(
            registry_host("registry.example:5000/team/py:v1"),
            "registry.example:5000"
        );
        assert_eq!(registry_host("localhost/web:1"), "localhost");
    }
}
