//! The load phases (raw, bare, create1/create, single/scale/hot) and the lost-update check
//! at the end.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::ProgressBar;
use serde_json::json;
use session_core::{Session, SessionId, SessionStore, Sessions};

use super::report::{summarize, Phase, Samples};
use super::LoadArgs;

/// A workflow_state of ten step entries, padded to about `bytes` bytes of JSON.
pub(super) fn document(bytes: usize) -> serde_json::Value {
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

pub(super) fn bump(s: &mut Session, doc: &serde_json::Value) -> u64 {
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
pub(super) fn raw_redb(
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
pub(super) async fn bare_store(
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

/// What one phase through `Sessions::update` runs.
pub(super) struct Run {
    pub(super) name: &'static str,
    pub(super) sessions: usize,
    pub(super) writers: usize,
    /// Updates per writer.
    pub(super) updates: u64,
    /// Create the sessions concurrently inside the timed run, each creation counted as a
    /// write (an embedding program's start), instead of before it.
    pub(super) create_inside: bool,
    /// Each update through `lock()` + `guard.update` (a step's shape) instead of
    /// `Sessions::update`.
    pub(super) locked: bool,
}

/// One phase through `Sessions::update` (the README's API, which combines concurrent
/// updates of one session). A sample's lock wait is the time until the caller's closure got
/// the session (the closure runs as soon as the caller holds the lock).
pub(super) async fn through_sessions(
    args: &LoadArgs,
    sessions: &Sessions,
    run: &Run,
    doc: &serde_json::Value,
    bar: &ProgressBar,
) -> anyhow::Result<Samples> {
    let ids: Vec<SessionId> = (0..run.sessions)
        .map(|i| SessionId::new(format!("{}-{i}", run.name)))
        .collect::<Result<_, _>>()?;
    let create_inside = run.create_inside;
    if !create_inside {
        for id in &ids {
            sessions.create(id).await?;
        }
    }
    let deadline = args.duration.map(|d| Instant::now() + d);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..run.writers {
        let (sessions, id, doc, bar) = (
            sessions.clone(),
            ids[w % ids.len()].clone(),
            doc.clone(),
            bar.clone(),
        );
        let updates = run.updates;
        let locked = run.locked;
        let creates = create_inside && w < ids.len();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut waits = Vec::new();
            if creates {
                let t = Instant::now();
                sessions.create(&id).await?;
                lat.push(t.elapsed());
            }
            let mut n = 0u64;
            while deadline.map_or(n < updates, |d| Instant::now() < d) {
                let t = Instant::now();
                let mut waited = None;
                let update = |s: &mut Session| {
                    waited.get_or_insert_with(|| t.elapsed());
                    Ok(bump(s, &doc))
                };
                if locked {
                    let guard = sessions.lock(&id).await?;
                    guard.update(update).await?;
                } else {
                    sessions.update(&id, update).await?;
                }
                waits.extend(waited);
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

/// `n` creations through `Sessions::create`: all at once (`concurrent`), or one after the
/// other (the baseline the concurrent run is compared with).
pub(super) async fn creations(
    sessions: &Sessions,
    phase: &str,
    n: usize,
    concurrent: bool,
) -> anyhow::Result<Samples> {
    let ids: Vec<SessionId> = (0..n)
        .map(|i| SessionId::new(format!("{phase}-{i}")))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    if concurrent {
        let tasks: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let sessions = sessions.clone();
                tokio::spawn(async move {
                    let t = Instant::now();
                    sessions.create(&id).await.map(|_| t.elapsed())
                })
            })
            .collect();
        for t in tasks {
            latencies.push(t.await.context("create task panicked")??);
        }
    } else {
        for id in &ids {
            let t = Instant::now();
            sessions.create(id).await?;
            latencies.push(t.elapsed());
        }
    }
    Ok(Samples {
        latencies,
        lock_waits: Vec::new(),
        acked: BTreeMap::new(),
        wall: start.elapsed(),
    })
}

pub(super) async fn verify(
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
