//! The step tools and the workflow and session tools: the semantics of a step (lock, load,
//! run, record in one versioned update, release) and each step's real work.

use std::future::Future;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use session_core::{ScanQuery, SessionId, SessionStatus, StoreError};

use crate::analyze::{analyze, AnalyzeResult};
use crate::exec::{self, CommandRecord};
use crate::generate::{self, write_file};
use crate::params::*;
use crate::state::{Step, WorkflowState, WorkflowStatus};
use crate::toolbox::{CallContext, ToolError, ToolErrorKind, Toolbox};

/// What a step's work produced: its artifact, or why it failed (and whether the failure is a
/// missing prerequisite, which is not recorded as a failed run).
enum Failure {
    /// The step ran and failed: recorded in `failed_steps` and `error`.
    Ran(String),
    /// A prerequisite is missing: nothing is recorded.
    Precondition(String),
}

type Work = Result<Value, Failure>;

fn need<T>(v: Option<T>, step: Step, what: &str) -> Result<T, Failure> {
    v.ok_or_else(|| {
        Failure::Precondition(format!(
            "{} needs {what}; call {} first",
            step.name(),
            step.remedy()
        ))
    })
}

impl Toolbox {
    /// The semantics of every step: take the session's lock (bounded wait), load the
    /// workflow, run `work`, then record the outcome — completed/failed step, current step,
    /// artifact, repair context — in one versioned update, and release. Dropping the future
    /// (cancellation) releases the lock and records nothing.
    async fn run_step<F, Fut>(
        &self,
        step: Step,
        session_id: &str,
        fix: &FixParams,
        ctx: &CallContext,
        work: F,
    ) -> Result<StepResult, ToolError>
    where
        F: FnOnce(WorkflowState) -> Fut,
        Fut: Future<Output = Work>,
    {
        let id = Toolbox::session_id(session_id)?;
        let started = std::time::Instant::now();
        let guard = self.sessions.lock(&id).await.map_err(|e| match e {
            StoreError::Busy { .. } => ToolError {
                kind: ToolErrorKind::SessionBusy,
                message: format!("session {id} is busy: another step is running on it; retry {} when it finishes", step.name()),
                next_tool: Some("workflow_status".into()),
            },
            other => other.into(),
        })?;
        let lock_wait_ms = guard.waited().as_secs_f64() * 1e3;
        let current = guard.get().await?;
        let state = WorkflowState::from_session(&current.value)?.ok_or_else(|| {
            ToolError::from(StoreError::NotFound(id.clone())).with_next("start_workflow")
        })?;
        ctx.progress(0.0, 1.0, format!("{}: running", step.name()))
            .await;
        let outcome = work(state).await;
        if let Err(Failure::Precondition(message)) = &outcome {
            return Err(ToolError {
                kind: ToolErrorKind::Precondition,
                message: message.clone(),
                next_tool: Some(step.remedy().into()),
            });
        }
        let (after, state) = guard
            .update(|s| {
                let mut st = WorkflowState::from_session(s)
                    .map_err(|e| StoreError::Rejected(e.message))?
                    .ok_or_else(|| StoreError::Rejected("the workflow state vanished".into()))?;
                if fix.fixing_mode.is_some() || fix.previous_error.is_some() || fix.failed_tool.is_some() {
                    st.metadata.insert("last_fix".into(), json!({"step": step.name(), "fixing_mode": fix.fixing_mode, "previous_error": fix.previous_error, "failed_tool": fix.failed_tool}));
                }
                let runs = st.metadata.get("step_runs").and_then(Value::as_u64).unwrap_or(0) + 1;
                st.metadata.insert("step_runs".into(), json!(runs));
                match &outcome {
                    Ok(artifact) => {
                        if step == Step::AnalyzeRepository {
                            if let Some(p) = artifact.get("repo_path").and_then(Value::as_str) {
                                st.repo_path = p.to_owned();
                            }
                        }
                        st.record_success(step, artifact.clone());
                    }
                    Err(Failure::Ran(message)) => st.record_failure(step, message),
                    Err(Failure::Precondition(_)) => {}
                }
                st.store_into(s);
                Ok(st)
            })
            .await?;
        drop(guard);
        ctx.progress(1.0, 1.0, format!("{}: done", step.name()))
            .await;
        tracing::info!(
            session_id = %id,
            step = step.name(),
            version = after.version.get(),
            ok = outcome.is_ok(),
            lock_wait_ms,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "step recorded"
        );
        match outcome {
            Ok(artifact) => Ok(StepResult {
                session_id: id.to_string(),
                step: step.name().into(),
                success: true,
                summary: format!(
                    "{} completed{}; next: {}",
                    step.name(),
                    if self.config.exec.dry_run {
                        " (dry run)"
                    } else {
                        ""
                    },
                    state
                        .next_step()
                        .map_or("none (workflow complete)", |s| s.name())
                ),
                artifact,
                next_step: state.next_step().map(|s| s.name().to_owned()),
                progress_percent: state.progress_percent(),
                dry_run: self.config.exec.dry_run,
            }),
            Err(Failure::Ran(message)) | Err(Failure::Precondition(message)) => Err(ToolError {
                kind: ToolErrorKind::StepFailed,
                message: format!("{} failed: {message}", step.name()),
                next_tool: Some(step.remedy().into()),
            }),
        }
    }

    async fn commands(
        &self,
        cwd: &Path,
        cmds: Vec<(String, Vec<String>)>,
    ) -> Result<Vec<CommandRecord>, Failure> {
        let mut out = Vec::new();
        for (program, args) in cmds {
            out.push(
                exec::run(&self.config.exec, &program, &args, cwd)
                    .await
                    .map_err(Failure::Ran)?,
            );
        }
        Ok(out)
    }

    fn check_content(&self, what: &str, content: &Option<String>) -> Result<(), ToolError> {
        match content {
            Some(c) if c.len() > self.config.max_content_bytes => Err(ToolError::invalid(format!(
                "{what} is {} bytes, over the limit of {} bytes",
                c.len(),
                self.config.max_content_bytes
            ))),
            Some(c) if c.trim().is_empty() => Err(ToolError::invalid(format!(
                "{what} is empty; omit it to generate one"
            ))),
            _ => Ok(()),
        }
    }

    /// `analyze_repository`.
    pub async fn analyze_repository(
        &self,
        p: AnalyzeParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        let repo = self.check_repo_path(&p.repo_path, ctx)?;
        self.run_step(
            Step::AnalyzeRepository,
            &p.session_id,
            &p.fix,
            ctx,
            |_| async move {
                let r = tokio::task::spawn_blocking(move || analyze(&repo))
                    .await
                    .map_err(|e| Failure::Ran(format!("analysis crashed: {e}")))?;
                Ok(json!(r))
            },
        )
        .await
    }

    /// `generate_dockerfile`.
    pub async fn generate_dockerfile(
        &self,
        p: DockerfileParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        self.check_content("dockerfile_content", &p.dockerfile_content)?;
        self.run_step(Step::GenerateDockerfile, &p.session_id, &p.fix, ctx, |st| async move {
            let repo = need(repo_of(&st), Step::GenerateDockerfile, "a repository")?;
            let (content, generated) = match p.dockerfile_content {
                Some(c) => (c, false),
                None => {
                    let a: AnalyzeResult = need(st.artifact(Step::AnalyzeRepository), Step::GenerateDockerfile, "the repository analysis")?;
                    (generate::dockerfile(&a), true)
                }
            };
            let path = repo.join("Dockerfile");
            let w = write_file(&path, &content).map_err(|e| Failure::Ran(format!("cannot write {}: {e}", path.display())))?;
            Ok(json!({"path": w.path, "backup": w.backup, "changed": w.changed, "generated": generated, "content": content}))
        })
        .await
    }

    /// `build_image`.
    pub async fn build_image(
        &self,
        p: StepParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        self.run_step(Step::BuildImage, &p.session_id, &p.fix, ctx, |st| async move {
            let repo = need(repo_of(&st), Step::BuildImage, "a repository")?;
            let dockerfile = st.artifacts.get("dockerfile_result").and_then(|d| d.get("path")).and_then(Value::as_str).map(PathBuf::from).or_else(|| Some(repo.join("Dockerfile")).filter(|p| p.exists()));
            let dockerfile = need(dockerfile, Step::BuildImage, "a Dockerfile")?;
            let name = image_name(&st, &repo);
            let image = format!("{name}:latest");
            let engine = self.config.exec.container_engine.clone();
            let cmds = self.commands(&repo, vec![(engine, vec!["build".into(), "-t".into(), image.clone(), "-f".into(), dockerfile.display().to_string(), repo.display().to_string()])]).await?;
            Ok(json!({"image": image, "image_name": name, "dockerfile": dockerfile.display().to_string(), "commands": cmds}))
        })
        .await
    }

    /// `scan_image`.
    pub async fn scan_image(
        &self,
        p: StepParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        self.run_step(
            Step::ScanImage,
            &p.session_id,
            &p.fix,
            ctx,
            |st| async move {
                let image = need(built_image(&st), Step::ScanImage, "a built image")?;
                let repo = need(repo_of(&st), Step::ScanImage, "a repository")?;
                let trivy = self.config.exec.trivy.clone();
                let cmds = self
                    .commands(
                        &repo,
                        vec![(
                            trivy,
                            vec![
                                "image".into(),
                                "--quiet".into(),
                                "--format".into(),
                                "json".into(),
                                image.clone(),
                            ],
                        )],
                    )
                    .await?;
                let counts = cmds
                    .first()
                    .filter(|c| c.executed)
                    .map(|c| severity_counts(&c.stdout));
                Ok(json!({"image": image, "vulnerabilities": counts, "commands": cmds}))
            },
        )
        .await
    }

    /// `tag_image`.
    pub async fn tag_image(
        &self,
        p: TagParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        let tag = p.tag.trim().to_owned();
        if tag.is_empty()
            || tag.len() > 128
            || !tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(ToolError::invalid(format!(
                "tag {:?} is not a valid image tag (1-128 of A-Z a-z 0-9 . _ -)",
                p.tag
            )));
        }
        self.run_step(
            Step::TagImage,
            &p.session_id,
            &p.fix,
            ctx,
            |st| async move {
                let image = need(built_image(&st), Step::TagImage, "a built image")?;
                let repo = need(repo_of(&st), Step::TagImage, "a repository")?;
                let name = image
                    .rsplit_once(':')
                    .map_or(image.as_str(), |(n, _)| n)
                    .to_owned();
                let target = format!("{name}:{tag}");
                let engine = self.config.exec.container_engine.clone();
                let cmds = self
                    .commands(
                        &repo,
                        vec![(engine, vec!["tag".into(), image.clone(), target.clone()])],
                    )
                    .await?;
                Ok(json!({"source": image, "target": target, "tag": tag, "commands": cmds}))
            },
        )
        .await
    }

    /// `push_image`.
    pub async fn push_image(
        &self,
        p: PushParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        let registry = p
            .registry
            .as_deref()
            .map(|r| r.trim().trim_end_matches('/').to_owned())
            .filter(|r| !r.is_empty());
        if let Some(r) = &registry {
            if r.contains(char::is_whitespace) || r.contains("://") {
                return Err(ToolError::invalid(format!(
                    "registry {r:?} must be a host[/namespace], without a scheme"
                )));
            }
        }
        self.run_step(
            Step::PushImage,
            &p.session_id,
            &p.fix,
            ctx,
            |st| async move {
                let tagged = st
                    .artifacts
                    .get("tag_result")
                    .and_then(|t| t.get("target"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let source = need(
                    tagged.or_else(|| built_image(&st)),
                    Step::PushImage,
                    "a tagged image",
                )?;
                let repo = need(repo_of(&st), Step::PushImage, "a repository")?;
                let engine = self.config.exec.container_engine.clone();
                let (target, mut cmds) = match &registry {
                    Some(r) => {
                        let base = source.rsplit('/').next().unwrap_or(&source);
                        let target = format!("{r}/{base}");
                        (
                            target.clone(),
                            vec![(engine.clone(), vec!["tag".into(), source.clone(), target])],
                        )
                    }
                    None => (source.clone(), Vec::new()),
                };
                cmds.push((engine, vec!["push".into(), target.clone()]));
                let cmds = self.commands(&repo, cmds).await?;
                Ok(json!({"image": target, "registry": registry, "commands": cmds}))
            },
        )
        .await
    }

    /// `generate_k8s_manifests`.
    pub async fn generate_k8s_manifests(
        &self,
        p: ManifestParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        self.check_content("manifests", &p.manifests)?;
        self.run_step(Step::GenerateK8sManifests, &p.session_id, &p.fix, ctx, |st| async move {
            let repo = need(repo_of(&st), Step::GenerateK8sManifests, "a repository")?;
            let app = image_name(&st, &repo);
            let image = deployable_image(&st).unwrap_or_else(|| format!("{app}:latest"));
            let (content, generated) = match p.manifests {
                Some(m) => (m, false),
                None => {
                    let a: AnalyzeResult = need(st.artifact(Step::AnalyzeRepository), Step::GenerateK8sManifests, "the repository analysis")?;
                    (generate::k8s_manifests(&app, &image, a.port), true)
                }
            };
            let path = repo.join("k8s").join(format!("{app}.yaml"));
            let w = write_file(&path, &content).map_err(|e| Failure::Ran(format!("cannot write {}: {e}", path.display())))?;
            Ok(json!({"path": w.path, "backup": w.backup, "changed": w.changed, "generated": generated, "app": app, "image": image, "content": content}))
        })
        .await
    }

    /// `prepare_cluster`.
    pub async fn prepare_cluster(
        &self,
        p: StepParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        self.run_step(Step::PrepareCluster, &p.session_id, &p.fix, ctx, |st| async move {
            let repo = need(repo_of(&st), Step::PrepareCluster, "a repository")?;
            let x = &self.config.exec;
            // A reachable current context is used as it is; otherwise a local kind cluster.
            if !x.dry_run {
                if let Ok(info) = exec::run(x, &x.kubectl, &["cluster-info".into()], &repo).await {
                    return Ok(json!({"cluster": "current-context", "created": false, "commands": [info]}));
                }
            }
            let mut cmds = vec![(x.kind.clone(), vec!["create".into(), "cluster".into(), "--name".into(), "container-kit".into()])];
            if let Some(image) = deployable_image(&st) {
                cmds.push((x.kind.clone(), vec!["load".into(), "docker-image".into(), image, "--name".into(), "container-kit".into()]));
            }
            let cmds = self.commands(&repo, cmds).await?;
            // In dry-run nothing was created: the commands are only recorded.
            let created = cmds.iter().all(|c| c.executed);
            Ok(json!({"cluster": "kind-container-kit", "created": created, "commands": cmds}))
        })
        .await
    }

    /// `deploy_application`.
    pub async fn deploy_application(
        &self,
        p: StepParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        self.run_step(
            Step::DeployApplication,
            &p.session_id,
            &p.fix,
            ctx,
            |st| async move {
                let repo = need(repo_of(&st), Step::DeployApplication, "a repository")?;
                let manifest = need(
                    st.artifacts
                        .get("k8s_result")
                        .and_then(|k| k.get("path"))
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    Step::DeployApplication,
                    "Kubernetes manifests",
                )?;
                let kubectl = self.config.exec.kubectl.clone();
                let cmds = self
                    .commands(
                        &repo,
                        vec![(kubectl, vec!["apply".into(), "-f".into(), manifest.clone()])],
                    )
                    .await?;
                Ok(json!({"manifest": manifest, "commands": cmds}))
            },
        )
        .await
    }

    /// `verify_deployment`.
    pub async fn verify_deployment(
        &self,
        p: StepParams,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        self.run_step(
            Step::VerifyDeployment,
            &p.session_id,
            &p.fix,
            ctx,
            |st| async move {
                let repo = need(repo_of(&st), Step::VerifyDeployment, "a repository")?;
                need(
                    st.artifacts.get("deploy_result"),
                    Step::VerifyDeployment,
                    "a deployment",
                )?;
                let app = st
                    .artifacts
                    .get("k8s_result")
                    .and_then(|k| k.get("app"))
                    .and_then(Value::as_str)
                    .map_or_else(|| image_name(&st, &repo), str::to_owned);
                let kubectl = self.config.exec.kubectl.clone();
                let cmds = self
                    .commands(
                        &repo,
                        vec![
                            (
                                kubectl.clone(),
                                vec![
                                    "rollout".into(),
                                    "status".into(),
                                    format!("deployment/{app}"),
                                    "--timeout=120s".into(),
                                ],
                            ),
                            (
                                kubectl,
                                vec![
                                    "get".into(),
                                    "pods".into(),
                                    "-l".into(),
                                    format!("app={app}"),
                                    "-o".into(),
                                    "wide".into(),
                                ],
                            ),
                        ],
                    )
                    .await?;
                // Ready only when the rollout was really waited for, not in dry-run.
                let ready = cmds.iter().all(|c| c.executed);
                Ok(json!({"app": app, "ready": ready, "commands": cmds}))
            },
        )
        .await
    }

    /// Runs one step by its enum, with default parameters (for `start_workflow` with `run`).
    async fn run_default_step(
        &self,
        step: Step,
        id: &str,
        ctx: &CallContext,
    ) -> Result<StepResult, ToolError> {
        let sp = || StepParams {
            session_id: id.into(),
            fix: FixParams::default(),
        };
        match step {
            Step::AnalyzeRepository => {
                let st = self
                    .workflow_status(SessionParams {
                        session_id: id.into(),
                    })
                    .await?;
                self.analyze_repository(
                    AnalyzeParams {
                        session_id: id.into(),
                        repo_path: st.repo_path,
                        fix: FixParams::default(),
                    },
                    ctx,
                )
                .await
            }
            Step::GenerateDockerfile => {
                self.generate_dockerfile(
                    DockerfileParams {
                        session_id: id.into(),
                        dockerfile_content: None,
                        fix: FixParams::default(),
                    },
                    ctx,
                )
                .await
            }
            Step::BuildImage => self.build_image(sp(), ctx).await,
            Step::ScanImage => self.scan_image(sp(), ctx).await,
            Step::TagImage => {
                self.tag_image(
                    TagParams {
                        session_id: id.into(),
                        tag: "latest".into(),
                        fix: FixParams::default(),
                    },
                    ctx,
                )
                .await
            }
            Step::PushImage => {
                self.push_image(
                    PushParams {
                        session_id: id.into(),
                        registry: None,
                        fix: FixParams::default(),
                    },
                    ctx,
                )
                .await
            }
            Step::GenerateK8sManifests => {
                self.generate_k8s_manifests(
                    ManifestParams {
                        session_id: id.into(),
                        manifests: None,
                        fix: FixParams::default(),
                    },
                    ctx,
                )
                .await
            }
            Step::PrepareCluster => self.prepare_cluster(sp(), ctx).await,
            Step::DeployApplication => self.deploy_application(sp(), ctx).await,
            Step::VerifyDeployment => self.verify_deployment(sp(), ctx).await,
        }
    }

    /// `start_workflow`: creates the session (or continues an existing workflow for the same
    /// repository), and with `run: true` runs every remaining step in order.
    pub async fn start_workflow(
        &self,
        p: StartWorkflowParams,
        ctx: &CallContext,
    ) -> Result<StartWorkflowResult, ToolError> {
        let repo = self.check_repo_path(&p.repo_path, ctx)?;
        let repo_str = repo.display().to_string();
        let id = match &p.session_id {
            Some(raw) => Toolbox::session_id(raw)?,
            None => SessionId::generate()?,
        };
        let created = match self
            .sessions
            .create_with(&id, |s| {
                s.stage = "workflow".into();
                s.labels.insert("source".into(), "mcp".into());
            })
            .await
        {
            Ok(_) => true,
            Err(StoreError::AlreadyExists(_)) => false,
            Err(e) => return Err(e.into()),
        };
        let (_, state) = self
            .sessions
            .update(&id, |s| {
                let st = match WorkflowState::from_session(s)
                    .map_err(|e| StoreError::Rejected(e.message))?
                {
                    Some(st) if st.repo_path == repo_str || st.repo_path.is_empty() => {
                        WorkflowState {
                            repo_path: repo_str.clone(),
                            ..st
                        }
                    }
                    Some(st) => {
                        return Err(StoreError::Rejected(format!(
                        "session {} already runs a workflow for {}; use another session_id for {}",
                        s.id, st.repo_path, repo_str
                    )))
                    }
                    None => WorkflowState::new(id.as_str(), &repo_str),
                };
                if s.stage.is_empty() {
                    s.stage = "workflow".into();
                }
                st.store_into(s);
                Ok(st)
            })
            .await
            .map_err(|e| match e {
                StoreError::Rejected(m) => ToolError::invalid(m),
                other => other.into(),
            })?;
        let mut steps_run = Vec::new();
        let mut state = state;
        if p.run.unwrap_or(false) {
            let total = Step::ALL.len() as f64;
            while let Some(step) = state.next_step() {
                ctx.progress(
                    step.index() as f64,
                    total,
                    format!("step {} of 10: {}", step.index() + 1, step.name()),
                )
                .await;
                self.run_default_step(step, id.as_str(), ctx).await?;
                steps_run.push(step.name().to_owned());
                let cur = self.sessions.get(&id).await?;
                state = WorkflowState::from_session(&cur.value)?.unwrap_or_default();
            }
            ctx.progress(total, total, "workflow complete".into()).await;
        }
        Ok(StartWorkflowResult {
            session_id: id.to_string(),
            repo_path: repo_str,
            status: status_name(state.status),
            next_step: state.next_step().map(|s| s.name().to_owned()),
            steps_run,
            progress_percent: state.progress_percent(),
            created,
        })
    }

    /// `workflow_status`: reads without locking; an unknown id is an error.
    pub async fn workflow_status(
        &self,
        p: SessionParams,
    ) -> Result<WorkflowStatusResult, ToolError> {
        let id = Toolbox::session_id(&p.session_id)?;
        let cur = self.sessions.get(&id).await?;
        let st = WorkflowState::from_session(&cur.value)?.ok_or_else(|| {
            ToolError::invalid(format!(
                "session {id} holds no workflow; call start_workflow"
            ))
            .with_next("start_workflow")
        })?;
        let steps = Step::ALL
            .iter()
            .map(|s| StepStatus {
                name: s.name().into(),
                status: if st.is_completed(*s) {
                    "completed"
                } else if st.failed_steps.iter().any(|f| f == s.name()) {
                    "failed"
                } else if st.is_skipped(*s) {
                    "skipped"
                } else {
                    "pending"
                }
                .into(),
            })
            .collect();
        Ok(WorkflowStatusResult {
            session_id: id.to_string(),
            repo_path: st.repo_path.clone(),
            status: status_name(st.status),
            current_step: st.current_step.clone(),
            progress_percent: st.progress_percent(),
            steps,
            next_step: st.next_step().map(|s| s.name().to_owned()),
            error: st.error.as_ref().and_then(|e| serde_json::to_value(e).ok()),
            artifacts: st.artifacts.keys().cloned().collect(),
            version: cur.version.get(),
        })
    }

    /// `list_sessions`.
    pub async fn list_sessions(
        &self,
        p: ListSessionsParams,
    ) -> Result<ListSessionsResult, ToolError> {
        let status = p
            .status
            .as_deref()
            .map(str::parse::<SessionStatus>)
            .transpose()
            .map_err(ToolError::invalid)?;
        let label = p
            .label
            .as_deref()
            .map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| ToolError::invalid(format!("label {l:?} must be key=value")))
            })
            .transpose()?;
        let after = p.cursor.as_deref().map(Toolbox::session_id).transpose()?;
        let limit = p.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ToolError::invalid(format!(
                "limit {limit} must be between 1 and 1000"
            )));
        }
        let page = self
            .sessions
            .list(&ScanQuery {
                status,
                label,
                id_prefix: p.prefix,
                after,
                limit,
            })
            .await?;
        let now = self.sessions.now();
        let sessions = page
            .items
            .into_iter()
            .map(|s| {
                let wf = WorkflowState::from_session(&s.value).ok().flatten();
                let v = &s.value;
                SessionSummary {
                    session_id: v.id.to_string(),
                    status: v.status.as_str().into(),
                    expired: v.is_expired_at(now),
                    stage: v.stage.clone(),
                    created_at: v.created_at.to_rfc3339(),
                    updated_at: v.updated_at.to_rfc3339(),
                    expires_at: v.expires_at.to_rfc3339(),
                    workflow_status: wf.as_ref().map(|w| status_name(w.status)),
                    current_step: wf.map(|w| w.current_step),
                    labels: v.labels.clone(),
                    version: s.version.get(),
                }
            })
            .collect();
        Ok(ListSessionsResult {
            sessions,
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        })
    }

    /// `get_session`.
    pub async fn get_session(&self, p: SessionParams) -> Result<GetSessionResult, ToolError> {
        let id = Toolbox::session_id(&p.session_id)?;
        let s = self.sessions.get(&id).await?;
        Ok(GetSessionResult {
            session_id: id.to_string(),
            version: s.version.get(),
            session: serde_json::to_value(&s.value).unwrap_or(Value::Null),
        })
    }

    /// `delete_session`.
    pub async fn delete_session(&self, p: SessionParams) -> Result<DeleteSessionResult, ToolError> {
        let id = Toolbox::session_id(&p.session_id)?;
        // Take the lock so a running step finishes (or the wait times out) before deletion.
        let guard = self.sessions.lock(&id).await?;
        self.sessions.delete(&id).await?;
        drop(guard);
        Ok(DeleteSessionResult {
            session_id: id.to_string(),
            deleted: true,
        })
    }
}

fn status_name(s: WorkflowStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn repo_of(st: &WorkflowState) -> Option<PathBuf> {
    Some(PathBuf::from(&st.repo_path)).filter(|p| !st.repo_path.is_empty() && p.is_dir())
}

fn image_name(st: &WorkflowState, repo: &Path) -> String {
    st.artifact::<AnalyzeResult>(Step::AnalyzeRepository)
        .map(|a| a.app_name)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            crate::analyze::sanitize_name(
                repo.file_name().and_then(|n| n.to_str()).unwrap_or("app"),
            )
        })
}

fn built_image(st: &WorkflowState) -> Option<String> {
    st.artifacts
        .get("build_result")
        .and_then(|b| b.get("image"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn deployable_image(st: &WorkflowState) -> Option<String> {
    ["push_result", "tag_result", "build_result"]
        .iter()
        .find_map(|k| {
            let a = st.artifacts.get(*k)?;
            a.get("image")
                .or_else(|| a.get("target"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

/// Counts trivy's findings by severity from its JSON report.
fn severity_counts(report: &str) -> Value {
    let mut counts = serde_json::Map::new();
    if let Ok(v) = serde_json::from_str::<Value>(report) {
        for result in v
            .get("Results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for vuln in result
                .get("Vulnerabilities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let sev = vuln
                    .get("Severity")
                    .and_then(Value::as_str)
                    .unwrap_or("UNKNOWN")
                    .to_owned();
                let n = counts.get(&sev).and_then(Value::as_u64).unwrap_or(0) + 1;
                counts.insert(sev, json!(n));
            }
        }
    }
    Value::Object(counts)
}
