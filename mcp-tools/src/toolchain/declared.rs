//! One toolchain declaration read from a project file: what it says, what kind of statement
//! it is (minimum, range, exact pin), and where it was found.
//!
//! [`Source`] names the place a declaration comes from (`go.mod`'s `go` line, `.nvmrc`, a
//! TargetFramework, …); [`Declared::parse`] reads its text the way that place's own tools
//! do. The caller finds the text and passes its file and line.

use super::forms::{
    first_line, go_release, gradle_value, java_release, node_version_file, python_version_file,
    rust_channel, rust_toolchain, target_frameworks, RustPin,
};
use super::release::Release;
use super::source::Source;
use super::syntax::{value_of, NpmRange, PythonRange};
use super::{Evidence, ToolchainError};

/// `text` without its leading keyword (`go 1.24` → `1.24`); `text` itself without one.
fn strip_word<'a>(text: &'a str, word: &str) -> &'a str {
    match text.strip_prefix(word) {
        Some(rest) if rest.starts_with(char::is_whitespace) => rest.trim_start(),
        _ => text,
    }
}

/// What kind of statement a declaration makes, which decides how [`super::choose()`] reads
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeclKind {
    /// "This release or any newer one" (`go 1.24`, `.nvmrc` `20`, `.python-version`
    /// `3.12`, `rust-version`). As a claim that the project runs on that release, it must
    /// also satisfy every range declared beside it.
    Minimum,
    /// A set of releases (`>=3.10,<4.0`, `^3.12`, `18.x || 20.x`).
    Range,
    /// Exactly this release (`rust-toolchain` `1.88.0`, a .NET TargetFramework `net8.0`).
    Exact,
}

/// What a declaration allows, in the terms `choose` tests.
#[derive(Debug, Clone)]
enum Constraint {
    AtLeast(Release),
    Exact(Release),
    Python(PythonRange),
    Npm(NpmRange),
    /// A Rust channel without a number (`stable`, `beta`, `nightly-2024-05-01`).
    Channel(String),
}

/// One declaration read from the project, with its evidence.
#[derive(Debug, Clone)]
pub struct Declared {
    source: Source,
    raw: String,
    described: String,
    evidence: Evidence,
    constraint: Constraint,
}

impl Declared {
    /// Reads `raw`, the text found at `evidence`, as `source` writes it. Refuses text that
    /// is no version of that source (naming the file), another interpreter than CPython, and
    /// .NET TargetFrameworks that no Linux container can run.
    pub fn parse(source: Source, raw: &str, evidence: Evidence) -> Result<Self, ToolchainError> {
        let unreadable = |why: &str| ToolchainError::Unreadable {
            evidence: evidence.clone(),
            raw: raw.trim().to_owned(),
            ecosystem: source.ecosystem().display_name(),
            why: why.to_owned(),
            example: source.example(),
        };
        // A minimum read by `read`, or the reason it could not be.
        let at_least = |release: Option<Release>, why: &str| {
            release
                .map(Constraint::AtLeast)
                .ok_or_else(|| unreadable(why))
        };
        let (value, constraint) = match source {
            Source::GoDirective => {
                let value = strip_word(raw.trim(), "go");
                (value, at_least(go_release(value), "not a Go release"))
            }
            Source::GoToolchain => {
                let value = strip_word(raw.trim(), "toolchain");
                let value = value.strip_prefix("go").unwrap_or(value);
                (value, at_least(go_release(value), "not a go1.N toolchain"))
            }
            Source::RequiresPython => {
                let value = value_of(raw, &["requires-python"]);
                let range = PythonRange::pep440(value).map_err(|e| unreadable(&e));
                (value, range.map(Constraint::Python))
            }
            Source::PoetryPython => {
                let value = value_of(raw, &["python"]);
                let range = PythonRange::poetry(value).map_err(|e| unreadable(&e));
                (value, range.map(Constraint::Python))
            }
            Source::PipfilePython => {
                let value = value_of(raw, &["python_full_version", "python_version"]);
                (value, at_least(Release::parse(value), "not a release"))
            }
            Source::PythonVersionFile => {
                let value = first_line(raw);
                let release = python_version_file(value, &evidence, unreadable);
                (value, release.map(Constraint::AtLeast))
            }
            Source::RuntimeTxt => {
                let value = first_line(raw);
                let release = value.strip_prefix("python-").and_then(Release::parse);
                (value, at_least(release, "expected python-X.Y.Z"))
            }
            Source::EnginesNode => {
                let value = value_of(raw, &["node"]);
                let range = NpmRange::parse(value).map_err(|e| unreadable(&e));
                (value, range.map(Constraint::Npm))
            }
            Source::NodeVersionFile => {
                let value = first_line(raw);
                let release = node_version_file(value, &evidence, unreadable);
                (value, release.map(Constraint::AtLeast))
            }
            Source::MavenProperty => {
                let keys = [
                    "java.version",
                    "maven.compiler.release",
                    "maven.compiler.source",
                    "maven.compiler.target",
                ];
                let value = value_of(raw, &keys);
                (value, at_least(java_release(value), "not a Java release"))
            }
            Source::Gradle => {
                let value = gradle_value(raw);
                (value, at_least(java_release(value), "not a Java release"))
            }
            Source::TargetFramework => {
                let value = value_of(raw, &["TargetFrameworks", "TargetFramework"]);
                let release = target_frameworks(value, &evidence, unreadable);
                (value, release.map(Constraint::Exact))
            }
            Source::GlobalJson => {
                // The SDK's feature band (`9.0.100`) does not matter to the image: `9.0`.
                let value = value_of(raw, &["version"]);
                let sdk = Release::parse(value).map(|r| r.series(2));
                (value, at_least(sdk, "not an SDK version"))
            }
            Source::RustToolchain => {
                let value = rust_channel(raw);
                let constraint = match rust_toolchain(value) {
                    Some(RustPin::Release(release)) => Ok(Constraint::Exact(release)),
                    Some(RustPin::Channel(channel)) => Ok(Constraint::Channel(channel)),
                    None => Err(unreadable("not a Rust channel")),
                };
                (value, constraint)
            }
            Source::RustVersion => {
                let value = value_of(raw, &["rust-version"]);
                (value, at_least(Release::parse(value), "not a release"))
            }
        };
        let constraint = constraint?;
        let mut described = source.describe(raw, value);
        if let (Source::NodeVersionFile, Constraint::AtLeast(release)) = (source, &constraint) {
            // An nvm alias says which release it stands for: `lts/iron (Node.js 20)`.
            if !value
                .trim_start_matches('v')
                .starts_with(|c: char| c.is_ascii_digit())
            {
                described = format!("{value} (Node.js {release})");
            }
        }
        Ok(Self {
            source,
            raw: raw.trim().to_owned(),
            described,
            evidence,
            constraint,
        })
    }

    /// Where it comes from.
    pub fn source(&self) -> Source {
        self.source
    }

    /// The text as it was passed in, trimmed.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The file and line it was read from.
    pub fn evidence(&self) -> &Evidence {
        &self.evidence
    }

    /// What kind of statement it is.
    pub fn kind(&self) -> DeclKind {
        match self.constraint {
            Constraint::AtLeast(_) => DeclKind::Minimum,
            Constraint::Python(_) | Constraint::Npm(_) => DeclKind::Range,
            Constraint::Exact(_) | Constraint::Channel(_) => DeclKind::Exact,
        }
    }

    /// The declaration as a sentence names it: `go 1.24`, `requires-python >=3.10`.
    pub(crate) fn described(&self) -> &str {
        &self.described
    }

    /// Whether an image of `series` (which delivers that series' newest release)
    /// satisfies this declaration.
    pub(crate) fn allows_series(&self, series: Release, width: usize) -> bool {
        match &self.constraint {
            Constraint::AtLeast(min) => series.newest() >= min.oldest(),
            Constraint::Exact(pin) => pin.series(width) == series,
            Constraint::Python(range) => range.contains(series.newest()),
            Constraint::Npm(range) => range.contains(series.newest()),
            Constraint::Channel(_) => true,
        }
    }

    /// Whether the release `version` satisfies this declaration.
    pub(crate) fn admits(&self, version: [u64; 3]) -> bool {
        match &self.constraint {
            Constraint::AtLeast(min) => version >= min.oldest(),
            Constraint::Exact(pin) => pin.holds(version),
            Constraint::Python(range) => range.contains(version),
            Constraint::Npm(range) => range.contains(version),
            Constraint::Channel(_) => true,
        }
    }

    /// The release a minimum or a pin names (the newest one it can stand for); `None` for
    /// ranges and channels.
    pub(crate) fn named(&self) -> Option<Release> {
        match &self.constraint {
            Constraint::AtLeast(r) | Constraint::Exact(r) => Some(*r),
            _ => None,
        }
    }

    /// The Rust channel (`nightly-2024-05-01`) when the declaration is one.
    pub(crate) fn channel(&self) -> Option<&str> {
        match &self.constraint {
            Constraint::Channel(c) => Some(c),
            _ => None,
        }
    }

    /// The releases the text mentions, so that `choose` considers them even beyond the
    /// policy's span (`>=3.40` makes 3.40 a candidate).
    pub(crate) fn mentioned(&self) -> Vec<Release> {
        if let Some(named) = self.named() {
            return vec![named];
        }
        self.raw
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .filter_map(|token| Release::parse_prefix(token).map(|(r, _)| r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: Source, raw: &str, kind: DeclKind, described: &str) {
        match Declared::parse(source, raw, Evidence::new("f", 1)) {
            Ok(d) => assert_eq!((d.kind(), d.described()), (kind, described), "{raw}"),
            Err(e) => panic!("{raw}: {e}"),
        }
    }

    #[test]
    fn each_source_reads_its_line_and_kind() {
        use DeclKind::{Exact, Minimum, Range};
        check(Source::GoDirective, "go 1.24", Minimum, "go 1.24");
        check(Source::GoDirective, "1.24", Minimum, "go 1.24");
        check(
            Source::GoToolchain,
            "toolchain go1.24.3",
            Minimum,
            "toolchain go1.24.3",
        );
        check(
            Source::RequiresPython,
            "requires-python = \">=3.10,<4.0\"",
            Range,
            "requires-python >=3.10,<4.0",
        );
        check(
            Source::PoetryPython,
            "python = \"^3.12\"",
            Range,
            "python ^3.12",
        );
        check(
            Source::PipfilePython,
            "python_version = \"3.12\"",
            Minimum,
            "python_version 3.12",
        );
        check(
            Source::PythonVersionFile,
            "# pyenv\n3.12.4\n",
            Minimum,
            "3.12.4",
        );
        check(
            Source::RuntimeTxt,
            "python-3.11.9",
            Minimum,
            "python-3.11.9",
        );
        check(
            Source::EnginesNode,
            "\"node\": \">=20.9.0\"",
            Range,
            "engines.node >=20.9.0",
        );
        check(Source::NodeVersionFile, "v20.11.1\n", Minimum, "v20.11.1");
        check(
            Source::MavenProperty,
            "<java.version>17</java.version>",
            Minimum,
            "java.version 17",
        );
        check(Source::MavenProperty, "1.8", Minimum, "1.8");
        check(
            Source::Gradle,
            "  languageVersion = JavaLanguageVersion.of(17)",
            Minimum,
            "languageVersion = JavaLanguageVersion.of(17)",
        );
        check(
            Source::NodeVersionFile,
            "lts/iron",
            Minimum,
            "lts/iron (Node.js 20)",
        );
        check(
            Source::TargetFramework,
            "<TargetFramework>net8.0</TargetFramework>",
            Exact,
            "net8.0",
        );
        check(
            Source::GlobalJson,
            "\"version\": \"9.0.100\",",
            Minimum,
            "sdk.version 9.0.100",
        );
        check(
            Source::RustToolchain,
            "channel = \"1.88.0\"",
            Exact,
            "channel 1.88.0",
        );
        check(
            Source::RustVersion,
            "rust-version = \"1.85\"",
            Minimum,
            "rust-version 1.85",
        );
    }

    #[test]
    fn unreadable_text_names_the_file_and_an_example() {
        let err = Declared::parse(Source::GoDirective, "go banana", Evidence::new("go.mod", 3));
        let message = err
            .map(|d| d.described().to_owned())
            .unwrap_or_else(|e| e.to_string());
        assert_eq!(
            message,
            "go.mod line 3: cannot read \"go banana\" as a Go version (not a Go release); \
             write a version such as 1.26"
        );
        assert!(Declared::parse(
            Source::EnginesNode,
            ">=x.y",
            Evidence::new("package.json", 0)
        )
        .is_err());
        assert!(
            Declared::parse(Source::RuntimeTxt, "3.11", Evidence::new("runtime.txt", 1)).is_err()
        );
    }
}
