//! What the tools measure, recorded into the `metrics` facade: the names, labels and bucket
//! bounds of the histograms, and the one place each is recorded from. The facade does nothing
//! until a process installs a recorder (the server's Prometheus exporter does); this crate
//! never installs one, so embedding it costs a few atomic loads.

use std::time::Duration;

/// Histogram: how long a step waited for its session's step lock (seconds), every step call
/// that got the lock, with or without waiting. A wait that ran out is counted by
/// `container_kit_sessions_lock_timeouts_total` instead.
pub const LOCK_WAIT: &str = "container_kit_step_lock_wait_seconds";

/// Histogram: how long the versioned update of a session took (seconds), retries after a
/// conflict included — the step's record (label `tool` = the step) and `start_workflow`'s
/// (label `tool` = `start_workflow`).
pub const UPDATE_DURATION: &str = "container_kit_session_update_seconds";

/// Histogram: how long a step ran (seconds), label `tool`: from holding the lock to its
/// outcome recorded, so lock waits are not counted twice. Only runs that recorded an outcome
/// (success or failure) are observed; a refused call records nothing.
pub const STEP_DURATION: &str = "container_kit_step_duration_seconds";

/// The label naming the tool a sample belongs to.
pub const TOOL_LABEL: &str = "tool";

/// Bucket upper bounds of [`LOCK_WAIT`] (seconds): from an uncontended lock (tens of µs) to
/// the default lock timeout's order.
pub const LOCK_WAIT_BUCKETS: &[f64] = &[
    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0,
];

/// Bucket upper bounds of [`UPDATE_DURATION`] (seconds): an in-memory commit to a slow fsync
/// under load.
pub const UPDATE_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Bucket upper bounds of [`STEP_DURATION`] (seconds): a dry-run step (milliseconds) to an
/// image build or a rollout wait (minutes).
pub const STEP_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

/// Every histogram with its buckets, for an exporter to configure (a Prometheus exporter
/// renders summaries for a histogram it has no buckets for).
pub const HISTOGRAMS: &[(&str, &[f64])] = &[
    (LOCK_WAIT, LOCK_WAIT_BUCKETS),
    (UPDATE_DURATION, UPDATE_BUCKETS),
    (STEP_DURATION, STEP_BUCKETS),
];

/// Records one step lock acquisition's wait.
pub(crate) fn lock_waited(tool: &'static str, waited: Duration) {
    metrics::histogram!(LOCK_WAIT, TOOL_LABEL => tool).record(waited.as_secs_f64());
}

/// Records one versioned update's duration, for `tool`.
pub(crate) fn updated(tool: &'static str, took: Duration) {
    metrics::histogram!(UPDATE_DURATION, TOOL_LABEL => tool).record(took.as_secs_f64());
}

/// Records one step run's duration.
pub(crate) fn step_ran(tool: &'static str, took: Duration) {
    metrics::histogram!(STEP_DURATION, TOOL_LABEL => tool).record(took.as_secs_f64());
}

/// Registers every histogram series the tools can record (each step tool's, and
/// `start_workflow`'s update), so a scrape lists them — with a zero count — before the first
/// call: a series that appears only after its first sample makes rates and alerts blind to
/// the first one. Call after installing a recorder.
pub fn register_all() {
    for step in crate::state::Step::ALL {
        let tool = step.name();
        let _ = metrics::histogram!(LOCK_WAIT, TOOL_LABEL => tool);
        let _ = metrics::histogram!(UPDATE_DURATION, TOOL_LABEL => tool);
        let _ = metrics::histogram!(STEP_DURATION, TOOL_LABEL => tool);
    }
    let _ = metrics::histogram!(UPDATE_DURATION, TOOL_LABEL => "start_workflow");
}
