//! `generate_k8s_manifests`, step 7: write the given manifests, or ones generated from the
//! analysis (a Deployment, and a Service unless it is a worker) for the most finished image
//! (pushed, else tagged, else built), to `k8s/<app>.yaml` in the repository.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::path::{Path, PathBuf};

use super::{
    artifact, deployable_image, image_name, need, Artifact, Failure, RepoHandle, StepTool,
};
use crate::analyze::{sanitize_name, AnalyzeResult};
use crate::error::ToolError;
use crate::generate;
use crate::params::{FixParams, ManifestParams};
use crate::state::{Step, WorkflowState};
use crate::toolbox::{CallContext, Toolbox};

/// The `k8s_result` artifact.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ManifestArtifact {
    /// Where the manifests were written; deploy_application applies this file.
    pub path: String,
    /// Where the user's previous, different file was moved, if there was one.
    pub backup: Option<String>,
    /// False when the file already held exactly this content.
    pub changed: bool,
    /// True when the manifests were generated, false when they were given.
    pub generated: bool,
    /// The app name (Deployment, Service and `app` label); verify_deployment checks it.
    pub app: String,
    /// The image the manifests deploy: the tagged (or pushed) reference once tag_image ran.
    pub image: String,
    /// The manifests' text.
    pub content: String,
    /// The organisation policy's `warn` messages for these manifests (`--policy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_warnings: Vec<crate::policy::PolicyViolation>,
    /// `format: "kustomize"`: the overlay directories written (`k8s/overlays/<env>`), in
    /// order; deploy_application applies the first (`kubectl apply -k`). Empty otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub overlays: Vec<String>,
}

impl Artifact for ManifestArtifact {
    const STEP: Step = Step::GenerateK8sManifests;
}

pub(crate) struct GenerateK8sManifests;

impl StepTool for GenerateK8sManifests {
    const IDEMPOTENT: bool = true;
    const OPEN_WORLD: bool = false;
    const TITLE: &'static str = "Write Kubernetes manifests";
    const DESCRIPTION: &'static str = "Step 7: write Kubernetes manifests into k8s/ (manifests, or generated: a Deployment with probes, resources and a restricted security context, plus a Service unless the analysis found a worker).";
    type Params = ManifestParams;
    /// The given manifests, the client's roots the repository is re-checked against, and
    /// whether to write the kustomize layout.
    type Input = (Option<String>, Vec<PathBuf>, bool);
    type Artifact = ManifestArtifact;

    fn validate(
        tools: &Toolbox,
        p: &ManifestParams,
        ctx: &CallContext,
    ) -> Result<(Option<String>, Vec<PathBuf>, bool), ToolError> {
        tools.check_content("manifests", &p.manifests)?;
        let kustomize = match p.format.as_deref().map(str::trim) {
            None | Some("" | "kubernetes") => false,
            Some("kustomize") if p.manifests.is_some() => {
                return Err(ToolError::invalid(
                    "format kustomize writes generated manifests; it cannot take manifests",
                )
                .with_hint_next(
                    "kustomize overlays patch the generated Deployment, so given manifests cannot be used",
                    "call generate_k8s_manifests again without manifests, or with format kubernetes",
                ))
            }
            Some("kustomize") => true,
            Some(other) => {
                return Err(ToolError::invalid(format!(
                    "format {} is neither kubernetes nor kustomize",
                    crate::log_text::log_safe(other, crate::log_text::LOG_NAME_CHARS)
                ))
                .with_hint_next(
                    "the manifest format is not one this server writes (no Helm: see the README)",
                    "call generate_k8s_manifests again with format kubernetes or kustomize",
                ))
            }
        };
        Ok((p.manifests.clone(), ctx.roots.clone(), kustomize))
    }

    async fn work(
        tools: &Toolbox,
        (given, roots, kustomize): (Option<String>, Vec<PathBuf>, bool),
        st: WorkflowState,
    ) -> Result<ManifestArtifact, Failure> {
        let step = Step::GenerateK8sManifests;
        let handle = RepoHandle::open(tools, &st, &roots, step)?;
        let app = sanitize_name(&image_name(&st, &handle.repo.dir));
        let image = deployable_image(&st).unwrap_or_else(|| format!("{app}:latest"));
        let analysis: Option<AnalyzeResult> = artifact(&st);
        let (content, generated) = match given {
            Some(m) => (m, false),
            None => {
                let a = need(analysis.clone(), step, "the repository analysis")?;
                (generate::k8s_manifests(&a, &app, &image), true)
            }
        };
        // Evaluated before anything is written: a denial leaves the repository as it was.
        let policy_warnings = crate::policy::check_step(tools, || {
            let mut input = crate::policy::PolicyInput::from_state(
                step.name(),
                &st,
                serde_json::json!({ "image": image }),
            );
            input.manifests = crate::policy::manifest_documents(&content);
            input
        })?;
        let mut overlays = Vec::new();
        // `k8s/` is created inside the repository's handle: one symlinked out is refused.
        let w = if kustomize {
            let a = need(analysis, step, "the repository analysis")?;
            let mut base = None;
            for (rel, text) in generate::kustomize_layout(&a, &app, &image, &content) {
                let w = handle.write(Path::new(&rel), &text)?;
                if rel.ends_with(&format!("/{app}.yaml")) && base.is_none() {
                    base = Some(w);
                } else if rel.ends_with("/kustomization.yaml") && rel.contains("/overlays/") {
                    if let Some(dir) = Path::new(&w.path).parent() {
                        overlays.push(dir.display().to_string());
                    }
                }
            }
            need(base, step, "the base manifest")?
        } else {
            handle.write(&Path::new("k8s").join(format!("{app}.yaml")), &content)?
        };
        Ok(ManifestArtifact {
            path: w.path,
            backup: w.backup,
            changed: w.changed,
            generated,
            app,
            image,
            content,
            policy_warnings,
            overlays,
        })
    }

    fn workflow_params(session_id: &str, _: &WorkflowState) -> ManifestParams {
        ManifestParams {
            session_id: session_id.into(),
            manifests: None,
            format: None,
            fix: FixParams::default(),
        }
    }
}
