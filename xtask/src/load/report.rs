//! What a load run measured: per-phase summaries, the seed plan's criteria, the report
//! printed on stdout (and written as JSON with `--json`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use session_core::{SessionId, SessionsStats};

use super::Backend;

/// What a phase measured.
#[derive(Debug, Serialize)]
pub(super) struct Phase {
    pub(super) name: &'static str,
    pub(super) sessions: usize,
    pub(super) writers: usize,
    pub(super) updates: u64,
    pub(super) seconds: f64,
    pub(super) updates_per_sec: f64,
    pub(super) p50_ms: f64,
    pub(super) p95_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
    pub(super) lock_wait_p99_ms: f64,
    pub(super) lock_wait_max_ms: f64,
    /// Commits `Sessions` made in the phase (a combined batch of updates is one).
    pub(super) commits: u64,
    /// Updates per commit on average, and the most one commit carried (combining).
    pub(super) mean_batch: f64,
    pub(super) max_batch: u64,
}

impl Phase {
    /// Adds what the phase's own `Sessions` counted, and sums its retries into `totals`.
    pub(super) fn add_stats(&mut self, stats: &SessionsStats, totals: &mut SessionsStats) {
        self.commits = stats.commits;
        self.mean_batch = if stats.commits > 0 {
            self.updates as f64 / stats.commits as f64
        } else {
            0.0
        };
        self.max_batch = stats.batch_max.max(u64::from(stats.commits > 0));
        totals.conflicts += stats.conflicts;
        totals.retries += stats.retries;
        totals.lock_timeouts += stats.lock_timeouts;
    }
}

#[derive(Debug, Serialize)]
pub(super) struct Criterion {
    pub(super) name: String,
    pub(super) value: f64,
    pub(super) target: String,
    pub(super) pass: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) backend: Backend,
    pub(super) doc_bytes: usize,
    pub(super) phases: Vec<Phase>,
    pub(super) conflicts: u64,
    pub(super) retries: u64,
    pub(super) lock_timeouts: u64,
    pub(super) lost_updates: u64,
    pub(super) criteria: Vec<Criterion>,
}

pub(super) struct Samples {
    pub(super) latencies: Vec<Duration>,
    pub(super) lock_waits: Vec<Duration>,
    /// session → acknowledged updates
    pub(super) acked: BTreeMap<SessionId, u64>,
    /// Wall time of the phase.
    pub(super) wall: Duration,
}

pub(super) fn summarize(name: &'static str, sessions: usize, writers: usize, s: &Samples) -> Phase {
    let mut lat = s.latencies.clone();
    lat.sort();
    let mut waits = s.lock_waits.clone();
    waits.sort();
    let seconds = s.wall.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let pct = |v: &[Duration], p: f64| {
        if v.is_empty() {
            0.0
        } else {
            ms(v[((v.len() - 1) as f64 * p).round() as usize])
        }
    };
    Phase {
        name,
        sessions,
        writers,
        updates: lat.len() as u64,
        seconds,
        updates_per_sec: if seconds > 0.0 {
            lat.len() as f64 / seconds
        } else {
            0.0
        },
        p50_ms: pct(&lat, 0.50),
        p95_ms: pct(&lat, 0.95),
        p99_ms: pct(&lat, 0.99),
        max_ms: lat.last().map_or(0.0, |d| ms(*d)),
        lock_wait_p99_ms: pct(&waits, 0.99),
        lock_wait_max_ms: waits.last().map_or(0.0, |d| ms(*d)),
        commits: 0,
        mean_batch: 0.0,
        max_batch: 0,
    }
}

/// The criteria (redb is held to them; other backends' figures are reported beside).
pub(super) fn criteria(phases: &[Phase], lost: u64) -> Vec<Criterion> {
    let find = |n: &str| phases.iter().find(|p| p.name == n);
    let ratio = |a: &Phase, b: &Phase| a.updates_per_sec / b.updates_per_sec.max(1e-9);
    let mut out = Vec::new();
    if let (Some(bare), Some(single)) = (find("bare"), find("single")) {
        let overhead = single.p50_ms / bare.p50_ms.max(1e-9) - 1.0;
        out.push(Criterion {
            name: "single-session overhead of the concurrency layer (p50 vs bare store commit)"
                .into(),
            value: overhead * 100.0,
            target: "<= 10 %".into(),
            pass: overhead <= 0.10,
        });
    }
    if let (Some(single), Some(scale)) = (find("single"), find("scale")) {
        let r = ratio(scale, single);
        out.push(Criterion {
            name: format!(
                "{} sessions created and updated at once vs one writer on one session",
                scale.sessions
            ),
            value: r,
            target: ">= 10x".into(),
            pass: r >= 10.0,
        });
    }
    if let (Some(single), Some(embed)) = (find("single"), find("embed")) {
        let r = ratio(embed, single);
        out.push(Criterion {
            name: format!(
                "embedding program: {} sessions created at once then updated 20x each vs one writer",
                embed.sessions
            ),
            value: r,
            target: ">= 10x".into(),
            pass: r >= 10.0,
        });
    }
    if let (Some(single), Some(hot)) = (find("single"), find("hot")) {
        let r = ratio(hot, single);
        out.push(Criterion {
            name: format!(
                "{} writers on one session vs one writer (throughput ratio)",
                hot.writers
            ),
            value: r,
            target: ">= 5x".into(),
            pass: r >= 5.0,
        });
        out.push(Criterion {
            name: "hot session lock wait p99 (ms)".into(),
            value: hot.lock_wait_p99_ms,
            target: "<= 10 ms".into(),
            pass: hot.lock_wait_p99_ms <= 10.0,
        });
    }
    if let (Some(one), Some(all)) = (find("create1"), find("create")) {
        let r = ratio(all, one);
        out.push(Criterion {
            name: format!("{} concurrent creations vs one at a time", all.sessions),
            value: r,
            target: ">= 5x".into(),
            pass: r >= 5.0,
        });
    }
    let p99 = phases
        .iter()
        .map(|p| p.lock_wait_p99_ms)
        .fold(0.0, f64::max);
    out.push(Criterion {
        name: "lock wait p99, every phase (ms)".into(),
        value: p99,
        target: "< 100 ms".into(),
        pass: p99 < 100.0,
    });
    out.push(Criterion {
        name: "lost updates".into(),
        value: lost as f64,
        target: "0".into(),
        pass: lost == 0,
    });
    out
}

#[allow(clippy::print_stdout)] // xtask's report goes to stdout
pub(super) fn print_report(r: &Report) {
    println!(
        "backend: {:?}   document: ~{} bytes",
        r.backend, r.doc_bytes
    );
    println!(
        "{:<7} {:>8} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11} {:>8} {:>6} {:>6}",
        "phase",
        "sessions",
        "writers",
        "updates",
        "updates/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "lockw p99",
        "lockw max",
        "commits",
        "batch",
        "bmax"
    );
    for p in &r.phases {
        println!(
            "{:<7} {:>8} {:>7} {:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>11.2} {:>11.2} {:>8} {:>6.1} {:>6}",
            p.name,
            p.sessions,
            p.writers,
            p.updates,
            p.updates_per_sec,
            p.p50_ms,
            p.p95_ms,
            p.p99_ms,
            p.max_ms,
            p.lock_wait_p99_ms,
            p.lock_wait_max_ms,
            p.commits,
            p.mean_batch,
            p.max_batch
        );
    }
    println!(
        "conflicts {}  retries {}  lock timeouts {}  lost updates {}",
        r.conflicts, r.retries, r.lock_timeouts, r.lost_updates
    );
    for c in &r.criteria {
        println!(
            "[{}] {}: {:.2} (target {})",
            if c.pass { "PASS" } else { "FAIL" },
            c.name,
            c.value,
            c.target
        );
    }
}
