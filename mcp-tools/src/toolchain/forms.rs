//! The raw forms of toolchain declarations found in real projects, one reader a file
//! format: `go.mod` lines, `.python-version`, `.nvmrc` aliases, Java's `1.8` numbering and
//! Gradle's spellings, .NET TargetFrameworks, `rust-toolchain` channels.

use super::policy::Policy;
use super::release::Release;
use super::syntax::value_of;
use super::{Ecosystem, Evidence, ToolchainError};

/// The first line that is not empty or a `#` comment.
pub(crate) fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("")
}

/// `1.24`, `1.26.0`, `1.21rc1` (a pre-release counts as its release).
pub(crate) fn go_release(value: &str) -> Option<Release> {
    match Release::parse_prefix(value)? {
        (release, rest) if rest.is_empty() || rest.starts_with(char::is_alphabetic) => {
            Some(release)
        }
        _ => None,
    }
}

/// The interpreters `.python-version` can name besides CPython (pyenv's and uv's names).
const NOT_CPYTHON: [&str; 9] = [
    "pypy",
    "graalpy",
    "jython",
    "ironpython",
    "micropython",
    "stackless",
    "pyston",
    "anaconda",
    "miniconda",
];

pub(crate) fn python_version_file(
    value: &str,
    evidence: &Evidence,
    unreadable: impl Fn(&str) -> ToolchainError,
) -> Result<Release, ToolchainError> {
    let lower = value.to_ascii_lowercase();
    if NOT_CPYTHON.iter().any(|name| lower.starts_with(name)) {
        return Err(ToolchainError::NotCPython {
            evidence: evidence.clone(),
            raw: value.to_owned(),
        });
    }
    // uv writes `cpython-3.12`; `3.13t` (free-threaded) and `3.14-dev` count as their release.
    let number = lower
        .strip_prefix("cpython-")
        .or_else(|| lower.strip_prefix("cpython@"))
        .unwrap_or(&lower);
    Release::parse_prefix(number)
        .map(|(release, _)| release)
        .ok_or_else(|| unreadable("not a Python release"))
}

/// Node.js LTS codenames (`lts/iron`) and their majors.
const NODE_LTS: [(&str, u64); 11] = [
    ("argon", 4),
    ("boron", 6),
    ("carbon", 8),
    ("dubnium", 10),
    ("erbium", 12),
    ("fermium", 14),
    ("gallium", 16),
    ("hydrogen", 18),
    ("iron", 20),
    ("jod", 22),
    ("krypton", 24),
];

/// `.nvmrc` / `.node-version`: a release (`20`, `v20.11.1`) or an nvm alias. `lts/*` is the
/// newest LTS line of the policy (every supported Node.js release is an LTS line in
/// 2026-12), `node` / `latest` / `current` the newest supported release.
pub(crate) fn node_version_file(
    value: &str,
    evidence: &Evidence,
    unreadable: impl Fn(&str) -> ToolchainError,
) -> Result<Release, ToolchainError> {
    let lower = value.to_ascii_lowercase();
    let newest = || {
        Policy::of(Ecosystem::Node)
            .newest_supported()
            .ok_or_else(|| unreadable("no supported Node.js release"))
    };
    if let Some(line) = lower.strip_prefix("lts/") {
        if line == "*" {
            return newest();
        }
        return match NODE_LTS.iter().find(|(name, _)| *name == line) {
            Some(&(_, major)) => Ok(Release::new(major, 0, 0, 1)),
            None => Err(ToolchainError::UnknownAlias {
                evidence: evidence.clone(),
                alias: value.to_owned(),
            }),
        };
    }
    if matches!(lower.as_str(), "node" | "latest" | "current" | "stable") {
        return newest();
    }
    let number = lower.strip_prefix('v').unwrap_or(&lower);
    Release::parse(number).ok_or_else(|| unreadable("not a Node.js release or nvm alias"))
}

/// `17` → 17, `1.8` → 8 (Java's old numbering; Gradle's `VERSION_1_8` gives `1_8`).
pub(crate) fn java_release(value: &str) -> Option<Release> {
    let release = Release::parse(&value.replace('_', "."))?;
    let major = match release.major() {
        1 => release.minor(),
        major => major,
    };
    (major > 0).then(|| Release::new(major, 0, 0, 1))
}

/// The number in Gradle's spellings: `JavaLanguageVersion.of(17)`, `jvmToolchain(17)`,
/// `JavaVersion.VERSION_1_8` (→ `1.8`), `sourceCompatibility = '17'`.
pub(crate) fn gradle_value(raw: &str) -> &str {
    let raw = raw.trim();
    if let Some((_, after)) = raw.split_once("VERSION_") {
        let end = after
            .find(|c: char| !(c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        return &after[..end];
    }
    if let Some((_, after)) = raw.rsplit_once('(') {
        return after
            .split(')')
            .next()
            .unwrap_or(after)
            .trim()
            .trim_matches(['"', '\'']);
    }
    value_of(
        raw,
        &[
            "sourceCompatibility",
            "targetCompatibility",
            "languageVersion",
        ],
    )
}

/// `net8.0;net9.0` → 9.0: the highest TargetFramework a Linux container can run. A list
/// with nothing runnable is refused with the first one's reason.
pub(crate) fn target_frameworks(
    value: &str,
    evidence: &Evidence,
    unreadable: impl Fn(&str) -> ToolchainError,
) -> Result<Release, ToolchainError> {
    let mut best: Option<Release> = None;
    let mut first_refusal = None;
    for tfm in value.split(';').map(str::trim).filter(|t| !t.is_empty()) {
        match target_framework(tfm, evidence, &unreadable) {
            Ok(release) => best = best.max(Some(release)),
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    match (best, first_refusal) {
        (Some(release), _) => Ok(release),
        (None, Some(refusal)) => Err(refusal),
        (None, None) => Err(unreadable("no TargetFramework in it")),
    }
}

/// One TFM: `net8.0` and `netcoreapp3.1` run on Linux; `netstandard2.0` is a library;
/// `net48` (.NET Framework) and `net8.0-windows` need Windows; other platform TFMs
/// (`net8.0-android`) are not services.
fn target_framework(
    tfm: &str,
    evidence: &Evidence,
    unreadable: impl Fn(&str) -> ToolchainError,
) -> Result<Release, ToolchainError> {
    let lower = tfm.to_ascii_lowercase();
    let (base, platform) = lower.split_once('-').unwrap_or((&lower, ""));
    let not_runnable = |what| ToolchainError::NotRunnable {
        evidence: evidence.clone(),
        tfm: tfm.to_owned(),
        what,
    };
    let windows_only = || ToolchainError::WindowsOnly {
        evidence: evidence.clone(),
        tfm: tfm.to_owned(),
    };
    if base.starts_with("netstandard") {
        return Err(not_runnable("a library"));
    }
    let number = base
        .strip_prefix("netcoreapp")
        .or_else(|| base.strip_prefix("net"))
        .ok_or_else(|| unreadable("not a TargetFramework moniker"))?;
    let release = match Release::parse(number) {
        // `net48`, `net472`: .NET Framework writes its version without dots.
        Some(_) if !number.contains('.') => return Err(windows_only()),
        Some(release) => release,
        None => return Err(unreadable("not a TargetFramework moniker")),
    };
    match platform {
        "" => Ok(release.series(2)),
        p if p.starts_with("windows") => Err(windows_only()),
        _ => Err(not_runnable("an app for another platform")),
    }
}

/// The channel in a `rust-toolchain(.toml)` file or line: the `channel = "…"` value, or
/// the legacy file's only line.
pub(crate) fn rust_channel(raw: &str) -> &str {
    match raw.lines().find(|l| l.trim_start().starts_with("channel")) {
        Some(line) => value_of(line, &["channel"]),
        None => value_of(first_line(raw), &["channel"]),
    }
}

/// `1.88.0`, `1.88` (optionally with a host triple) pin that release; `stable`, `beta`,
/// `nightly`, `nightly-2024-05-01` name a channel.
pub(crate) fn rust_toolchain(value: &str) -> Option<RustPin> {
    if let Some((release, rest)) = Release::parse_prefix(value) {
        return (rest.is_empty() || rest.starts_with('-')).then_some(RustPin::Release(release));
    }
    let channel = ["stable", "beta", "nightly"]
        .iter()
        .any(|c| value.starts_with(c));
    channel.then(|| RustPin::Channel(value.to_owned()))
}

/// What a `rust-toolchain` file pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RustPin {
    /// A numbered release: `1.88.0`, `1.88`.
    Release(Release),
    /// A channel: `stable`, `beta`, `nightly-2024-05-01`.
    Channel(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> Evidence {
        Evidence::new("f", 1)
    }

    fn unreadable(why: &str) -> ToolchainError {
        ToolchainError::UnknownAlias {
            evidence: ev(),
            alias: why.to_owned(),
        }
    }

    fn show(r: Result<Release, ToolchainError>) -> String {
        match r {
            Ok(release) => release.to_string(),
            Err(ToolchainError::NotCPython { .. }) => "not cpython".to_owned(),
            Err(ToolchainError::NotRunnable { .. }) => "library".to_owned(),
            Err(ToolchainError::WindowsOnly { .. }) => "windows".to_owned(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn go_releases() {
        let check = |v: &str, e: Option<&str>| {
            assert_eq!(go_release(v).map(|r| r.to_string()).as_deref(), e, "{v}");
        };
        check("1.24", Some("1.24"));
        check("1.26.0", Some("1.26.0"));
        check("1.21rc1", Some("1.21"));
        check("1.x", None);
        check("default", None);
    }

    #[test]
    fn python_version_files() {
        let check = |v: &str, e: &str| {
            assert_eq!(show(python_version_file(v, &ev(), unreadable)), e, "{v}")
        };
        check("3.12", "3.12");
        check("3.12.4", "3.12.4");
        check("3.13t", "3.13");
        check("cpython-3.12", "3.12");
        check("pypy3.10", "not cpython");
        check("PyPy3.9-7.3.16", "not cpython");
        assert!(show(python_version_file("system", &ev(), unreadable)).starts_with("error"));
    }

    #[test]
    fn node_version_files() {
        let check =
            |v: &str, e: &str| assert_eq!(show(node_version_file(v, &ev(), unreadable)), e, "{v}");
        check("20", "20");
        check("v20.11.1", "20.11.1");
        check("lts/iron", "20");
        check("lts/*", "26");
        check("node", "26");
        assert!(matches!(
            node_version_file("lts/unobtainium", &ev(), unreadable),
            Err(ToolchainError::UnknownAlias { alias, .. }) if alias == "lts/unobtainium"
        ));
    }

    #[test]
    fn java_numbering_and_gradle_spellings() {
        let check = |raw: &str, e: Option<&str>| {
            let got = java_release(gradle_value(raw)).map(|r| r.to_string());
            assert_eq!(got.as_deref(), e, "{raw}");
        };
        check("languageVersion = JavaLanguageVersion.of(17)", Some("17"));
        check(
            "languageVersion.set(JavaLanguageVersion.of(21))",
            Some("21"),
        );
        check("sourceCompatibility = JavaVersion.VERSION_17", Some("17"));
        check("sourceCompatibility = JavaVersion.VERSION_1_8", Some("8"));
        check("sourceCompatibility = '17'", Some("17"));
        check("kotlin { jvmToolchain(21) }", Some("21"));
        check("1.8", Some("8"));
        check("seventeen", None);
    }

    #[test]
    fn target_framework_monikers() {
        let check =
            |v: &str, e: &str| assert_eq!(show(target_frameworks(v, &ev(), unreadable)), e, "{v}");
        check("net8.0", "8.0");
        check("net10.0", "10.0");
        check("net8.0;net9.0", "9.0");
        check("netcoreapp3.1", "3.1");
        check("netstandard2.0", "library");
        check("netstandard2.0;net8.0", "8.0");
        check("net48", "windows");
        check("net472;net48", "windows");
        check("net8.0-windows", "windows");
        check("net8.0-android", "library");
        assert!(show(target_frameworks("banana", &ev(), unreadable)).starts_with("error"));
    }

    #[test]
    fn rust_toolchain_channels() {
        let check = |raw: &str, e: Option<RustPin>| {
            assert_eq!(rust_toolchain(rust_channel(raw)), e, "{raw}")
        };
        let release = |s: &str| Release::parse(s).map(RustPin::Release);
        check("1.88.0", release("1.88.0"));
        check(
            "[toolchain]\nchannel = \"1.88\"\ncomponents = [\"clippy\"]",
            release("1.88"),
        );
        check("stable", Some(RustPin::Channel("stable".to_owned())));
        check(
            "nightly-2024-05-01",
            Some(RustPin::Channel("nightly-2024-05-01".to_owned())),
        );
        check("1.88.0-x86_64-unknown-linux-gnu", release("1.88.0"));
        check("banana", None);
    }
}
