//! [`Source`]: the places a toolchain declaration comes from (`go.mod`'s `go` line,
//! `.nvmrc`, a TargetFramework, …), each with its ecosystem and the words a sentence names
//! it by.

use super::Ecosystem;

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
    pub(crate) fn describe(self, raw: &str, value: &str) -> String {
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

    pub(crate) fn example(self) -> &'static str {
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
