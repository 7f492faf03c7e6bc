//! The one duration syntax of the command lines that open a store: the server's
//! `--session-ttl` and xtask's `load --duration`.
//!
//! [`humantime`] does the parsing (`250ms`, `90s`, `15m`, `24h`, `7d`, `1h30m`, `1h 30m`);
//! the one form it does not know, a plain number, has always meant seconds here and still does.

use std::time::Duration;

/// A text that is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a duration ({reason}); use e.g. 250ms, 90s, 30m, 24h, 7d or 1h30m")]
pub struct DurationError {
    text: String,
    reason: String,
}

/// Parses `250ms`, `90s`, `15m`, `24h`, `7d`, `1h30m` (units may be separated by spaces), or
/// a plain number of seconds.
///
/// # Errors
/// [`DurationError`] for an empty text, an unknown unit (`10x`) or a number without a unit
/// after another part (`1h30`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return trimmed
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|e| DurationError {
                text: text.to_owned(),
                reason: e.to_string(),
            });
    }
    humantime::parse_duration(trimmed).map_err(|e| DurationError {
        text: text.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Option<Duration>) {
        assert_eq!(parse_duration(text).ok(), expected, "{text:?}");
    }

    #[test]
    fn every_form_the_server_and_xtask_accepted() {
        let secs = |s| Some(Duration::from_secs(s));
        // The server's --session-ttl forms.
        check("24h", secs(86_400));
        check("90m", secs(5_400));
        check("7d", secs(604_800));
        check("1h30m", secs(5_400));
        check("45", secs(45));
        check("30s", secs(30));
        check("250ms", Some(Duration::from_millis(250)));
        // xtask load --duration's forms.
        check("500ms", Some(Duration::from_millis(500)));
        check("10s", secs(10));
        check("2m", secs(120));
        check("10", secs(10));
        check(" 10s ", secs(10));
        // Now accepted too: spaces between parts.
        check("1h 30m", secs(5_400));
    }

    #[test]
    fn rejected_forms_say_what_to_write() {
        for bad in ["", "h", "10x", "1h30", "-5s", "ten"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains("use e.g. 250ms"), "{bad:?}: {err}");
        }
    }
}
