//! [`Repo`]: the analysis's only way to read a repository — bounded, inside one root, and
//! never blocked by what a hostile repository plants.
//!
//! Every read goes through one `cap_std` directory handle on the root, so no path can leave
//! it: `..` past the root, an absolute path and a symlink resolving outside it (even one
//! swapped in during the analysis) read as absent. FIFOs, sockets and devices are never
//! opened (and every open is non-blocking, so one swapped in is not waited on); files over
//! [`MAX_FILE_BYTES`], reads past the analysis's total budget ([`MAX_TOTAL_BYTES`]) and text
//! that is not UTF-8 read as absent too. Each entry refused that way is recorded with its
//! reason ([`Repo::skipped`]), so the step's result names it instead of dropping it
//! silently. A walk visits at most [`MAX_WALK_ENTRIES`] entries and skips dependency,
//! build and VCS directories. An analysis also has a time budget ([`MAX_ANALYSIS_TIME`]):
//! past it, every further entry reads as absent (recorded once as `over_time_budget`), so a
//! slow file system ends the analysis with what was read instead of holding the session.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cap_std::fs::{Dir, Metadata, OpenOptions, OpenOptionsExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The largest file the analysis reads, in bytes; a larger one reads as absent.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The most bytes one analysis reads in all; a file past the budget reads as absent.
pub(crate) const MAX_TOTAL_BYTES: u64 = 16 * 1024 * 1024;

/// How long one analysis reads; past it, entries read as absent.
pub(crate) const MAX_ANALYSIS_TIME: Duration = Duration::from_secs(10);

/// The most directory entries one [`Repo::walk`] visits.
pub(crate) const MAX_WALK_ENTRIES: usize = 5_000;

/// The most skipped entries one analysis names (the rest are counted, not named).
const MAX_SKIPPED: usize = 100;

/// Directories a walk never enters: dependencies, build output, caches, VCS metadata.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "bower_components",
    "vendor",
    "target",
    "dist",
    "build",
    "out",
    "bin",
    "obj",
    ".next",
    ".nuxt",
    ".venv",
    "venv",
    "env",
    "__pycache__",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".gradle",
    ".idea",
    ".vscode",
    "coverage",
];

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The path relative to the root (`src/main.rs`).
    pub(crate) path: String,
    /// The entry's own name (`main.rs`).
    pub(crate) name: String,
    /// A directory (not followed through a symlink).
    pub(crate) is_dir: bool,
}

/// A repository entry the analysis did not read, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Skipped {
    /// The entry's path inside the allowed root (where it is, never where a symlink points).
    pub path: String,
    /// Why it was not read: `symlink_outside_root`, `not_a_regular_file`, `over_file_cap`,
    /// `over_total_budget`, `over_time_budget`, `not_utf8` or `unreadable`.
    pub reason: String,
}

/// What one analysis has read and refused so far (shared by the clones of a [`Repo`]).
#[derive(Debug)]
struct Ledger {
    budget_left: u64,
    /// When the analysis stops reading.
    deadline: Instant,
    /// Whether the deadline has been recorded as a skip.
    timed_out: bool,
    skipped: BTreeMap<String, &'static str>,
    more_skipped: usize,
}

/// A read-only view of the directory tree under one root.
#[derive(Clone, Debug)]
pub(crate) struct Repo {
    root: PathBuf,
    /// The root's directory handle; `None` when it cannot be opened (everything is absent).
    dir: Option<Arc<Dir>>,
    ledger: Arc<Mutex<Ledger>>,
}

impl Repo {
    /// A view of `root`, which should be canonical (the caller's workspace check made it so),
    /// with the default total budget [`MAX_TOTAL_BYTES`].
    pub(crate) fn new(root: impl Into<PathBuf>) -> Repo {
        Repo::with_budget(root, MAX_TOTAL_BYTES)
    }

    /// A view of `root` that reads at most `budget` bytes in all, for at most
    /// [`MAX_ANALYSIS_TIME`].
    pub(crate) fn with_budget(root: impl Into<PathBuf>, budget: u64) -> Repo {
        Repo::with_limits(root, budget, MAX_ANALYSIS_TIME)
    }

    /// A view of `root` that reads at most `budget` bytes in all, for at most `time`.
    pub(crate) fn with_limits(root: impl Into<PathBuf>, budget: u64, time: Duration) -> Repo {
        let root = root.into();
        let deadline = Instant::now()
            .checked_add(time)
            .unwrap_or_else(|| Instant::now() + MAX_ANALYSIS_TIME);
        let dir = Dir::open_ambient_dir(&root, cap_std::ambient_authority())
            .map_err(|e| tracing::debug!(root = ?root, error = %e, "cannot open the analysis root"))
            .ok()
            .map(Arc::new);
        Repo {
            root,
            dir,
            ledger: Arc::new(Mutex::new(Ledger {
                budget_left: budget,
                deadline,
                timed_out: false,
                skipped: BTreeMap::new(),
                more_skipped: 0,
            })),
        }
    }

    /// The root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The entries refused so far, sorted by path (at most 100, then one line counting the
    /// rest).
    pub(crate) fn skipped(&self) -> Vec<Skipped> {
        let ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Skipped> = ledger
            .skipped
            .iter()
            .map(|(path, reason)| Skipped {
                path: path.clone(),
                reason: (*reason).to_owned(),
            })
            .collect();
        if ledger.more_skipped > 0 {
            out.push(Skipped {
                path: format!("({} more entries)", ledger.more_skipped),
                reason: "too_many_skipped".into(),
            });
        }
        out
    }

    fn skip(&self, rel: &Path, reason: &'static str) {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.root.join(rel).display().to_string();
        if ledger.skipped.contains_key(&path) {
            return;
        }
        if ledger.skipped.len() < MAX_SKIPPED {
            ledger.skipped.insert(path, reason);
        } else {
            ledger.more_skipped += 1;
        }
    }

    /// Whether the time budget is spent; the first entry refused for it is recorded.
    fn out_of_time(&self, rel: &Path) -> bool {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if Instant::now() < ledger.deadline {
            return false;
        }
        if !ledger.timed_out {
            ledger.timed_out = true;
            drop(ledger);
            self.skip(rel, "over_time_budget");
        }
        true
    }

    /// Takes `len` bytes from the budget, or records `rel` as over it.
    fn spend(&self, rel: &Path, len: u64) -> bool {
        let mut ledger = self.ledger.lock().unwrap_or_else(|p| p.into_inner());
        if len > ledger.budget_left {
            drop(ledger);
            self.skip(rel, "over_total_budget");
            return false;
        }
        ledger.budget_left -= len;
        true
    }

    /// `rel` as a path relative to the root, when it stays inside the root lexically.
    fn lexical(rel: &str) -> Option<PathBuf> {
        let mut out = PathBuf::new();
        for c in Path::new(rel).components() {
            match c {
                Component::Normal(part) => out.push(part),
                Component::CurDir => {}
                Component::ParentDir => {
                    if !out.pop() {
                        return None;
                    }
                }
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        if out.as_os_str().is_empty() {
            out.push(".");
        }
        Some(out)
    }

    /// What `rel` is, resolved inside the root: the path to open relative to the handle and
    /// its metadata, or `None` (absent, a dangling symlink, a lexical escape). A symlink that leaves the root is recorded
    /// as skipped. One whose target is written as an absolute path back into the root (cap
    /// refuses every absolute target) is followed through its place inside the root.
    fn resolve(&self, rel: &str) -> Option<(PathBuf, Metadata)> {
        let (Some(dir), Some(path)) = (&self.dir, Repo::lexical(rel)) else {
            return None;
        };
        if self.out_of_time(&path) {
            return None;
        }
        match dir.metadata(&path) {
            Ok(meta) => return Some((path, meta)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(_) => {}
        }
        // Refused by the handle: an escape, unless it is an absolute link back inside.
        let inside = self
            .root
            .join(&path)
            .canonicalize()
            .ok()
            .and_then(|real| real.strip_prefix(&self.root).ok().map(Path::to_path_buf));
        match inside {
            Some(back) => {
                let back = if back.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    back
                };
                match dir.metadata(&back) {
                    Ok(meta) => Some((back, meta)),
                    Err(_) => {
                        self.skip(&path, "symlink_outside_root");
                        None
                    }
                }
            }
            None => {
                // A symlink out (or through one): skipped whether or not its target exists
                // outside, so the list tells nothing about the host. Anything else (a file
                // used as a directory) is plainly absent.
                let link = match dir.symlink_metadata(&path) {
                    Ok(m) => m.file_type().is_symlink(),
                    Err(e) => e.kind() == std::io::ErrorKind::PermissionDenied,
                };
                if link {
                    self.skip(&path, "symlink_outside_root");
                }
                None
            }
        }
    }

    /// The text of the regular file `rel`, or `None` (absent, outside the root, not a
    /// regular file, over [`MAX_FILE_BYTES`] or the total budget, not UTF-8, unreadable).
    pub(crate) fn read(&self, rel: &str) -> Option<String> {
        let (path, meta) = self.resolve(rel)?;
        let Some(dir) = &self.dir else {
            return None;
        };
        if meta.is_dir() {
            return None;
        }
        if !meta.is_file() {
            self.skip(&path, "not_a_regular_file");
            return None;
        }
        if meta.len() > MAX_FILE_BYTES {
            self.skip(&path, "over_file_cap");
            return None;
        }
        // Non-blocking: a FIFO swapped in after the check is not waited on.
        let mut options = OpenOptions::new();
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let file = match dir.open_with(&path, &options) {
            Ok(f) => f,
            Err(_) => {
                self.skip(&path, "unreadable");
                return None;
            }
        };
        let meta = file.metadata().ok()?;
        if !meta.is_file() {
            self.skip(&path, "not_a_regular_file");
            return None;
        }
        if meta.len() > MAX_FILE_BYTES {
            self.skip(&path, "over_file_cap");
            return None;
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        // The file may grow after the size check: read one byte past the limit at most.
        if file
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .is_err()
        {
            self.skip(&path, "unreadable");
            return None;
        }
        if bytes.len() as u64 > MAX_FILE_BYTES {
            self.skip(&path, "over_file_cap");
            return None;
        }
        if !self.spend(&path, bytes.len() as u64) {
            return None;
        }
        String::from_utf8(bytes)
            .map_err(|_| self.skip(&path, "not_utf8"))
            .ok()
    }

    /// Whether `rel` is a regular file inside the root.
    pub(crate) fn is_file(&self, rel: &str) -> bool {
        matches!(self.resolve(rel), Some((_, m)) if m.is_file())
    }

    /// Whether `rel` is a directory inside the root.
    pub(crate) fn is_dir(&self, rel: &str) -> bool {
        matches!(self.resolve(rel), Some((_, m)) if m.is_dir())
    }

    /// The entries of directory `rel`, sorted by name (empty when it is not a directory
    /// inside the root). Symlinks are listed by what they point to, when that is inside;
    /// entries that are neither files nor directories are skipped (and recorded).
    pub(crate) fn list(&self, rel: &str) -> Vec<Entry> {
        let (Some(dir), Some((path, meta))) = (&self.dir, self.resolve(rel)) else {
            return Vec::new();
        };
        if !meta.is_dir() {
            return Vec::new();
        }
        let Ok(read) = dir.read_dir(&path) else {
            return Vec::new();
        };
        let mut out: Vec<Entry> = read
            .filter_map(Result::ok)
            .take(MAX_WALK_ENTRIES)
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                let path = join(rel, &name);
                let (real, meta) = self.resolve(&path)?;
                if !(meta.is_dir() || meta.is_file()) {
                    self.skip(&real, "not_a_regular_file");
                    return None;
                }
                Some(Entry {
                    path,
                    name,
                    is_dir: meta.is_dir(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The files under `rel` down to `max_depth` directory levels (0: `rel`'s own files),
    /// breadth first and sorted within a directory, skipping dependency and build
    /// directories and anything hidden except the files `keep_hidden` accepts; at most
    /// [`MAX_WALK_ENTRIES`] entries are visited.
    pub(crate) fn walk(&self, rel: &str, max_depth: usize) -> Vec<Entry> {
        let mut files = Vec::new();
        let mut queue = vec![(rel.to_owned(), 0usize)];
        let mut visited = 0usize;
        while let Some((dir, depth)) = (!queue.is_empty()).then(|| queue.remove(0)) {
            for e in self.list(&dir) {
                visited += 1;
                if visited > MAX_WALK_ENTRIES {
                    return files;
                }
                if e.is_dir {
                    if depth < max_depth && !skipped_dir(&e.name) {
                        queue.push((e.path, depth + 1));
                    }
                } else {
                    files.push(e);
                }
            }
        }
        files
    }

    /// The first line of file `rel` for which `pred` holds, with its 1-based number.
    pub(crate) fn find_line(
        &self,
        rel: &str,
        mut pred: impl FnMut(&str) -> bool,
    ) -> Option<(u32, String)> {
        let text = self.read(rel)?;
        text.lines()
            .enumerate()
            .find(|(_, l)| pred(l))
            .map(|(i, l)| (i as u32 + 1, l.to_owned()))
    }
}

/// Whether a walk skips a directory of this name.
pub(crate) fn skipped_dir(name: &str) -> bool {
    SKIPPED_DIRS.contains(&name) || (name.starts_with('.') && name != ".mvn")
}

/// `dir/name`, or `name` when `dir` is the root (`""` or `"."`).
pub(crate) fn join(dir: &str, name: &str) -> String {
    match dir.trim_end_matches('/') {
        "" | "." => name.to_owned(),
        d => format!("{d}/{name}"),
    }
}

/// The parent of a relative path (`"a/b"` → `"a"`, `"a"` → `""`).
pub(crate) fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(p, _)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        dir
    }

    #[test]
    fn reads_inside_the_root_only() {
        let outside = tree(&[("secret.txt", "root:x:0:0")]);
        let dir = tree(&[("a/b.txt", "hello"), ("top.txt", "top")]);
        let root = dir.path().canonicalize().unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            root.join("requirements.txt"),
        )
        .unwrap();
        std::os::unix::fs::symlink(root.join("top.txt"), root.join("a/link.txt")).unwrap();
        let repo = Repo::new(&root);
        assert_eq!(repo.read("a/b.txt").as_deref(), Some("hello"));
        assert_eq!(repo.read("a/../top.txt").as_deref(), Some("top"));
        assert_eq!(repo.read("a/link.txt").as_deref(), Some("top"));
        assert_eq!(
            repo.read("requirements.txt"),
            None,
            "a symlink out of the root"
        );
        assert_eq!(repo.read("../secret.txt"), None);
        assert_eq!(repo.read("/etc/passwd"), None);
        assert!(repo.is_dir("a") && !repo.is_file("a") && repo.is_file("top.txt"));
    }

    #[test]
    fn fifos_and_huge_files_read_as_absent_without_blocking() {
        let dir = tree(&[]);
        let root = dir.path().canonicalize().unwrap();
        let fifo = root.join("package.json");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status();
        let big = std::fs::File::create(root.join("big.txt")).unwrap();
        big.set_len(MAX_FILE_BYTES + 1).unwrap();
        let repo = Repo::new(&root);
        if status.is_ok_and(|s| s.success()) {
            assert_eq!(repo.read("package.json"), None);
            assert!(!repo.is_file("package.json"));
        }
        assert_eq!(repo.read("big.txt"), None);
        assert!(repo.list("").iter().all(|e| e.name != "package.json"));
        let reasons: Vec<String> = repo.skipped().into_iter().map(|s| s.reason).collect();
        assert!(reasons.contains(&"over_file_cap".to_owned()), "{reasons:?}");
    }

    #[test]
    fn the_total_budget_bounds_an_analysis() {
        let dir = tree(&[("a.txt", "aaaa"), ("b.txt", "bbbb"), ("c.txt", "cccc")]);
        let repo = Repo::with_budget(dir.path().canonicalize().unwrap(), 9);
        assert_eq!(repo.read("a.txt").as_deref(), Some("aaaa"));
        assert_eq!(repo.read("b.txt").as_deref(), Some("bbbb"));
        assert_eq!(repo.read("c.txt"), None, "past the budget");
        let skipped = repo.skipped();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].path.ends_with("c.txt") && skipped[0].reason == "over_total_budget");
    }

    #[test]
    fn the_time_budget_bounds_an_analysis() {
        let dir = tree(&[("a.txt", "a"), ("b.txt", "b")]);
        let root = dir.path().canonicalize().unwrap();
        assert_eq!(
            Repo::with_limits(&root, MAX_TOTAL_BYTES, MAX_ANALYSIS_TIME).read("a.txt"),
            Some("a".to_owned())
        );
        let late = Repo::with_limits(&root, MAX_TOTAL_BYTES, Duration::ZERO);
        assert_eq!(late.read("a.txt"), None, "past the deadline");
        assert_eq!(late.read("b.txt"), None);
        assert!(late.list("").is_empty());
        let skipped = late.skipped();
        assert_eq!(skipped.len(), 1, "recorded once: {skipped:?}");
        assert!(skipped[0].path.ends_with("a.txt") && skipped[0].reason == "over_time_budget");
    }

    #[test]
    fn symlinks_out_are_skipped_alike_whether_their_target_exists_or_not() {
        let outside = tree(&[("there.txt", "x")]);
        let dir = tree(&[]);
        let root = dir.path().canonicalize().unwrap();
        let link = |target: PathBuf, name: &str| {
            std::os::unix::fs::symlink(target, root.join(name)).unwrap()
        };
        link(outside.path().join("there.txt"), "present");
        link(outside.path().join("missing.txt"), "missing");
        link(outside.path().to_path_buf(), "outdir");
        link(PathBuf::from("missing-inside"), "dangling");
        let repo = Repo::new(&root);
        for name in ["present", "missing", "outdir/there.txt", "dangling"] {
            assert_eq!(repo.read(name), None, "{name}");
        }
        let reasons: Vec<(String, String)> = (repo.skipped().into_iter())
            .map(|s| (s.path.rsplit('/').next().unwrap().to_owned(), s.reason))
            .collect();
        let out = "symlink_outside_root".to_owned();
        assert_eq!(
            reasons,
            [
                ("missing".into(), out.clone()),
                ("there.txt".into(), out.clone()),
                ("present".into(), out)
            ],
            "a dangling link inside is absent, not skipped"
        );
    }

    #[test]
    fn walks_skip_dependencies_and_stop_at_the_depth() {
        let dir = tree(&[
            ("main.go", ""),
            ("cmd/api/main.go", ""),
            ("cmd/api/deep/x/y.go", ""),
            ("node_modules/left-pad/index.js", ""),
            (".git/config", ""),
        ]);
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let paths: Vec<String> = repo.walk("", 2).into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["main.go", "cmd/api/main.go"]);
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("x/", "a"), "x/a");
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(
            repo.find_line("main.go", |_| true),
            None,
            "an empty file has no line"
        );
    }
}
