//! The holder record: sled's own lock error does not say which process holds the store, so
//! each process that opens it writes a small record of itself (pid, command) into the store
//! directory, and a second process refused by sled's lock names that process and suggests
//! redb, the backend several processes can share.

use std::path::{Path, PathBuf};

use session_core::StoreError;

/// The record's file name inside the store directory.
pub(crate) const HOLDER_FILE: &str = "container-kit-holder";

fn record_path(dir: &Path) -> PathBuf {
    dir.join(HOLDER_FILE)
}

/// This process's record: `pid <n>\n<command line>`, the command cut to 200 characters.
fn this_process() -> String {
    let command: String = std::env::args()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect();
    format!("pid {}\n{command}\n", std::process::id())
}

/// Records this process as the holder of the store at `dir` (written whole, then renamed
/// into place). A failure only loses the name in another process's error: logged, not fatal.
pub(crate) fn record(dir: &Path) {
    let tmp = dir.join(format!("{HOLDER_FILE}.{}", std::process::id()));
    let written =
        std::fs::write(&tmp, this_process()).and_then(|()| std::fs::rename(&tmp, record_path(dir)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(error = %e, dir = %dir.display(), "cannot write the sled holder record");
    }
}

/// The holder named by the record at `dir`: `(pid, command)`, when the record is readable.
pub(crate) fn read(dir: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(record_path(dir)).ok()?;
    let mut lines = text.lines();
    let pid = lines.next()?.strip_prefix("pid ")?.trim().parse().ok()?;
    Some((pid, lines.next().unwrap_or_default().to_owned()))
}

/// The error for a store sled refused because another process holds it: names that process
/// from its record (when the record names another live process) and suggests redb.
/// `Locked` itself when there is no such record (e.g. this very process holds the store).
pub(crate) fn locked_error(dir: &Path) -> StoreError {
    match read(dir) {
        Some((pid, command))
            if pid != std::process::id() && Path::new(&format!("/proc/{pid}")).exists() =>
        {
            StoreError::Backend(format!(
                "sled store {} is in use by process {pid} ({command}); sled admits one process at a time: stop that process, or use the redb backend (--store redb, the default), which any number of processes share",
                dir.display()
            ))
        }
        _ => StoreError::Locked {
            path: dir.to_path_buf(),
        },
    }
}
