//! The session record, its version and the versioned wrapper.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::SessionId;

/// A record's version: 1 after insert, +1 on every committed write. A version is never
/// reused for a key while the key exists.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    /// The version of a freshly inserted record.
    pub const FIRST: Version = Version(1);

    /// The version the next committed write will carry.
    pub fn next(self) -> Version {
        Version(self.0.saturating_add(1))
    }

    /// The version as a plain integer (1 after insert, +1 per committed write).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A value with the version it was read at (or written as).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The record's version.
    pub version: Version,
    /// The record as it was at `version`.
    pub value: T,
}

/// A session's lifecycle status, as the Go server wrote it.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Live: reads and writes succeed until `expires_at`.
    #[default]
    Active,
    /// Marked expired (the Go server set this when a session's TTL ran out).
    Expired,
    /// Paused by an operator.
    Suspended,
}

impl SessionStatus {
    /// The status as the JSON text.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Active => "active",
            SessionStatus::Expired => "expired",
            SessionStatus::Suspended => "suspended",
        }
    }
}

impl std::str::FromStr for SessionStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(SessionStatus::Active),
            "expired" => Ok(SessionStatus::Expired),
            "suspended" => Ok(SessionStatus::Suspended),
            other => Err(format!(
                "unknown session status {other:?}; use active, expired or suspended"
            )),
        }
    }
}

/// One session: the JSON shape of the Go container-kit `Session`, field for field
/// (snake_case names), so migrated stores and existing clients keep working.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id; never changes.
    pub id: SessionId,
    /// The owning user, empty when unknown.
    #[serde(default)]
    pub user_id: String,
    /// When the session was created.
    pub created_at: DateTime<Utc>,
    /// When the session was last written.
    pub updated_at: DateTime<Utc>,
    /// When the session expires (reads then answer `Expired`, purges remove it).
    pub expires_at: DateTime<Utc>,
    /// Lifecycle status; `active` when absent (records written before the field existed).
    #[serde(default)]
    pub status: SessionStatus,
    /// Free-form stage name (`"workflow"` for container-kit workflows).
    #[serde(default, deserialize_with = "null_as_default")]
    pub stage: String,
    /// Labels for filtering.
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Arbitrary JSON; the workflow keeps its state at `metadata["workflow_state"]`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl Session {
    /// A new active session created at `now` that expires `ttl` later.
    pub fn new(id: SessionId, now: DateTime<Utc>, ttl: Duration) -> Session {
        Session {
            id,
            user_id: String::new(),
            created_at: now,
            updated_at: now,
            expires_at: expiry_after(now, ttl),
            status: SessionStatus::Active,
            stage: String::new(),
            labels: BTreeMap::new(),
            metadata: serde_json::Map::new(),
        }
    }

    /// Whether the session's TTL has run out at `now` (`expires_at <= now`).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// `now + ttl`, saturating at the largest representable time.
pub(crate) fn expiry_after(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(ttl)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
