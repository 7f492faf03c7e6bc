//! Confirmation before the destructive tools (issue 20): the dispatcher asks the context's
//! confirmer, runs nothing on a no, and records every decision in the session.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use mcp_tools::{ConfirmAnswer, ConfirmPolicy, ConfirmRequest, Confirmer, ToolErrorKind};
use serde_json::json;

use super::cli::{exec_with, stand_ins};
use super::*;

/// Answers `answer` (or fails with `Err` when `None`), counting and keeping the questions.
struct Scripted {
    answer: Option<ConfirmAnswer>,
    nonce: Option<String>,
    asked: AtomicUsize,
    last: std::sync::Mutex<Option<ConfirmRequest>>,
}

impl Scripted {
    fn new(answer: Option<ConfirmAnswer>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answer,
            nonce: None,
            asked: AtomicUsize::new(0),
            last: std::sync::Mutex::new(None),
        })
    }
}

#[async_trait]
impl Confirmer for Scripted {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        *self.last.lock().unwrap() = Some(request.clone());
        self.answer
            .ok_or_else(|| "the test confirmer has nobody to ask".to_owned())
    }

    fn channel(&self) -> &str {
        "scripted"
    }

    fn nonce(&self) -> Option<String> {
        self.nonce.clone()
    }
}

fn with(confirmer: &Arc<Scripted>) -> CallContext {
    CallContext {
        confirm: Some(confirmer.clone() as Arc<dyn Confirmer>),
        ..CallContext::default()
    }
}

/// A toolbox over stand-in programs (their calls logged) with `policy`, and a session `s`
/// whose workflow ran up to push_image.
struct Setup {
    f: Fixture,
    log: PathBuf,
    _bin: tempfile::TempDir,
}

async fn up_to_push(policy: ConfirmPolicy, dry_run: bool) -> Setup {
    let bin = tempfile::tempdir().unwrap();
    let log = stand_ins(bin.path(), &[]);
    let exec = ExecConfig {
        dry_run,
        ..exec_with(bin.path())
    };
    let dir = tempfile::tempdir().unwrap();
    let tools = Toolbox::new(
        Sessions::new(Arc::new(MemoryStore::new()), SessionsConfig::default()),
        ToolboxConfig {
            allowed_roots: vec![dir.path().to_path_buf()],
            exec,
            confirm: policy,
            ..ToolboxConfig::default()
        },
    );
    let f = Fixture { dir, tools };
    let repo = repo(f.dir.path(), "shop", "node");
    call(
        &f.tools,
        "start_workflow",
        json!({"repo_path": repo, "session_id": "s"}),
    )
    .await
    .unwrap();
    call(
        &f.tools,
        "analyze_repository",
        json!({"session_id": "s", "repo_path": repo}),
    )
    .await
    .unwrap();
    for step in ["generate_dockerfile", "build_image", "scan_image"] {
        call(&f.tools, step, json!({"session_id": "s"}))
            .await
            .unwrap();
    }
    call(
        &f.tools,
        "tag_image",
        json!({"session_id": "s", "tag": "1.0.0"}),
    )
    .await
    .unwrap();
    Setup { f, log, _bin: bin }
}

async fn state(tools: &Toolbox) -> Value {
    let s = call(tools, "get_session", json!({"session_id": "s"}))
        .await
        .unwrap()
        .structured;
    s["session"]["metadata"]["workflow_state"].clone()
}

fn calls(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

fn pushes(log: &Path) -> usize {
    calls(log)
        .lines()
        .filter(|l| l.starts_with("docker push"))
        .count()
}

#[test]
fn a_declined_push_runs_nothing_and_changes_only_the_decision_record() {
    rt().block_on(async {
        let s = up_to_push(ConfirmPolicy::Destructive, false).await;
        let before = state(&s.f.tools).await;
        let no = Scripted::new(Some(ConfirmAnswer::Declined));
        let e =
            s.f.tools
                .call(
                    "push_image",
                    json!({"session_id": "s", "registry": "localhost:5001"}),
                    &with(&no),
                )
                .await
                .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::ConfirmationDeclined, "{e:?}");
        assert_eq!(no.asked.load(Ordering::SeqCst), 1);
        let asked = no.last.lock().unwrap().clone().unwrap();
        assert!(
            asked.message.contains("to the registry localhost:5001")
                && asked.message.contains("localhost:5001/"),
            "{}",
            asked.message
        );
        assert_eq!(pushes(&s.log), 0, "{}", calls(&s.log));
        let mut after = state(&s.f.tools).await;
        let record = after["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("confirmations")
            .unwrap();
        assert_eq!(after, before, "only metadata.confirmations may change");
        assert_eq!(record.as_array().unwrap().len(), 1, "{record}");
        assert_eq!(record[0]["tool"], "push_image");
        assert_eq!(record[0]["decision"], "declined");
        assert_eq!(record[0]["reason"], "scripted");
        assert!(record[0]["at"].as_str().unwrap().ends_with('Z'), "{record}");
    });
}

#[test]
fn an_accepted_push_runs_and_is_recorded() {
    rt().block_on(async {
        let s = up_to_push(ConfirmPolicy::Destructive, false).await;
        let yes = Scripted::new(Some(ConfirmAnswer::Accepted));
        s.f.tools
            .call("push_image", json!({"session_id": "s"}), &with(&yes))
            .await
            .unwrap();
        assert_eq!(pushes(&s.log), 1, "{}", calls(&s.log));
        let asked = yes.last.lock().unwrap().clone().unwrap();
        assert_eq!(
            (asked.tool.as_str(), asked.session_id.as_str()),
            ("push_image", "s")
        );
        // The message names the image that will be pushed.
        let st = state(&s.f.tools).await;
        let tagged = st["artifacts"]["tag_result"]["target"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(asked.message.contains(&tagged), "{}", asked.message);
        assert!(
            asked.message.contains("to the registry docker.io"),
            "{}",
            asked.message
        );
        let record = &st["metadata"]["confirmations"][0];
        assert_eq!(record["decision"], "accepted", "{st}");
        assert!(st["completed_steps"]
            .as_array()
            .unwrap()
            .contains(&json!("push_image")));
    });
}

#[test]
fn nobody_to_ask_is_a_clear_error_and_changes_nothing() {
    rt().block_on(async {
        let s = up_to_push(ConfirmPolicy::Destructive, false).await;
        let before = state(&s.f.tools).await;
        for ctx in [CallContext::default(), with(&Scripted::new(None))] {
            let e =
                s.f.tools
                    .call("push_image", json!({"session_id": "s"}), &ctx)
                    .await
                    .unwrap_err();
            assert_eq!(e.kind, ToolErrorKind::ConfirmationRequired, "{e:?}");
            let text = format!("{} {}", e.message, e.next());
            assert!(text.contains("nobody could be asked"), "{text}");
            assert!(
                text.contains("--confirm never") && text.contains("elicitation"),
                "{text}"
            );
        }
        assert_eq!(pushes(&s.log), 0);
        assert_eq!(state(&s.f.tools).await, before);
    });
}

#[test]
fn confirm_never_runs_without_asking_and_records_the_skip() {
    rt().block_on(async {
        let s = up_to_push(ConfirmPolicy::Never, false).await;
        let asker = Scripted::new(Some(ConfirmAnswer::Declined));
        s.f.tools
            .call("push_image", json!({"session_id": "s"}), &with(&asker))
            .await
            .unwrap();
        assert_eq!(asker.asked.load(Ordering::SeqCst), 0);
        assert_eq!(pushes(&s.log), 1);
        let st = state(&s.f.tools).await;
        let record = &st["metadata"]["confirmations"][0];
        assert_eq!(
            (record["decision"].clone(), record["reason"].clone()),
            (json!("skipped"), json!("confirm_never"))
        );
    });
}

#[test]
fn a_dry_run_step_is_not_asked_about_and_is_recorded_as_skipped_for_it() {
    rt().block_on(async {
        let s = up_to_push(ConfirmPolicy::Destructive, true).await;
        let asker = Scripted::new(Some(ConfirmAnswer::Declined));
        for step in [
            "push_image",
            "generate_k8s_manifests",
            "prepare_cluster",
            "deploy_application",
        ] {
            s.f.tools
                .call(step, json!({"session_id": "s"}), &with(&asker))
                .await
                .unwrap_or_else(|e| panic!("{step}: {e:?}"));
        }
        assert_eq!(asker.asked.load(Ordering::SeqCst), 0);
        let st = state(&s.f.tools).await;
        let records = st["metadata"]["confirmations"].as_array().unwrap().clone();
        let tools: Vec<&str> = records
            .iter()
            .map(|r| r["tool"].as_str().unwrap())
            .collect();
        assert_eq!(
            tools,
            ["push_image", "prepare_cluster", "deploy_application"]
        );
        assert!(
            records
                .iter()
                .all(|r| r["decision"] == "skipped" && r["reason"] == "dry_run"),
            "{records:?}"
        );
        // delete_session deletes in a dry run too: it is asked.
        let e =
            s.f.tools
                .call("delete_session", json!({"session_id": "s"}), &with(&asker))
                .await
                .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::ConfirmationDeclined);
        assert_eq!(asker.asked.load(Ordering::SeqCst), 1);
        let asked = asker.last.lock().unwrap().clone().unwrap();
        assert!(
            asked.message.contains("delete session s"),
            "{}",
            asked.message
        );
        // Declined: the session is still there.
        assert!(state(&s.f.tools).await.is_object());
    });
}

#[test]
fn an_answer_whose_nonce_was_used_is_refused_as_a_replay() {
    rt().block_on(async {
        let s = up_to_push(ConfirmPolicy::Destructive, false).await;
        let once = Arc::new(Scripted {
            nonce: Some("n-1".into()),
            ..Arc::into_inner(Scripted::new(Some(ConfirmAnswer::Accepted))).unwrap()
        });
        s.f.tools
            .call("push_image", json!({"session_id": "s"}), &with(&once))
            .await
            .unwrap();
        let e =
            s.f.tools
                .call("push_image", json!({"session_id": "s"}), &with(&once))
                .await
                .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::ConfirmationRequired, "{e:?}");
        assert!(e.message.contains("already used"), "{}", e.message);
        assert_eq!(pushes(&s.log), 1, "the replay must not push again");
        let st = state(&s.f.tools).await;
        assert_eq!(st["metadata"]["confirmations"].as_array().unwrap().len(), 1);
        assert_eq!(st["metadata"]["confirmations"][0]["nonce"], "n-1");
    });
}

#[test]
fn the_deploy_question_names_the_manifests_and_the_namespace() {
    rt().block_on(async {
        let s = up_to_push(ConfirmPolicy::Destructive, false).await;
        let yes = Scripted::new(Some(ConfirmAnswer::Accepted));
        for step in ["push_image", "generate_k8s_manifests", "prepare_cluster"] {
            s.f.tools
                .call(step, json!({"session_id": "s"}), &with(&yes))
                .await
                .unwrap_or_else(|e| panic!("{step}: {e:?}"));
        }
        let cluster = yes.last.lock().unwrap().clone().unwrap();
        assert!(
            cluster.message.contains("kind-container-kit"),
            "{}",
            cluster.message
        );
        let no = Scripted::new(Some(ConfirmAnswer::Declined));
        let e =
            s.f.tools
                .call("deploy_application", json!({"session_id": "s"}), &with(&no))
                .await
                .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::ConfirmationDeclined);
        let asked = no.last.lock().unwrap().clone().unwrap();
        let st = state(&s.f.tools).await;
        let manifests = st["artifacts"]["k8s_result"]["path"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(!manifests.is_empty(), "{st}");
        assert!(asked.message.contains(&manifests), "{}", asked.message);
        assert!(
            asked.message.contains("namespace default"),
            "{}",
            asked.message
        );
        assert!(
            !calls(&s.log).contains("kubectl apply"),
            "{}",
            calls(&s.log)
        );
    });
}

#[test]
fn a_workflow_run_stops_at_the_first_destructive_step_when_nobody_can_be_asked() {
    rt().block_on(async {
        let bin = tempfile::tempdir().unwrap();
        let log = stand_ins(bin.path(), &[]);
        let f = fixture(exec_with(bin.path()));
        let repo = repo(f.dir.path(), "shop", "node");
        let e = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "w", "run": true}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::ConfirmationRequired, "{e:?}");
        assert!(calls(&log).contains("docker build"), "{}", calls(&log));
        assert_eq!(pushes(&log), 0);
        // Asked (and accepted) in the run: it goes on through every step.
        let yes = Scripted::new(Some(ConfirmAnswer::Accepted));
        f.tools
            .call(
                "start_workflow",
                json!({"repo_path": repo, "session_id": "w", "run": true}),
                &with(&yes),
            )
            .await
            .unwrap();
        assert_eq!(
            yes.asked.load(Ordering::SeqCst),
            3,
            "push, prepare and deploy are asked"
        );
        assert!(calls(&log).contains("kubectl apply"), "{}", calls(&log));
    });
}

/// Says yes after checking, while it is asked, that the session's lock is held: nothing
/// (another step, another client's tag) can change the session between the question and the
/// run, so what the user is asked about is what runs.
struct YesWhileLocked {
    tools: Toolbox,
    locked_while_asked: std::sync::Mutex<Option<bool>>,
}

#[async_trait]
impl Confirmer for YesWhileLocked {
    async fn confirm(&self, _: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        let id = session_core::SessionId::new("s").unwrap();
        let lock = tokio::time::timeout(
            std::time::Duration::from_millis(300),
            self.tools.sessions().lock(&id),
        )
        .await;
        *self.locked_while_asked.lock().unwrap() = Some(lock.is_err());
        Ok(ConfirmAnswer::Accepted)
    }
}

#[test]
fn the_question_is_asked_with_the_steps_lock_held_and_after_its_arguments_are_checked() {
    rt().block_on(async {
        let s = up_to_push(ConfirmPolicy::Destructive, false).await;
        let yes = Arc::new(YesWhileLocked {
            tools: s.f.tools.clone(),
            locked_while_asked: std::sync::Mutex::new(None),
        });
        let ctx = CallContext {
            confirm: Some(yes.clone() as Arc<dyn Confirmer>),
            ..CallContext::default()
        };
        // A registry push_image refuses is refused before anybody is asked.
        let e =
            s.f.tools
                .call(
                    "push_image",
                    json!({"session_id": "s", "registry": "https://ghcr.io/acme"}),
                    &ctx,
                )
                .await
                .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::InvalidParams, "{e:?}");
        assert_eq!(*yes.locked_while_asked.lock().unwrap(), None, "asked");
        s.f.tools
            .call("push_image", json!({"session_id": "s"}), &ctx)
            .await
            .unwrap();
        assert_eq!(
            *yes.locked_while_asked.lock().unwrap(),
            Some(true),
            "the session could be locked by someone else while the user was asked"
        );
        assert_eq!(pushes(&s.log), 1, "{}", calls(&s.log));
    });
}
