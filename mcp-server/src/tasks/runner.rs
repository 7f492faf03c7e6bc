//! The runner of one task: the tool call in the background, watched through its record.
//! Every check (at most 500 ms apart, and a third of the lease) reads the record: a cancel
//! request drops the call (the child program is killed on drop and the step lock released
//! by its guard) and writes `cancelled`; a record no longer ours (failed by another
//! replica after our lease ran out) stops the work and writes nothing. Between checks the
//! lease is renewed and the latest progress written, each by a versioned update. The end is
//! `completed` with the `CallToolResult` (a tool error included, per SEP-2663) or `failed`
//! with the JSON-RPC error.

use std::path::PathBuf;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mcp_tools::{CallContext, Confirmer, ProgressSink};
use serde_json::Value;
use session_core::{StoreError, TaskId, TaskRecord, TaskState};

use super::confirm::TaskConfirmer;
use super::{chrono_duration, wire, Inner};

/// The longest between two reads of the record.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// The progress a call reported and the runner has not written yet. Only increasing values
/// are kept, as for progress notifications.
#[derive(Default)]
struct PendingProgress {
    state: Mutex<ProgressState>,
}

#[derive(Default)]
struct ProgressState {
    last: Option<f64>,
    pending: Option<(f64, Option<f64>, Option<String>)>,
}

#[async_trait]
impl ProgressSink for PendingProgress {
    async fn report(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !progress.is_finite() || s.last.is_some_and(|l| progress <= l) {
            return;
        }
        s.last = Some(progress);
        s.pending = Some((progress, total, message));
    }
}

impl PendingProgress {
    fn take(&self) -> Option<(f64, Option<f64>, Option<String>)> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pending
            .take()
    }
}

/// How the watch ended.
enum End {
    Done(Result<rmcp::model::CallToolResult, rmcp::model::ErrorData>),
    Cancelled,
    Lost(String),
    /// The server shuts down.
    Stopped,
}

/// What a check found.
enum Check {
    Go,
    Cancel,
    Lost(String),
}

const NOT_OURS: &str = "the task is no longer ours";

/// Runs `tool` as the task `id` to its end.
pub(super) async fn run(
    inner: Arc<Inner>,
    id: TaskId,
    tool: String,
    args: Value,
    roots: Vec<PathBuf>,
) {
    let progress = Arc::new(PendingProgress::default());
    // A destructive step asks through the task: `input_required` until `tasks/update`.
    let confirmer = TaskConfirmer {
        inner: Arc::clone(&inner),
        id: id.clone(),
        asked: AtomicU32::new(0),
    };
    let ctx = CallContext {
        progress: Some(Arc::clone(&progress) as Arc<dyn ProgressSink>),
        roots,
        confirm: Some(Arc::new(confirmer) as Arc<dyn Confirmer>),
    };
    let renew_every = (inner.config.lease / 3).max(Duration::from_millis(50));
    let check_every = CHECK_EVERY.min(renew_every);
    let end = {
        // The call lives in this block: leaving it (cancelled, lost) drops it.
        let call = inner.tools.call(&tool, args, &ctx);
        tokio::pin!(call);
        let mut tick = tokio::time::interval(check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut renewed = Instant::now();
        let mut stop = inner.stop.subscribe();
        loop {
            if *stop.borrow_and_update() {
                break End::Stopped;
            }
            tokio::select! {
                out = &mut call => break End::Done(wire::call_tool_result(out)),
                _ = stop.changed() => {}
                _ = tick.tick() => match check(&inner, &id, &progress, &mut renewed, renew_every).await {
                    Check::Go => {}
                    Check::Cancel => break End::Cancelled,
                    Check::Lost(why) => break End::Lost(why),
                },
            }
        }
    };
    finish(&inner, &id, &tool, &progress, end).await;
}

/// One check: read the record; renew the lease when due and write new progress.
async fn check(
    inner: &Inner,
    id: &TaskId,
    progress: &PendingProgress,
    renewed: &mut Instant,
    renew_every: Duration,
) -> Check {
    let record = match inner.tasks.get(id).await {
        Ok(v) => v.value,
        Err(StoreError::TaskNotFound(_)) => return Check::Lost("its record is gone".into()),
        Err(e) => {
            // The lease may run out if this lasts; the work goes on until then.
            tracing::warn!(task = %id, error = %e, "cannot read the task's record");
            return Check::Go;
        }
    };
    if !ours(inner, &record) {
        return Check::Lost(format!(
            "its record is {:?} by another process",
            record.state
        ));
    }
    if record.cancel_requested {
        return Check::Cancel;
    }
    let pending = progress.take();
    if pending.is_none() && renewed.elapsed() < renew_every {
        return Check::Go;
    }
    let lease = chrono_duration(inner.config.lease);
    let result = inner
        .tasks
        .update(id, |t| {
            if !ours(inner, t) {
                return Err(StoreError::Rejected(NOT_OURS.into()));
            }
            // The store keeps a task `ttl_ms` after its last write, so a renewed task is
            // never purged while it runs.
            t.lease_until = Some(inner.tasks.now() + lease);
            if let Some((done, total, message)) = &pending {
                if t.progress.is_none_or(|p| *done > p) {
                    t.progress = Some(*done);
                    t.total = *total;
                    if message.is_some() {
                        t.status_message = message.clone();
                    }
                }
            }
            Ok(())
        })
        .await;
    match result {
        Ok(_) => {
            *renewed = Instant::now();
            Check::Go
        }
        Err(StoreError::Rejected(why)) if why == NOT_OURS => Check::Lost(why),
        Err(e) => {
            tracing::warn!(task = %id, error = %e, "cannot renew the task's lease");
            Check::Go
        }
    }
}

/// Whether this process still runs the task: its runner is us and it has not ended.
fn ours(inner: &Inner, record: &TaskRecord) -> bool {
    !record.state.is_terminal()
        && record
            .runner
            .as_ref()
            .is_some_and(|r| r.instance == inner.me.instance)
}

/// Writes the end, unless the task is no longer ours.
async fn finish(inner: &Inner, id: &TaskId, tool: &str, progress: &PendingProgress, end: End) {
    let (state, payload) = match end {
        End::Lost(why) => {
            tracing::warn!(task = %id, %why, "task work stopped: {why}");
            return;
        }
        End::Cancelled => (TaskState::Cancelled, None),
        End::Stopped => {
            let me = &inner.me;
            let error = rmcp::model::ErrorData::internal_error(
                format!(
                    "{tool} stopped: the server running it (runner {}@{}) shut down before it finished; call {tool} again",
                    me.pid, me.host
                ),
                None,
            );
            (
                TaskState::Failed,
                Some(Value::Object(wire::error_object(&error))),
            )
        }
        End::Done(Ok(result)) => (TaskState::Completed, serde_json::to_value(result).ok()),
        End::Done(Err(error)) => (
            TaskState::Failed,
            Some(Value::Object(wire::error_object(&error))),
        ),
    };
    let last = progress.take();
    let result = inner
        .tasks
        .update(id, |t| {
            if !ours(inner, t) {
                return Err(StoreError::Rejected(NOT_OURS.into()));
            }
            if let Some((done, total, _)) = &last {
                if t.progress.is_none_or(|p| *done > p) {
                    t.progress = Some(*done);
                    t.total = *total;
                }
            }
            t.state = state;
            t.status_message = Some(match state {
                TaskState::Completed => format!("{} finished", t.tool),
                TaskState::Cancelled => format!("{} cancelled", t.tool),
                _ => format!("{} failed", t.tool),
            });
            match state {
                TaskState::Completed => t.result = payload.clone(),
                TaskState::Failed => t.error = payload.clone(),
                _ => {}
            }
            t.input_requests = None;
            // The end is the last write: the record stays readable for its TTL from now.
            t.lease_until = None;
            Ok(())
        })
        .await;
    match result {
        Ok(_) => tracing::info!(task = %id, ?state, "task ended"),
        Err(e) => tracing::warn!(task = %id, error = %e, "the task's end was not recorded"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pending_progress_keeps_only_increasing_values_and_is_taken_once() {
        let p = PendingProgress::default();
        p.report(1.0, Some(4.0), Some("a".into())).await;
        p.report(0.5, Some(4.0), Some("back".into())).await;
        p.report(f64::NAN, None, None).await;
        assert_eq!(p.take(), Some((1.0, Some(4.0), Some("a".into()))));
        assert_eq!(p.take(), None);
        p.report(1.0, Some(4.0), None).await;
        assert_eq!(p.take(), None, "not above the last value");
        p.report(2.0, Some(4.0), None).await;
        assert_eq!(p.take().map(|t| t.0), Some(2.0));
    }
}
