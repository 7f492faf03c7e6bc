//! Which toolchain version a generated Dockerfile uses: read from what the project declares
//! (`go.mod`, `requires-python`, `engines.node`, `TargetFramework`, …), decided by the
//! policy table of `mcp-tools/tests/repos/README.md`.
//!
//! The analysis finds the declarations and hands each to [`Declared::parse`] with its file
//! and line; [`choose()`] then picks the image tag:
//!
//! - the lowest supported release that satisfies every declaration, a plain minimum
//!   (`go 1.24`, `.nvmrc` `20`) meaning "at or above": never older than declared, bumped up
//!   when the declared release is out of support;
//! - a declaration newer than every supported release: that release itself, flagged
//!   [`Flag::NewerThanKnown`];
//! - an exact pin (`rust-toolchain`, a .NET TargetFramework): exactly that release, flagged
//!   [`Flag::Unsupported`] when it is out of support;
//! - nothing declared: the default, flagged [`Flag::Fallback`];
//! - declarations that no release satisfies together: [`ToolchainError::Contradiction`],
//!   naming both files.
//!
//! ```
//! use mcp_tools::{choose, Declared, Ecosystem, Evidence, Source};
//!
//! let go = Declared::parse(Source::GoDirective, "go 1.24", Evidence::new("go.mod", 3))?;
//! let choice = choose(Ecosystem::Go, &[go])?;
//! assert_eq!(choice.tag, "1.26");
//! assert_eq!(
//!     choice.reason,
//!     "go.mod line 3 says go 1.24; 1.24 is out of support, so golang:1.26, \
//!      the lowest supported release above it"
//! );
//! # Ok::<(), mcp_tools::ToolchainError>(())
//! ```
//!
//! Groundwork for issue #11: the analysis does not call it yet.

mod choose;
mod declared;
mod forms;
mod policy;
mod release;
mod source;
mod syntax;

use serde::{Deserialize, Serialize};

pub use self::choose::choose;
pub use self::declared::{DeclKind, Declared};
pub use self::source::Source;

/// A language toolchain with an official container image. The order of the variants is the
/// order of the policy table's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ecosystem {
    /// Go, image `golang`.
    Go,
    /// CPython, image `python`.
    Python,
    /// Node.js, image `node`.
    Node,
    /// Java, image `eclipse-temurin`.
    Java,
    /// .NET, images `mcr.microsoft.com/dotnet/sdk` (build) and `aspnet`/`runtime` (run).
    Dotnet,
    /// Rust, image `rust`.
    Rust,
    /// Bun, image `oven/bun`.
    Bun,
}

impl Ecosystem {
    /// Every ecosystem, in table order.
    pub const ALL: [Ecosystem; 7] = [
        Ecosystem::Go,
        Ecosystem::Python,
        Ecosystem::Node,
        Ecosystem::Java,
        Ecosystem::Dotnet,
        Ecosystem::Rust,
        Ecosystem::Bun,
    ];

    /// The name users know it by, for messages: `Go`, `Python`, `Node.js`, `.NET`.
    pub fn display_name(self) -> &'static str {
        match self {
            Ecosystem::Go => "Go",
            Ecosystem::Python => "Python",
            Ecosystem::Node => "Node.js",
            Ecosystem::Java => "Java",
            Ecosystem::Dotnet => ".NET",
            Ecosystem::Rust => "Rust",
            Ecosystem::Bun => "Bun",
        }
    }

    /// The official image whose tag [`Choice::tag`] is (`golang`, `eclipse-temurin`, …).
    pub fn image(self) -> &'static str {
        policy::Policy::of(self).image
    }
}

/// Where a declaration was read: a path relative to the analyzed directory and a 1-based
/// line (0 when the whole file is the declaration and has no line of its own to point at).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The file, as the user should read it: `go.mod`, `src/Api/Api.csproj`.
    pub file: String,
    /// The 1-based line in `file`; 0 for "the whole file".
    pub line: u32,
}

impl Evidence {
    /// Evidence at `line` of `file`.
    pub fn new(file: impl Into<String>, line: u32) -> Self {
        Self {
            file: file.into(),
            line,
        }
    }
}

/// `go.mod line 3`, or just `.nvmrc` for line 0.
impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}", self.file),
            line => write!(f, "{} line {line}", self.file),
        }
    }
}

/// What the user (or the assistant) should check about a [`Choice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Nothing was declared: the tag is the policy's default, a guess worth confirming.
    Fallback,
    /// The project asks for a release newer than the policy knows: the tag is that release
    /// as declared, and it may not be published yet.
    NewerThanKnown,
    /// The tag is out of support upstream (an exact pin, or a range that admits nothing
    /// newer): it works today but gets no fixes.
    Unsupported,
}

/// The toolchain chosen for one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// The ecosystem the tag belongs to.
    pub ecosystem: Ecosystem,
    /// The version part of the image tag: `1.26`, `3.11`, `22`, `21`, `10.0`, `1` or `1.88`.
    pub tag: String,
    /// The declaration that decided the tag; `None` for the default.
    pub evidence: Option<Evidence>,
    /// What to check about it; empty when the tag is a supported release that the
    /// declarations ask for.
    pub flags: Vec<Flag>,
    /// .NET only: the SDK the build stage needs when `global.json` asks for a newer one than
    /// the TargetFramework (`9.0` for an SDK `9.0.100` building a `net8.0` app); the runtime
    /// stage keeps [`Choice::tag`].
    pub build_sdk: Option<String>,
    /// One sentence for the tool result, saying where the tag came from and why.
    pub reason: String,
}

impl Choice {
    /// Whether the choice carries `flag`.
    pub fn has(&self, flag: Flag) -> bool {
        self.flags.contains(&flag)
    }
}

/// Why no toolchain could be read or chosen. Each message names the file and says what the
/// user can change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolchainError {
    /// The declaration is not in any form this module reads.
    #[error("{evidence}: cannot read {raw:?} as a {ecosystem} version ({why}); write a version such as {example}")]
    Unreadable {
        evidence: Evidence,
        raw: String,
        ecosystem: &'static str,
        why: String,
        example: &'static str,
    },
    /// `.python-version` names another interpreter (PyPy, GraalPy): the `python` images
    /// carry CPython only.
    #[error("{evidence} asks for {raw:?}, which is not CPython; the python images carry CPython only, so declare a CPython version or write the Dockerfile by hand")]
    NotCPython { evidence: Evidence, raw: String },
    /// A TargetFramework that builds no Linux service: `netstandard2.0` (a library) or a
    /// mobile or browser platform (`net8.0-android`).
    #[error("{evidence} targets {tfm}, {what} that no Linux container can start; analyze the project that runs it instead")]
    NotRunnable {
        evidence: Evidence,
        tfm: String,
        /// `a library`, or `an app for another platform`.
        what: &'static str,
    },
    /// A .NET Framework or Windows-only TargetFramework: no Linux container runs it.
    #[error("{evidence} targets {tfm}, which runs on Windows only; port the project to a cross-platform TargetFramework such as net10.0 to containerize it on Linux")]
    WindowsOnly { evidence: Evidence, tfm: String },
    /// An `.nvmrc` alias this module does not know.
    #[error("{evidence}: {alias:?} is not a Node.js release line this policy knows; write a major version such as 22 instead")]
    UnknownAlias { evidence: Evidence, alias: String },
    /// Two declarations that no release satisfies together.
    #[error("{first} says {first_raw} but {second} says {second_raw}; no release satisfies both, so make them agree")]
    Contradiction {
        first: Evidence,
        first_raw: String,
        second: Evidence,
        second_raw: String,
    },
    /// Declarations that agree pairwise but that no release satisfies together.
    #[error("no {ecosystem} release satisfies {declared} together; loosen one of them")]
    Unsatisfiable {
        ecosystem: &'static str,
        declared: String,
    },
    /// The ecosystem has no default and the project declares nothing.
    #[error("the project declares no {ecosystem} version and this ecosystem has no default; declare one (for .NET, a TargetFramework in the project file)")]
    NothingDeclared { ecosystem: &'static str },
    /// A declaration of another ecosystem was passed to [`choose()`].
    #[error("{evidence} declares a {found} version, not a {expected} one")]
    WrongEcosystem {
        evidence: Evidence,
        expected: &'static str,
        found: &'static str,
    },
}
