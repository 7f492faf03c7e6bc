//! Translation of sled's errors into `StoreError`, at the boundary.

use std::path::Path;

use session_core::StoreError;

/// Any sled error that is not about opening the store.
pub(crate) fn backend(context: &str, e: sled::Error) -> StoreError {
    StoreError::Backend(format!("sled {context}: {e}"))
}

/// An error opening the store directory: sled's lock failure is `Locked`.
pub(crate) fn open(path: &Path, e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
            StoreError::Locked {
                path: path.to_path_buf(),
            }
        }
        _ => StoreError::Backend(format!("cannot open sled store {}: {e}", path.display())),
    }
}

/// An I/O error of the durability sync.
pub(crate) fn sync(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!(
        "cannot sync sled store {} to disk: {e}",
        path.display()
    ))
}
