//! `cargo xtask migrate --from KIND:PATH --to KIND:PATH`: copies every session with its
//! version and expiry between backends (redb, sled), upgrades old record formats, and
//! imports the Go container-kit server's BoltDB store (`bolt:PATH`).
//!
//! The source is never modified: redb is opened read-only, a sled directory is copied and
//! the copy opened, a bolt file is read into memory. The target must be empty unless
//! `--force`; records are written with `WriteOp::Restore` (their own versions) in atomic
//! batches, so a rerun after an interruption, with `--force`, finishes the job. At the end
//! every record is read back and compared byte for byte (the codec's CRC included).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use serde::Serialize;
use session_core::adapter::{decode_record, encode_record};
use session_core::{Session, SessionStore, Version, Versioned, WriteOp};

use crate::bolt::BoltFile;

/// Where sessions come from or go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Redb(PathBuf),
    Sled(PathBuf),
    Bolt(PathBuf),
    /// Comma-separated endpoints, e.g. `etcd:http://127.0.0.1:2379`.
    Etcd(String),
}

impl std::str::FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, path) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?}: use KIND:PATH, e.g. redb:./sessions.redb"))?;
        if path.is_empty() {
            return Err(format!("{s:?}: the path is empty"));
        }
        match kind {
            "redb" => Ok(Endpoint::Redb(path.into())),
            "sled" => Ok(Endpoint::Sled(path.into())),
            "bolt" => Ok(Endpoint::Bolt(path.into())),
            "etcd" => Ok(Endpoint::Etcd(path.into())),
            other => Err(format!(
                "unknown store kind {other:?}: use redb, sled, etcd or bolt"
            )),
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
    /// Records per atomic batch.
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
struct Record {
    versioned: Versioned<Session>,
    bytes: Vec<u8>,
}

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
    let records = read_source(&args.from, &args.etcd_prefix, &mut report).await?;
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
    let target = open_target(&args.to, &args.etcd_prefix)?;
    let existing = target.count().await?;
    if existing > 0 && !args.force {
        bail!(
            "the target holds {existing} sessions; rerun with --force to write into it (same ids are overwritten; safe after an interrupted migration)"
        );
    }
    let bar = crate::load::progress_bar(keep.len() as u64, "records");
    // etcd caps a txn's operations (--max-txn-ops, 128 by default; up to 3 per record).
    let batch = match args.to {
        Endpoint::Etcd(_) => args.batch.clamp(1, 40),
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
    for r in &keep {
        let id = &r.versioned.value.id;
        let ok = match target.get(id).await {
            Ok(Some(got)) => encode_record(got.version, &got.value)
                .is_ok_and(|b| crc32(&b) == crc32(&r.bytes) && b == r.bytes),
            _ => false,
        };
        if ok {
            report.verified += 1;
        } else {
            report.mismatched.push(id.to_string());
        }
    }
    report.target_count = target.count().await?;
    Ok(report)
}

fn crc32(b: &[u8]) -> u32 {
    // The record's own CRC covers the body; this one covers the header (version, expiry) too.
    let mut h: u32 = 0xFFFF_FFFF;
    for byte in b {
        h ^= u32::from(*byte);
        for _ in 0..8 {
            h = if h & 1 != 0 {
                (h >> 1) ^ 0xEDB8_8320
            } else {
                h >> 1
            };
        }
    }
    !h
}

fn same_path(a: &Endpoint, b: &Endpoint) -> bool {
    let path = |e: &Endpoint| match e {
        Endpoint::Redb(p) | Endpoint::Sled(p) | Endpoint::Bolt(p) => {
            p.canonicalize().unwrap_or_else(|_| p.clone())
        }
        Endpoint::Etcd(urls) => PathBuf::from(urls),
    };
    path(a) == path(b)
}

fn etcd_store(urls: &str, prefix: &str) -> anyhow::Result<session_etcd::EtcdStore> {
    let config = session_etcd::EtcdConfig {
        prefix: prefix.to_owned(),
        ..session_etcd::EtcdConfig::default()
    };
    Ok(session_etcd::EtcdStore::new(
        urls.split(',').map(str::trim),
        config,
    )?)
}

fn open_target(to: &Endpoint, etcd_prefix: &str) -> anyhow::Result<Arc<dyn SessionStore>> {
    Ok(match to {
        Endpoint::Etcd(urls) => Arc::new(etcd_store(urls, etcd_prefix)?),
        Endpoint::Redb(p) => Arc::new(session_redb::RedbStore::open(p)?),
        Endpoint::Sled(p) => Arc::new(session_sled::SledStore::open(p)?),
        Endpoint::Bolt(_) => bail!("bolt is an import format only"),
    })
}

/// Every record of the source, decoded (old formats upgraded) and re-encoded in the current
/// format. Corrupt records are listed in the report and left out.
async fn read_source(
    from: &Endpoint,
    etcd_prefix: &str,
    report: &mut MigrationReport,
) -> anyhow::Result<Vec<Record>> {
    let raw: Vec<(String, Vec<u8>)> = match from {
        Endpoint::Etcd(urls) => read_store(&etcd_store(urls, etcd_prefix)?).await?,
        Endpoint::Redb(p) => read_redb(p)?,
        Endpoint::Sled(p) => read_sled(p)?,
        Endpoint::Bolt(p) => return read_bolt(p, report),
    };
    let mut out = Vec::with_capacity(raw.len());
    for (key, bytes) in raw {
        report.source_records += 1;
        let format = bytes.get(4).map_or("unknown".to_owned(), |v| v.to_string());
        *report.source_formats.entry(format).or_default() += 1;
        match decode_record(&key, &bytes) {
            Ok(v) => {
                let current = encode_record(v.version, &v.value)?;
                out.push(Record {
                    versioned: v,
                    bytes: current,
                });
            }
            Err(_) => report.corrupt.push(key),
        }
    }
    Ok(out)
}

/// Every record of a live store through the port (read-only: `scan` pages), re-encoded.
async fn read_store(store: &dyn SessionStore) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut q = session_core::ScanQuery {
        limit: 500,
        ..Default::default()
    };
    loop {
        let page = store.scan(&q).await?;
        for s in page.items {
            out.push((s.value.id.to_string(), encode_record(s.version, &s.value)?));
        }
        match page.next_cursor {
            Some(c) => q.after = Some(c),
            None => return Ok(out),
        }
    }
}

fn read_redb(path: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    use redb::{ReadableDatabase, ReadableTable};
    if !path.exists() {
        bail!("source {} does not exist", path.display());
    }
    const SESSIONS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("sessions");
    let db = redb::ReadOnlyDatabase::open(path).with_context(|| {
        format!(
            "cannot open {} read-only (is a server using it? stop it first)",
            path.display()
        )
    })?;
    let txn = db.begin_read()?;
    let table = txn
        .open_table(SESSIONS)
        .with_context(|| format!("{} holds no sessions table", path.display()))?;
    let mut out = Vec::new();
    for entry in table.iter()? {
        let (k, v) = entry?;
        out.push((k.value().to_owned(), v.value().to_vec()));
    }
    Ok(out)
}

/// sled has no read-only mode and writes when it opens: read a copy, never the source.
fn read_sled(path: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    if !path.is_dir() {
        bail!("source {} is not a sled directory", path.display());
    }
    let copy = tempfile::tempdir()?;
    copy_dir(path, copy.path())
        .with_context(|| format!("cannot copy {} to read it", path.display()))?;
    let db = sled::open(copy.path())
        .with_context(|| format!("cannot open the copy of {}", path.display()))?;
    let tree = db.open_tree("sessions")?;
    let mut out = Vec::new();
    for entry in tree.iter() {
        let (k, v) = entry?;
        out.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec()));
    }
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The Go server's store: JSON sessions without versions; each becomes version 1.
fn read_bolt(path: &Path, report: &mut MigrationReport) -> anyhow::Result<Vec<Record>> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = BoltFile::parse(data)
        .with_context(|| format!("{} is not a readable BoltDB file", path.display()))?;
    let mut out = Vec::new();
    for (key, value) in file.bucket(b"sessions")? {
        report.source_records += 1;
        *report.source_formats.entry("go-json".into()).or_default() += 1;
        let key = String::from_utf8_lossy(&key).into_owned();
        match serde_json::from_slice::<Session>(&value) {
            Ok(s) if s.id.as_str() == key => {
                let versioned = Versioned {
                    version: Version::FIRST,
                    value: s,
                };
                let bytes = encode_record(versioned.version, &versioned.value)?;
                out.push(Record { versioned, bytes });
            }
            _ => report.corrupt.push(key),
        }
    }
    Ok(out)
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
    use session_core::{SessionId, Sessions, SessionsConfig, StoreError};

    const BOLT: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/container-kit-sessions.db"
    );

    fn args(from: Endpoint, to: Endpoint) -> MigrateArgs {
        MigrateArgs {
            from,
            to,
            etcd_prefix: "container-kit/".into(),
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
                Endpoint::Redb(target.clone()),
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
            Endpoint::Sled(dir.path().join("imported.sled")),
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
            Endpoint::Sled(sled1.clone()),
            Endpoint::Redb(redb.clone()),
        )))
        .unwrap();
        let report = rt
            .block_on(migrate(&args(
                Endpoint::Redb(redb.clone()),
                Endpoint::Sled(sled2.clone()),
            )))
            .unwrap();
        assert_eq!(
            (report.copied, report.verified, report.target_count),
            (10_000, 10_000, 10_000)
        );
        let a = read_sled(&sled1).unwrap();
        let c = read_sled(&sled2).unwrap();
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
        let mut to_etcd = args(Endpoint::Bolt(BOLT.into()), Endpoint::Etcd(urls.clone()));
        to_etcd.etcd_prefix = format!("migrate-test/{nanos}/");
        let report = rt.block_on(migrate(&to_etcd)).unwrap();
        assert_eq!(
            (report.copied, report.verified, report.target_count),
            (60, 60, 60)
        );
        let mut from_etcd = args(
            Endpoint::Etcd(urls),
            Endpoint::Redb(dir.path().join("back.redb")),
        );
        from_etcd.etcd_prefix = to_etcd.etcd_prefix.clone();
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
        let a = args(Endpoint::Bolt(BOLT.into()), Endpoint::Redb(target.clone()));
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
            Endpoint::Redb(target.clone()),
            Endpoint::Redb(target.clone()),
        )));
        assert!(bad.unwrap_err().to_string().contains("same store"));
        assert!("nope:/x".parse::<Endpoint>().is_err());
    }
}
