//! `check` and `repair` of a store, for the operator's `sessions check` / `sessions repair`:
//! redb's integrity check (on a temporary copy: the file is not modified) and redb's repair
//! (after a backup copy is kept beside the file). Other backends have no such check here.

use crate::spec::Backend;
use session_core::StoreError;

pub use session_redb::{CheckReport, RepairReport};

/// Checks the store without modifying it. Blocking (it reads the whole file): call it on the
/// blocking pool.
///
/// # Errors
/// `Invalid` for a backend other than redb; the adapter's errors otherwise (`Locked` while a
/// server holds the file).
pub fn check(backend: &Backend) -> Result<CheckReport, StoreError> {
    match backend {
        Backend::Redb(path) => session_redb::check(path),
        other => Err(unsupported(other, "check")),
    }
}

/// Repairs the store in place after keeping a backup copy of it. Blocking.
///
/// # Errors
/// As [`check`]; and `Backend` when redb cannot repair the file (the message names the
/// backup).
pub fn repair(backend: &Backend) -> Result<RepairReport, StoreError> {
    match backend {
        Backend::Redb(path) => session_redb::repair(path),
        other => Err(unsupported(other, "repair")),
    }
}

fn unsupported(backend: &Backend, what: &str) -> StoreError {
    StoreError::Invalid(format!(
        "`sessions {what}` supports the redb store only (this store is {}): sled and etcd have no integrity check here",
        backend.kind()
    ))
}
