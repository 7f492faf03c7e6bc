//! Writing a generated file into the repository, confined to the allowed root and never
//! silently replacing a user's file.
//!
//! Every operation is relative to a `cap_std` directory handle on the allowed root, so no
//! symlink or `..` leads a write outside it: a `k8s/` that is a symlink out is refused, not
//! written through. The content goes to a temporary sibling created exclusively
//! (`O_CREAT|O_EXCL`, which never follows a symlink) under a random name, then is renamed
//! over the target inside the same directory handle; an existing entry with other content
//! (a regular file, or a symlink, FIFO or socket, which is neither followed nor opened) is
//! first renamed aside as `<name>.orig` (or `<name>.orig.N`).

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt};

/// What [`write_in`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Written {
    /// Where the generated content now is (the path asked for).
    pub path: String,
    /// Where the user's previous, different file was moved, if there was one.
    pub backup: Option<String>,
    /// False when the file already held exactly these bytes.
    pub changed: bool,
}

/// Writes `content` to `rel`, a path relative to `root` (a handle on the allowed root whose
/// path is `shown`, used only for the paths reported). Missing directories on the way are
/// created inside `root`. An existing entry with other content is first renamed to
/// `<name>.orig` (or `<name>.orig.N`), never replaced; identical content is left alone.
///
/// # Errors
/// An I/O error, or a path that leads outside `root` (through a symlink or `..`).
pub(crate) fn write_in(root: &Dir, shown: &Path, rel: &Path, content: &str) -> io::Result<Written> {
    let name = rel
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let parent = rel.parent().filter(|p| !p.as_os_str().is_empty());
    let (dir, shown_dir) = match parent {
        Some(p) => {
            // Opened first: a symlink out is refused as such (not "file exists").
            let dir = match root.open_dir(p) {
                Ok(d) => d,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    root.create_dir_all(p)?;
                    root.open_dir(p)?
                }
                Err(e) => return Err(e),
            };
            (dir, shown.join(p))
        }
        None => (root.try_clone()?, shown.to_path_buf()),
    };
    let target = shown_dir.join(name).display().to_string();
    let mut backup = None;
    match dir.symlink_metadata(name) {
        Ok(m) if m.is_file() => {
            if m.len() == content.len() as u64 && holds(&dir, name, content.as_bytes()) {
                return Ok(Written {
                    path: target,
                    backup: None,
                    changed: false,
                });
            }
            backup = Some(move_aside(&dir, name)?);
        }
        Ok(m) if m.is_dir() => {
            return Err(io::Error::other(format!(
                "{target} is a directory; move it away or write the file elsewhere"
            )))
        }
        // A symlink, FIFO or socket: moved aside as it is, never followed or opened.
        Ok(_) => backup = Some(move_aside(&dir, name)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Write to a temporary sibling, then rename: a crash never leaves half a file.
    let (tmp, mut file) = create_temp(&dir, name)?;
    let written = file
        .write_all(content.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| dir.rename(&tmp, &dir, name));
    if let Err(e) = written {
        let _ = dir.remove_file(&tmp);
        return Err(e);
    }
    Ok(Written {
        path: target,
        backup: backup.map(|b| shown_dir.join(b).display().to_string()),
        changed: true,
    })
}

/// Whether the regular file `name` holds exactly `content` (false when it cannot be read).
fn holds(dir: &Dir, name: &OsStr, content: &[u8]) -> bool {
    let mut options = OpenOptions::new();
    // Non-blocking: a FIFO swapped in after the check is not waited on.
    options.read(true).custom_flags(libc::O_NONBLOCK);
    let Ok(file) = dir.open_with(name, &options) else {
        return false;
    };
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut existing = Vec::with_capacity(content.len());
    file.take(content.len() as u64 + 1)
        .read_to_end(&mut existing)
        .is_ok_and(|_| existing == content)
}

/// Renames the entry `name` to the first free `<name>.orig` / `<name>.orig.N`; returns
/// that name.
fn move_aside(dir: &Dir, name: &OsStr) -> io::Result<PathBuf> {
    let base = with_suffix(name, ".orig");
    let mut candidate = PathBuf::from(&base);
    let mut n = 1u32;
    loop {
        match dir.symlink_metadata(&candidate) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => break,
            Err(e) => return Err(e),
            Ok(_) => {
                candidate = PathBuf::from(with_suffix(&base, &format!(".{n}")));
                n = n
                    .checked_add(1)
                    .ok_or_else(|| io::Error::other("no free backup name"))?;
            }
        }
    }
    dir.rename(name, dir, &candidate)?;
    Ok(candidate)
}

/// Creates `<name>.container-kit.<random>.tmp` exclusively: never an existing entry, never
/// through a symlink.
fn create_temp(dir: &Dir, name: &OsStr) -> io::Result<(PathBuf, cap_std::fs::File)> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let mut last = None;
    for _ in 0..16 {
        let suffix = getrandom::u64().map_err(|e| io::Error::other(e.to_string()))?;
        let tmp = PathBuf::from(with_suffix(
            name,
            &format!(".container-kit.{suffix:016x}.tmp"),
        ));
        match dir.open_with(&tmp, &options) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

fn with_suffix(name: &OsStr, suffix: &str) -> OsString {
    let mut s = name.to_os_string();
    s.push(suffix);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path) -> Dir {
        Dir::open_ambient_dir(dir, cap_std::ambient_authority()).unwrap()
    }

    #[test]
    fn a_users_file_is_kept_as_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let root = open(dir.path());
        let rel = Path::new("Dockerfile");
        std::fs::write(dir.path().join(rel), "FROM mine\n").unwrap();
        let w = write_in(&root, dir.path(), rel, "FROM generated\n").unwrap();
        assert!(w.changed);
        assert_eq!(
            w.backup.as_deref(),
            Some(dir.path().join("Dockerfile.orig").to_str().unwrap())
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("Dockerfile.orig")).unwrap(),
            "FROM mine\n"
        );
        let again = write_in(&root, dir.path(), rel, "FROM generated\n").unwrap();
        assert!(!again.changed && again.backup.is_none());
        write_in(&root, dir.path(), rel, "FROM third\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("Dockerfile.orig.1")).unwrap(),
            "FROM generated\n"
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(
            names.iter().all(|n| !n.ends_with(".tmp")),
            "a temporary file was left: {names:?}"
        );
    }

    #[test]
    fn a_symlinked_target_is_moved_aside_not_written_through() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("Dockerfile")).unwrap();
        let w = write_in(
            &open(dir.path()),
            dir.path(),
            Path::new("Dockerfile"),
            "FROM x\n",
        )
        .unwrap();
        assert!(w.changed && w.backup.is_some());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
            "FROM x\n"
        );
        assert!(
            std::fs::symlink_metadata(dir.path().join("Dockerfile.orig"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn a_directory_symlinked_out_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("k8s")).unwrap();
        let err = write_in(
            &open(dir.path()),
            dir.path(),
            Path::new("k8s/app.yaml"),
            "x",
        )
        .unwrap_err();
        assert!(
            std::fs::read_dir(outside.path()).unwrap().next().is_none(),
            "{err}"
        );
    }
}
