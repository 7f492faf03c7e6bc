//! `cargo xtask load`: concurrent workflows against a backend, checked for lost updates.
//!
//! Phases, each on its own sessions of one store:
//! - `raw` (redb only): a bare redb write transaction per update of the same bytes, on a
//!   separate file — the floor of what a durable update can cost;
//! - `bare`: one session updated through the store's own `get` + `replace`, no `Sessions`;
//! - `single`: one session through `Sessions` (lock + versioned update);
//! - `scale`: `--sessions` sessions updated concurrently through `Sessions`;
//! - `hot`: `--hot-writers` writers sharing one session.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use session_core::{MemoryStore, Session, SessionId, SessionStore, Sessions, SessionsConfig};
use session_redb::{RedbConfig, RedbStore};

#[derive(Args, Debug, Clone)]
pub(crate) struct LoadArgs {
    /// The backend under load.
    #[arg(long, value_enum, default_value_t = Backend::Redb)]
    backend: Backend,
    /// Concurrent sessions in the scale phase.
    #[arg(long, default_value_t = 100)]
    sessions: usize,
    /// Updates per session (per writer in the hot phase).
    #[arg(long, default_value_t = 50)]
    updates: u64,
    /// Updates of the single-session baseline phases (raw, bare, single): enough samples for
    /// a stable p50.
    #[arg(long, default_value_t = 1000)]
    baseline_updates: u64,
    /// Writers sharing one hot session (0: skip the hot phase).
    #[arg(long, default_value_t = 0)]
    hot_writers: usize,
    /// Approximate size of each session document in bytes.
    #[arg(long, default_value_t = 1700)]
    doc_bytes: usize,
    /// Drive the `container-kit-mcp` binary over stdio (N concurrent workflows of K step
    /// calls) instead of the library.
    #[arg(long)]
    via_server: bool,
    /// Run each phase for this long instead of a fixed number of updates (e.g. `10s`).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// etcd endpoints for `--backend etcd` (comma-separated); each run uses a fresh key prefix.
    #[arg(long, env = "ETCD_ENDPOINTS", value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
    /// Store location (default: a temporary directory, removed afterwards).
    #[arg(long)]
    path: Option<PathBuf>,
    /// Write the report as JSON here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Backend {
    Redb,
    Sled,
    Memory,
    Etcd,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(s.len()),
    );
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}; use e.g. 500ms, 10s, 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("invalid duration unit in {s:?}; use ms, s or m")),
    }
}

/// What a phase measured.
#[derive(Debug, Serialize)]
struct Phase {
    name: &'static str,
    sessions: usize,
    writers: usize,
    updates: u64,
    seconds: f64,
    updates_per_sec: f64,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    lock_wait_p99_ms: f64,
    lock_wait_max_ms: f64,
}

#[derive(Debug, Serialize)]
struct Criterion {
    name: String,
    value: f64,
    target: String,
    pass: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    backend: Backend,
    doc_bytes: usize,
    phases: Vec<Phase>,
    conflicts: u64,
    retries: u64,
    lock_timeouts: u64,
    lost_updates: u64,
    criteria: Vec<Criterion>,
}

struct Samples {
    latencies: Vec<Duration>,
    lock_waits: Vec<Duration>,
    /// session → acknowledged updates
    acked: BTreeMap<SessionId, u64>,
    /// Wall time of the phase.
    wall: Duration,
}

pub(crate) fn run(args: LoadArgs) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = rt.block_on(load(&args, &dir))?;
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if report.lost_updates > 0 {
        bail!("{} updates were lost", report.lost_updates);
    }
    Ok(())
}

fn open(args: &LoadArgs, dir: &std::path::Path) -> anyhow::Result<Arc<dyn SessionStore>> {
    Ok(match args.backend {
        Backend::Etcd => {
            if args.etcd_endpoints.is_empty() {
                bail!("--backend etcd needs --etcd-endpoints (or ETCD_ENDPOINTS)");
            }
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos();
            let config = session_etcd::EtcdConfig {
                prefix: format!("xtask-load/{nanos}/"),
                ..session_etcd::EtcdConfig::default()
            };
            Arc::new(session_etcd::EtcdStore::new(
                args.etcd_endpoints.clone(),
                config,
            )?)
        }
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Sled => Arc::new(session_sled::SledStore::open(dir.join("load.sled"))?),

        Backend::Redb => Arc::new(RedbStore::open_with(
            dir.join("load.redb"),
            RedbConfig::default(),
        )?),
    })
}

async fn load(args: &LoadArgs, dir: &std::path::Path) -> anyhow::Result<Report> {
    if args.via_server {
        return load_via_server(args, dir).await;
    }
    let store = open(args, dir)?;
    let sessions = Sessions::new(Arc::clone(&store), SessionsConfig::default());
    let doc = document(args.doc_bytes);
    let baseline = if args.duration.is_some() {
        0
    } else {
        args.baseline_updates * 2
    };
    let total = baseline + per_phase(args, args.sessions) + per_phase(args, args.hot_writers);

    let bar = progress(total);
    let mut phases = Vec::new();
    let mut all_acked: BTreeMap<SessionId, u64> = BTreeMap::new();

    if args.backend == Backend::Redb {
        phases.push(raw_redb(args, dir, &doc)?);
    }
    let bare = bare_store(args, &store, &doc, &bar).await?;
    phases.push(summarize("bare", 1, 1, &bare));
    all_acked.extend(bare.acked);
    let runs: [(&'static str, usize, usize); 3] = [
        ("single", 1, 1),
        ("scale", args.sessions, args.sessions),
        ("hot", 1, args.hot_writers),
    ];
    for (name, n_sessions, writers) in runs {
        if writers == 0 || n_sessions == 0 {
            continue;
        }
        let samples =
            through_sessions(args, &sessions, name, n_sessions, writers, &doc, &bar).await?;
        phases.push(summarize(name, n_sessions, writers, &samples));
        for (id, n) in samples.acked {
            *all_acked.entry(id).or_default() += n;
        }
    }
    bar.finish_and_clear();

    let lost = verify(&store, &all_acked).await?;
    let stats = sessions.stats();
    let criteria = criteria(&phases);
    Ok(Report {
        backend: args.backend,
        doc_bytes: args.doc_bytes,
        phases,
        conflicts: stats.conflicts,
        retries: stats.retries,
        lock_timeouts: stats.lock_timeouts,
        lost_updates: lost,
        criteria,
    })
}

async fn load_via_server(args: &LoadArgs, dir: &std::path::Path) -> anyhow::Result<Report> {
    if args.duration.is_some() {
        bail!("--via-server counts step calls: use --updates, not --duration");
    }
    let backend = match args.backend {
        Backend::Redb => "redb",
        Backend::Sled => "sled",
        Backend::Memory => "memory",
        Backend::Etcd => {
            bail!("--via-server with etcd: start the server yourself with --store etcd")
        }
    };
    let run = crate::via_server::run(backend, dir, args.sessions, args.updates).await?;
    let samples = Samples {
        latencies: run.latencies,
        lock_waits: Vec::new(),
        acked: BTreeMap::new(),
        wall: run.wall,
    };
    let mut phase = summarize("server", args.sessions, args.sessions, &samples);
    let stat = |k: &str| run.stats.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    phase.lock_wait_max_ms = stat("lock_wait_max_us") as f64 / 1e3;
    let criteria = vec![Criterion {
        name: "max lock wait in the server (ms)".into(),
        value: phase.lock_wait_max_ms,
        target: "< 100 ms".into(),
        pass: phase.lock_wait_max_ms < 100.0,
    }];
    Ok(Report {
        backend: args.backend,
        doc_bytes: 0,
        phases: vec![phase],
        conflicts: stat("conflicts"),
        retries: stat("retries"),
        lock_timeouts: stat("lock_timeouts"),
        lost_updates: run.lost,
        criteria,
    })
}

fn per_phase(args: &LoadArgs, writers: usize) -> u64 {
    if args.duration.is_some() {
        0
    } else {
        writers as u64 * args.updates
    }
}

fn progress(total: u64) -> ProgressBar {
    progress_bar(total, "updates")
}

/// A progress bar on stderr when it is a terminal; hidden otherwise (CI, pipes).
pub(crate) fn progress_bar(total: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{per_sec}} {{msg}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// A workflow_state of ten step entries, padded to about `bytes` bytes of JSON.
fn document(bytes: usize) -> serde_json::Value {
    let entries: serde_json::Map<String, serde_json::Value> = mcp_tools::Step::ALL
        .iter()
        .map(|s| s.name())
        .map(|s| {
            (
                s.to_string(),
                json!({"status": "completed", "attempt": 1, "duration_ms": 1234}),
            )
        })
        .collect();
    let base = json!({"repo_path": "/workspace/app", "status": "running", "steps": entries});
    let pad = bytes.saturating_sub(base.to_string().len() + 20);
    let mut doc = base;
    doc["notes"] = json!("n".repeat(pad));
    doc
}

fn bump(s: &mut Session, doc: &serde_json::Value) -> u64 {
    let n = s
        .metadata
        .get("counter")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
        + 1;
    s.metadata.insert("counter".into(), json!(n));
    s.metadata.insert("workflow_state".into(), doc.clone());
    n
}

/// The floor: one redb write transaction per update, same bytes, no adapter.
fn raw_redb(
    args: &LoadArgs,
    dir: &std::path::Path,
    doc: &serde_json::Value,
) -> anyhow::Result<Phase> {
    const TABLE: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("raw");
    let db = redb::Database::create(dir.join("raw.redb"))?;
    let id = SessionId::new("raw-0")?;
    let mut session = Session::new(id.clone(), chrono::Utc::now(), Duration::from_secs(3600));
    let mut latencies = Vec::new();
    let deadline = args.duration.map(|d| Instant::now() + d);
    let start = Instant::now();
    for i in 0.. {
        if deadline.map_or(i >= args.baseline_updates, |d| Instant::now() >= d) {
            break;
        }
        let t = Instant::now();
        bump(&mut session, doc);
        let bytes = session_core::adapter::encode_record(session_core::Version(i + 1), &session)?;
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?
            .insert(id.as_str(), bytes.as_slice())?;
        txn.commit()?;
        latencies.push(t.elapsed());
    }
    let samples = Samples {
        latencies,
        lock_waits: Vec::new(),
        acked: BTreeMap::new(),
        wall: start.elapsed(),
    };
    Ok(summarize("raw", 1, 1, &samples))
}

/// One session through the store's own compare-and-swap, without `Sessions`.
async fn bare_store(
    args: &LoadArgs,
    store: &Arc<dyn SessionStore>,
    doc: &serde_json::Value,
    bar: &ProgressBar,
) -> anyhow::Result<Samples> {
    let id = SessionId::new("bare-0")?;
    store
        .insert(Session::new(
            id.clone(),
            chrono::Utc::now(),
            Duration::from_secs(3600),
        ))
        .await?;
    let mut latencies = Vec::new();
    let deadline = args.duration.map(|d| Instant::now() + d);
    let start = Instant::now();
    let mut n = 0;
    while deadline.map_or(n < args.baseline_updates, |d| Instant::now() < d) {
        let t = Instant::now();
        let cur = store.get(&id).await?.context("bare session vanished")?;
        let mut s = cur.value;
        bump(&mut s, doc);
        store.replace(cur.version, s).await?;
        latencies.push(t.elapsed());
        n += 1;
        bar.inc(1);
    }
    Ok(Samples {
        latencies,
        lock_waits: Vec::new(),
        acked: BTreeMap::from([(id, n)]),
        wall: start.elapsed(),
    })
}

async fn through_sessions(
    args: &LoadArgs,
    sessions: &Sessions,
    phase: &str,
    n_sessions: usize,
    writers: usize,
    doc: &serde_json::Value,
    bar: &ProgressBar,
) -> anyhow::Result<Samples> {
    let ids: Vec<SessionId> = (0..n_sessions)
        .map(|i| SessionId::new(format!("{phase}-{i}")))
        .collect::<Result<_, _>>()?;
    for id in &ids {
        sessions.create(id).await?;
    }
    let deadline = args.duration.map(|d| Instant::now() + d);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (sessions, id, doc, bar) = (
            sessions.clone(),
            ids[w % ids.len()].clone(),
            doc.clone(),
            bar.clone(),
        );
        let updates = if phase == "single" {
            args.baseline_updates
        } else {
            args.updates
        };
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut waits = Vec::new();
            let mut n = 0u64;
            while deadline.map_or(n < updates, |d| Instant::now() < d) {
                let t = Instant::now();
                let guard = sessions.lock(&id).await?;
                waits.push(guard.waited());
                guard.update(|s| Ok(bump(s, &doc))).await?;
                drop(guard);
                lat.push(t.elapsed());
                n += 1;
                bar.inc(1);
            }
            Ok::<_, session_core::StoreError>((id, n, lat, waits))
        }));
    }
    let mut samples = Samples {
        latencies: Vec::new(),
        lock_waits: Vec::new(),
        acked: BTreeMap::new(),
        wall: Duration::ZERO,
    };
    for t in tasks {
        let (id, n, lat, waits) = t.await.context("load task panicked")??;
        *samples.acked.entry(id).or_default() += n;
        samples.latencies.extend(lat);
        samples.lock_waits.extend(waits);
    }
    samples.wall = start.elapsed();
    Ok(samples)
}

fn summarize(name: &'static str, sessions: usize, writers: usize, s: &Samples) -> Phase {
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

async fn verify(
    store: &Arc<dyn SessionStore>,
    acked: &BTreeMap<SessionId, u64>,
) -> anyhow::Result<u64> {
    let mut lost = 0;
    for (id, n) in acked {
        let got = store
            .get(id)
            .await?
            .with_context(|| format!("session {id} is missing"))?;
        let counter = got
            .value
            .metadata
            .get("counter")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if counter != *n || got.version.get() != n + 1 {
            eprintln!(
                "LOST: {id}: acknowledged {n} updates, stored counter {counter} at version {}",
                got.version
            );
            lost += n.abs_diff(counter).max(1);
        }
    }
    Ok(lost)
}

fn criteria(phases: &[Phase]) -> Vec<Criterion> {
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
fn print_report(r: &Report) {
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
