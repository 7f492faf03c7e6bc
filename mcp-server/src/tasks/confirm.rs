//! The confirmation of a destructive step that runs as a task: the task goes to
//! `input_required` with an `elicitation/create` request in its `inputRequests` (a boolean
//! `confirm` in a form), and the step waits, reading its record, until `tasks/update` (on
//! any replica) wrote the answer into `inputResponses`; then the request and its answer are
//! taken out and the task is `working` again. Cancelling the task while it waits drops the
//! step with its question (the runner sees the cancel request).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcp_tools::{ConfirmAnswer, ConfirmRequest, Confirmer};
use rmcp::model::InputRequest;
use serde_json::{json, Map, Value};
use session_core::{StoreError, TaskId, TaskState};

use super::Inner;

/// How often the waiting step reads its record for the answer.
const ANSWER_POLL: Duration = Duration::from_millis(250);

/// Asks through the task's record.
pub(super) struct TaskConfirmer {
    pub(super) inner: Arc<Inner>,
    pub(super) id: TaskId,
    pub(super) asked: AtomicU32,
}

/// The `elicitation/create` request of one question, as rmcp's `InputRequest` writes it.
pub(super) fn elicitation(message: &str) -> Result<Value, String> {
    let request = json!({
        "method": "elicitation/create",
        "params": {
            "mode": "form",
            "message": message,
            "requestedSchema": {
                "type": "object",
                "properties": {"confirm": {
                    "type": "boolean",
                    "title": "Run it",
                    "description": "true runs the step; false (or declining) runs nothing"
                }},
                "required": ["confirm"]
            }
        }
    });
    let typed: InputRequest = serde_json::from_value(request)
        .map_err(|e| format!("cannot build the confirmation request: {e}"))?;
    serde_json::to_value(typed).map_err(|e| format!("cannot write the confirmation request: {e}"))
}

/// An `ElicitResult` as a decision: accepted with `confirm: true` runs; anything else
/// (declined, cancelled, `confirm: false`, a malformed answer) runs nothing.
pub(super) fn decision(answer: &Value) -> ConfirmAnswer {
    if answer["action"] == "accept" && answer["content"]["confirm"] == true {
        ConfirmAnswer::Accepted
    } else {
        ConfirmAnswer::Declined
    }
}

fn object(v: Option<Value>) -> Map<String, Value> {
    match v {
        Some(Value::Object(o)) => o,
        _ => Map::new(),
    }
}

#[async_trait]
impl Confirmer for TaskConfirmer {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        let key = format!("confirm-{}", self.asked.fetch_add(1, Ordering::Relaxed) + 1);
        let ask = elicitation(&request.message)?;
        let tasks = &self.inner.tasks;
        tasks
            .update(&self.id, |t| {
                let mut requests = object(t.input_requests.take());
                requests.insert(key.clone(), ask.clone());
                t.input_requests = Some(Value::Object(requests));
                t.state = TaskState::InputRequired;
                t.status_message = Some(format!("waiting for confirmation: {}", request.message));
                Ok(())
            })
            .await
            .map_err(|e| format!("cannot ask through the task's record: {e}"))?;
        // Bounded as an elicitation is: the step waits with its session lock held.
        let deadline = tokio::time::Instant::now() + crate::confirm::ELICIT_WAIT;
        loop {
            tokio::time::sleep(ANSWER_POLL).await;
            if tokio::time::Instant::now() >= deadline {
                let withdrawn = tasks
                    .update(&self.id, |t| {
                        let mut requests = object(t.input_requests.take());
                        requests.remove(&key);
                        if requests.is_empty() {
                            t.state = TaskState::Working;
                        } else {
                            t.input_requests = Some(Value::Object(requests));
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = withdrawn {
                    tracing::warn!(task = %self.id, error = %e, "cannot withdraw the unanswered confirmation");
                }
                return Err(format!(
                    "nobody answered the confirmation within {} s (tasks/update with inputResponses.{key})",
                    crate::confirm::ELICIT_WAIT.as_secs()
                ));
            }
            let record = match tasks.get(&self.id).await {
                Ok(v) => v.value,
                Err(StoreError::TaskNotFound(_)) => return Err("the task's record is gone".into()),
                Err(e) => {
                    tracing::warn!(task = %self.id, error = %e, "cannot read the task's record for its answer");
                    continue;
                }
            };
            if record.state.is_terminal() {
                return Err("the task ended before the confirmation was answered".into());
            }
            let Some(answer) = record.input_responses.as_ref().and_then(|r| r.get(&key)) else {
                continue;
            };
            let decided = decision(answer);
            tasks
                .update(&self.id, |t| {
                    let mut requests = object(t.input_requests.take());
                    requests.remove(&key);
                    let mut responses = object(t.input_responses.take());
                    responses.remove(&key);
                    t.input_responses = (!responses.is_empty()).then_some(Value::Object(responses));
                    if requests.is_empty() {
                        t.state = TaskState::Working;
                    } else {
                        t.input_requests = Some(Value::Object(requests));
                    }
                    t.status_message =
                        Some(format!("{}: confirmation {:?}", t.tool, decided).to_lowercase());
                    Ok(())
                })
                .await
                .map_err(|e| format!("cannot record the confirmation in the task: {e}"))?;
            return Ok(decided);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_is_an_elicitation_rmcp_reads_and_only_accept_with_true_runs() {
        let v = elicitation("push img to reg").unwrap();
        assert_eq!(v["method"], "elicitation/create");
        assert_eq!(v["params"]["message"], "push img to reg");
        assert!(matches!(
            serde_json::from_value::<InputRequest>(v).unwrap(),
            InputRequest::Elicitation(_)
        ));
        let accept = |c: Value| json!({"action": "accept", "content": {"confirm": c}});
        assert_eq!(decision(&accept(json!(true))), ConfirmAnswer::Accepted);
        assert_eq!(decision(&accept(json!(false))), ConfirmAnswer::Declined);
        assert_eq!(decision(&accept(json!("true"))), ConfirmAnswer::Declined);
        assert_eq!(
            decision(&json!({"action": "decline"})),
            ConfirmAnswer::Declined
        );
    }
}
