//! A release number as toolchains write it (`1.24`, `3.12.4`, `22`): up to three numeric
//! components, remembering how many were written.
//!
//! How many were written matters: `3.12` in `.python-version` means "the newest 3.12", while
//! `3.12.4` means that patch. [`Release::newest`] turns the first into `3.12.999` so that one
//! comparison serves both: an image tag `python:3.12` delivers the newest 3.12 patch, so a
//! series satisfies a range when its newest release does.

use std::cmp::Ordering;
use std::fmt;

/// Stands for "the newest patch (or minor) of this series" in comparisons: larger than any
/// number a toolchain has published.
const NEWEST: u64 = 999;

/// Up to three numeric components; `given` says how many the text had (1 to 3).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Release {
    nums: [u64; 3],
    given: usize,
}

impl Release {
    /// A release of `given` components; the rest are zero.
    pub(crate) fn new(major: u64, minor: u64, patch: u64, given: usize) -> Self {
        Self {
            nums: [major, minor, patch],
            given: given.clamp(1, 3),
        }
    }

    /// Reads the release at the start of `text` (`1.24rc1` → `1.24`, rest `rc1`). `None` when
    /// `text` does not start with a digit or a component overflows.
    pub(crate) fn parse_prefix(text: &str) -> Option<(Self, &str)> {
        let mut nums = [0u64; 3];
        let mut given = 0;
        let mut rest = text;
        while given < 3 {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                break;
            }
            nums[given] = rest[..digits].parse().ok()?;
            given += 1;
            rest = &rest[digits..];
            match rest.strip_prefix('.') {
                Some(after) if after.starts_with(|c: char| c.is_ascii_digit()) && given < 3 => {
                    rest = after;
                }
                _ => break,
            }
        }
        (given > 0).then_some((Self { nums, given }, rest))
    }

    /// Reads a whole release (`1.24`, `3.12.4`); `None` when anything else follows.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match Self::parse_prefix(text.trim()) {
            Some((release, "")) => Some(release),
            _ => None,
        }
    }

    pub(crate) fn major(self) -> u64 {
        self.nums[0]
    }

    pub(crate) fn minor(self) -> u64 {
        self.nums[1]
    }

    /// The release cut to its first `width` components: `1.24.3` at width 2 is the series
    /// `1.24`, `20.11.1` at width 1 the series `20`.
    pub(crate) fn series(self, width: usize) -> Self {
        let width = width.clamp(1, 3);
        let mut nums = [0u64; 3];
        nums[..width].copy_from_slice(&self.nums[..width]);
        Self { nums, given: width }
    }

    /// The newest release this text can stand for: missing components become 999
    /// (`3.12` → `3.12.999`), the written ones stay.
    pub(crate) fn newest(self) -> [u64; 3] {
        let mut nums = self.nums;
        for n in nums.iter_mut().skip(self.given) {
            *n = NEWEST;
        }
        nums
    }

    /// The oldest release this text can stand for: missing components are zero.
    pub(crate) fn oldest(self) -> [u64; 3] {
        self.nums
    }

    /// Whether `version` lies in this release as written: `1.88` holds `1.88.0` and
    /// `1.88.5`, `1.88.0` holds only `1.88.0`.
    pub(crate) fn holds(self, version: [u64; 3]) -> bool {
        self.nums[..self.given] == version[..self.given]
    }
}

/// Releases compare by their numbers alone: `3.12` and `3.12.0` are equal.
impl PartialEq for Release {
    fn eq(&self, other: &Self) -> bool {
        self.nums == other.nums
    }
}

impl Eq for Release {}

impl PartialOrd for Release {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Release {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nums.cmp(&other.nums)
    }
}

/// Writes the components that were given: `1.26`, `22`, `3.12.4`.
impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for n in &self.nums[..self.given] {
            if !first {
                f.write_str(".")?;
            }
            write!(f, "{n}")?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_prefix(text: &str, expected: Option<(&str, &str)>) {
        let got = Release::parse_prefix(text).map(|(r, rest)| (r.to_string(), rest));
        let expected = expected.map(|(r, rest)| (r.to_owned(), rest));
        assert_eq!(got, expected, "{text}");
    }

    #[test]
    fn parse_prefix_reads_up_to_three_components() {
        check_prefix("1.24", Some(("1.24", "")));
        check_prefix("1.26.0", Some(("1.26.0", "")));
        check_prefix("1.21rc1", Some(("1.21", "rc1")));
        check_prefix("3.12.*", Some(("3.12", ".*")));
        check_prefix("1.2.3.4", Some(("1.2.3", ".4")));
        check_prefix("22.", Some(("22", ".")));
        check_prefix("v20", None);
        check_prefix("", None);
        check_prefix("99999999999999999999999", None);
    }

    #[test]
    fn series_newest_and_holds() {
        let r = Release::new(1, 24, 3, 3);
        assert_eq!(r.series(2).to_string(), "1.24");
        assert_eq!(r.series(1).to_string(), "1");
        assert_eq!(Release::new(3, 12, 0, 2).newest(), [3, 12, 999]);
        assert!(Release::new(1, 88, 0, 2).holds([1, 88, 5]));
        assert!(!Release::new(1, 88, 0, 3).holds([1, 88, 5]));
        assert_eq!(Release::new(3, 12, 0, 2), Release::new(3, 12, 0, 3));
    }
}
