//! [`SessionId`]: the validated session identifier.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::StoreError;

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// A validated session id: `^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`.
///
/// That admits the npm client's ids (`session-2024-01-15T10-30-45-abc123def`), the Go
/// server's `wf_<uuid>` ids and plain names like `load-test-7`, and rejects everything that
/// could escape a path, a key prefix or a log line (`/`, `..` at the start, whitespace,
/// control characters, non-ASCII).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// Validates `id`.
    ///
    /// # Errors
    /// [`StoreError::InvalidId`] naming the rule the input broke.
    pub fn new(id: impl Into<String>) -> Result<SessionId, StoreError> {
        let id = id.into();
        match validate(&id) {
            Ok(()) => Ok(SessionId(id)),
            Err(reason) => Err(StoreError::InvalidId {
                id: id.chars().take(200).collect(),
                reason,
            }),
        }
    }

    /// A new id of the npm client's shape, `session-YYYY-MM-DDTHH-MM-SS-<16 hex>`, with 64
    /// bits from the operating system's random source.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the OS random source is unavailable.
    pub fn generate() -> Result<SessionId, StoreError> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Backend(format!("os random source unavailable: {e}")))?;
        let now = chrono::Utc::now().format("%Y-%m-%dT%H-%M-%S");
        Ok(SessionId(format!(
            "session-{now}-{:016x}",
            u64::from_be_bytes(bytes)
        )))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn validate(id: &str) -> Result<(), &'static str> {
    let bytes = id.as_bytes();
    let Some(&first) = bytes.first() else {
        return Err("it is empty");
    };
    if bytes.len() > MAX_ID_LEN {
        return Err("it is longer than 128 bytes");
    }
    if !first.is_ascii_alphanumeric() {
        return Err("it must start with a letter or digit");
    }
    if !bytes
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    {
        return Err("it contains a character other than A-Z a-z 0-9 . _ : -");
    }
    Ok(())
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for SessionId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Ord, Eq and Hash are String's, so they agree with str's.
impl std::borrow::Borrow<str> for SessionId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for SessionId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionId::new(s)
    }
}

impl TryFrom<String> for SessionId {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        SessionId::new(s)
    }
}

impl TryFrom<&str> for SessionId {
    type Error = StoreError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        SessionId::new(s)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SessionId::new(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, ok: bool) {
        assert_eq!(SessionId::new(input).is_ok(), ok, "{input:?}");
    }

    #[test]
    fn accepts_the_ids_clients_send() {
        check("session-2024-01-15T10-30-45-abc123def", true);
        check("wf_5eed0001-1b2c-4d3e-8f90-0000a1b2c3d5", true);
        check("load-test-7", true);
        check("a", true);
        check("ns:abc.def_1", true);
        check(&"a".repeat(128), true);
    }

    #[test]
    fn rejects_ids_that_could_escape_or_confuse() {
        for bad in [
            "",
            " ",
            "a b",
            "a/b",
            "../etc",
            "..",
            ".hidden",
            "-flag",
            "_x",
            "a\nb",
            "a\u{0}b",
            "caf\u{e9}",
            "a\tb",
            "a\\b",
            "a*b",
        ] {
            check(bad, false);
        }
        check(&"a".repeat(129), false);
    }

    #[test]
    fn generated_ids_are_valid_npm_shaped_and_distinct() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("session-"));
        assert_eq!(a.as_str().len(), "session-2024-01-15T10-30-45-".len() + 16);
        assert!(SessionId::new(a.as_str()).is_ok());
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<SessionId>("\"ok-id\"").is_ok());
        assert!(serde_json::from_str::<SessionId>("\"../x\"").is_err());
    }
}
