//! [`log_safe`]: the one way user input (session ids, tool names, parameter names, messages
//! that quote them) enters a log line. Escaped, so a newline or a control character in the
//! input cannot forge a log line or a `key=value` field, and truncated, so a 10 KB id is not
//! logged whole.

use std::fmt;

/// The most characters of an id or a name a log line shows.
pub const LOG_NAME_CHARS: usize = 128;
/// The most characters of an error message a log line shows.
pub const LOG_MESSAGE_CHARS: usize = 1024;

/// `text` for a log line (`%log_safe(..)` in a `tracing` field, or `{}` in a message): quoted
/// and escaped as Rust's `{:?}` writes a string (newlines, quotes, control and invisible
/// characters as escapes), cut after `max_chars` characters with `…(+N chars)` saying how many
/// were left out.
pub fn log_safe(text: &str, max_chars: usize) -> LogSafe<'_> {
    LogSafe { text, max_chars }
}

/// The value [`log_safe`] returns: displays the escaped, truncated text.
#[derive(Clone, Copy, Debug)]
pub struct LogSafe<'a> {
    text: &'a str,
    max_chars: usize,
}

impl fmt::Display for LogSafe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.text.char_indices().nth(self.max_chars) {
            None => write!(f, "{:?}", self.text),
            Some((cut, _)) => {
                let left_out = self.text[cut..].chars().count();
                write!(f, "{:?}…(+{left_out} chars)", &self.text[..cut])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, max: usize, expected: &str) {
        assert_eq!(log_safe(text, max).to_string(), expected, "{text:?}");
    }

    #[test]
    fn input_is_escaped_and_cut() {
        check("s-1", 128, r#""s-1""#);
        check("a\nINFO forged", 128, r#""a\nINFO forged""#);
        check(
            "x\r\u{1b}[31m\u{2028}\"",
            128,
            r#""x\r\u{1b}[31m\u{2028}\"""#,
        );
        check("x elapsed_ms=0", 128, r#""x elapsed_ms=0""#);
        check("abcdef", 3, r#""abc"…(+3 chars)"#);
        check("ééééé", 2, r#""éé"…(+3 chars)"#);
        let long = "i".repeat(10_000);
        let shown = log_safe(&long, LOG_NAME_CHARS).to_string();
        assert!(
            shown.len() < 160 && shown.ends_with("…(+9872 chars)"),
            "{shown}"
        );
    }
}
