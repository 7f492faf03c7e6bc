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
use super::syntax::{value_of, NpmRange, PythonRange};
use super::{Ecosystem, Evidence, ToolchainError};

/// Where a declaration comes from. Each source reads either the value alone (`1.24`,
/// `>=3.10`) or the whole line it sits on (`go 1.24`, `requires-python = ">=3.10"`,
/// `<TargetFramework>net8.0</TargetFramework>`); the file sources (`.python-version`,
/// `.nvmrc`, `rust-toolchain`) also take the whole file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// `go.mod`'s `go 1.24` line: the minimum Go release of the module.
    GoDirective,
    /// `go.mod`'s `toolchain go1.24.3` line: the Go release the module prefers; with the
    /// `go` line, the higher of the two counts.
    GoToolchain,
    /// `pyproject.toml`'s `[project] requires-python`, a PEP 440 range (`>=3.10,<4.0`).
    RequiresPython,
    /// Poetry's `[tool.poetry.dependencies] python` (`^3.12`, `~3.11`, `>=3.9,<3.13`).
    PoetryPython,
    /// `Pipfile`'s `[requires] python_version` / `python_full_version` (`3.12`).
    PipfilePython,
    /// `.python-version` (`3.12`, `3.12.4`; `pypy3.10` is refused: not CPython).
    PythonVersionFile,
    /// `runtime.txt` (`python-3.11.9`).
    RuntimeTxt,
    /// `package.json`'s `engines.node`, an npm range (`>=20.9.0`, `18.x || 20.x`, `^22`).
    EnginesNode,
    /// `.nvmrc` or `.node-version` (`20`, `v20.11.1`, `lts/iron`, `lts/*`, `node`).
    NodeVersionFile,
    /// `pom.xml`'s `java.version`, `maven.compiler.release` or `maven.compiler.source`
    /// property (`17`, `1.8`).
    MavenProperty,
    /// Gradle's `JavaLanguageVersion.of(17)`, `JavaVersion.VERSION_17`, `jvmToolchain(17)`
    /// or `sourceCompatibility = '17'`.
    Gradle,
    /// A project file's `TargetFramework` or `TargetFrameworks` (`net8.0`, `net8.0;net9.0`:
    /// the highest runnable one counts).
    TargetFramework,
    /// `global.json`'s `sdk.version` (`9.0.100`): the SDK the build needs, at or above.
    GlobalJson,
    /// `rust-toolchain` or `rust-toolchain.toml` (`1.88.0`, `stable`,
    /// `[toolchain] channel = "1.88"`, `nightly-2024-05-01`): an exact pin.
    RustToolchain,
    /// `Cargo.toml`'s `rust-version` (`1.85`): a minimum.
    RustVersion,
}

impl Source {
    /// The ecosystem whose toolchain this source declares.
    pub fn ecosystem(self) -> Ecosystem {
        match self {
            Source::GoDirective | Source::GoToolchain => Ecosystem::Go,
            Source::RequiresPython
            | Source::PoetryPython
            | Source::PipfilePython
            | Source::PythonVersionFile
            | Source::RuntimeTxt => Ecosystem::Python,
            Source::EnginesNode | Source::NodeVersionFile => Ecosystem::Node,
            Source::MavenProperty | Source::Gradle => Ecosystem::Java,
            Source::TargetFramework | Source::GlobalJson => Ecosystem::Dotnet,
            Source::RustToolchain | Source::RustVersion => Ecosystem::Rust,
        }
    }

    /// The declaration as the user would recognize it in a sentence: `go 1.24`,
    /// `requires-python >=3.10`, `java.version 17`, `net8.0`.
    fn describe(self, raw: &str, value: &str) -> String {
        match self {
            // `<java.version>17</java.version>` → `java.version 17`.
            Source::MavenProperty => {
                match raw.trim().strip_prefix('<').and_then(|r| r.split_once('>')) {
                    Some((property, _)) => format!("{property} {value}"),
                    None => value.to_owned(),
                }
            }
            // Gradle's spellings vary too much to rebuild: show the line.
            Source::Gradle => raw.trim().to_owned(),
            Source::GoDirective => format!("go {value}"),
            Source::GoToolchain => format!("toolchain go{value}"),
            Source::RequiresPython => format!("requires-python {value}"),
            Source::PoetryPython => format!("python {value}"),
            Source::PipfilePython => format!("python_version {value}"),
            Source::EnginesNode => format!("engines.node {value}"),
            Source::GlobalJson => format!("sdk.version {value}"),
            Source::RustVersion => format!("rust-version {value}"),
            Source::RustToolchain => format!("channel {value}"),
            Source::PythonVersionFile
            | Source::RuntimeTxt
            | Source::NodeVersionFile
            | Source::TargetFramework => value.to_owned(),
        }
    }

    fn example(self) -> &'static str {
        match self.ecosystem() {
            Ecosystem::Go => "1.26",
            Ecosystem::Python => "3.13 or >=3.12",
            Ecosystem::Node => "24 or >=22",
            Ecosystem::Java => "21",
            Ecosystem::Dotnet => "net10.0",
            Ecosystem::Rust | Ecosystem::Bun => "1.88",
        }
    }
}

/// What kind of statement a declaration makes, which decides how [`super::choose`] reads
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
        let (value, constraint) = match source {
            Source::GoDirective => {
                let value = raw.trim();
                let value = value.strip_prefix("go").map_or(value, str::trim_start);
                (
                    value,
                    Constraint::AtLeast(
                        go_release(value).ok_or_else(|| unreadable("not a Go release"))?,
                    ),
                )
            }
            Source::GoToolchain => {
                let value = raw.trim();
                let value = value
                    .strip_prefix("toolchain")
                    .map_or(value, str::trim_start);
                let value = value.strip_prefix("go").unwrap_or(value);
                (
                    value,
                    Constraint::AtLeast(
                        go_release(value).ok_or_else(|| unreadable("not a go1.N toolchain"))?,
                    ),
                )
            }
            Source::RequiresPython => {
                let value = value_of(raw, &["requires-python"]);
                (
                    value,
                    Constraint::Python(PythonRange::pep440(value).map_err(|e| unreadable(&e))?),
                )
            }
            Source::PoetryPython => {
                let value = value_of(raw, &["python"]);
                (
                    value,
                    Constraint::Python(PythonRange::poetry(value).map_err(|e| unreadable(&e))?),
                )
            }
            Source::PipfilePython => {
                let value = value_of(raw, &["python_full_version", "python_version"]);
                (
                    value,
                    Constraint::AtLeast(
                        Release::parse(value).ok_or_else(|| unreadable("not a release"))?,
                    ),
                )
            }
            Source::PythonVersionFile => {
                let value = first_line(raw);
                (
                    value,
                    Constraint::AtLeast(python_version_file(value, &evidence, unreadable)?),
                )
            }
            Source::RuntimeTxt => {
                let value = first_line(raw);
                let number = value
                    .strip_prefix("python-")
                    .ok_or_else(|| unreadable("expected python-X.Y.Z"))?;
                (
                    value,
                    Constraint::AtLeast(
                        Release::parse(number).ok_or_else(|| unreadable("not a release"))?,
                    ),
                )
            }
            Source::EnginesNode => {
                let value = value_of(raw, &["node"]);
                (
                    value,
                    Constraint::Npm(NpmRange::parse(value).map_err(|e| unreadable(&e))?),
                )
            }
            Source::NodeVersionFile => {
                let value = first_line(raw);
                (
                    value,
                    Constraint::AtLeast(node_version_file(value, &evidence, unreadable)?),
                )
            }
            Source::MavenProperty => {
                let keys = [
                    "java.version",
                    "maven.compiler.release",
                    "maven.compiler.source",
                    "maven.compiler.target",
                ];
                let value = value_of(raw, &keys);
                (
                    value,
                    Constraint::AtLeast(
                        java_release(value).ok_or_else(|| unreadable("not a Java release"))?,
                    ),
                )
            }
            Source::Gradle => {
                let value = gradle_value(raw);
                (
                    value,
                    Constraint::AtLeast(
                        java_release(value).ok_or_else(|| unreadable("not a Java release"))?,
                    ),
                )
            }
            Source::TargetFramework => {
                let value = value_of(raw, &["TargetFrameworks", "TargetFramework"]);
                (
                    value,
                    Constraint::Exact(target_frameworks(value, &evidence, unreadable)?),
                )
            }
            Source::GlobalJson => {
                let value = value_of(raw, &["version"]);
                let sdk = Release::parse(value).ok_or_else(|| unreadable("not an SDK version"))?;
                (value, Constraint::AtLeast(sdk.series(2)))
            }
            Source::RustToolchain => {
                let value = rust_channel(raw);
                let constraint = match rust_toolchain(value) {
                    Some(RustPin::Release(release)) => Constraint::Exact(release),
                    Some(RustPin::Channel(channel)) => Constraint::Channel(channel),
                    None => return Err(unreadable("not a Rust channel")),
                };
                (value, constraint)
            }
            Source::RustVersion => {
                let value = value_of(raw, &["rust-version"]);
                (
                    value,
                    Constraint::AtLeast(
                        Release::parse(value).ok_or_else(|| unreadable("not a release"))?,
                    ),
                )
            }
        };
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
