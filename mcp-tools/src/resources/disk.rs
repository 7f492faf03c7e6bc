//! Reading a session's files: the repository re-checked against the allowed roots, then
//! each file read through the analysis's confined reader on the allowed root.

use std::path::{Path, PathBuf};

use super::error::ResourceError;
use super::uri::{ResourceTemplateSpec, ResourceText};
use crate::analyze::Repo;
use crate::state::{Step, WorkflowState};
use crate::steps::generate_k8s_manifests::ManifestArtifact;
use crate::toolbox::Toolbox;

/// The directory of the repository the manifests are written to; a manifest's `{file}` is
/// its path relative to it (`demo.yaml`, `overlays/dev/kustomization.yaml`).
const MANIFEST_DIR: &str = "k8s";

/// The most manifest files one session's `manifests` resource holds.
const MAX_MANIFEST_FILES: usize = 64;

/// The checked repository and a confined reader on its allowed root.
pub(super) struct Confined {
    dir: PathBuf,
    root: PathBuf,
}

pub(super) fn confine(
    tools: &Toolbox,
    state: &WorkflowState,
    roots: &[PathBuf],
) -> Result<Confined, ResourceError> {
    if state.repo_path.is_empty() {
        return Err(ResourceError::Repository(
            "the session's workflow names no repository; call analyze_repository first".into(),
        ));
    }
    let repo = tools
        .check_repo_path_in(&state.repo_path, roots)
        .map_err(|e| ResourceError::Repository(e.message))?;
    Ok(Confined {
        dir: repo.dir,
        root: repo.root,
    })
}

/// Reads `files` (URI, absolute path as the step recorded it) of the session's repository,
/// on the blocking pool.
pub(super) async fn on_disk(
    tools: &Toolbox,
    state: WorkflowState,
    roots: Vec<PathBuf>,
    files: Vec<(String, PathBuf)>,
    step: Step,
    spec: &'static ResourceTemplateSpec,
) -> Result<Vec<ResourceText>, ResourceError> {
    let tools = tools.clone();
    blocking(move || {
        let repo = confine(&tools, &state, &roots)?;
        read_files(&repo, files, step, spec)
    })
    .await
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ResourceError> + Send + 'static,
) -> Result<T, ResourceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ResourceError::Internal(format!("the file read did not finish: {e}")))?
}

/// Reads each file through one confined reader on the repository's allowed root.
pub(super) fn read_files(
    repo: &Confined,
    files: Vec<(String, PathBuf)>,
    step: Step,
    spec: &'static ResourceTemplateSpec,
) -> Result<Vec<ResourceText>, ResourceError> {
    let reader = Repo::new(repo.root.clone());
    let mut out = Vec::new();
    for (uri, path) in files {
        let shown = path.display().to_string();
        let rel = path
            .strip_prefix(&repo.root)
            .map_err(|_| ResourceError::RefusedFile {
                path: shown.clone(),
                reason: format!(
                    "it lies outside the session's allowed root {}; call {} again to write it inside",
                    repo.root.display(),
                    step.name()
                ),
            })?;
        let Some(rel) = rel.to_str() else {
            return Err(ResourceError::RefusedFile {
                path: shown,
                reason: "its path is not UTF-8".into(),
            });
        };
        match reader.read(rel) {
            Some(text) => out.push(ResourceText {
                uri,
                mime_type: spec.mime_type,
                text,
            }),
            None => {
                return Err(match reader.skipped().first() {
                    Some(skip) => ResourceError::RefusedFile {
                        path: shown,
                        reason: refusal(&skip.reason, step),
                    },
                    None => ResourceError::MissingFile {
                        path: shown,
                        tool: step.name(),
                    },
                })
            }
        }
    }
    Ok(out)
}

/// What a confined reader's skip reason means for the user.
fn refusal(reason: &str, step: Step) -> String {
    let what = match reason {
        "symlink_outside_root" => "it is a symlink (or lies under one) leading outside the allowed root, which is never followed",
        "not_a_regular_file" => "it is not a regular file (a FIFO, socket or device is never opened)",
        "over_file_cap" | "over_total_budget" => "it is over the 1 MiB read limit",
        "not_utf8" => "it is not UTF-8 text",
        "over_time_budget" => "reading it took too long",
        _ => "it cannot be read",
    };
    format!(
        "{what}; replace it with the regular file {} wrote (call {} again)",
        step.name(),
        step.name()
    )
}

/// The session's manifest files: (name under `k8s/`, absolute path). With format
/// kubernetes, the one file the step wrote; with kustomize, the YAML files of the base
/// directory and of each overlay directory, as they are on disk now.
pub(super) fn manifest_files(
    tools: &Toolbox,
    state: &WorkflowState,
    roots: &[PathBuf],
    a: &ManifestArtifact,
) -> Result<(Confined, Vec<(String, PathBuf)>), ResourceError> {
    let repo = confine(tools, state, roots)?;
    let manifests = repo.dir.join(MANIFEST_DIR);
    let main = PathBuf::from(&a.path);
    let mut paths = vec![main.clone()];
    if !a.overlays.is_empty() {
        let reader = Repo::new(repo.root.clone());
        let dirs = main.parent().into_iter().map(Path::to_path_buf);
        for dir in dirs.chain(a.overlays.iter().map(PathBuf::from)) {
            let Some(rel) = dir.strip_prefix(&repo.root).ok().and_then(Path::to_str) else {
                continue;
            };
            for e in reader.list(rel) {
                if !e.is_dir && (e.name.ends_with(".yaml") || e.name.ends_with(".yml")) {
                    paths.push(repo.root.join(&e.path));
                }
            }
        }
    }
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for path in paths {
        let name = path
            .strip_prefix(&manifests)
            .ok()
            .and_then(Path::to_str)
            .map(str::to_owned)
            .ok_or_else(|| ResourceError::RefusedFile {
                path: path.display().to_string(),
                reason: format!(
                    "it is outside the repository's {MANIFEST_DIR}/ directory; call generate_k8s_manifests again"
                ),
            })?;
        if !out.iter().any(|(n, _)| *n == name) && out.len() < MAX_MANIFEST_FILES {
            out.push((name, path));
        }
    }
    Ok((repo, out))
}
