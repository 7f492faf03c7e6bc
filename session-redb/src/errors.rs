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
        redb::DatabaseError::Storage(redb::StorageError::Corrupted(why)) => {
            StoreError::Backend(format!(
                "redb store {} is damaged ({why}); run `container-kit-mcp sessions check`, then restore it from a backup or try `sessions repair`",
                path.display()
            ))
        }
        other => StoreError::Backend(format!(
            "cannot open redb store {}: {other}",
            path.display()
        )),
    }
}

/// A panic inside redb while opening or reading: the file was damaged outside redb.
pub(crate) fn damaged(path: &Path, panic: &str) -> StoreError {
    StoreError::Backend(format!(
        "redb store {} is damaged ({panic}); run `container-kit-mcp sessions check`, then restore it from a backup or try `sessions repair`",
        path.display()
    ))
}
