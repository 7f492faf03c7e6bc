//! What `tasks/get`, `tasks/cancel` and `tasks/update` decide from a stored record: a task
//! whose runner stopped renewing its lease is failed (or, when cancelled, cancelled) by a
//! versioned update, so two replicas that notice at once agree on one outcome; a task that
//! has ended is not cancelled again; only outstanding input requests take answers.

use chrono::{DateTime, Utc};
use rmcp::model::{ErrorCode, ErrorData, InputResponses};
use serde_json::{json, Value};
use session_core::{StoreError, TaskRecord, TaskState};

use super::{chrono_duration, store_error, wire, Inner, GRACE};

/// Whether the record's runner is gone: the task has not ended and its lease ran out more
/// than the grace ago.
pub(super) fn runner_gone(record: &TaskRecord, now: DateTime<Utc>) -> bool {
    !record.state.is_terminal()
        && record
            .lease_until
            .is_some_and(|until| until + chrono_duration(GRACE) < now)
}

/// The error a task abandoned by its runner fails with: who ran it, when it stopped, what
/// to do.
fn abandoned_error(record: &TaskRecord) -> Value {
    let who = record.runner.as_ref().map_or_else(
        || "its runner".to_owned(),
        |r| format!("runner {}@{} (instance {})", r.pid, r.host, r.instance),
    );
    let when = record
        .lease_until
        .map_or_else(|| "an unknown time".to_owned(), wire::timestamp);
    let message = format!(
        "{} stopped: {who} stopped renewing its lease, which ran out at {when} (the process exited, was killed or lost the store); the step did not finish; call {} again to run it",
        record.tool, record.tool
    );
    json!({
        "code": ErrorCode::INTERNAL_ERROR.0,
        "message": message,
        "data": {"runner": record.runner, "lease_until": record.lease_until},
    })
}

/// `record` as `tasks/get` answers it: failed first when its runner is gone.
pub(super) async fn abandoned(inner: &Inner, record: TaskRecord) -> Result<TaskRecord, ErrorData> {
    if !runner_gone(&record, inner.tasks.now()) {
        return Ok(record);
    }
    let result = inner
        .tasks
        .update(&record.id, |t| {
            // Re-checked on the record read for this write: a renewal or an end written
            // since wins.
            if runner_gone(t, inner.tasks.now()) {
                t.error = Some(abandoned_error(t));
                t.state = TaskState::Failed;
                t.status_message = Some(format!("{} stopped: its runner is gone", t.tool));
                t.input_requests = None;
                t.lease_until = None;
            }
            Ok(())
        })
        .await;
    match result {
        Ok((v, ())) => {
            if v.value.state == TaskState::Failed {
                tracing::warn!(task = %v.value.id, tool = %v.value.tool, "task failed: its runner's lease ran out");
            }
            Ok(v.value)
        }
        Err(StoreError::TaskNotFound(_)) => Err(wire::unknown_task(record.id.as_str())),
        Err(e) => Err(store_error(e)),
    }
}

const ENDED: &str = "the task has ended";

/// `tasks/cancel` of `record`.
pub(super) async fn cancel(inner: &Inner, record: TaskRecord) -> Result<(), ErrorData> {
    if record.state.is_terminal() {
        return Err(ended(&record));
    }
    let result = inner
        .tasks
        .update(&record.id, |t| {
            if t.state.is_terminal() {
                return Err(StoreError::Rejected(ENDED.into()));
            }
            if runner_gone(t, inner.tasks.now()) {
                t.state = TaskState::Cancelled;
                t.status_message = Some(format!(
                    "{} cancelled (its runner was already gone)",
                    t.tool
                ));
                t.input_requests = None;
                t.lease_until = None;
            } else {
                t.cancel_requested = true;
                t.status_message = Some(format!("{}: cancel requested", t.tool));
            }
            Ok(())
        })
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(StoreError::Rejected(why)) if why == ENDED => match inner.tasks.get(&record.id).await {
            Ok(v) => Err(ended(&v.value)),
            Err(StoreError::TaskNotFound(_)) => Err(wire::unknown_task(record.id.as_str())),
            Err(e) => Err(store_error(e)),
        },
        Err(e) => Err(store_error(e)),
    }
}

/// SEP-2663: a task in a terminal status is not cancelled, `-32602`.
fn ended(record: &TaskRecord) -> ErrorData {
    let state = serde_json::to_value(record.state)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    ErrorData::invalid_params(
        format!(
            "task {} has already ended ({state}): there is nothing to cancel; read its outcome with tasks/get",
            record.id
        ),
        None,
    )
}

/// The answers among `responses` that `record` is waiting for: an outstanding request's key
/// not answered yet. Others are ignored (SEP-2663).
pub(super) fn outstanding(record: &TaskRecord, responses: InputResponses) -> InputResponses {
    let asked = |k: &str| {
        record
            .input_requests
            .as_ref()
            .is_some_and(|r| r.get(k).is_some())
    };
    let answered = |k: &str| {
        record
            .input_responses
            .as_ref()
            .is_some_and(|r| r.get(k).is_some())
    };
    if record.state.is_terminal() {
        return InputResponses::new();
    }
    responses
        .into_iter()
        .filter(|(k, _)| asked(k) && !answered(k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::TaskId;

    fn record(state: TaskState, lease_until: Option<DateTime<Utc>>) -> TaskRecord {
        let mut r = TaskRecord::new(
            TaskId::new("t1").unwrap(),
            "build_image",
            Utc::now(),
            1000,
            1000,
        );
        r.state = state;
        r.lease_until = lease_until;
        r
    }

    #[test]
    fn a_runner_is_gone_only_past_its_lease_and_the_grace_and_never_for_an_ended_task() {
        let now = Utc::now();
        let ago = |s: i64| Some(now - chrono::Duration::seconds(s));
        assert!(
            !runner_gone(&record(TaskState::Working, ago(1)), now),
            "within the grace"
        );
        assert!(runner_gone(&record(TaskState::Working, ago(3)), now));
        assert!(runner_gone(&record(TaskState::InputRequired, ago(3)), now));
        assert!(!runner_gone(&record(TaskState::Completed, ago(3)), now));
        assert!(!runner_gone(
            &record(TaskState::Working, Some(now + chrono::Duration::seconds(5))),
            now
        ));
    }

    #[test]
    fn only_outstanding_unanswered_keys_take_answers() {
        let mut r = record(TaskState::InputRequired, None);
        r.input_requests = Some(json!({"confirm-1": {}, "confirm-2": {}}));
        r.input_responses = Some(json!({"confirm-1": {"action": "accept"}}));
        let answers: InputResponses = [
            ("confirm-1".to_owned(), json!({"action": "decline"})),
            ("confirm-2".to_owned(), json!({"action": "accept"})),
            ("other".to_owned(), json!({})),
        ]
        .into_iter()
        .collect();
        let kept = outstanding(&r, answers.clone());
        assert_eq!(kept.keys().collect::<Vec<_>>(), ["confirm-2"]);
        r.state = TaskState::Cancelled;
        assert!(outstanding(&r, answers).is_empty());
    }

    #[test]
    fn an_abandoned_task_fails_naming_its_runner_and_what_to_do() {
        let mut r = record(TaskState::Working, Some(Utc::now()));
        r.runner = Some(session_core::TaskRunner {
            instance: "abc".into(),
            pid: 4242,
            host: "node-a".into(),
        });
        let e = abandoned_error(&r);
        let m = e["message"].as_str().unwrap();
        assert!(
            m.contains("runner 4242@node-a (instance abc)") && m.contains("call build_image again"),
            "{m}"
        );
        assert_eq!(e["code"], -32603);
    }
}
