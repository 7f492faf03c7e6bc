//! The toolchain policy as data: for each ecosystem, its official image, how many version
//! components its tags carry, the releases supported upstream and the default.
//!
//! The table is `mcp-tools/tests/repos/README.md`, "Toolchain policy (as of 2026-12)", and
//! must change with it. Changing a supported list is a one-line edit here; the tests in
//! `choose.rs` then say which fixture answers move.

use super::release::Release;
use super::Ecosystem;

/// Which component a release series steps: Node's and Java's tags are majors (`22`, `21`),
/// Go's and Python's are minors of one major (`1.26`, `3.13`).
#[derive(Debug, Clone, Copy)]
enum Step {
    Major,
    Minor { major: u64 },
}

/// One row of the policy table.
#[derive(Debug)]
pub(crate) struct Policy {
    pub(crate) ecosystem: Ecosystem,
    /// The official image the tag belongs to.
    pub(crate) image: &'static str,
    /// Components in a tag: 2 for `golang:1.26`, 1 for `node:22`.
    pub(crate) width: usize,
    step: Step,
    /// The stepped component of the releases supported upstream, ascending.
    supported: &'static [u64],
    /// The stepped component of the default release; `None`: no default, a project must
    /// declare one (.NET: every SDK-style project names its TargetFramework).
    default: Option<u64>,
    /// The stepped components that bound the releases `choose` considers beyond the
    /// supported ones (out of support below, not yet known above); declared releases are
    /// added to them.
    span: (u64, u64),
    /// A moving tag that always names the newest supported release (`rust:1`, `oven/bun:1`),
    /// used instead of its number.
    pub(crate) latest_tag: Option<&'static str>,
}

/// Supported upstream on 2026-12-01 (the README's table; Go keeps the two newest releases,
/// Python 3.10 reached end of life in 2026-10, Node.js keeps its even releases for 30 months,
/// Temurin keeps its LTS releases, .NET 8 and 9 ended on 2026-11-10 and .NET 11 shipped in
/// 2026-11, Rust supports only its latest stable, 1.100 since 2026-11-12).
static POLICIES: [Policy; 7] = [
    Policy {
        ecosystem: Ecosystem::Go,
        image: "golang",
        width: 2,
        step: Step::Minor { major: 1 },
        supported: &[26, 27],
        default: Some(27),
        span: (0, 40),
        latest_tag: None,
    },
    Policy {
        ecosystem: Ecosystem::Python,
        image: "python",
        width: 2,
        step: Step::Minor { major: 3 },
        supported: &[11, 12, 13, 14, 15],
        default: Some(13),
        span: (0, 30),
        latest_tag: None,
    },
    Policy {
        ecosystem: Ecosystem::Node,
        image: "node",
        width: 1,
        step: Step::Major,
        supported: &[22, 24, 26],
        default: Some(24),
        span: (4, 40),
        latest_tag: None,
    },
    // Eclipse Temurin's LTS releases still built and patched on 2026-12: a `1.8` project
    // keeps Java 8 (a jump to 11 breaks code that uses removed Java EE modules).
    Policy {
        ecosystem: Ecosystem::Java,
        image: "eclipse-temurin",
        width: 1,
        step: Step::Major,
        supported: &[8, 11, 17, 21, 25],
        default: Some(21),
        span: (6, 40),
        latest_tag: None,
    },
    // .NET tags are major.minor with minor 0 since .NET 5 (`8.0`, `10.0`).
    Policy {
        ecosystem: Ecosystem::Dotnet,
        image: "mcr.microsoft.com/dotnet/sdk",
        width: 2,
        step: Step::Major,
        supported: &[10, 11],
        default: None,
        span: (5, 30),
        latest_tag: None,
    },
    Policy {
        ecosystem: Ecosystem::Rust,
        image: "rust",
        width: 2,
        step: Step::Minor { major: 1 },
        supported: &[100],
        default: Some(100),
        span: (56, 140),
        latest_tag: Some("1"),
    },
    Policy {
        ecosystem: Ecosystem::Bun,
        image: "oven/bun",
        width: 1,
        step: Step::Major,
        supported: &[1],
        default: Some(1),
        span: (1, 5),
        latest_tag: Some("1"),
    },
];

impl Policy {
    /// The row for `ecosystem`. The rows are in the order of [`Ecosystem`]'s variants
    /// (`every_ecosystem_has_its_row` checks it), so the index is the discriminant.
    pub(crate) fn of(ecosystem: Ecosystem) -> &'static Policy {
        &POLICIES[ecosystem as usize]
    }

    fn release(&self, stepped: u64) -> Release {
        match self.step {
            Step::Major => Release::new(stepped, 0, 0, self.width),
            Step::Minor { major } => Release::new(major, stepped, 0, self.width),
        }
    }

    /// The supported series, ascending.
    pub(crate) fn supported(&self) -> impl Iterator<Item = Release> + '_ {
        self.supported.iter().map(|&s| self.release(s))
    }

    pub(crate) fn is_supported(&self, series: Release) -> bool {
        self.supported().any(|s| s == series)
    }

    pub(crate) fn newest_supported(&self) -> Option<Release> {
        self.supported().last()
    }

    pub(crate) fn default(&self) -> Option<Release> {
        self.default.map(|s| self.release(s))
    }

    /// Every series `choose` considers, ascending and without repeats: the span, the
    /// supported ones and the series of `extra` (the releases the declarations name).
    pub(crate) fn universe(&self, extra: impl IntoIterator<Item = Release>) -> Vec<Release> {
        let mut all: Vec<Release> = (self.span.0..=self.span.1)
            .map(|s| self.release(s))
            .chain(self.supported())
            .chain(extra.into_iter().map(|r| r.series(self.width)))
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The tag for `series`: the moving tag when it is the newest supported release, its
    /// number otherwise (`1.26`, `22`, `10.0`).
    pub(crate) fn tag(&self, series: Release) -> String {
        match self.latest_tag {
            Some(tag) if self.newest_supported() == Some(series) => tag.to_owned(),
            _ => series.series(self.width).to_string(),
        }
    }

    /// The supported releases as the user reads them: `1.26, 1.27`.
    pub(crate) fn supported_list(&self) -> String {
        let list: Vec<String> = self.supported().map(|s| s.to_string()).collect();
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ecosystem_has_its_row() {
        assert_eq!(POLICIES.len(), Ecosystem::ALL.len());
        for ecosystem in Ecosystem::ALL {
            assert_eq!(Policy::of(ecosystem).ecosystem, ecosystem);
        }
    }

    #[test]
    fn tags_follow_the_readme_table() {
        let go = Policy::of(Ecosystem::Go);
        assert_eq!(go.supported_list(), "1.26, 1.27");
        assert_eq!(go.default().map(|d| go.tag(d)).as_deref(), Some("1.27"));
        let python = Policy::of(Ecosystem::Python);
        assert_eq!(python.supported_list(), "3.11, 3.12, 3.13, 3.14, 3.15");
        let node = Policy::of(Ecosystem::Node);
        assert_eq!(node.default().map(|d| node.tag(d)).as_deref(), Some("24"));
        let java = Policy::of(Ecosystem::Java);
        assert_eq!(java.supported_list(), "8, 11, 17, 21, 25");
        let dotnet = Policy::of(Ecosystem::Dotnet);
        assert_eq!(dotnet.supported_list(), "10.0, 11.0");
        assert!(dotnet.default().is_none());
        let rust = Policy::of(Ecosystem::Rust);
        assert_eq!(rust.default().map(|d| rust.tag(d)).as_deref(), Some("1"));
        assert_eq!(rust.tag(Release::new(1, 88, 0, 3)), "1.88");
    }

    #[test]
    fn universe_is_sorted_and_holds_declared_series() {
        let go = Policy::of(Ecosystem::Go);
        let universe = go.universe([Release::new(1, 50, 2, 3)]);
        assert!(universe.windows(2).all(|w| w[0] < w[1]));
        assert!(universe.contains(&Release::new(1, 50, 0, 2)));
    }
}
