//! Confirmation over MCP: who asks the user before a destructive tool runs.
//!
//! - A client on protocol 2026-07-28 or later is answered with an `InputRequiredResult`: an
//!   elicitation (a boolean `confirm` in a form, the message saying what will run) and a
//!   `requestState` sealed with [`RequestStateCodec`]. The state is bound, through the
//!   associated data, to the tool, the session and the call's arguments, expires after
//!   [`STATE_TTL`], and carries a nonce that the session's `metadata.confirmations` records:
//!   a second answer with the same nonce is a replay and is refused, on every replica.
//! - An older client that declared elicitation is asked with `elicitation/create`, waiting
//!   at most [`ELICIT_WAIT`].
//! - Any other client gets the dispatcher's `confirmation_required` tool error.
//!
//! The sealing key comes from `--request-state-key-file` (every replica must share it);
//! without one a random key per process is used, and a state sealed by another process is
//! refused with a message saying to share the key.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use mcp_tools::{find_tool, ConfirmAnswer, ConfirmRequest, Confirmer, ToolError, ToolErrorKind};
use rmcp::model::{
    ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema,
    InputRequest, InputRequests, InputRequiredResult, InputResponses, ProtocolVersion,
    RequestStateCodec, SealOptions,
};
use rmcp::service::{Peer, RequestContext, RoleServer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long a sealed confirmation state may be answered.
pub(crate) const STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// How long an `elicitation/create` waits for the user.
pub(crate) const ELICIT_WAIT: Duration = Duration::from_secs(5 * 60);
/// The key of the confirmation in `inputRequests` / `inputResponses`.
pub(crate) const INPUT_KEY: &str = "confirm";
/// The boolean field of the elicitation form.
const FIELD: &str = "confirm";

/// The server's sealing key and what it knows about it.
pub(crate) struct Confirmations {
    codec: RequestStateCodec,
    /// The key came from a file shared by the replicas (not made up by this process).
    shared: bool,
}

/// What a sealed confirmation state holds.
#[derive(Serialize, Deserialize)]
struct Sealed {
    tool: String,
    session_id: String,
    nonce: String,
}

impl Confirmations {
    /// A codec over `key` (at least 32 bytes; `None`: a random per-process key).
    ///
    /// # Errors
    /// A key shorter than 32 bytes, or no randomness for the default key.
    pub(crate) fn new(key: Option<Vec<u8>>) -> anyhow::Result<Confirmations> {
        let shared = key.is_some();
        let key = match key {
            Some(k) => k,
            None => random_bytes(32)?,
        };
        let codec = RequestStateCodec::try_new(key).map_err(|e| {
            anyhow::anyhow!("--request-state-key-file: {e}; write at least 32 random bytes into it (e.g. head -c 32 /dev/urandom)")
        })?;
        Ok(Confirmations { codec, shared })
    }

    /// Who asks the user on this call, or the refusal of a retry whose state is not good.
    pub(crate) fn prepare(
        &self,
        name: &str,
        args: &Value,
        request_state: Option<&str>,
        input_responses: Option<&InputResponses>,
        context: &RequestContext<RoleServer>,
    ) -> Result<Prepared, ToolError> {
        let destructive = find_tool(name).is_some_and(|t| t.destructive);
        let modern = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str());
        if !modern {
            let form = context
                .peer
                .supported_elicitation_modes()
                .contains(&rmcp::service::ElicitationMode::Form);
            let confirmer = form.then(|| {
                Arc::new(Elicit {
                    peer: context.peer.clone(),
                }) as Arc<dyn Confirmer>
            });
            return Ok(Prepared {
                confirmer,
                ask: None,
            });
        }
        let elicitation = context
            .client_capabilities()
            .is_some_and(|c| c.elicitation.is_some());
        if !elicitation {
            return Ok(Prepared::unable(
                "this client declared no elicitation capability",
            ));
        }
        if !destructive {
            // No server-to-client requests on 2026-07-28: a step inside start_workflow
            // run: true cannot be asked, so the run stops there.
            return Ok(Prepared::unable(
                "a step inside start_workflow run: true cannot be asked on protocol 2026-07-28; call that step's tool directly to be asked",
            ));
        }
        let session_id = session_of(args);
        let bound = associated_data(name, &session_id, args);
        match request_state {
            None => {
                let ask = Arc::new(Ask {
                    asked: Mutex::new(None),
                });
                Ok(Prepared {
                    confirmer: Some(ask.clone()),
                    ask: Some((ask, bound)),
                })
            }
            Some(state) => {
                let sealed: Sealed = self.codec.open_json_with(state, &bound).map_err(|e| {
                    tracing::info!(tool = name, error = %e, "confirmation request state refused");
                    refused(if self.shared {
                        "it was tampered with, has expired (10 minutes), or belongs to other arguments or another tool or session"
                    } else {
                        "it was tampered with, has expired (10 minutes), belongs to other arguments, or was sealed by another server process (replicas must share one key: --request-state-key-file)"
                    })
                })?;
                if sealed.tool != name || sealed.session_id != session_id {
                    return Err(refused("it belongs to another tool or session"));
                }
                let answer = answer(input_responses)?;
                Ok(Prepared {
                    confirmer: Some(Arc::new(Answered {
                        answer,
                        nonce: sealed.nonce,
                    })),
                    ask: None,
                })
            }
        }
    }

    /// The `InputRequiredResult` asking what `prepared`'s confirmer was asked, if it was.
    pub(crate) fn input_required(&self, prepared: &Prepared) -> Option<InputRequiredResult> {
        let (ask, bound) = prepared.ask.as_ref()?;
        let request = ask
            .asked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let nonce = match random_bytes(16) {
            Ok(b) => b.iter().map(|x| format!("{x:02x}")).collect::<String>(),
            Err(e) => {
                tracing::warn!(error = %e, "no randomness for a confirmation nonce");
                return None;
            }
        };
        let sealed = Sealed {
            tool: request.tool.clone(),
            session_id: request.session_id.clone(),
            nonce,
        };
        let options = SealOptions::new().associated_data(bound).ttl(STATE_TTL);
        let state = match self.codec.seal_json_with(&sealed, &options) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot seal a confirmation state");
                return None;
            }
        };
        let mut requests = InputRequests::new();
        requests.insert(
            INPUT_KEY.into(),
            InputRequest::Elicitation(ElicitRequest::new(form(&request.message))),
        );
        Some(InputRequiredResult::new(Some(requests), Some(state)))
    }
}

/// The confirmer of one call, and (2026-07-28, first round) the question it captured.
pub(crate) struct Prepared {
    confirmer: Option<Arc<dyn Confirmer>>,
    ask: Option<(Arc<Ask>, Vec<u8>)>,
}

impl Prepared {
    /// Nobody can be asked on this call, for `why`.
    fn unable(why: &'static str) -> Prepared {
        Prepared {
            confirmer: Some(Arc::new(Unable(why))),
            ask: None,
        }
    }

    /// The confirmer to put in the call's context.
    pub(crate) fn confirmer(&self) -> Option<Arc<dyn Confirmer>> {
        self.confirmer.clone()
    }
}

/// The elicitation form: the message and one boolean `confirm`.
fn form(message: &str) -> ElicitRequestParams {
    let schema = ElicitationSchema::builder()
        .required_bool(FIELD)
        .description(format!("{message}. Set confirm to true to run it."))
        .build();
    let requested_schema = schema.unwrap_or_else(|_| ElicitationSchema::new(Default::default()));
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!("{message}. Confirm?"),
        requested_schema,
    }
}

/// The user's answer in an elicitation result: yes only for accept with `confirm: true`.
fn decide(result: &ElicitResult) -> ConfirmAnswer {
    let yes = result.action == ElicitationAction::Accept
        && result
            .content
            .as_ref()
            .and_then(|c| c.get(FIELD))
            .and_then(Value::as_bool)
            == Some(true);
    if yes {
        ConfirmAnswer::Accepted
    } else {
        ConfirmAnswer::Declined
    }
}

/// The answer a retry carries in `inputResponses.confirm`.
fn answer(responses: Option<&InputResponses>) -> Result<ConfirmAnswer, ToolError> {
    let raw = responses.and_then(|r| r.get(INPUT_KEY)).ok_or_else(|| {
        refused_with(
            "the retry carries no inputResponses.confirm answer to the confirmation",
            "answer the confirm input request and retry with its request_state",
        )
    })?;
    let result: ElicitResult = serde_json::from_value(raw.clone()).map_err(|e| {
        refused_with(
            &format!("inputResponses.confirm is not an elicitation result: {e}"),
            "answer the confirm input request with an elicitation result (action, content.confirm)",
        )
    })?;
    Ok(decide(&result))
}

fn refused(why: &str) -> ToolError {
    refused_with(
        &format!("the confirmation's request state is refused: {why}; nothing ran"),
        "call the tool again without request_state to be asked again",
    )
}

fn refused_with(message: &str, next: &str) -> ToolError {
    ToolError::new(ToolErrorKind::ConfirmationRequired, message).with_next_text(next)
}

/// What the sealed state is bound to: the tool, the session and the arguments (as
/// serde_json writes them, keys sorted), so an answer cannot be moved to another call.
fn associated_data(tool: &str, session_id: &str, args: &Value) -> Vec<u8> {
    let mut ad = format!("container-kit-mcp/confirm/v1\0{tool}\0{session_id}\0").into_bytes();
    ad.extend(serde_json::to_vec(args).unwrap_or_default());
    ad
}

fn session_of(args: &Value) -> String {
    args.get("session_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn random_bytes(n: usize) -> anyhow::Result<Vec<u8>> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(b)
}

/// First round on 2026-07-28: records the question and answers "not yet"; the handler then
/// sends the `InputRequiredResult`.
struct Ask {
    asked: Mutex<Option<ConfirmRequest>>,
}

#[async_trait]
impl Confirmer for Ask {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        *self.asked.lock().unwrap_or_else(|e| e.into_inner()) = Some(request.clone());
        Err("the client is asked with an input_required result".into())
    }
}

/// Nobody can be asked; the text says why.
struct Unable(&'static str);

#[async_trait]
impl Confirmer for Unable {
    async fn confirm(&self, _: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        Err(self.0.to_owned())
    }
}

/// The retry on 2026-07-28: the answer it carried, with the sealed nonce.
struct Answered {
    answer: ConfirmAnswer,
    nonce: String,
}

#[async_trait]
impl Confirmer for Answered {
    async fn confirm(&self, _: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        Ok(self.answer)
    }

    fn channel(&self) -> &str {
        "input_required"
    }

    fn nonce(&self) -> Option<String> {
        Some(self.nonce.clone())
    }
}

/// Older clients that declared elicitation: `elicitation/create` through the peer.
struct Elicit {
    peer: Peer<RoleServer>,
}

#[async_trait]
impl Confirmer for Elicit {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        match self
            .peer
            .create_elicitation_with_timeout(form(&request.message), Some(ELICIT_WAIT))
            .await
        {
            Ok(result) => Ok(decide(&result)),
            Err(e) => Err(format!(
                "the client's elicitation failed or got no answer within {} minutes ({e})",
                ELICIT_WAIT.as_secs() / 60
            )),
        }
    }

    fn channel(&self) -> &str {
        "elicitation"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(action: ElicitationAction, content: Option<Value>) -> ElicitResult {
        let mut r = ElicitResult::new(action);
        r.content = content;
        r
    }

    #[test]
    fn only_accept_with_confirm_true_is_a_yes() {
        let yes = serde_json::json!({"confirm": true});
        let no = serde_json::json!({"confirm": false});
        assert_eq!(
            decide(&result(ElicitationAction::Accept, Some(yes.clone()))),
            ConfirmAnswer::Accepted
        );
        assert_eq!(
            decide(&result(ElicitationAction::Accept, Some(no))),
            ConfirmAnswer::Declined
        );
        assert_eq!(
            decide(&result(ElicitationAction::Accept, None)),
            ConfirmAnswer::Declined
        );
        assert_eq!(
            decide(&result(ElicitationAction::Decline, Some(yes.clone()))),
            ConfirmAnswer::Declined
        );
        assert_eq!(
            decide(&result(ElicitationAction::Cancel, Some(yes))),
            ConfirmAnswer::Declined
        );
    }

    #[test]
    fn a_state_opens_only_with_the_same_tool_session_and_arguments() {
        let c = Confirmations::new(Some(vec![7u8; 32])).unwrap();
        let args = serde_json::json!({"session_id": "s1", "registry": "localhost:5001"});
        let bound = associated_data("push_image", "s1", &args);
        let sealed = Sealed {
            tool: "push_image".into(),
            session_id: "s1".into(),
            nonce: "n".into(),
        };
        let options = SealOptions::new().associated_data(&bound).ttl(STATE_TTL);
        let state = c.codec.seal_json_with(&sealed, &options).unwrap();
        assert!(c.codec.open_json_with::<Sealed>(&state, &bound).is_ok());
        let other = serde_json::json!({"session_id": "s1", "registry": "ghcr.io/x"});
        assert!(c
            .codec
            .open_json_with::<Sealed>(&state, &associated_data("push_image", "s1", &other))
            .is_err());
        assert!(c
            .codec
            .open_json_with::<Sealed>(&state, &associated_data("deploy_application", "s1", &args))
            .is_err());
        let another_process = Confirmations::new(None).unwrap();
        assert!(another_process
            .codec
            .open_json_with::<Sealed>(&state, &bound)
            .is_err());
    }

    #[test]
    fn a_short_key_is_refused_with_what_to_do() {
        let e = Confirmations::new(Some(vec![1u8; 8]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("32"), "{e}");
    }
}
