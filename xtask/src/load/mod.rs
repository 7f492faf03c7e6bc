//! `cargo xtask load`: concurrent workflows against a backend, checked for lost updates.
//!
//! Phases, each on its own sessions of one store:
//! - `raw` (redb only): a bare redb write transaction per update of the same bytes, on a
//!   separate file — the floor of what a durable update can cost;
//! - `bare`: one session updated through the store's own `get` + `replace`, no `Sessions`;
//! - `create1` / `create`: `--sessions` creations through `Sessions`, one after the other
//!   and then all at once (which share the store's group commit);
//! - `single`: one session through `Sessions::update` (lock + versioned update);
//! - `locked`: one session through `lock()` + `guard.update`, a step's shape (on a
//!   multi-process redb file the cross-process step lock is taken and released each time);
//! - `scale`: `--sessions` sessions created at once and updated concurrently through
//!   `Sessions::update`, the creations counted as writes (an embedding program's start);
//! - `hot`: `--hot-writers` (64) writers sharing one session through `Sessions::update`, whose
//!   concurrent updates combine into shared commits (the report shows the batch sizes);
//! - `embed`: the embedding program, `--embed-sessions` (99) sessions created at once
//!   and then updated 20 times each, the creations counted as writes, timed from the first
//!   creation.
//!
//! Each phase runs on a fresh `Sessions` over the one store, so its commit counts are its own.
//!
//! This module holds the flags, the run and the store opening; `phases.rs` the phases and the
//! lost-update check, `report.rs` the summaries, the criteria and the printed report.

mod phases;
mod report;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde::Serialize;
use session_core::{SessionId, SessionStore, Sessions, SessionsConfig};
use store_open::StoreSpec;

use self::report::{Criterion, Report, Samples};

#[derive(Args, Debug, Clone)]
pub(crate) struct LoadArgs {
    /// The backend under load: redb, sled, memory (the concurrency layer alone) or etcd
    /// (needs --etcd-endpoints).
    #[arg(long, value_enum, default_value_t = Backend::Redb)]
    pub(crate) backend: Backend,
    /// Concurrent sessions in the scale phase.
    #[arg(long, default_value_t = 100)]
    pub(crate) sessions: usize,
    /// Updates per session (per writer in the hot phase).
    #[arg(long, default_value_t = 50)]
    pub(crate) updates: u64,
    /// Updates of the single-session baseline phases (raw, bare, single): enough samples for
    /// a stable p50.
    #[arg(long, default_value_t = 1000)]
    pub(crate) baseline_updates: u64,
    /// Writers sharing one hot session (0: skip the hot phase).
    #[arg(long, default_value_t = 64)]
    pub(crate) hot_writers: usize,
    /// Sessions of the `embed` phase, created at once and updated 20 times each (0: skip).
    #[arg(long, default_value_t = 99)]
    pub(crate) embed_sessions: usize,
    /// Approximate size of each session document in bytes.
    #[arg(long, default_value_t = 1700)]
    pub(crate) doc_bytes: usize,
    /// Drive the `container-kit-mcp` binary over stdio (N concurrent workflows of K step
    /// calls) instead of the library.
    #[arg(long)]
    pub(crate) via_server: bool,
    /// Run each phase for this long instead of a fixed number of updates (e.g. `10s`).
    #[arg(long, value_parser = store_open::parse_duration)]
    pub(crate) duration: Option<Duration>,
    /// etcd endpoints for `--backend etcd` (comma-separated); each run uses a fresh key prefix.
    #[arg(long, env = "ETCD_ENDPOINTS", value_delimiter = ',')]
    pub(crate) etcd_endpoints: Vec<String>,
    #[command(flatten)]
    pub(crate) etcd: crate::etcd_args::EtcdArgs,
    /// redb: hold the file exclusively instead of in the default multi-process mode (to
    /// measure what sharing the file between processes costs).
    #[arg(long)]
    pub(crate) redb_exclusive: bool,
    /// Store location (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub(crate) path: Option<PathBuf>,
    /// Write the report as JSON here too.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
}

/// The backend under load; the report names it in lowercase.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Backend {
    /// A redb file in the run's directory (`load.redb`); adds the `raw` phase.
    Redb,
    /// A sled directory in the run's directory (`load.sled`).
    Sled,
    /// In memory: the cost of the concurrency layer alone.
    Memory,
    /// An etcd cluster (`--etcd-endpoints`), under a fresh key prefix per run.
    Etcd,
}

/// Runs `cargo xtask load`: every phase, the lost-update check, the report (stdout and
/// `--json`); an error when an acknowledged update was lost.
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
    report::print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if report.lost_updates > 0 {
        bail!("{} updates were lost", report.lost_updates);
    }
    Ok(())
}

/// The store under load, through store-open: a fresh file (or etcd key prefix) per run.
async fn open(args: &LoadArgs, dir: &std::path::Path) -> anyhow::Result<Arc<dyn SessionStore>> {
    let backend = match args.backend {
        Backend::Etcd => {
            if args.etcd_endpoints.is_empty() {
                bail!("--backend etcd needs --etcd-endpoints (or ETCD_ENDPOINTS)");
            }
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_nanos();
            store_open::Backend::Etcd {
                endpoints: args.etcd_endpoints.clone(),
                prefix: format!("xtask-load/{nanos}/"),
            }
        }
        Backend::Memory => store_open::Backend::Memory,
        Backend::Sled => store_open::Backend::Sled(dir.join("load.sled")),
        Backend::Redb => store_open::Backend::Redb(dir.join("load.redb")),
    };
    let options = match args.backend {
        Backend::Etcd => args.etcd.options()?,
        _ => store_open::OpenOptions {
            redb_exclusive: args.redb_exclusive,
            ..store_open::OpenOptions::default()
        },
    };
    let spec = StoreSpec { backend, options };
    Ok(store_open::open(&spec).await?)
}

async fn load(args: &LoadArgs, dir: &std::path::Path) -> anyhow::Result<Report> {
    if args.via_server {
        return load_via_server(args, dir).await;
    }
    let store = open(args, dir).await?;
    let fresh = || Sessions::new(Arc::clone(&store), SessionsConfig::default());
    let mut totals = session_core::SessionsStats::default();
    let doc = phases::document(args.doc_bytes);
    let baseline = if args.duration.is_some() {
        0
    } else {
        args.baseline_updates * 3
    };
    let total = baseline
        + per_phase(args, args.sessions)
        + per_phase(args, args.hot_writers)
        + args.embed_sessions as u64 * 20;

    let bar = crate::progress::progress_bar(total, "updates");
    let mut phases = Vec::new();
    let mut all_acked: BTreeMap<SessionId, u64> = BTreeMap::new();

    if args.backend == Backend::Redb {
        phases.push(phases::raw_redb(args, dir, &doc)?);
    }
    let bare = phases::bare_store(args, &store, &doc, &bar).await?;
    phases.push(report::summarize("bare", 1, 1, &bare));
    all_acked.extend(bare.acked);
    if args.duration.is_none() && args.sessions > 0 {
        for (name, concurrent) in [("create1", false), ("create", true)] {
            let sessions = fresh();
            let samples = phases::creations(&sessions, name, args.sessions, concurrent).await?;
            let mut phase = report::summarize(name, args.sessions, args.sessions, &samples);
            phase.add_stats(&sessions.stats(), &mut totals);
            phases.push(phase);
        }
    }
    let run = |name, sessions, writers, updates, create_inside| phases::Run {
        name,
        sessions,
        writers,
        updates,
        create_inside,
        locked: name == "locked",
    };
    let runs = [
        run("single", 1, 1, args.baseline_updates, false),
        // A step's shape: lock() + one guard.update (on redb: the cross-process lock too).
        run("locked", 1, 1, args.baseline_updates, false),
        run("scale", args.sessions, args.sessions, args.updates, true),
        run("hot", 1, args.hot_writers, args.updates, false),
        // The embedding program: 99 sessions created at once, then 20 updates each.
        run("embed", args.embed_sessions, args.embed_sessions, 20, true),
    ];
    for r in &runs {
        if r.writers == 0 || r.sessions == 0 || (r.name == "embed" && args.duration.is_some()) {
            continue;
        }
        let sessions = fresh();
        let samples = phases::through_sessions(args, &sessions, r, &doc, &bar).await?;
        let mut phase = report::summarize(r.name, r.sessions, r.writers, &samples);
        phase.add_stats(&sessions.stats(), &mut totals);
        phases.push(phase);
        for (id, n) in samples.acked {
            *all_acked.entry(id).or_default() += n;
        }
    }
    bar.finish_and_clear();

    let lost = phases::verify(&store, &all_acked).await?;
    let stats = totals;
    let criteria = report::criteria(&phases, lost);
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
    let mut phase = report::summarize("server", args.sessions, args.sessions, &samples);
    let stat = |k: &str| run.stats.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    phase.lock_wait_max_ms = stat("lock_wait_max_us") as f64 / 1e3;
    // The server's commits also count its creations and start_workflow's own updates.
    phase.commits = stat("commits");
    phase.max_batch = stat("batch_max");
    if phase.commits > 0 {
        phase.mean_batch = phase.updates as f64 / phase.commits as f64;
    }
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
