//! `cargo xtask migrate --from KIND:PATH --to KIND:PATH`: copies every session with its
//! version and expiry between backends (redb, sled, etcd), upgrades old record formats, and
//! imports the Go container-kit server's BoltDB store (`bolt:PATH`).
//!
//! The source is never modified: redb is opened read-only, a sled directory is copied and
//! the copy opened, a bolt file is read into memory. The target must be empty unless
//! `--force`; records are written with `WriteOp::Restore` (their own versions) in atomic
//! batches, so a rerun after an interruption, with `--force`, finishes the job. At the end
//! every record is read back and compared byte for byte (the codec's CRC included).
//!
//! This module holds the flags, the plan and the copy; `read.rs` reads each kind of source,
//! `verify.rs` compares the target with the source.

mod read;
mod verify;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use session_core::{Session, SessionStore, Versioned, WriteOp};
use store_open::{Backend, SpecError, StoreSpec};

/// Records per etcd transaction, within etcd's default `--max-txn-ops`: the budget is
/// stated once, in the README ("The `--max-txn-ops` budget").
const ETCD_BATCH: usize = 40;

/// Where sessions come from or go to: a store (parsed by store-open) or a Go server's
/// BoltDB file, which can only be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `redb:PATH`, `sled:PATH` or `etcd:URL[,URL…]` (the prefix comes from `--etcd-prefix`).
    Store(Backend),
    /// `bolt:PATH`: the Go container-kit server's store, imported read-only.
    Bolt(PathBuf),
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown =
            |kind: &str| format!("unknown store kind {kind:?}: use redb, sled, etcd or bolt");
        match s.split_once(':') {
            Some(("bolt", "")) => Err(SpecError::EmptyLocation(s.to_owned()).to_string()),
            Some(("bolt", path)) => Ok(Endpoint::Bolt(path.into())),
            // Nothing to migrate from or to in a store that lives only in this process.
            Some(("memory", _)) => Err(unknown("memory")),
            _ => match Backend::parse(s) {
                Ok(Backend::Memory) => Err(unknown("memory")),
                Ok(backend) => Ok(Endpoint::Store(backend)),
                Err(SpecError::UnknownKind(kind)) => Err(unknown(&kind)),
                Err(e) => Err(e.to_string()),
            },
        }
    }
}

#[derive(Args, Debug, Clone)]
pub(crate) struct MigrateArgs {
    /// Source: redb:PATH, sled:PATH, etcd:URL[,URL…], or bolt:PATH (a Go container-kit
    /// BoltDB store).
    #[arg(long)]
    pub(crate) from: Endpoint,
    /// Target: redb:PATH, sled:PATH or etcd:URL[,URL…].
    #[arg(long)]
    pub(crate) to: Endpoint,
    /// The etcd key prefix of the sessions (source and target).
    #[arg(long, default_value = "container-kit/")]
    pub(crate) etcd_prefix: String,
    #[command(flatten)]
    pub(crate) etcd: crate::etcd_args::EtcdArgs,
    /// Write into a target that already holds sessions (overwriting same ids).
    #[arg(long)]
    pub(crate) force: bool,
    /// Read and check the source and report what would be copied; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Leave out sessions whose TTL has run out (by default they are copied and read as
    /// expired until purged).
    #[arg(long)]
    pub(crate) skip_expired: bool,
    /// Records per atomic batch: an interrupted migration loses at most the batch in flight.
    /// Capped at 40 for an etcd target (the README's --max-txn-ops budget).
    #[arg(long, default_value_t = 500)]
    pub(crate) batch: usize,
    /// Write the report as JSON here too.
    #[arg(long)]
    pub(crate) json: Option<PathBuf>,
}

/// What a migration did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct MigrationReport {
    pub(crate) source_records: usize,
    /// Format version → records of that version found in the source (bolt: `"go-json"`).
    pub(crate) source_formats: BTreeMap<String, usize>,
    pub(crate) corrupt: Vec<String>,
    pub(crate) expired: usize,
    pub(crate) skipped_expired: usize,
    pub(crate) copied: usize,
    pub(crate) verified: usize,
    pub(crate) mismatched: Vec<String>,
    pub(crate) target_count: u64,
    pub(crate) dry_run: bool,
}

/// Runs `cargo xtask migrate`: the migration, the report (stdout and `--json`); an error
/// when a record differs after the copy or a source record was corrupt.
pub(crate) fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let report = rt.block_on(migrate(&args))?;
    print_report(&report);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if !report.mismatched.is_empty() {
        bail!(
            "{} records differ between source and target after the copy",
            report.mismatched.len()
        );
    }
    if !report.corrupt.is_empty() {
        bail!(
            "{} source records are corrupt and were not copied: {}",
            report.corrupt.len(),
            report.corrupt.join(", ")
        );
    }
    Ok(())
}

/// A source record in the current format.
pub(super) struct Record {
    /// The session with its version, as it is written to the target.
    pub(super) versioned: Versioned<Session>,
    /// Its encoding in the current format: what the target must hold afterwards.
    pub(super) bytes: Vec<u8>,
}

/// Reads the source, checks the target (empty, or `--force`), copies in atomic batches
/// and verifies every record; with `--dry-run` it stops after reading.
pub(crate) async fn migrate(args: &MigrateArgs) -> anyhow::Result<MigrationReport> {
    if matches!(args.to, Endpoint::Bolt(_)) {
        bail!("bolt is an import format only; migrate to redb:PATH or sled:PATH");
    }
    if same_path(&args.from, &args.to) {
        bail!("source and target are the same store");
    }
    let mut report = MigrationReport {
        dry_run: args.dry_run,
        ..Default::default()
    };
    let records = read::read_source(&args.from, &args.etcd_prefix, &args.etcd, &mut report).await?;
    let now = chrono::Utc::now();
    let mut keep = Vec::with_capacity(records.len());
    for r in records {
        if r.versioned.value.is_expired_at(now) {
            report.expired += 1;
            if args.skip_expired {
                report.skipped_expired += 1;
                continue;
            }
        }
        keep.push(r);
    }
    if args.dry_run {
        return Ok(report);
    }
    let target = open_target(&args.to, &args.etcd_prefix, &args.etcd).await?;
    let existing = target.count().await?;
    if existing > 0 && !args.force {
        bail!(
            "the target holds {existing} sessions; rerun with --force to write into it (same ids are overwritten; safe after an interrupted migration)"
        );
    }
    let bar = crate::progress::progress_bar(keep.len() as u64, "records");
    let batch = match args.to {
        Endpoint::Store(Backend::Etcd { .. }) => args.batch.clamp(1, ETCD_BATCH),
        _ => args.batch.max(1),
    };
    for chunk in keep.chunks(batch) {
        let ops = chunk
            .iter()
            .map(|r| WriteOp::Restore(r.versioned.clone()))
            .collect();
        target
            .apply(ops)
            .await
            .context("writing a batch to the target")?;
        report.copied += chunk.len();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    target.flush().await?;
    verify::verify(target.as_ref(), &keep, &mut report).await;
    report.target_count = target.count().await?;
    Ok(report)
}

fn same_path(a: &Endpoint, b: &Endpoint) -> bool {
    let path = |e: &Endpoint| match e {
        Endpoint::Store(Backend::Redb(p) | Backend::Sled(p)) | Endpoint::Bolt(p) => {
            p.canonicalize().unwrap_or_else(|_| p.clone())
        }
        Endpoint::Store(Backend::Etcd { endpoints, .. }) => PathBuf::from(endpoints.join(",")),
        Endpoint::Store(other) => PathBuf::from(other.to_string()),
    };
    path(a) == path(b)
}

/// Opens `endpoint`'s store through store-open, with `--etcd-prefix` for etcd.
pub(super) async fn open_store(
    backend: &Backend,
    etcd_prefix: &str,
    etcd: &crate::etcd_args::EtcdArgs,
) -> anyhow::Result<Arc<dyn SessionStore>> {
    let backend = match backend {
        Backend::Etcd { endpoints, .. } => Backend::Etcd {
            endpoints: endpoints.clone(),
            prefix: etcd_prefix.to_owned(),
        },
        other => other.clone(),
    };
    let options = match backend {
        Backend::Etcd { .. } => etcd.options()?,
        _ => store_open::OpenOptions::default(),
    };
    Ok(store_open::open(&StoreSpec { backend, options }).await?)
}

async fn open_target(
    to: &Endpoint,
    etcd_prefix: &str,
    etcd: &crate::etcd_args::EtcdArgs,
) -> anyhow::Result<Arc<dyn SessionStore>> {
    match to {
        Endpoint::Store(backend) => open_store(backend, etcd_prefix, etcd).await,
        Endpoint::Bolt(_) => bail!("bolt is an import format only"),
    }
}

#[allow(clippy::print_stdout)] // xtask's report goes to stdout
fn print_report(r: &MigrationReport) {
    println!(
        "source records: {}  formats: {:?}",
        r.source_records, r.source_formats
    );
    println!(
        "expired: {} (skipped {})  corrupt: {}",
        r.expired,
        r.skipped_expired,
        r.corrupt.len()
    );
    if r.dry_run {
        println!(
            "dry run: nothing written; {} records would be copied",
            r.source_records - r.corrupt.len() - r.skipped_expired
        );
        return;
    }
    println!(
        "copied: {}  verified byte-identical: {}  mismatched: {}  target now holds: {}",
        r.copied,
        r.verified,
        r.mismatched.len(),
        r.target_count
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::{SessionId, Sessions, SessionsConfig, StoreError, Version};
    use std::path::Path;

    fn redb_at(p: impl AsRef<Path>) -> Endpoint {
        Endpoint::Store(Backend::Redb(p.as_ref().into()))
    }

    fn sled_at(p: impl AsRef<Path>) -> Endpoint {
        Endpoint::Store(Backend::Sled(p.as_ref().into()))
    }

    fn etcd_at(urls: String) -> Endpoint {
        format!("etcd:{urls}").parse().unwrap()
    }

    const BOLT: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/container-kit-sessions.db"
    );

    fn args(from: Endpoint, to: Endpoint) -> MigrateArgs {
        MigrateArgs {
            from,
            to,
            etcd_prefix: "container-kit/".into(),
            etcd: crate::etcd_args::EtcdArgs::default(),
            force: false,
            dry_run: false,
            skip_expired: false,
            batch: 500,
            json: None,
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn the_go_servers_bolt_store_imports_and_its_workflows_are_readable() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("imported.redb");
        let rt = rt();
        let before = std::fs::read(BOLT).unwrap();
        let report = rt
            .block_on(migrate(&args(
                Endpoint::Bolt(BOLT.into()),
                redb_at(target.clone()),
            )))
            .unwrap();
        assert_eq!(
            std::fs::read(BOLT).unwrap(),
            before,
            "the source was modified"
        );
        assert_eq!(
            (
                report.source_records,
                report.copied,
                report.verified,
                report.expired
            ),
            (60, 60, 60, 6)
        );
        assert!(report.corrupt.is_empty() && report.mismatched.is_empty());
        rt.block_on(async {
            let store: Arc<dyn SessionStore> =
                Arc::new(session_redb::RedbStore::open(&target).unwrap());
            let sessions = Sessions::new(store, SessionsConfig::default());
            let tools =
                mcp_tools::Toolbox::new(sessions.clone(), mcp_tools::ToolboxConfig::default());
            let status = tools
                .workflow_status(mcp_tools::SessionParams {
                    session_id: "session-2025-08-20T09-00-27-abc158124".into(),
                })
                .await
                .unwrap();
            assert_eq!(status.current_step, "tag_image");
            assert_eq!(
                status
                    .steps
                    .iter()
                    .filter(|s| s.status == "completed")
                    .count(),
                5
            );
            let expired = SessionId::new("load-test-29").unwrap();
            assert!(matches!(
                sessions.get(&expired).await,
                Err(StoreError::Expired(_))
            ));
        });
        // Skipping expired sessions, into sled this time.
        let mut skip = args(
            Endpoint::Bolt(BOLT.into()),
            sled_at(dir.path().join("imported.sled")),
        );
        skip.skip_expired = true;
        let report = rt.block_on(migrate(&skip)).unwrap();
        assert_eq!(
            (report.copied, report.skipped_expired, report.target_count),
            (54, 6, 54)
        );
    }

    #[test]
    fn sled_to_redb_to_sled_keeps_ten_thousand_records_byte_identical() {
        let dir = tempfile::tempdir().unwrap();
        let (sled1, redb, sled2) = (
            dir.path().join("a.sled"),
            dir.path().join("b.redb"),
            dir.path().join("c.sled"),
        );
        let rt = rt();
        rt.block_on(async {
            let store = session_sled::SledStore::open(&sled1).unwrap();
            let now = chrono::Utc::now();
            for chunk in (0..10_000u64).collect::<Vec<_>>().chunks(1000) {
                let ops = chunk
                    .iter()
                    .map(|i| {
                        let mut s = Session::new(
                            SessionId::new(format!("s-{i:05}")).unwrap(),
                            now,
                            std::time::Duration::from_secs(3600 + i),
                        );
                        s.metadata.insert("i".into(), serde_json::json!(i));
                        s.labels.insert("shard".into(), (i % 7).to_string());
                        WriteOp::Restore(Versioned {
                            version: Version(1 + i % 13),
                            value: s,
                        })
                    })
                    .collect();
                store.apply(ops).await.unwrap();
            }
        });
        rt.block_on(migrate(&args(
            sled_at(sled1.clone()),
            redb_at(redb.clone()),
        )))
        .unwrap();
        let report = rt
            .block_on(migrate(&args(
                redb_at(redb.clone()),
                sled_at(sled2.clone()),
            )))
            .unwrap();
        assert_eq!(
            (report.copied, report.verified, report.target_count),
            (10_000, 10_000, 10_000)
        );
        let a = read::read_sled(&sled1).unwrap();
        let c = read::read_sled(&sled2).unwrap();
        assert_eq!(a.len(), 10_000);
        assert!(
            a == c,
            "records or versions differ after sled -> redb -> sled"
        );
    }

    #[test]
    fn migrations_to_and_from_etcd_keep_every_record() {
        let urls = match session_core::testkit::service_env("ETCD_ENDPOINTS", "start etcd") {
            Ok(e) => e,
            Err(why) => return eprintln!("skipped: {why}"),
        };
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut to_etcd = args(Endpoint::Bolt(BOLT.into()), etcd_at(urls.clone()));
        to_etcd.etcd_prefix = format!("migrate-test/{nanos}/");
        let report = rt.block_on(migrate(&to_etcd)).unwrap();
        assert_eq!(
            (report.copied, report.verified, report.target_count),
            (60, 60, 60)
        );
        let mut from_etcd = args(etcd_at(urls), redb_at(dir.path().join("back.redb")));
        from_etcd.etcd_prefix = to_etcd.etcd_prefix.clone();
        let report = rt.block_on(migrate(&from_etcd)).unwrap();
        assert_eq!(
            (report.source_records, report.verified, report.target_count),
            (60, 60, 60)
        );
    }

    #[test]
    fn migrations_to_and_from_etcd_over_tls_with_auth_keep_every_record() {
        let urls = match session_core::testkit::service_env(
            "ETCD_AUTH_ENDPOINTS",
            "run `bash .ci/etcd-tls.sh start DIR && source DIR/env`",
        ) {
            Ok(e) => e,
            Err(why) => return eprintln!("skipped: {why}"),
        };
        let var = |n: &str| std::env::var(n).unwrap();
        let etcd = crate::etcd_args::EtcdArgs {
            etcd_ca: Some(var("ETCD_AUTH_CA").into()),
            etcd_cert: Some(var("ETCD_AUTH_CERT").into()),
            etcd_key: Some(var("ETCD_AUTH_KEY").into()),
            etcd_user: Some(var("ETCD_AUTH_USER")),
            etcd_password_file: Some(var("ETCD_AUTH_PASSWORD_FILE").into()),
        };
        let dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        // The CI user's role covers test/ only.
        let mut to_etcd = args(Endpoint::Bolt(BOLT.into()), etcd_at(urls.clone()));
        to_etcd.etcd_prefix = format!("test/migrate-{nanos}/");
        to_etcd.etcd = etcd.clone();
        let report = rt.block_on(migrate(&to_etcd)).unwrap();
        assert_eq!(
            (report.copied, report.verified, report.target_count),
            (60, 60, 60)
        );
        let mut from_etcd = args(etcd_at(urls), redb_at(dir.path().join("back.redb")));
        from_etcd.etcd_prefix = to_etcd.etcd_prefix.clone();
        from_etcd.etcd = etcd;
        let report = rt.block_on(migrate(&from_etcd)).unwrap();
        assert_eq!(
            (report.source_records, report.verified, report.target_count),
            (60, 60, 60)
        );
    }

    #[test]
    fn a_non_empty_target_needs_force_and_a_rerun_is_safe() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t.redb");
        let rt = rt();
        let a = args(Endpoint::Bolt(BOLT.into()), redb_at(target.clone()));
        let mut dry = a.clone();
        dry.dry_run = true;
        let report = rt.block_on(migrate(&dry)).unwrap();
        assert_eq!((report.source_records, report.copied), (60, 0));
        assert!(!target.exists(), "a dry run created the target");
        rt.block_on(migrate(&a)).unwrap();
        let err = rt.block_on(migrate(&a)).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
        let mut forced = a.clone();
        forced.force = true;
        let report = rt.block_on(migrate(&forced)).unwrap();
        assert_eq!((report.verified, report.target_count), (60, 60));
        let bad = rt.block_on(migrate(&args(
            redb_at(target.clone()),
            redb_at(target.clone()),
        )));
        assert!(bad.unwrap_err().to_string().contains("same store"));
        assert!("nope:/x".parse::<Endpoint>().is_err());
    }
}
