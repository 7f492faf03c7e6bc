//! The one duration syntax of the command lines that open a store: the server's
//! `--session-ttl` and xtask's `load --duration`.
//!
//! [`humantime`] does the parsing (`250ms`, `90s`, `15m`, `24h`, `7d`, `1h30m`, `1h 30m`);
//! the one form it does not know, a plain number, has always meant seconds here and still does.
//! [`parse_session_ttl`] adds the bound of a session TTL: at most [`MAX_SESSION_TTL`], so
//! `now + ttl` never overflows a timestamp (chrono's milliseconds in an `i64`).

use std::time::Duration;

/// The longest session TTL [`parse_session_ttl`] accepts: 3650 days (about ten years). Far
/// below what overflows a timestamp, and longer than any session is meant to live.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(3650 * 24 * 60 * 60);

/// A text that is not a duration, or not one that is allowed where it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {what} ({reason}); use e.g. {examples}")]
pub struct DurationError {
    text: String,
    reason: String,
    what: &'static str,
    examples: &'static str,
}

impl DurationError {
    fn syntax(text: &str, reason: impl ToString) -> DurationError {
        DurationError {
            text: text.to_owned(),
            reason: reason.to_string(),
            what: "a duration",
            examples: "250ms, 90s, 30m, 24h, 7d or 1h30m",
        }
    }
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
            .map_err(|e| DurationError::syntax(text, e));
    }
    humantime::parse_duration(trimmed).map_err(|e| DurationError::syntax(text, e))
}

/// [`parse_duration`] for a session TTL (`--session-ttl`): longer than zero and at most
/// [`MAX_SESSION_TTL`].
///
/// # Errors
/// [`DurationError`] for a text that is not a duration (a number too large for one
/// included), a zero duration, or one longer than [`MAX_SESSION_TTL`].
pub fn parse_session_ttl(text: &str) -> Result<Duration, DurationError> {
    let ttl = parse_duration(text)?;
    let bad = |reason: String| DurationError {
        text: text.to_owned(),
        reason,
        what: "a session TTL",
        examples: "24h, 7d or 30d",
    };
    if ttl.is_zero() {
        Err(bad("it must be longer than zero".into()))
    } else if ttl > MAX_SESSION_TTL {
        Err(bad(format!(
            "longer than the longest allowed, {}d",
            MAX_SESSION_TTL.as_secs() / 86_400
        )))
    } else {
        Ok(ttl)
    }
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
    fn a_session_ttl_is_bounded_and_its_overflow_refused() {
        assert_eq!(
            parse_session_ttl("3650d").unwrap(),
            MAX_SESSION_TTL,
            "the longest allowed"
        );
        assert_eq!(
            parse_session_ttl("24h").unwrap(),
            Duration::from_secs(86_400)
        );
        // Accepted by the plain duration syntax, but past any sane TTL or a timestamp.
        for too_long in ["3651d", "213503982334601d", "18446744073709551615"] {
            let err = parse_session_ttl(too_long).unwrap_err().to_string();
            assert!(
                err.contains("longest allowed, 3650d") && err.contains("use e.g. 24h"),
                "{too_long}: {err}"
            );
        }
        // One more day overflows u64 seconds: refused, never wrapped.
        let err = parse_session_ttl("213503982334602d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("too large"), "{err}");
        for zero in ["0", "0s"] {
            let err = parse_session_ttl(zero).unwrap_err().to_string();
            assert!(err.contains("longer than zero"), "{zero}: {err}");
        }
    }

    #[test]
    fn rejected_forms_say_what_to_write() {
        for bad in ["", "h", "10x", "1h30", "-5s", "ten"] {
            let err = parse_duration(bad).unwrap_err().to_string();
            assert!(err.contains("use e.g. 250ms"), "{bad:?}: {err}");
        }
    }
}
