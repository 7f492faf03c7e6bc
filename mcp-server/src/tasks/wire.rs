//! The MCP wire shapes of tasks (SEP-2663): a stored `TaskRecord` as rmcp's `Task` and
//! `DetailedTask`, a tool's outcome as a `CallToolResult` (the same for a synchronous call
//! and a task's result), and the JSON-RPC errors of the `tasks/*` methods.

use chrono::{DateTime, SecondsFormat, Utc};
use mcp_tools::{ToolError, ToolErrorKind, ToolOutput};
use rmcp::model::{
    CallToolResult, ContentBlock, DetailedTask, ErrorData, InputRequests, JsonObject, Task,
    TaskPayload, TaskStatus,
};
use serde_json::Value;
use session_core::{TaskRecord, TaskState};

/// A tool's outcome as MCP answers it: a result (a tool error is a result with `isError`,
/// its guidance in the text too, for clients that show no structured content), or a
/// JSON-RPC error for a tool that does not exist.
pub(crate) fn call_tool_result(
    outcome: Result<ToolOutput, ToolError>,
) -> Result<CallToolResult, ErrorData> {
    match outcome {
        Ok(out) => {
            let mut r = CallToolResult::success(vec![ContentBlock::text(out.summary)]);
            r.structured_content = Some(out.structured);
            Ok(r)
        }
        Err(e) if e.kind == ToolErrorKind::UnknownTool => Err(ErrorData::invalid_params(
            e.message.clone(),
            Some(e.to_json()),
        )),
        Err(e) => {
            let text = format!("{} (hint: {}; next: {})", e.message, e.hint(), e.next());
            let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
            r.structured_content = Some(e.to_json());
            Ok(r)
        }
    }
}

/// SEP-2663's error for a task id the store does not hold (or no longer holds: purged after
/// its TTL): `-32602` invalid params.
pub(crate) fn unknown_task(id: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!(
            "unknown task {id:?}: no such task (its TTL may have passed and it was purged); call the tool again to start a new one"
        ),
        None,
    )
}

/// The timestamp format of the wire: RFC 3339 in UTC with milliseconds.
pub(crate) fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status(state: TaskState) -> TaskStatus {
    match state {
        TaskState::Working => TaskStatus::Working,
        TaskState::InputRequired => TaskStatus::InputRequired,
        TaskState::Completed => TaskStatus::Completed,
        TaskState::Failed => TaskStatus::Failed,
        TaskState::Cancelled => TaskStatus::Cancelled,
    }
}

/// The base `Task` of a record: id, status, message, times, TTL and poll interval.
pub(crate) fn task(record: &TaskRecord) -> Task {
    let mut t = Task::new(
        record.id.as_str(),
        status(record.state),
        timestamp(record.created_at),
        timestamp(record.updated_at),
    )
    .with_ttl_ms(record.ttl_ms)
    .with_poll_interval_ms(record.poll_interval_ms);
    t.status_message = record.status_message.clone();
    t
}

fn object(v: Option<&Value>) -> JsonObject {
    match v {
        Some(Value::Object(o)) => o.clone(),
        _ => JsonObject::new(),
    }
}

/// The record as `tasks/get` answers it: the base task with its status's payload. A
/// payload the store holds in a shape rmcp cannot read (written by a newer server) is
/// answered as a failure that says so, never as a task stuck in its state.
pub(crate) fn detailed(record: &TaskRecord) -> DetailedTask {
    let payload = match record.state {
        TaskState::Working => TaskPayload::Working,
        TaskState::Cancelled => TaskPayload::Cancelled,
        TaskState::Completed => TaskPayload::Completed {
            result: object(record.result.as_ref()),
        },
        TaskState::Failed => TaskPayload::Failed {
            error: object(record.error.as_ref()),
        },
        TaskState::InputRequired => {
            let requests = record
                .input_requests
                .clone()
                .map(serde_json::from_value::<InputRequests>);
            match requests {
                Some(Ok(input_requests)) => TaskPayload::InputRequired { input_requests },
                // Between two requests (an answer taken, the next not yet asked) the task is
                // working again.
                None => TaskPayload::Working,
                Some(Err(e)) => TaskPayload::Failed {
                    error: error_object(&ErrorData::internal_error(
                        format!("the task's stored input requests cannot be read ({e}); cancel it and call the tool again"),
                        None,
                    )),
                },
            }
        }
    };
    DetailedTask::new(task(record), payload)
}

/// A JSON-RPC error as the JSON object a `Failed` record keeps.
pub(crate) fn error_object(error: &ErrorData) -> JsonObject {
    match serde_json::to_value(error) {
        Ok(Value::Object(o)) => o,
        _ => JsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::{TaskId, TaskRunner};

    fn record(state: TaskState) -> TaskRecord {
        let at = DateTime::parse_from_rfc3339("2026-12-06T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        TaskRecord {
            id: TaskId::new("abc123").unwrap(),
            session_id: None,
            tool: "build_image".into(),
            state,
            status_message: Some("building".into()),
            progress: Some(1.0),
            total: Some(4.0),
            input_requests: None,
            input_responses: None,
            result: None,
            error: None,
            cancel_requested: false,
            created_at: at,
            updated_at: at,
            ttl_ms: 3_600_000,
            poll_interval_ms: 1000,
            expires_at: at,
            runner: Some(TaskRunner {
                instance: "i".into(),
                pid: 1,
                host: "h".into(),
            }),
            lease_until: Some(at),
        }
    }

    #[test]
    fn a_working_record_reads_as_the_seps_working_task() {
        let v = serde_json::to_value(detailed(&record(TaskState::Working))).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "taskId": "abc123", "status": "working", "statusMessage": "building",
                "createdAt": "2026-12-06T10:00:00.000Z", "lastUpdatedAt": "2026-12-06T10:00:00.000Z",
                "ttlMs": 3_600_000, "pollIntervalMs": 1000
            })
        );
    }

    #[test]
    fn a_completed_record_inlines_its_result_and_a_failed_one_its_error() {
        let mut r = record(TaskState::Completed);
        r.result = Some(serde_json::json!({"content": [], "isError": true}));
        let v = serde_json::to_value(detailed(&r)).unwrap();
        assert_eq!(
            (v["status"].clone(), v["result"]["isError"].clone()),
            ("completed".into(), true.into())
        );
        let mut r = record(TaskState::Failed);
        r.error = Some(serde_json::json!({"code": -32603, "message": "runner gone"}));
        let v = serde_json::to_value(detailed(&r)).unwrap();
        assert_eq!(v["error"]["message"], "runner gone");
    }

    #[test]
    fn unreadable_input_requests_read_as_a_failure_not_a_stuck_task() {
        let mut r = record(TaskState::InputRequired);
        r.input_requests = Some(serde_json::json!({"k": {"method": "no/such"}}));
        assert_eq!(detailed(&r).status(), TaskStatus::Failed);
        r.input_requests = None;
        assert_eq!(detailed(&r).status(), TaskStatus::Working);
    }

    #[test]
    fn an_unknown_tool_is_a_json_rpc_error_and_a_tool_error_a_result() {
        let unknown = ToolError::new(ToolErrorKind::UnknownTool, "no tool x");
        assert!(call_tool_result(Err(unknown)).is_err());
        let failed = ToolError::new(ToolErrorKind::InvalidParams, "bad");
        let r = call_tool_result(Err(failed)).unwrap();
        assert_eq!(r.is_error, Some(true));
    }
}
