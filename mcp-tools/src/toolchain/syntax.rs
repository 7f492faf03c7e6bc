//! The text forms around a version: the value of a `key = "value"` / `"key": "value"` /
//! `<key>value</key>` line, and the two range languages, PEP 440 (with Poetry's `^` and `~`
//! translated into it) and npm's.
//!
//! The range languages are parsed by their maintained implementations: `pep440_rs` (uv's)
//! and `js-semver` (node-semver's rules). Only Poetry's operators are translated here, since
//! PEP 440 has no `^` and gives `~` (as `~=`) another meaning.

use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

/// The value in `text`, which may be the value itself (`>=3.10`) or the line it sits on:
/// `requires-python = ">=3.10"`, `"engines": { "node": ">=18" },`,
/// `<java.version>17</java.version>`. `keys` are the names the value may follow (with `=`
/// or `:`); a quoted value ends at its closing quote, a bare one at `,`, `;`, `}` or a space.
pub(crate) fn value_of<'a>(text: &'a str, keys: &[&str]) -> &'a str {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('<') {
        // `<TargetFramework>net8.0</TargetFramework>`: the element's content.
        if let Some((_, content)) = rest.split_once('>') {
            let content = content.split("</").next().unwrap_or(content);
            return content.trim();
        }
    }
    keys.iter()
        .find_map(|key| value_after(text, key))
        .unwrap_or_else(|| {
            text.trim_end_matches(',')
                .trim()
                .trim_matches(['"', '\''])
                .trim()
        })
}

/// The value after the first whole-word `key` in `text` that is followed by `=` or `:`.
fn value_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    for (at, _) in text.match_indices(key) {
        if text[..at].chars().next_back().is_some_and(word) {
            continue;
        }
        let rest = text[at + key.len()..]
            .trim_start_matches(['"', '\''])
            .trim_start();
        let Some(value) = rest.strip_prefix(['=', ':']).map(str::trim_start) else {
            continue;
        };
        if let Some(quote) = value.chars().next().filter(|c| matches!(c, '"' | '\'')) {
            let inner = &value[1..];
            return Some(inner.split(quote).next().unwrap_or(inner).trim());
        }
        let end = value
            .find(|c: char| matches!(c, ',' | ';' | '}') || c.is_whitespace())
            .unwrap_or(value.len());
        return Some(&value[..end]);
    }
    None
}

/// A Python version range: any of its alternatives (Poetry's `||`), each a set of PEP 440
/// specifiers that must all hold.
#[derive(Debug, Clone)]
pub(crate) struct PythonRange(Vec<VersionSpecifiers>);

impl PythonRange {
    /// Reads `requires-python` (PEP 440: `>=3.10,<4.0`, `~=3.11`, `==3.12.*`). A bare
    /// version (`3.12`), which PEP 440 does not allow but projects write, means that series.
    pub(crate) fn pep440(text: &str) -> Result<Self, String> {
        Ok(Self(vec![specifiers(&bare_to_series(text.trim()))?]))
    }

    /// Reads Poetry's `python` constraint: PEP 440 plus `^3.12` (`>=3.12,<4.0`), `~3.11`
    /// (`>=3.11,<3.12`), `*`, and alternatives joined by `||`.
    pub(crate) fn poetry(text: &str) -> Result<Self, String> {
        let mut alternatives = Vec::new();
        for alternative in text.split("||") {
            let mut parts = Vec::new();
            for part in alternative
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                parts.push(poetry_part(part)?);
            }
            alternatives.push(specifiers(&parts.join(","))?);
        }
        Ok(Self(alternatives))
    }

    pub(crate) fn contains(&self, version: [u64; 3]) -> bool {
        let version = Version::new(version);
        self.0.iter().any(|s| s.contains(&version))
    }
}

fn specifiers(text: &str) -> Result<VersionSpecifiers, String> {
    VersionSpecifiers::from_str(text).map_err(|e| e.to_string())
}

/// `3.12` → `==3.12.*`; anything that starts with an operator stays.
fn bare_to_series(text: &str) -> String {
    if !text.starts_with(|c: char| c.is_ascii_digit()) {
        return text.to_owned();
    }
    if text.ends_with(".*") || text.split('.').count() >= 3 {
        format!("=={text}")
    } else {
        format!("=={text}.*")
    }
}

/// One comma-separated part of a Poetry constraint in PEP 440.
fn poetry_part(part: &str) -> Result<String, String> {
    if part == "*" {
        return Ok(String::new());
    }
    let (caret, rest) = if let Some(rest) = part.strip_prefix('^') {
        (true, rest)
    } else if let Some(rest) = part.strip_prefix('~').filter(|r| !r.starts_with('=')) {
        (false, rest)
    } else {
        return Ok(bare_to_series(part));
    };
    let rest = rest.trim();
    let numbers: Vec<u64> = rest
        .split('.')
        .map(|n| n.parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{part:?} is not an operator followed by a release"))?;
    let upper = match (caret, numbers.as_slice()) {
        // ^3.12 and ^3 allow up to the next major (Poetry: the first non-zero component).
        (true, [0, minor, ..]) => format!("0.{}", minor + 1),
        (true, [major, ..]) => format!("{}", major + 1),
        // ~3.11 and ~3.11.2 allow up to the next minor; ~3 up to the next major.
        (false, [major]) => format!("{}", major + 1),
        (false, [major, minor, ..]) => format!("{major}.{}", minor + 1),
        (_, []) => return Err(format!("{part:?} has no release")),
    };
    Ok(format!(">={rest},<{upper}"))
}

/// An npm range (`>=20.9.0`, `18.x || 20.x`, `^22`), parsed by `js-semver`.
#[derive(Debug, Clone)]
pub(crate) struct NpmRange(js_semver::Range);

impl NpmRange {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        js_semver::Range::parse(text.trim())
            .map(Self)
            .map_err(|e| e.to_string())
    }

    pub(crate) fn contains(&self, version: [u64; 3]) -> bool {
        let [major, minor, patch] = version;
        self.0
            .satisfies(&js_semver::Version::new(major, minor, patch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_of_takes_the_value_from_its_line() {
        let check = |text: &str, expected: &str| {
            let keys = ["requires-python", "node", "python_version", "channel"];
            assert_eq!(value_of(text, &keys), expected, "{text}");
        };
        check(">=3.10", ">=3.10");
        check("requires-python = \">=3.10\"", ">=3.10");
        check("\"node\": \">=18\",", ">=18");
        check("python_version = '3.12'", "3.12");
        check("channel = \"1.88\"", "1.88");
        check("<java.version>17</java.version>", "17");
        check("  <TargetFramework>net8.0</TargetFramework>  ", "net8.0");
        check("\"engines\": { \"node\": \">=20.9.0\" },", ">=20.9.0");
        check("java { channel = 17 }", "17");
        check("nodejs", "nodejs");
        check("xnode = 3", "xnode = 3");
    }

    fn check_python(range: Result<PythonRange, String>, admits: &[[u64; 3]], rejects: &[[u64; 3]]) {
        let range = match range {
            Ok(range) => range,
            Err(e) => panic!("{e}"),
        };
        for v in admits {
            assert!(range.contains(*v), "{range:?} should admit {v:?}");
        }
        for v in rejects {
            assert!(!range.contains(*v), "{range:?} should reject {v:?}");
        }
    }

    #[test]
    fn poetry_operators_become_pep440() {
        let c = |t: &str| poetry_part(t).unwrap_or_else(|e| e);
        assert_eq!(c("^3.12"), ">=3.12,<4");
        assert_eq!(c("~3.11"), ">=3.11,<3.12");
        assert_eq!(c("~3.11.2"), ">=3.11.2,<3.12");
        assert_eq!(c("~=3.11"), "~=3.11");
        assert_eq!(c("3.12"), "==3.12.*");
        assert_eq!(c(">=3.9"), ">=3.9");
        check_python(
            PythonRange::poetry("^3.12"),
            &[[3, 12, 999], [3, 15, 999]],
            &[[3, 11, 999], [4, 0, 0]],
        );
        check_python(
            PythonRange::poetry("~3.11"),
            &[[3, 11, 999]],
            &[[3, 12, 999]],
        );
        check_python(
            PythonRange::poetry(">=3.9,<3.11 || >=3.13"),
            &[[3, 10, 999], [3, 13, 999]],
            &[[3, 12, 999]],
        );
        check_python(PythonRange::poetry("*"), &[[3, 8, 0]], &[]);
        assert!(PythonRange::poetry("^three").is_err());
    }

    #[test]
    fn requires_python_is_pep440() {
        check_python(
            PythonRange::pep440(">=3.10,<4.0"),
            &[[3, 11, 999]],
            &[[3, 9, 999], [4, 0, 0]],
        );
        check_python(
            PythonRange::pep440("3.12.*"),
            &[[3, 12, 999]],
            &[[3, 13, 0]],
        );
        check_python(
            PythonRange::pep440(">=3.9,<3.13"),
            &[[3, 12, 999]],
            &[[3, 13, 999]],
        );
        check_python(
            PythonRange::pep440("3.12"),
            &[[3, 12, 999]],
            &[[3, 13, 999]],
        );
        assert!(PythonRange::pep440(">=three").is_err());
    }

    #[test]
    fn npm_ranges_follow_node_semver() {
        let check = |text: &str, admits: &[[u64; 3]], rejects: &[[u64; 3]]| {
            let range = match NpmRange::parse(text) {
                Ok(range) => range,
                Err(e) => panic!("{text}: {e}"),
            };
            admits
                .iter()
                .for_each(|v| assert!(range.contains(*v), "{text} {v:?}"));
            rejects
                .iter()
                .for_each(|v| assert!(!range.contains(*v), "{text} {v:?}"));
        };
        check(">=20.9.0", &[[22, 999, 999]], &[[18, 999, 999]]);
        check("18.x || 20.x", &[[20, 999, 999]], &[[22, 999, 999]]);
        check("^22", &[[22, 999, 999]], &[[24, 0, 0]]);
        assert!(NpmRange::parse(">=banana").is_err());
    }
}
