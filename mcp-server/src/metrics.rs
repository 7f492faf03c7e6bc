//! Metrics an operator can scrape: the process-wide Prometheus recorder (the
//! `metrics-exporter-prometheus` crate, histograms with the tools' explicit buckets — without
//! them it would render summaries), the session service's counters set from its
//! `SessionsStats` at each scrape, and the store's figures. Served at `/metrics` by the HTTP
//! transport and printed by `sessions stats`.
//!
//! The figures are the recording process's own: a server's at its `/metrics`, a `sessions
//! stats` process's (which ran no tool) in its output. Only the `container_kit_store_*`
//! figures come from the store and are the same for every process sharing it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use mcp_tools::{telemetry, Toolbox};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use serde_json::Value;

/// The Prometheus text format's content type.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The session service's counters (`SessionsStats`) as metrics: the field, the metric's name,
/// whether it only grows (a counter) or goes up and down (a gauge), and its help line. A field
/// not listed (one added to `SessionsStats` later) is exported as the gauge
/// `container_kit_sessions_<field>`.
const STATS: &[(&str, &str, Kind, &str)] = &[
    (
        "commits",
        "container_kit_sessions_commits_total",
        Kind::Counter,
        "Writes committed by create, update, update_many and delete",
    ),
    (
        "conflicts",
        "container_kit_sessions_conflicts_total",
        Kind::Counter,
        "Compare-and-swap attempts that found another version",
    ),
    (
        "retries",
        "container_kit_sessions_retries_total",
        Kind::Counter,
        "Re-runs of an update closure after a conflict",
    ),
    (
        "rejected",
        "container_kit_sessions_rejected_total",
        Kind::Counter,
        "Updates whose closure refused the change",
    ),
    (
        "lock_acquisitions",
        "container_kit_sessions_lock_acquisitions_total",
        Kind::Counter,
        "Session locks taken (explicitly or by an update)",
    ),
    (
        "lock_waits",
        "container_kit_sessions_lock_waits_total",
        Kind::Counter,
        "Lock acquisitions that had to wait for another holder",
    ),
    (
        "lock_wait_total_us",
        "container_kit_sessions_lock_wait_microseconds_total",
        Kind::Counter,
        "Total time spent waiting for session locks, in microseconds",
    ),
    (
        "lock_wait_max_us",
        "container_kit_sessions_lock_wait_max_microseconds",
        Kind::Gauge,
        "The longest single session lock wait, in microseconds",
    ),
    (
        "lock_timeouts",
        "container_kit_sessions_lock_timeouts_total",
        Kind::Counter,
        "Lock waits that ran out (busy)",
    ),
    (
        "purged",
        "container_kit_sessions_purged_total",
        Kind::Counter,
        "Sessions removed by purges",
    ),
    (
        "combined_batches",
        "container_kit_sessions_combined_batches_total",
        Kind::Counter,
        "Commits that carried more than one combined update of a hot session",
    ),
    (
        "combined_updates",
        "container_kit_sessions_combined_updates_total",
        Kind::Counter,
        "Updates written by commits that combined several updates of a hot session",
    ),
    (
        "batch_max",
        "container_kit_sessions_combined_batch_max",
        Kind::Gauge,
        "The most updates one combined commit carried",
    ),
    (
        "lock_entries",
        "container_kit_sessions_lock_entries",
        Kind::Gauge,
        "Entries in the session lock table now",
    ),
];

/// Sessions in the store (expired ones included until purged).
const STORE_SESSIONS: &str = "container_kit_store_sessions";
/// Seconds since the process started.
const UPTIME: &str = "container_kit_uptime_seconds";
/// 1, labelled with the version and the store backend.
const INFO: &str = "container_kit_info";

/// Workflows in the store by status, and expired sessions: `sessions stats` only (it reads
/// every session, too much for each scrape).
const STORE_WORKFLOWS: &str = "container_kit_store_workflows";
const STORE_EXPIRED: &str = "container_kit_store_expired_sessions";

/// What `sessions stats` read from the store.
#[derive(Debug, Default, Serialize)]
pub(crate) struct StoreSummary {
    /// Sessions stored, expired ones included.
    pub(crate) sessions: u64,
    /// Of them, expired (purged soon).
    pub(crate) expired: u64,
    /// Sessions holding a workflow, by its status.
    pub(crate) workflows: BTreeMap<String, u64>,
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}

/// The installed recorder and what its scrape reads.
pub(crate) struct Metrics {
    handle: PrometheusHandle,
    tools: Toolbox,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Installs the process-wide recorder (once per process), with each of the tools'
    /// histograms given its buckets, and registers every series the tools can record.
    pub(crate) fn install(tools: Toolbox) -> anyhow::Result<Metrics> {
        let handle = builder()?
            .install_recorder()
            .context("installing the metrics recorder")?;
        describe();
        telemetry::register_all();
        let backend = tools.sessions().store().backend_name();
        metrics::gauge!(INFO, "version" => env!("CARGO_PKG_VERSION"), "backend" => backend)
            .set(1.0);
        Ok(Metrics { handle, tools })
    }

    /// Moves recorded histogram samples into their buckets every few seconds, so a server
    /// scraped rarely does not hold every sample until the scrape. Aborted when dropped.
    pub(crate) fn spawn_upkeep(&self) -> Upkeep {
        let handle = self.handle.clone();
        Upkeep(tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(5));
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        }))
    }

    /// Sets the counters from the session service's snapshot and the store's figures, then
    /// renders everything in the Prometheus text format.
    pub(crate) async fn render(&self) -> String {
        self.record_stats();
        match self.tools.sessions().count().await {
            Ok(n) => metrics::gauge!(STORE_SESSIONS).set(n as f64),
            Err(e) => tracing::warn!("metrics: cannot count the store's sessions: {e}"),
        }
        metrics::gauge!(UPTIME).set(self.tools.uptime().as_secs_f64());
        self.handle.render()
    }

    /// Records what was read from the store as the `container_kit_store_*` gauges.
    pub(crate) fn record_store(&self, summary: &StoreSummary) {
        metrics::describe_gauge!(
            STORE_WORKFLOWS,
            "Sessions holding a workflow, by its status (read from the store)"
        );
        metrics::describe_gauge!(
            STORE_EXPIRED,
            "Expired sessions not yet purged (read from the store)"
        );
        for status in ["initialized", "started", "running", "error", "completed"] {
            let n = summary.workflows.get(status).copied().unwrap_or(0);
            metrics::gauge!(STORE_WORKFLOWS, "status" => status).set(n as f64);
        }
        metrics::gauge!(STORE_EXPIRED).set(summary.expired as f64);
    }

    fn record_stats(&self) {
        let Ok(Value::Object(stats)) = serde_json::to_value(self.tools.sessions().stats()) else {
            return;
        };
        for (field, value) in stats {
            let Some(v) = value.as_u64() else { continue };
            match STATS.iter().find(|(f, ..)| *f == field) {
                Some((_, name, Kind::Counter, _)) => metrics::counter!(*name).absolute(v),
                Some((_, name, Kind::Gauge, _)) => metrics::gauge!(*name).set(v as f64),
                None => metrics::gauge!(format!("container_kit_sessions_{field}")).set(v as f64),
            }
        }
    }
}

/// Bucket bounds for a histogram recorded without its own (one a backend records through the
/// facade, say): without any the exporter would render it as a summary. Powers of ten below 1
/// (durations in seconds), powers of two above (counts, such as a batch's writes).
const FALLBACK_BUCKETS: &[f64] = &[
    0.0001, 0.001, 0.01, 0.1, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
];

/// The exporter's configuration: each of the tools' histograms with its buckets, any other
/// histogram with [`FALLBACK_BUCKETS`], so every histogram renders as one.
fn builder() -> anyhow::Result<PrometheusBuilder> {
    let mut builder = PrometheusBuilder::new()
        .set_buckets(FALLBACK_BUCKETS)
        .context("the fallback buckets")?;
    for (name, buckets) in telemetry::HISTOGRAMS
        .iter()
        .chain(session_core::telemetry::HISTOGRAMS)
    {
        builder = builder
            .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
            .with_context(|| format!("the buckets of {name}"))?;
    }
    Ok(builder)
}

/// The upkeep task, aborted when dropped.
#[derive(Debug)]
pub(crate) struct Upkeep(tokio::task::JoinHandle<()>);

impl Drop for Upkeep {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn describe() {
    metrics::describe_histogram!(
        telemetry::LOCK_WAIT,
        Unit::Seconds,
        "How long a step waited for its session's step lock, by tool"
    );
    metrics::describe_histogram!(
        telemetry::UPDATE_DURATION,
        Unit::Seconds,
        "How long a versioned session update took, conflict retries included, by tool"
    );
    metrics::describe_histogram!(
        telemetry::STEP_DURATION,
        Unit::Seconds,
        "How long a step ran, from holding its lock to its outcome recorded, by tool"
    );
    metrics::describe_histogram!(
        session_core::telemetry::GROUP_COMMIT_WRITES,
        Unit::Count,
        "Writes carried by one group commit of the redb writer (redb store only)"
    );
    metrics::describe_histogram!(
        session_core::telemetry::COMMIT_SECONDS,
        Unit::Seconds,
        "How long one group commit of the redb writer took, durable (redb store only)"
    );
    for (_, name, kind, help) in STATS {
        match kind {
            Kind::Counter => metrics::describe_counter!(*name, *help),
            Kind::Gauge => metrics::describe_gauge!(*name, *help),
        }
    }
    metrics::describe_gauge!(
        STORE_SESSIONS,
        "Sessions in the store, expired ones included until purged (read from the store)"
    );
    metrics::describe_gauge!(UPTIME, Unit::Seconds, "Seconds since this process started");
    metrics::describe_gauge!(INFO, "1, labelled with the version and the store backend");
}

/// One sample of a rendered exposition, for `sessions stats --json`.
#[derive(Debug, PartialEq, Serialize)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// The samples of a text exposition rendered by [`Metrics::render`] (comment lines skipped).
/// A line that does not parse is skipped too: the renderer is the exporter's, this only reads
/// it back.
pub(crate) fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(sample)
        .collect()
}

fn sample(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match series.split_once('{') {
        None => (series, BTreeMap::new()),
        Some((name, rest)) => (name, labels(rest.strip_suffix('}')?)?),
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// `k="v",k2="v2"` with the format's escapes (`\\`, `\"`, `\n`) in the values.
fn labels(mut s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    while !s.is_empty() {
        let (key, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        out.insert(key.trim_start_matches(',').to_owned(), value);
        s = &rest[end + 1..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every histogram renders as a Prometheus histogram, with its own buckets or the
    /// fallback ones — never as a summary.
    #[test]
    fn every_histogram_renders_with_buckets_never_as_a_summary() {
        let recorder = builder().unwrap().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::histogram!(telemetry::STEP_DURATION, telemetry::TOOL_LABEL => "build_image")
                .record(0.2);
            metrics::histogram!("some_backend_batch_writes").record(3.0);
        });
        let text = handle.render();
        assert!(
            !text.contains("summary") && !text.contains("quantile"),
            "{text}"
        );
        let step = format!(
            "{}_bucket{{tool=\"build_image\",le=",
            telemetry::STEP_DURATION
        );
        let bounds: Vec<f64> = samples(&text)
            .iter()
            .filter(|s| s.name == format!("{}_bucket", telemetry::STEP_DURATION))
            .filter_map(|s| s.labels["le"].parse().ok())
            .filter(|le: &f64| le.is_finite())
            .collect();
        assert_eq!(bounds, telemetry::STEP_BUCKETS, "{text}");
        assert!(text.contains(&format!("{step}\"0.5\"}} 1")), "{text}");
        assert!(text.contains(&format!("{step}\"0.1\"}} 0")), "{text}");
        assert!(
            text.contains("some_backend_batch_writes_bucket{le=\"4\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("some_backend_batch_writes_bucket{le=\"2\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE some_backend_batch_writes histogram"),
            "{text}"
        );
    }

    /// Every counter of `server_status`'s stats has its documented metric name (a field added
    /// later would only get the fallback gauge: name it here and in the README).
    #[test]
    fn every_sessions_stats_field_has_a_metric_name() {
        let Ok(Value::Object(fields)) =
            serde_json::to_value(session_core::SessionsStats::default())
        else {
            panic!("SessionsStats is not an object");
        };
        for field in fields.keys() {
            assert!(
                STATS.iter().any(|(f, ..)| f == field),
                "SessionsStats field {field} has no metric name in STATS"
            );
        }
        for (field, name, kind, _) in STATS {
            assert!(
                fields.contains_key(*field),
                "STATS names a field {field} that is gone"
            );
            assert!(
                matches!(kind, Kind::Counter) == name.ends_with("_total"),
                "{name}: counters end in _total, gauges do not"
            );
        }
    }

    #[test]
    fn samples_read_names_labels_and_values_back() {
        let text = "# HELP x help\n# TYPE x histogram\n\
            x_bucket{tool=\"build_image\",le=\"0.5\"} 3\n\
            x_bucket{tool=\"a\\\"b\",le=\"+Inf\"} 4\n\
            x_sum{tool=\"build_image\"} 1.25\n\
            plain 7\n";
        let got = samples(text);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].name, "x_bucket");
        assert_eq!(got[0].labels["tool"], "build_image");
        assert_eq!(got[0].labels["le"], "0.5");
        assert_eq!(got[0].value, 3.0);
        assert_eq!(got[1].labels["tool"], "a\"b");
        assert_eq!(got[1].labels["le"], "+Inf");
        assert_eq!(got[2].value, 1.25);
        assert_eq!(got[3].name, "plain");
        assert!(got[3].labels.is_empty());
    }
}
