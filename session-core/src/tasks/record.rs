//! The task record: [`TaskId`], [`TaskState`], [`TaskRunner`] and [`TaskRecord`].

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::{SessionId, StoreError};

/// The longest task id accepted, in bytes.
pub const MAX_TASK_ID_LEN: usize = 128;

/// A task's id: 1–128 characters of `[A-Za-z0-9_-]`. The server generates 128 random bits
/// as 32 lowercase hex digits ([`TaskId::generate`]); ids from clients are validated with
/// [`TaskId::new`], so an id can never escape a key prefix or a log line.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    /// Validates `id`.
    ///
    /// # Errors
    /// [`StoreError::InvalidId`] naming the rule the input broke.
    pub fn new(id: impl Into<String>) -> Result<TaskId, StoreError> {
        let id = id.into();
        let reason = if id.is_empty() {
            Some("it is empty")
        } else if id.len() > MAX_TASK_ID_LEN {
            Some("it is longer than 128 bytes")
        } else if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Some("a task id may hold only A-Z a-z 0-9 _ -")
        } else {
            None
        };
        match reason {
            None => Ok(TaskId(id)),
            Some(reason) => Err(StoreError::InvalidId {
                id: id.chars().take(200).collect(),
                reason,
            }),
        }
    }

    /// A new id: 128 bits from the operating system's random source, as 32 hex digits.
    ///
    /// # Errors
    /// [`StoreError::Backend`] if the OS random source is unavailable.
    pub fn generate() -> Result<TaskId, StoreError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Backend(format!("os random source unavailable: {e}")))?;
        Ok(TaskId(format!("{:032x}", u128::from_be_bytes(bytes))))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for TaskId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for TaskId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskId::new(s)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TaskId::new(s).map_err(serde::de::Error::custom)
    }
}

/// Where a task is in its life, with the MCP tasks extension's names (`working`,
/// `input_required`, `completed`, `failed`, `cancelled`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// The step is running.
    Working,
    /// The step waits for answers to `input_requests` (written to `input_responses`).
    InputRequired,
    /// The step finished; `result` holds its `CallToolResult`.
    Completed,
    /// The step failed (or its runner died); `error` holds the JSON-RPC error.
    Failed,
    /// The step was cancelled before it finished.
    Cancelled,
}

impl TaskState {
    /// Whether the task is over (`completed`, `failed` or `cancelled`): a terminal task
    /// never changes state again through [`crate::Tasks::update`].
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskState::Completed | TaskState::Failed | TaskState::Cancelled
        )
    }

    /// The state as its JSON text.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Working => "working",
            TaskState::InputRequired => "input_required",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who runs a task: the server instance, its process id and host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRunner {
    /// The server instance (replica) name.
    pub instance: String,
    /// The runner's process id.
    pub pid: u32,
    /// The host the runner's process is on.
    pub host: String,
}

/// A durable task: one long step run in the background, answered from the store by any
/// process or replica. Written under the same version rule as sessions (see
/// [`crate::TaskStore::put_task`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The task's id (the key it is stored under).
    pub id: TaskId,
    /// The session the step belongs to, if any.
    pub session_id: Option<SessionId>,
    /// The tool the task runs.
    pub tool: String,
    /// Where the task is in its life.
    pub state: TaskState,
    /// A line for people about what the task is doing or why it ended.
    pub status_message: Option<String>,
    /// Progress so far, in units of `total`.
    pub progress: Option<f64>,
    /// The progress at completion, when known.
    pub total: Option<f64>,
    /// Outstanding requests (a JSON object) while `InputRequired`.
    pub input_requests: Option<serde_json::Value>,
    /// Answers written by `tasks/update`, read by the runner.
    pub input_responses: Option<serde_json::Value>,
    /// The `CallToolResult` JSON when `Completed`.
    pub result: Option<serde_json::Value>,
    /// The JSON-RPC error object when `Failed`.
    pub error: Option<serde_json::Value>,
    /// Set by `tasks/cancel`; the runner watches it, stops and writes `Cancelled`.
    pub cancel_requested: bool,
    /// When the task was created.
    pub created_at: DateTime<Utc>,
    /// When the task was last written.
    pub updated_at: DateTime<Utc>,
    /// How long the task is kept after its last write, in milliseconds.
    pub ttl_ms: u64,
    /// How often clients should poll it, in milliseconds.
    pub poll_interval_ms: u64,
    /// When the task may be purged: `updated_at + ttl_ms` when written through
    /// [`crate::Tasks`]. Purged once passed.
    pub expires_at: DateTime<Utc>,
    /// Who runs it (`None` before a runner claims it).
    pub runner: Option<TaskRunner>,
    /// Until when the runner's claim holds; the runner renews it while it works. A
    /// non-terminal task whose lease has passed has lost its runner.
    pub lease_until: Option<DateTime<Utc>>,
}

impl TaskRecord {
    /// A `Working` task of `tool`, created at `now`, kept `ttl_ms` after its last write,
    /// with nothing else set.
    pub fn new(
        id: TaskId,
        tool: impl Into<String>,
        now: DateTime<Utc>,
        ttl_ms: u64,
        poll_interval_ms: u64,
    ) -> TaskRecord {
        TaskRecord {
            id,
            session_id: None,
            tool: tool.into(),
            state: TaskState::Working,
            status_message: None,
            progress: None,
            total: None,
            input_requests: None,
            input_responses: None,
            result: None,
            error: None,
            cancel_requested: false,
            created_at: now,
            updated_at: now,
            ttl_ms,
            poll_interval_ms,
            expires_at: expiry(now, ttl_ms),
            runner: None,
            lease_until: None,
        }
    }

    /// Whether the task may be purged at `now` (`expires_at <= now`).
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// Whether the task is not terminal and its runner's lease has passed at `now` (or it
    /// never had one): its runner is gone, and the task should be marked failed.
    pub fn lease_lapsed_at(&self, now: DateTime<Utc>) -> bool {
        !self.state.is_terminal() && self.lease_until.is_none_or(|until| until <= now)
    }
}

/// `now + ttl_ms`, saturating at chrono's maximum.
pub(crate) fn expiry(now: DateTime<Utc>, ttl_ms: u64) -> DateTime<Utc> {
    crate::session::expiry_after(now, Duration::from_millis(ttl_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, ok: bool) {
        assert_eq!(TaskId::new(input).is_ok(), ok, "{input:?}");
    }

    #[test]
    fn task_ids_are_validated() {
        check("a", true);
        check("0123456789abcdef0123456789abcdef", true);
        check("A_b-9", true);
        check(&"x".repeat(128), true);
        for bad in ["", "a.b", "a:b", "a/b", "a b", "..", "caf\u{e9}", "a\nb"] {
            check(bad, false);
        }
        check(&"x".repeat(129), false);
        assert!(serde_json::from_str::<TaskId>("\"ok_id\"").is_ok());
        assert!(serde_json::from_str::<TaskId>("\"../x\"").is_err());
    }

    #[test]
    fn generated_ids_are_128_bits_of_hex_and_distinct() {
        let a = TaskId::generate().unwrap();
        let b = TaskId::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(TaskId::new(a.as_str()).is_ok());
    }

    #[test]
    fn states_are_snake_case_and_three_are_terminal() {
        let all = [
            (TaskState::Working, "working", false),
            (TaskState::InputRequired, "input_required", false),
            (TaskState::Completed, "completed", true),
            (TaskState::Failed, "failed", true),
            (TaskState::Cancelled, "cancelled", true),
        ];
        for (state, text, terminal) in all {
            assert_eq!(serde_json::to_value(state).unwrap(), text);
            assert_eq!(state.as_str(), text);
            assert_eq!(state.is_terminal(), terminal, "{text}");
            let back: TaskState = serde_json::from_value(text.into()).unwrap();
            assert_eq!(back, state);
        }
    }

    #[test]
    fn new_record_expires_ttl_after_creation_and_round_trips() {
        let now = DateTime::from_timestamp(1_750_000_000, 0).unwrap();
        let mut t = TaskRecord::new(TaskId::new("t1").unwrap(), "build_image", now, 5_000, 500);
        assert_eq!(t.expires_at, now + chrono::Duration::milliseconds(5_000));
        assert!(!t.is_expired_at(now));
        assert!(t.is_expired_at(t.expires_at));
        assert!(t.lease_lapsed_at(now));
        t.lease_until = Some(now + chrono::Duration::seconds(1));
        assert!(!t.lease_lapsed_at(now));
        t.state = TaskState::Completed;
        t.lease_until = None;
        assert!(!t.lease_lapsed_at(now));
        t.session_id = Some(SessionId::new("s1").unwrap());
        t.result = Some(serde_json::json!({"content": [], "isError": false}));
        t.runner = Some(TaskRunner {
            instance: "r1".into(),
            pid: 42,
            host: "h".into(),
        });
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TaskRecord>(&json).unwrap(), t);
    }
}
