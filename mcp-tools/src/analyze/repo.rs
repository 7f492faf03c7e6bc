//! [`Repo`]: the analysis's only way to read a repository — bounded, inside one root, and
//! never blocked by what a hostile repository plants.
//!
//! Paths are relative to the root and use `/`. A path that leaves the root (`..` past it, an
//! absolute path, a symlink resolving outside it) reads as absent; so do FIFOs, sockets and
//! devices (never opened, so never waited on), files over [`MAX_FILE_BYTES`] and text that is
//! not UTF-8. A walk visits at most [`MAX_WALK_ENTRIES`] entries and skips dependency,
//! build and VCS directories.

use std::path::{Component, Path, PathBuf};

/// The largest file the analysis reads, in bytes; a larger one reads as absent.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The most directory entries one [`Repo::walk`] visits.
pub(crate) const MAX_WALK_ENTRIES: usize = 5_000;

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

/// A read-only view of the directory tree under one root.
#[derive(Clone, Debug)]
pub(crate) struct Repo {
    root: PathBuf,
}

impl Repo {
    /// A view of `root`, which should be canonical (the caller's workspace check made it so).
    pub(crate) fn new(root: impl Into<PathBuf>) -> Repo {
        Repo { root: root.into() }
    }

    /// The root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of `rel`, when it stays inside the root lexically.
    fn lexical(&self, rel: &str) -> Option<PathBuf> {
        let mut depth = 0usize;
        let mut out = self.root.clone();
        for c in Path::new(rel).components() {
            match c {
                Component::Normal(part) => {
                    depth += 1;
                    out.push(part);
                }
                Component::CurDir => {}
                Component::ParentDir => {
                    depth = depth.checked_sub(1)?;
                    out.pop();
                }
                Component::RootDir | Component::Prefix(_) => return None,
            }
        }
        Some(out)
    }

    /// The absolute path of `rel` with symlinks resolved, when it exists and stays inside
    /// the root.
    fn resolve(&self, rel: &str) -> Option<PathBuf> {
        let path = self.lexical(rel)?;
        let real = path.canonicalize().ok()?;
        real.starts_with(&self.root).then_some(real)
    }

    /// The text of the regular file `rel`, or `None` (absent, outside the root, not a
    /// regular file, over [`MAX_FILE_BYTES`], not UTF-8, unreadable).
    pub(crate) fn read(&self, rel: &str) -> Option<String> {
        let real = self.resolve(rel)?;
        let meta = std::fs::metadata(&real).ok()?;
        if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
            return None;
        }
        use std::io::Read;
        let file = std::fs::File::open(&real).ok()?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        // The file may grow after the size check: read one byte past the limit at most.
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).ok()?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return None;
        }
        String::from_utf8(bytes).ok()
    }

    /// Whether `rel` is a regular file inside the root.
    pub(crate) fn is_file(&self, rel: &str) -> bool {
        self.resolve(rel)
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.is_file())
    }

    /// Whether `rel` is a directory inside the root.
    pub(crate) fn is_dir(&self, rel: &str) -> bool {
        self.resolve(rel)
            .and_then(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.is_dir())
    }

    /// The entries of directory `rel`, sorted by name (empty when it is not a directory
    /// inside the root). Symlinks are listed by what they point to, when that is inside.
    pub(crate) fn list(&self, rel: &str) -> Vec<Entry> {
        let Some(dir) = self.resolve(rel) else {
            return Vec::new();
        };
        let Ok(read) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut out: Vec<Entry> = read
            .filter_map(Result::ok)
            .take(MAX_WALK_ENTRIES)
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                let path = join(rel, &name);
                let real = self.resolve(&path)?;
                let meta = std::fs::metadata(real).ok()?;
                (meta.is_dir() || meta.is_file()).then_some(Entry {
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
