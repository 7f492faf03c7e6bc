//! A small tmpfs mounted for one test, to fill a disk for real (the disk-full tests of the
//! adapters and the server): mounted when running as root (skipped with a message
//! otherwise, never skipped under `CI=true`), unmounted and removed on drop.
//!
//! ```no_run
//! use session_core::testkit::tmpfs::Tmpfs;
//! let Ok(disk) = Tmpfs::mount("8m") else { return }; // not root: the test is skipped
//! let filler = disk.fill();
//! // … writes fail with a clear error; then free the space:
//! std::fs::remove_file(filler).unwrap();
//! ```

#![allow(clippy::unwrap_used, clippy::panic)] // test support: a failed step is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// A mounted tmpfs of a given size, unmounted (lazily) and removed when dropped.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `"4m"`), or says why it cannot (`Err`: skip the test).
    /// Under CI a mount that fails is a test failure, never a skip.
    pub fn mount(size: &str) -> Result<Tmpfs, String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "session-tmpfs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .output();
        let why = match out {
            Ok(o) if o.status.success() => return Ok(Tmpfs { dir }),
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        };
        let _ = std::fs::remove_dir(&dir);
        let why = format!("cannot mount a tmpfs ({why}); the disk-full tests need root");
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{why}: under CI this test must run");
        }
        Err(why)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Fills the file system with one file until the disk is full; returns its path.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0xA5u8; 64 * 1024];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        // Then byte by byte-ish: leave no room at all.
        let small = [0x5Au8; 512];
        while let Ok(n) = f.write(&small) {
            if n == 0 {
                break;
            }
        }
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
