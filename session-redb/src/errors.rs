//! Translation of redb's errors into `StoreError`, at the boundary.

use std::path::Path;

use session_core::StoreError;

/// Any redb error that is not about opening the file.
pub(crate) fn backend(context: &str, e: impl Into<redb::Error>) -> StoreError {
    let e: redb::Error = e.into();
    StoreError::Backend(format!("redb {context}: {e}"))
}

/// An error opening the database file.
pub(crate) fn open(path: &Path, e: redb::DatabaseError) -> StoreError {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen | redb::DatabaseError::LockProtocolMismatch => {
            StoreError::Locked {
                path: path.to_path_buf(),
            }
        }
        other => StoreError::Backend(format!(
            "cannot open redb store {}: {other}",
            path.display()
        )),
    }
}
