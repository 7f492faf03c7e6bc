//! A session's artifacts as addressable resources: what they are, their URIs
//! (`container-kit://sessions/{session_id}/…`), listing them and reading them. No MCP types
//! here: the server maps [`ResourceTemplateSpec`], [`ListedResource`], [`ResourceText`] and
//! [`ResourceError`] onto the protocol.
//!
//! The workflow record and the scan report are read from the store, so any replica answers
//! them. The Dockerfile and the manifests are read from the workspace, where the steps wrote
//! them: the session's repository is re-checked against the allowed roots first (as every
//! step does), then each file is read through the analysis's confined reader (`Repo`: one
//! `cap_std` handle on the allowed root, regular files only, non-blocking opens, a per-file
//! cap), so a file that has since become a symlink out of the root, a FIFO or a huge file is
//! refused, never followed or waited on. Which artifacts exist is the store's record: a
//! resource of a step that has not run is "not produced yet", naming the tool that makes it.

mod disk;
mod error;
mod uri;

use std::path::PathBuf;

use serde_json::Value;
use session_core::{ScanQuery, SessionId, SessionStatus, StoreError};

use self::disk::{blocking, manifest_files, on_disk, read_files};
pub use self::error::ResourceError;
use self::uri::{cut, manifest_uri};
pub use self::uri::{
    ListedResource, ResourcePage, ResourceTemplateSpec, ResourceText, ResourceUri, SessionResource,
    LIST_PAGE_SESSIONS, RESOURCE_TEMPLATES, RESOURCE_URI_PREFIX,
};
use crate::state::{StateError, Step, WorkflowState};
use crate::steps::generate_dockerfile::DockerfileArtifact;
use crate::steps::generate_k8s_manifests::ManifestArtifact;
use crate::steps::scan_image::ScanArtifact;
use crate::toolbox::Toolbox;

/// Reads the resource `uri` names; `roots` are the client's roots (they narrow the
/// workspace, as for a tool call).
///
/// # Errors
/// See [`ResourceError`]: nothing is written, whatever the error.
pub async fn read_resource(
    tools: &Toolbox,
    uri: &str,
    roots: &[PathBuf],
) -> Result<Vec<ResourceText>, ResourceError> {
    let parsed = ResourceUri::parse(uri)?;
    let state = workflow(tools, &parsed.session).await?;
    let spec = parsed.resource.spec();
    let json = |value: Value| -> Result<Vec<ResourceText>, ResourceError> {
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| ResourceError::Internal(format!("cannot encode {}: {e}", spec.name)))?;
        Ok(vec![ResourceText {
            uri: parsed.uri(),
            mime_type: spec.mime_type,
            text,
        }])
    };
    match &parsed.resource {
        SessionResource::Workflow => json(
            serde_json::to_value(&state)
                .map_err(|e| ResourceError::Internal(format!("cannot encode the workflow: {e}")))?,
        ),
        SessionResource::ScanReport => {
            let report: ScanArtifact = produced(&parsed, &state, "scan report")?;
            json(serde_json::to_value(report).map_err(|e| {
                ResourceError::Internal(format!("cannot encode the scan report: {e}"))
            })?)
        }
        SessionResource::Dockerfile => {
            let a: DockerfileArtifact = produced(&parsed, &state, "Dockerfile")?;
            let files = vec![(parsed.uri(), PathBuf::from(a.path))];
            on_disk(
                tools,
                state,
                roots.to_vec(),
                files,
                Step::GenerateDockerfile,
                spec,
            )
            .await
        }
        SessionResource::Manifests | SessionResource::Manifest(_) => {
            let a: ManifestArtifact = produced(&parsed, &state, "manifests")?;
            let (tools, roots, session) = (tools.clone(), roots.to_vec(), parsed.session.clone());
            let wanted = match &parsed.resource {
                SessionResource::Manifest(file) => Some(file.clone()),
                _ => None,
            };
            blocking(move || {
                let (repo, all) = manifest_files(&tools, &state, &roots, &a)?;
                let files: Vec<(String, PathBuf)> = all
                    .iter()
                    .filter(|(name, _)| wanted.as_ref().is_none_or(|w| w == name))
                    .map(|(name, path)| (manifest_uri(&session, name), path.clone()))
                    .collect();
                if files.is_empty() {
                    return Err(ResourceError::UnknownManifest {
                        uri: ResourceUri {
                            session: session.clone(),
                            resource: SessionResource::Manifests,
                        }
                        .uri(),
                        session,
                        file: cut(wanted.as_deref().unwrap_or_default()),
                        known: all
                            .iter()
                            .map(|(n, _)| n.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                read_files(&repo, files, Step::GenerateK8sManifests, spec)
            })
            .await
        }
    }
}

/// Lists the concrete resources of up to [`LIST_PAGE_SESSIONS`] active sessions per page,
/// in the store's stable id order (the store keeps no index by recency, and a page must not
/// read every session), from the store alone: a session's workflow record, and its
/// Dockerfile, manifests and scan report once the steps producing them have completed.
/// Single manifest files are not listed (the `manifests` resource names them).
///
/// # Errors
/// [`ResourceError::InvalidCursor`], or the store's error.
pub async fn list_resources(
    tools: &Toolbox,
    cursor: Option<&str>,
) -> Result<ResourcePage, ResourceError> {
    let after = cursor
        .map(|c| SessionId::new(c).map_err(|_| ResourceError::InvalidCursor(cut(c))))
        .transpose()?;
    let query = ScanQuery {
        status: Some(SessionStatus::Active),
        after,
        limit: LIST_PAGE_SESSIONS,
        ..ScanQuery::default()
    };
    let page = tools
        .sessions()
        .list(&query)
        .await
        .map_err(ResourceError::Store)?;
    let now = tools.sessions().now();
    let mut resources = Vec::new();
    for s in page.items.iter().filter(|s| !s.value.is_expired_at(now)) {
        let Ok(Some(state)) = WorkflowState::from_session(&s.value) else {
            continue;
        };
        let kinds = [
            SessionResource::Dockerfile,
            SessionResource::Manifests,
            SessionResource::ScanReport,
            SessionResource::Workflow,
        ];
        for resource in kinds {
            if resource
                .step()
                .is_some_and(|step| !state.is_completed(step) || !has_artifact(&state, step))
            {
                continue;
            }
            let spec = resource.spec();
            let uri = ResourceUri {
                session: s.value.id.clone(),
                resource,
            };
            resources.push(ListedResource {
                uri: uri.uri(),
                name: spec.name,
                title: format!("{} of session {}", spec.title, s.value.id),
                description: spec.description,
                mime_type: spec.mime_type,
            });
        }
    }
    Ok(ResourcePage {
        resources,
        next_cursor: page.next_cursor.map(|c| c.to_string()),
    })
}

/// The session's workflow state, read from the store.
async fn workflow(tools: &Toolbox, id: &SessionId) -> Result<WorkflowState, ResourceError> {
    let session = tools.sessions().get(id).await.map_err(|e| match e {
        StoreError::NotFound(session) => ResourceError::UnknownSession {
            session,
            state: "was not found",
        },
        StoreError::Expired(session) => ResourceError::UnknownSession {
            session,
            state: "has expired",
        },
        other => ResourceError::Store(other),
    })?;
    match WorkflowState::from_session(&session.value) {
        Ok(Some(state)) => Ok(state),
        Ok(None) => Err(ResourceError::NoWorkflow(id.clone())),
        Err(StateError::Store(e)) => Err(ResourceError::Store(e)),
        Err(e) => Err(ResourceError::Internal(e.to_string())),
    }
}

fn has_artifact(state: &WorkflowState, step: Step) -> bool {
    state.artifacts.contains_key(step.artifact_key())
}

/// The stored artifact of the step behind `uri`, once that step has completed.
fn produced<A: serde::de::DeserializeOwned>(
    uri: &ResourceUri,
    state: &WorkflowState,
    what: &'static str,
) -> Result<A, ResourceError> {
    let Some(step) = uri.resource.step() else {
        return Err(ResourceError::Internal(format!("{what} has no step")));
    };
    let not_produced = || ResourceError::NotProduced {
        session: uri.session.clone(),
        what,
        tool: step.name(),
    };
    if !state.is_completed(step) {
        return Err(not_produced());
    }
    match state.artifacts.get(step.artifact_key()) {
        None => Err(not_produced()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            ResourceError::Internal(format!(
                "session {} holds a {} artifact that cannot be read ({e}); call {} again",
                uri.session,
                step.name(),
                step.name()
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use serde_json::json;
    use session_core::{MemoryStore, Sessions, SessionsConfig};

    use super::*;
    use crate::exec::ExecConfig;
    use crate::toolbox::{CallContext, ToolboxConfig};

    fn toolbox(root: &Path) -> Toolbox {
        Toolbox::new(
            Sessions::new(Arc::new(MemoryStore::new()), SessionsConfig::default()),
            ToolboxConfig {
                allowed_roots: vec![root.to_path_buf()],
                exec: ExecConfig {
                    dry_run: true,
                    ..ExecConfig::default()
                },
                ..ToolboxConfig::default()
            },
        )
    }

    fn node_repo(root: &Path) -> PathBuf {
        let repo = root.join("web");
        std::fs::create_dir_all(&repo).unwrap();
        std::fs::write(
            repo.join("package.json"),
            r#"{"name":"web","scripts":{"start":"node index.js"},"dependencies":{"express":"^4"}}"#,
        )
        .unwrap();
        std::fs::write(repo.join("index.js"), "require('express')().listen(3000)\n").unwrap();
        repo
    }

    async fn call(tools: &Toolbox, tool: &str, args: Value) {
        tools
            .call(tool, args, &CallContext::default())
            .await
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
    }

    async fn read(tools: &Toolbox, uri: &str) -> Result<Vec<ResourceText>, ResourceError> {
        read_resource(tools, uri, &[]).await
    }

    #[test]
    fn uris_parse_and_print_back_in_canonical_form() {
        let check = |uri: &str, resource: SessionResource, canonical: &str| {
            let parsed = ResourceUri::parse(uri).unwrap();
            assert_eq!(parsed.resource, resource, "{uri}");
            assert_eq!(parsed.session.as_str(), "wf_1:a");
            assert_eq!(parsed.uri(), canonical);
        };
        let base = "container-kit://sessions/wf_1:a";
        for (what, r) in [
            ("dockerfile", SessionResource::Dockerfile),
            ("manifests", SessionResource::Manifests),
            ("scan-report", SessionResource::ScanReport),
            ("workflow", SessionResource::Workflow),
        ] {
            let uri = format!("{base}/{what}");
            check(&uri, r, &uri);
        }
        let nested = format!("{base}/manifests/overlays%2Fdev%2Fkustomization.yaml");
        let file = SessionResource::Manifest("overlays/dev/kustomization.yaml".into());
        check(&nested, file.clone(), &nested);
        check(
            &format!("{base}/manifests/overlays/dev/kustomization.yaml"),
            file,
            &nested,
        );
    }

    #[test]
    fn malformed_uris_and_invalid_ids_are_invalid_requests() {
        for uri in [
            "file:///etc/passwd",
            "container-kit://sessions/abc",
            "container-kit://sessions/abc/secrets",
            "container-kit://sessions/abc/workflow?x=1",
            "container-kit://sessions/abc/manifests/",
            "container-kit://sessions/abc/manifests/%zz",
        ] {
            let e = ResourceUri::parse(uri).unwrap_err();
            assert!(
                matches!(e, ResourceError::MalformedUri { .. }),
                "{uri}: {e}"
            );
            assert!(e.is_invalid_request() && !e.is_not_found());
        }
        let e = ResourceUri::parse("container-kit://sessions/..%2Fx/workflow").unwrap_err();
        assert!(matches!(e, ResourceError::InvalidSessionId { .. }), "{e}");
        assert!(e.is_invalid_request());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_resource_reads_what_the_steps_stored_and_wrote() {
        let ws = tempfile::tempdir().unwrap();
        let root = ws.path().canonicalize().unwrap();
        let tools = toolbox(&root);
        let repo = node_repo(&root);
        call(
            &tools,
            "start_workflow",
            json!({"session_id": "r1", "repo_path": repo, "run": true}),
        )
        .await;
        let base = "container-kit://sessions/r1";
        let df = read(&tools, &format!("{base}/dockerfile")).await.unwrap();
        assert_eq!(df.len(), 1);
        assert_eq!(df[0].mime_type, "text/x-dockerfile");
        assert_eq!(
            df[0].text,
            std::fs::read_to_string(repo.join("Dockerfile")).unwrap()
        );
        // What is on disk now is what is read (the user may have edited it).
        std::fs::write(repo.join("Dockerfile"), "FROM node:20\n").unwrap();
        let df = read(&tools, &format!("{base}/dockerfile")).await.unwrap();
        assert_eq!(df[0].text, "FROM node:20\n");
        let m = read(&tools, &format!("{base}/manifests")).await.unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].uri, format!("{base}/manifests/web.yaml"));
        assert!(m[0].text.contains("kind: Deployment"), "{}", m[0].text);
        let one = read(&tools, &m[0].uri).await.unwrap();
        assert_eq!(one, m);
        let scan = read(&tools, &format!("{base}/scan-report")).await.unwrap();
        let scan: Value = serde_json::from_str(&scan[0].text).unwrap();
        assert!(
            scan["commands"][0]["command"]
                .as_str()
                .is_some_and(|c| c.contains("trivy")),
            "{scan}"
        );
        let wf = read(&tools, &format!("{base}/workflow")).await.unwrap();
        assert_eq!(wf[0].mime_type, "application/json");
        let wf: Value = serde_json::from_str(&wf[0].text).unwrap();
        assert_eq!(wf["status"], "completed");
        assert_eq!(wf["completed_steps"].as_array().map(Vec::len), Some(10));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn kustomize_manifests_are_read_one_content_per_file() {
        let ws = tempfile::tempdir().unwrap();
        let root = ws.path().canonicalize().unwrap();
        let tools = toolbox(&root);
        let repo = node_repo(&root);
        call(
            &tools,
            "start_workflow",
            json!({"session_id": "k1", "repo_path": repo}),
        )
        .await;
        call(
            &tools,
            "analyze_repository",
            json!({"session_id": "k1", "repo_path": repo}),
        )
        .await;
        call(
            &tools,
            "generate_k8s_manifests",
            json!({"session_id": "k1", "format": "kustomize"}),
        )
        .await;
        let all = read(&tools, "container-kit://sessions/k1/manifests")
            .await
            .unwrap();
        let names: Vec<&str> = all
            .iter()
            .map(|c| {
                c.uri
                    .trim_start_matches("container-kit://sessions/k1/manifests/")
            })
            .collect();
        assert_eq!(names[0], "base%2Fweb.yaml");
        assert!(names.contains(&"base%2Fkustomization.yaml"), "{names:?}");
        assert!(
            names.contains(&"overlays%2Fdev%2Fkustomization.yaml"),
            "{names:?}"
        );
        for c in &all {
            assert_eq!(read(&tools, &c.uri).await.unwrap(), vec![c.clone()]);
        }
        let e = read(
            &tools,
            "container-kit://sessions/k1/manifests/..%2F..%2Fpackage.json",
        )
        .await
        .unwrap_err();
        assert!(matches!(e, ResourceError::UnknownManifest { .. }), "{e}");
        assert!(e.to_string().contains("base/web.yaml"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_expired_session_reads_as_expired_and_is_not_listed() {
        let ws = tempfile::tempdir().unwrap();
        let root = ws.path().canonicalize().unwrap();
        let clock = Arc::new(session_core::ManualClock::new(chrono::Utc::now()));
        let sessions = Sessions::with_clock(
            Arc::new(MemoryStore::new()),
            SessionsConfig::default(),
            clock.clone(),
        );
        let tools = Toolbox::new(
            sessions,
            ToolboxConfig {
                allowed_roots: vec![root.clone()],
                ..ToolboxConfig::default()
            },
        );
        let repo = node_repo(&root);
        call(
            &tools,
            "start_workflow",
            json!({"session_id": "e1", "repo_path": repo}),
        )
        .await;
        assert_eq!(
            list_resources(&tools, None).await.unwrap().resources.len(),
            1
        );
        clock.advance(std::time::Duration::from_secs(25 * 3600));
        let e = read(&tools, "container-kit://sessions/e1/workflow")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("e1 has expired"), "{e}");
        assert!(e.is_not_found());
        assert!(list_resources(&tools, None)
            .await
            .unwrap()
            .resources
            .is_empty());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn missing_sessions_steps_and_files_are_not_found_naming_the_remedy() {
        let ws = tempfile::tempdir().unwrap();
        let root = ws.path().canonicalize().unwrap();
        let tools = toolbox(&root);
        let repo = node_repo(&root);
        let e = read(&tools, "container-kit://sessions/nobody/workflow")
            .await
            .unwrap_err();
        assert!(
            matches!(e, ResourceError::UnknownSession { .. }) && e.is_not_found(),
            "{e}"
        );
        call(
            &tools,
            "start_workflow",
            json!({"session_id": "m1", "repo_path": repo}),
        )
        .await;
        for (what, tool) in [
            ("dockerfile", "generate_dockerfile"),
            ("manifests", "generate_k8s_manifests"),
            ("scan-report", "scan_image"),
        ] {
            let e = read(&tools, &format!("container-kit://sessions/m1/{what}"))
                .await
                .unwrap_err();
            assert!(e.is_not_found(), "{e}");
            assert!(
                e.to_string().ends_with(&format!("call {tool} first")),
                "{e}"
            );
            assert_eq!(e.next_tool(), Some(tool));
        }
        assert!(read(&tools, "container-kit://sessions/m1/workflow")
            .await
            .is_ok());
        call(
            &tools,
            "analyze_repository",
            json!({"session_id": "m1", "repo_path": repo}),
        )
        .await;
        call(&tools, "generate_dockerfile", json!({"session_id": "m1"})).await;
        std::fs::remove_file(repo.join("Dockerfile")).unwrap();
        let e = read(&tools, "container-kit://sessions/m1/dockerfile")
            .await
            .unwrap_err();
        assert!(matches!(e, ResourceError::MissingFile { .. }), "{e}");
        assert!(
            e.to_string().contains("call generate_dockerfile again"),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_dockerfile_turned_symlink_out_fifo_or_huge_is_refused_unread() {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = ws.path().canonicalize().unwrap();
        let tools = toolbox(&root);
        let repo = node_repo(&root);
        call(
            &tools,
            "start_workflow",
            json!({"session_id": "s1", "repo_path": repo}),
        )
        .await;
        call(
            &tools,
            "analyze_repository",
            json!({"session_id": "s1", "repo_path": repo}),
        )
        .await;
        call(&tools, "generate_dockerfile", json!({"session_id": "s1"})).await;
        let dockerfile = repo.join("Dockerfile");
        let secret = outside.path().join("secret");
        std::fs::write(&secret, "TOP-SECRET\n").unwrap();
        let uri = "container-kit://sessions/s1/dockerfile";
        std::fs::remove_file(&dockerfile).unwrap();
        std::os::unix::fs::symlink(&secret, &dockerfile).unwrap();
        let e = read(&tools, uri).await.unwrap_err();
        assert!(matches!(e, ResourceError::RefusedFile { .. }), "{e}");
        assert!(e.to_string().contains("symlink"), "{e}");
        assert!(!format!("{e:?}").contains("TOP-SECRET"));
        std::fs::remove_file(&dockerfile).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(&dockerfile)
            .status()
            .unwrap();
        assert!(made.success());
        let e = read(&tools, uri).await.unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        std::fs::remove_file(&dockerfile).unwrap();
        std::fs::write(&dockerfile, vec![b'#'; 2 * 1024 * 1024]).unwrap();
        let e = read(&tools, uri).await.unwrap_err();
        assert!(e.to_string().contains("1 MiB"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_repository_moved_out_of_the_roots_is_refused() {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = ws.path().canonicalize().unwrap();
        let tools = toolbox(&root);
        let repo = node_repo(&root);
        call(
            &tools,
            "start_workflow",
            json!({"session_id": "o1", "repo_path": repo}),
        )
        .await;
        call(
            &tools,
            "analyze_repository",
            json!({"session_id": "o1", "repo_path": repo}),
        )
        .await;
        call(&tools, "generate_dockerfile", json!({"session_id": "o1"})).await;
        std::fs::rename(&repo, outside.path().join("web")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("web"), &repo).unwrap();
        let e = read(&tools, "container-kit://sessions/o1/dockerfile")
            .await
            .unwrap_err();
        assert!(
            matches!(e, ResourceError::Repository(_)) && e.is_invalid_request(),
            "{e}"
        );
        assert!(e.to_string().contains("outside the allowed roots"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_list_pages_through_sessions_and_names_only_produced_artifacts() {
        let ws = tempfile::tempdir().unwrap();
        let root = ws.path().canonicalize().unwrap();
        let tools = toolbox(&root);
        let repo = node_repo(&root);
        let n = LIST_PAGE_SESSIONS + 3;
        for i in 0..n {
            call(
                &tools,
                "start_workflow",
                json!({"session_id": format!("l{i:03}"), "repo_path": repo}),
            )
            .await;
        }
        call(
            &tools,
            "analyze_repository",
            json!({"session_id": "l000", "repo_path": repo}),
        )
        .await;
        call(&tools, "generate_dockerfile", json!({"session_id": "l000"})).await;
        let first = list_resources(&tools, None).await.unwrap();
        let uris: Vec<&str> = first.resources.iter().map(|r| r.uri.as_str()).collect();
        assert_eq!(
            uris[..3],
            [
                "container-kit://sessions/l000/dockerfile",
                "container-kit://sessions/l000/workflow",
                "container-kit://sessions/l001/workflow",
            ]
        );
        assert_eq!(uris.len(), LIST_PAGE_SESSIONS + 1);
        let cursor = first.next_cursor.expect("a second page");
        let second = list_resources(&tools, Some(&cursor)).await.unwrap();
        assert_eq!(second.resources.len(), 3);
        assert_eq!(second.next_cursor, None);
        let e = list_resources(&tools, Some("../bad")).await.unwrap_err();
        assert!(matches!(e, ResourceError::InvalidCursor(_)), "{e}");
    }
}
