//! `check` and `repair` of a store file, for the operator's `sessions check` / `sessions
//! repair`. A check never modifies the file: it runs redb's integrity check on a temporary
//! copy. A repair first keeps a backup copy next to the file, then lets redb repair it.

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable};
use session_core::adapter::decode_record;
use session_core::StoreError;

use crate::errors;
use crate::handle::{guarded, refuse_empty_file};
use crate::tables::SESSIONS;

/// What [`check`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// The file checked.
    pub path: PathBuf,
    /// No damage: redb's integrity check passed and every record decodes.
    pub ok: bool,
    /// The file was not closed cleanly (a crash): the next read-write open recovers it. Not
    /// damage by itself.
    pub needs_recovery: bool,
    /// What redb's integrity check said, when it failed.
    pub damage: Option<String>,
    /// Records readable as bytes.
    pub sessions: u64,
    /// Records that do not decode: `(id as stored, reason)`.
    pub corrupt_records: Vec<(String, String)>,
}

/// What [`repair`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The file repaired.
    pub path: PathBuf,
    /// The copy of the file as it was before the repair.
    pub backup: PathBuf,
    /// The file had not been closed cleanly (a crash or a kill) and redb recovered it.
    pub recovered: bool,
    /// Records that still do not decode (delete them with `sessions delete`): `(id, reason)`.
    pub corrupt_records: Vec<(String, String)>,
}

/// Checks the store file at `path` without modifying it: a copy is taken (while no writer
/// holds the file) and redb's integrity check runs on the copy, then every record is decoded.
///
/// # Errors
/// `Locked` while another process holds the file for writing; `Backend` if the file is
/// missing, empty, or cannot be copied.
pub fn check(path: impl AsRef<Path>) -> Result<CheckReport, StoreError> {
    let path = path.as_ref().to_path_buf();
    let needs_recovery = ensure_not_held(&path)?;
    check_unheld(&path, needs_recovery)
}

/// [`check`] once the caller knows no writer holds the file (it holds a read-only open, or
/// saw none).
pub(crate) fn check_unheld(path: &Path, needs_recovery: bool) -> Result<CheckReport, StoreError> {
    let path = path.to_path_buf();
    let copy = TempCopy::of(&path)?;
    let mut report = CheckReport {
        path: path.clone(),
        ok: false,
        needs_recovery,
        damage: None,
        sessions: 0,
        corrupt_records: Vec::new(),
    };
    let mut db = match open_checked(&copy.0) {
        Ok(db) => db,
        Err(damage) => {
            report.damage = Some(damage);
            return Ok(report);
        }
    };
    match guarded(|| db.check_integrity()) {
        Ok(Ok(true)) => {}
        Ok(Ok(false)) => report.needs_recovery = true,
        Ok(Err(e)) => {
            report.damage = Some(e.to_string());
            return Ok(report);
        }
        Err(panic) => {
            report.damage = Some(panic);
            return Ok(report);
        }
    }
    match read_all(&db) {
        Ok((sessions, corrupt)) => {
            report.sessions = sessions;
            report.corrupt_records = corrupt;
        }
        Err(damage) => {
            report.damage = Some(damage);
            return Ok(report);
        }
    }
    report.ok = report.corrupt_records.is_empty();
    Ok(report)
}

/// Repairs the store file at `path` in place, after keeping a copy of it as it was
/// (`<file>.backup-<UTC time>` beside it). redb recovers a file not closed cleanly and
/// rebuilds its allocator state; pages whose checksum fails cannot be repaired: then this
/// fails, and the file is to be restored from a backup.
///
/// # Errors
/// `Locked` while another process holds the file; `Backend` if the backup cannot be written
/// or redb cannot repair the file (the message names the backup).
pub fn repair(path: impl AsRef<Path>) -> Result<RepairReport, StoreError> {
    let path = path.as_ref().to_path_buf();
    let needs_recovery = ensure_not_held(&path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sessions.redb".into());
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let backup = path.with_file_name(format!("{name}.backup-{stamp}"));
    copy_synced(&path, &backup)?;
    let failed = |why: String| {
        StoreError::Backend(format!(
            "redb cannot repair {} ({why}); the file as it was is kept at {}: restore the store from a backup",
            path.display(),
            backup.display()
        ))
    };
    let mut db = open_checked(&path).map_err(failed)?;
    match guarded(|| db.check_integrity()) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Err(panic) => return Err(failed(panic)),
    };
    let (_, corrupt_records) = read_all(&db).map_err(failed)?;
    drop(db);
    Ok(RepairReport {
        path,
        backup,
        recovered: needs_recovery,
        corrupt_records,
    })
}

/// Opens `path` read-write with redb's full integrity check (and repair). Any failure (a panic
/// included) is the damage it reports.
fn open_checked(path: &Path) -> Result<redb::Database, String> {
    let mut builder = redb::Builder::new();
    builder.set_check_integrity_on_open(true);
    match guarded(|| builder.open(path)) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => Err(e.to_string()),
        Err(panic) => Err(panic),
    }
}

type Corrupt = Vec<(String, String)>;

/// Reads every record of the sessions table, decoding each.
fn read_all(db: &redb::Database) -> Result<(u64, Corrupt), String> {
    guarded(|| -> Result<(u64, Corrupt), redb::Error> {
        let txn = db.begin_read()?;
        let table = match txn.open_table(SESSIONS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((0, Vec::new())),
            Err(e) => return Err(e.into()),
        };
        let mut count = 0;
        let mut corrupt = Vec::new();
        for entry in table.iter()? {
            let (k, v) = entry?;
            count += 1;
            if let Err(e) = decode_record(k.value(), v.value()) {
                let reason = match e {
                    StoreError::Corrupt { reason, .. } => reason,
                    other => other.to_string(),
                };
                corrupt.push((k.value().to_owned(), reason));
            }
        }
        Ok((count, corrupt))
    })
    .and_then(|r| r.map_err(|e| e.to_string()))
}

/// Fails `Locked` while another process holds the file for writing (redb's lock). A file
/// that only needs recovery or is damaged is not held. `Ok(true)`: the file was not closed
/// cleanly (a read-only open refuses it for that).
fn ensure_not_held(path: &Path) -> Result<bool, StoreError> {
    if !refuse_empty_file(path)? {
        return Err(StoreError::Backend(format!(
            "no redb store at {}: check --store-path",
            path.display()
        )));
    }
    match guarded(|| redb::Builder::new().open_read_only(path)) {
        Ok(Err(e @ redb::DatabaseError::DatabaseAlreadyOpen)) => Err(errors::open(path, e)),
        Ok(Err(redb::DatabaseError::RepairAborted)) => Ok(true),
        _ => Ok(false),
    }
}

fn copy_synced(from: &Path, to: &Path) -> Result<(), StoreError> {
    let copied = std::fs::copy(from, to)
        .and_then(|_| std::fs::File::open(to))
        .and_then(|f| f.sync_all());
    copied.map_err(|e| {
        StoreError::Backend(format!(
            "cannot copy {} to {}: {e}",
            from.display(),
            to.display()
        ))
    })
}

/// A copy of the store in the temporary directory, removed on drop.
#[derive(Debug)]
pub(crate) struct TempCopy(pub(crate) PathBuf);

impl TempCopy {
    pub(crate) fn of(path: &Path) -> Result<TempCopy, StoreError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let copy = std::env::temp_dir().join(format!(
            "container-kit-check-{}-{nanos}.redb",
            std::process::id()
        ));
        copy_synced(path, &copy)?;
        Ok(TempCopy(copy))
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
