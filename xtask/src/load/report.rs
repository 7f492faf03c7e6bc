//! What a load run measured: per-phase summaries, the seed plan's criteria, the report
//! printed on stdout (and written as JSON with `--json`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use session_core::SessionId;

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
    }
}

pub(super) fn criteria(phases: &[Phase]) -> Vec<Criterion> {
    let find = |n: &str| phases.iter().find(|p| p.name == n);
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
        let ratio = scale.updates_per_sec / single.updates_per_sec.max(1e-9);
        out.push(Criterion {
            name: format!(
                "scaling from 1 to {} sessions (throughput ratio)",
                scale.sessions
            ),
            value: ratio,
            target: ">= 10x".into(),
            pass: ratio >= 10.0,
        });
    }
    let p99 = phases
        .iter()
        .map(|p| p.lock_wait_p99_ms)
        .fold(0.0, f64::max);
    out.push(Criterion {
        name: "lock wait p99 (ms)".into(),
        value: p99,
        target: "< 100 ms".into(),
        pass: p99 < 100.0,
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
        "{:<7} {:>8} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>11} {:>11}",
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
        "lockw max"
    );
    for p in &r.phases {
        println!(
            "{:<7} {:>8} {:>7} {:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>11.2} {:>11.2}",
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
            p.lock_wait_max_ms
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
