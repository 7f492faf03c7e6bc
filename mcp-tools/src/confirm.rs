//! Confirmation before a destructive step: what the dispatcher asks ([`ConfirmRequest`]),
//! the user's answer ([`ConfirmAnswer`]) and who asks ([`Confirmer`]: the MCP server through
//! elicitation or an input-required round trip, the CLI `tool` mode on the terminal).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use session_core::{SessionGuard, SessionId, StoreError};

use crate::error::{ToolError, ToolErrorKind};
use crate::state::{Step, WorkflowState};
use crate::steps::generate_k8s_manifests::ManifestArtifact;
use crate::steps::tag_image::TagArtifact;
use crate::steps::{artifact, built_image, deployable_image};
use crate::toolbox::{CallContext, Toolbox};

/// One question: may `tool` run on `session_id`? `message` says exactly what will run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfirmRequest {
    /// The destructive tool about to run.
    pub tool: String,
    /// The session it runs on.
    pub session_id: String,
    /// What will run (image and registry, cluster, manifests and namespace, session).
    pub message: String,
}

/// The user's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmAnswer {
    /// Go ahead.
    Accepted,
    /// Do not run it.
    Declined,
}

/// Asks the user before a destructive step.
#[async_trait]
pub trait Confirmer: Send + Sync {
    /// Ask the user. Err(text): nobody can be asked (the text says why).
    async fn confirm(&self, request: &ConfirmRequest) -> Result<ConfirmAnswer, String>;

    /// How the user was asked, recorded as the decision's `reason` (`elicitation`,
    /// `input_required`, `terminal`, `yes_flag`, …). Default: `confirmer`.
    fn channel(&self) -> &str {
        "confirmer"
    }

    /// The one-time nonce of this answer, when it arrived in a sealed request state: it is
    /// recorded with the decision, and a decision whose nonce is already recorded is refused
    /// (a replay). Default: none.
    fn nonce(&self) -> Option<String> {
        None
    }
}

/// When the destructive tools ask first (`--confirm`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConfirmPolicy {
    /// Ask before push_image, prepare_cluster, deploy_application and delete_session.
    #[default]
    Destructive,
    /// Never ask (automation); the decision is recorded as skipped, reason `confirm_never`.
    Never,
}

impl ConfirmPolicy {
    /// The `--confirm` value: `destructive` or `never`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmPolicy::Destructive => "destructive",
            ConfirmPolicy::Never => "never",
        }
    }
}

/// The most decisions `metadata.confirmations` keeps (the oldest are dropped), as
/// `metadata.step_history` keeps step runs.
pub(crate) const CONFIRMATIONS_CAP: usize = 100;

/// What was decided before a destructive tool ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Decision {
    /// The user said yes: the tool ran.
    Accepted,
    /// The user said no: nothing ran.
    Declined,
    /// Nobody was asked (dry run, `--confirm never`): the tool ran.
    Skipped,
}

/// One entry of `metadata.confirmations`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ConfirmationRecord {
    /// The destructive tool.
    pub(crate) tool: String,
    /// What was decided.
    pub(crate) decision: Decision,
    /// Why: `dry_run` or `confirm_never` for a skip; how the user was asked otherwise.
    pub(crate) reason: String,
    /// When (RFC 3339, UTC).
    pub(crate) at: String,
    /// The one-time nonce of the answer, when it came in a sealed request state (a second
    /// answer with the same nonce is a replay and is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) nonce: Option<String>,
}

/// Before `delete_session` (the destructive tool that is no step) deletes `session_id`:
/// decide, record the decision in the session in one versioned update, and return `Ok` when
/// it may run. The step tools decide under their session lock instead ([`under_lock`]).
///
/// A session that does not exist is not asked about: the tool's own error says so.
///
/// # Errors
/// `ConfirmationRequired` (nobody could be asked, or the answer's nonce was used before) and
/// `ConfirmationDeclined` (the user said no; the decision is recorded, nothing ran), or the
/// store's error while recording.
pub(crate) async fn gate(
    tools: &Toolbox,
    tool: &str,
    session_id: &str,
    ctx: &CallContext,
) -> Result<(), ToolError> {
    let Ok(id) = SessionId::new(session_id) else {
        return Ok(());
    };
    let Ok(current) = tools.sessions().get(&id).await else {
        return Ok(());
    };
    let state = WorkflowState::from_session(&current.value).ok().flatten();
    // delete_session deletes in a dry run too, so it is asked then as well.
    let record = decide(tools, tool, &id, state.as_ref(), None, false, ctx).await?;
    let value = encode(&record)?;
    tools
        .sessions()
        .try_update(&id, |s| {
            // In the workflow's metadata; in the session's own for a session without a
            // readable workflow (delete_session asks about those too).
            let mut st = WorkflowState::from_session(s).ok().flatten();
            match &mut st {
                Some(st) => append(&mut st.metadata, &record, &value)?,
                None => append(&mut s.metadata, &record, &value)?,
            }
            if let Some(st) = &st {
                st.store_into(s);
            }
            Ok::<_, ToolError>(())
        })
        .await?;
    settle(&record, &id)
}

/// A step's confirmation, decided with its session lock held and on the state read under it,
/// so what the user is asked about is what runs (no other step can change the session in
/// between). A skipped question (dry run, `--confirm never`) is returned for the step's own
/// update to record: it costs no commit. An answer — accepted or declined — is recorded now, in
/// one update, before anything runs: its nonce is then spent even if the run is cancelled, so
/// the same sealed answer cannot run the step again.
///
/// # Errors
/// As [`gate`].
pub(crate) async fn under_lock(
    tools: &Toolbox,
    step: Step,
    guard: &SessionGuard,
    state: &WorkflowState,
    registry: Option<&str>,
    ctx: &CallContext,
) -> Result<Option<Value>, ToolError> {
    let id = guard.id();
    let record = decide(tools, step.name(), id, Some(state), registry, true, ctx).await?;
    let value = encode(&record)?;
    if record.decision == Decision::Skipped {
        return Ok(Some(value));
    }
    guard
        .try_update(|s| {
            let mut st = WorkflowState::from_session(s)?
                .ok_or_else(|| ToolError::from(StoreError::NotFound(id.clone())))?;
            append(&mut st.metadata, &record, &value)?;
            st.store_into(s);
            Ok::<_, ToolError>(())
        })
        .await?;
    settle(&record, id)?;
    Ok(None)
}

/// What the user decided about `tool` on this session (nothing written): a step in a dry run
/// (`dry_run_skips`) runs nothing destructive and `--confirm never` asks nobody; otherwise
/// `ctx.confirm` is asked what [`message`] says.
async fn decide(
    tools: &Toolbox,
    tool: &str,
    id: &SessionId,
    state: Option<&WorkflowState>,
    registry: Option<&str>,
    dry_run_skips: bool,
    ctx: &CallContext,
) -> Result<ConfirmationRecord, ToolError> {
    let (decision, reason, nonce) = if dry_run_skips && tools.config().exec.dry_run {
        (Decision::Skipped, "dry_run".to_owned(), None)
    } else if tools.config().confirm == ConfirmPolicy::Never {
        (Decision::Skipped, "confirm_never".to_owned(), None)
    } else {
        let request = ConfirmRequest {
            tool: tool.to_owned(),
            session_id: id.to_string(),
            message: match state {
                Some(st) => message(tool, st, registry),
                None => {
                    format!("{tool} will delete session {id} (it holds no readable workflow state)")
                }
            },
        };
        let Some(confirmer) = &ctx.confirm else {
            return Err(required(
                tool,
                "this client cannot be asked (it declared no elicitation)",
            ));
        };
        let decision = match confirmer.confirm(&request).await {
            Ok(ConfirmAnswer::Accepted) => Decision::Accepted,
            Ok(ConfirmAnswer::Declined) => Decision::Declined,
            Err(why) => return Err(required(tool, &why)),
        };
        (decision, confirmer.channel().to_owned(), confirmer.nonce())
    };
    Ok(ConfirmationRecord {
        tool: tool.to_owned(),
        decision,
        reason,
        at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        nonce,
    })
}

/// The decision logged, and a declined one turned into its error (nothing ran).
fn settle(record: &ConfirmationRecord, id: &SessionId) -> Result<(), ToolError> {
    tracing::info!(session_id = %id, tool = %record.tool, decision = ?record.decision, reason = %record.reason, "confirmation recorded");
    if record.decision == Decision::Declined {
        return Err(ToolError::new(
            ToolErrorKind::ConfirmationDeclined,
            format!("the user declined {} on session {id}: nothing ran; the decision is recorded in the session's metadata.confirmations", record.tool),
        ));
    }
    Ok(())
}

fn encode(record: &ConfirmationRecord) -> Result<Value, ToolError> {
    serde_json::to_value(record)
        .map_err(|e| ToolError::internal(format!("cannot encode the confirmation: {e}")))
}

/// Appends `value` (the encoded `record`) to `metadata.confirmations`, keeping the last
/// [`CONFIRMATIONS_CAP`], refusing an answer whose nonce an earlier record holds (a replayed
/// confirmation).
pub(crate) fn append(
    metadata: &mut serde_json::Map<String, Value>,
    record: &ConfirmationRecord,
    value: &Value,
) -> Result<(), ToolError> {
    if let Some(nonce) = &record.nonce {
        let used = metadata
            .get("confirmations")
            .and_then(Value::as_array)
            .is_some_and(|list| {
                list.iter()
                    .any(|r| r.get("nonce").and_then(Value::as_str) == Some(nonce.as_str()))
            });
        if used {
            return Err(ToolError::new(
                ToolErrorKind::ConfirmationRequired,
                format!("this confirmation of {} was already used (a replayed request state): nothing ran; call the tool again without request_state to be asked again", record.tool),
            ));
        }
    }
    push(metadata, value.clone());
    Ok(())
}

/// Appends an encoded record with no nonce to check (a skipped question) to
/// `metadata.confirmations`, keeping the last [`CONFIRMATIONS_CAP`].
pub(crate) fn push(metadata: &mut serde_json::Map<String, Value>, value: Value) {
    let mut list = match metadata.remove("confirmations") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    list.push(value);
    let excess = list.len().saturating_sub(CONFIRMATIONS_CAP);
    list.drain(..excess);
    metadata.insert("confirmations".into(), Value::Array(list));
}

fn required(tool: &str, why: &str) -> ToolError {
    ToolError::new(
        ToolErrorKind::ConfirmationRequired,
        format!(
            "{tool} needs the user's confirmation and nobody could be asked: {why}; nothing ran"
        ),
    )
}

/// What `tool` will do on this workflow, in the user's terms: the image and registry of a
/// push, the cluster of a prepare, the manifests and namespace of a deploy, the session of a
/// delete.
pub(crate) fn message(tool: &str, st: &WorkflowState, registry: Option<&str>) -> String {
    let session = &st.session_id;
    match Step::from_name(tool) {
        Some(Step::PushImage) => {
            let source = artifact::<TagArtifact>(st)
                .map(|t| t.target)
                .filter(|t| !t.is_empty())
                .or_else(|| built_image(st))
                .unwrap_or_else(|| "(no image built yet)".into());
            // As push_image names its target: <registry>/<name>:<tag> with a registry.
            let registry = registry
                .map(|r| r.trim().trim_end_matches('/'))
                .filter(|r| !r.is_empty());
            let (target, destination) = match registry {
                Some(r) => {
                    let base = source.rsplit('/').next().unwrap_or(&source);
                    (format!("{r}/{base}"), r.to_owned())
                }
                None => (source.clone(), image_host(&source).to_owned()),
            };
            format!("push_image will push the image {target} of session {session} to the registry {destination}")
        }
        Some(Step::PrepareCluster) => {
            let image = deployable_image(st).map_or(String::new(), |i| format!(" and load the image {i} into it"));
            format!("prepare_cluster will use the current kubectl context when it is reachable, otherwise create the kind cluster kind-container-kit{image} (session {session})")
        }
        Some(Step::DeployApplication) => {
            let manifests = artifact::<ManifestArtifact>(st);
            let target = match &manifests {
                Some(m) => match m.overlays.first() {
                    Some(o) => format!("kubectl apply -k {o}"),
                    None => format!("kubectl apply -f {}", m.path),
                },
                None => "kubectl apply of the session's manifests (none generated yet)".into(),
            };
            let input = crate::policy::PolicyInput::from_state(tool, st, Value::Null);
            let namespace = input
                .manifests
                .iter()
                .find_map(|m| m.pointer("/metadata/namespace").and_then(Value::as_str))
                .unwrap_or("default");
            let image = manifests.map_or(String::new(), |m| format!(", image {}", m.image));
            format!("deploy_application will run {target} on the current kubectl context, namespace {namespace}{image} (session {session})")
        }
        _ => format!(
            "{tool} will delete session {session} (repository {}, {} of {} steps completed) and its workflow state",
            st.repo_path,
            st.completed_steps.len(),
            Step::ALL.len()
        ),
    }
}

/// The registry host a reference names: its first component when that looks like a host,
/// else Docker Hub.
fn image_host(reference: &str) -> &str {
    match reference.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => "docker.io",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use session_core::{MemoryStore, Sessions, SessionsConfig};

    use super::*;
    use crate::toolbox::ToolboxConfig;

    #[test]
    fn the_record_keeps_the_last_hundred_decisions_and_refuses_a_spent_nonce() {
        let mut metadata = serde_json::Map::new();
        let record = |n: usize| ConfirmationRecord {
            tool: "push_image".into(),
            decision: Decision::Declined,
            reason: "test".into(),
            at: String::new(),
            nonce: Some(format!("n{n}")),
        };
        for n in 0..CONFIRMATIONS_CAP + 5 {
            let r = record(n);
            append(&mut metadata, &r, &encode(&r).unwrap()).unwrap();
        }
        let list = metadata["confirmations"].as_array().unwrap().clone();
        assert_eq!(list.len(), CONFIRMATIONS_CAP);
        assert_eq!(list[0]["nonce"], "n5", "the oldest are dropped");
        assert_eq!(
            list[CONFIRMATIONS_CAP - 1]["nonce"],
            format!("n{}", CONFIRMATIONS_CAP + 4)
        );
        let again = record(CONFIRMATIONS_CAP);
        let e = append(&mut metadata, &again, &encode(&again).unwrap()).unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::ConfirmationRequired);
        assert_eq!(
            metadata["confirmations"].as_array().unwrap().len(),
            CONFIRMATIONS_CAP
        );
    }

    struct No;

    #[async_trait]
    impl Confirmer for No {
        async fn confirm(&self, _: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
            Ok(ConfirmAnswer::Declined)
        }
    }

    #[test]
    fn a_session_without_a_workflow_is_asked_about_before_deletion_and_records_in_its_metadata() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let tools = Toolbox::new(
                Sessions::new(Arc::new(MemoryStore::new()), SessionsConfig::default()),
                ToolboxConfig::default(),
            );
            let id = SessionId::new("bare").unwrap();
            tools.sessions().create(&id).await.unwrap();
            let ctx = CallContext {
                confirm: Some(Arc::new(No)),
                ..CallContext::default()
            };
            let args = serde_json::json!({"session_id": "bare"});
            let e = tools
                .call("delete_session", args.clone(), &ctx)
                .await
                .unwrap_err();
            assert_eq!(e.kind, ToolErrorKind::ConfirmationDeclined);
            let current = tools.sessions().get(&id).await.unwrap();
            assert_eq!(
                current.value.metadata["confirmations"][0]["decision"],
                "declined"
            );
            // Nobody to ask: refused as well, never deleted unasked.
            let e = tools
                .call("delete_session", args, &CallContext::default())
                .await
                .unwrap_err();
            assert_eq!(e.kind, ToolErrorKind::ConfirmationRequired);
            assert!(tools.sessions().get(&id).await.is_ok());
        });
    }

    #[test]
    fn a_reference_names_its_registry_host_or_docker_hub() {
        assert_eq!(image_host("localhost:5001/web:1"), "localhost:5001");
        assert_eq!(image_host("ghcr.io/acme/web:1"), "ghcr.io");
        assert_eq!(image_host("acme/web:1"), "docker.io");
        assert_eq!(image_host("web:1"), "docker.io");
    }
}
