//! Reading a migration's source without modifying it: redb opened read-only, a sled
//! directory copied and the copy opened, a live store (etcd) scanned through the port, a
//! BoltDB file read into memory. Every record comes out decoded (old formats upgraded) and
//! re-encoded in the current format.

use std::path::Path;

use anyhow::{bail, Context};
use session_core::adapter::{decode_record, encode_record};
use session_core::{Session, SessionStore, Version, Versioned};
use store_open::Backend;

use super::{open_store, Endpoint, MigrationReport, Record};
use crate::bolt::BoltFile;

/// Every record of the source, decoded (old formats upgraded) and re-encoded in the current
/// format. Corrupt records are listed in the report and left out.
pub(super) async fn read_source(
    from: &Endpoint,
    etcd_prefix: &str,
    etcd: &crate::etcd_args::EtcdArgs,
    report: &mut MigrationReport,
) -> anyhow::Result<Vec<Record>> {
    let raw: Vec<(String, Vec<u8>)> = match from {
        Endpoint::Store(Backend::Redb(p)) => read_redb(p)?,
        Endpoint::Store(Backend::Sled(p)) => read_sled(p)?,
        // Through the port: etcd (and any other live store) is read with scans.
        Endpoint::Store(other) => {
            read_store(open_store(other, etcd_prefix, etcd).await?.as_ref()).await?
        }
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
pub(super) async fn read_store(store: &dyn SessionStore) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
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

pub(super) fn read_redb(path: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
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
pub(super) fn read_sled(path: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
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

pub(super) fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
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
pub(super) fn read_bolt(path: &Path, report: &mut MigrationReport) -> anyhow::Result<Vec<Record>> {
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
