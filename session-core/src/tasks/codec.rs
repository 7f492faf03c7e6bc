//! The task record codec: the bytes the embedded adapters store for a task, and the task
//! expiry-index key. The layout is the session record's (see `docs/record-format.md`) with
//! its own magic, so a task record can never be read as a session or the other way round:
//!
//! ```text
//! offset  size  field
//! 0       4     magic b"CKTR"
//! 4       1     format version (1)
//! 5       8     record version, u64 big-endian
//! 13      8     expires_at: seconds since the Unix epoch, i64 big-endian
//! 21      4     expires_at: nanoseconds, u32 big-endian
//! 25      4     CRC-32 (IEEE) of the body, big-endian
//! 29      ..    body: the TaskRecord as compact JSON (UTF-8)
//! ```

use chrono::{DateTime, Utc};

use super::{TaskId, TaskRecord};
use crate::adapter::RecordHeader;
use crate::{StoreError, Version, Versioned};

/// The task record format this build writes.
pub const TASK_FORMAT_VERSION: u8 = 1;

const MAGIC: &[u8; 4] = b"CKTR";
const HEADER_LEN: usize = 29;

/// Encodes a task and its version as format-version-1 task record bytes.
///
/// # Errors
/// [`StoreError::Invalid`] if the task cannot be serialized (a non-finite progress, say).
pub fn encode_task_record(version: Version, task: &TaskRecord) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 512);
    out.extend_from_slice(MAGIC);
    out.push(TASK_FORMAT_VERSION);
    out.extend_from_slice(&version.0.to_be_bytes());
    out.extend_from_slice(&task.expires_at.timestamp().to_be_bytes());
    out.extend_from_slice(&task.expires_at.timestamp_subsec_nanos().to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut out, task)
        .map_err(|e| StoreError::Invalid(format!("task {} cannot be encoded: {e}", task.id)))?;
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[25..29].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

fn corrupt(key: &str, reason: impl Into<String>) -> StoreError {
    StoreError::TaskCorrupt {
        id: key.chars().take(200).collect(),
        reason: reason.into(),
    }
}

/// Reads the header of task record bytes stored under `key` (the task id), checking the
/// magic and format version but not the body.
///
/// # Errors
/// [`StoreError::TaskCorrupt`] naming `key` if the header is damaged or of an unknown
/// format.
pub fn task_record_header(key: &str, bytes: &[u8]) -> Result<RecordHeader, StoreError> {
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(
            key,
            format!("record is {} bytes, shorter than its header", bytes.len()),
        ));
    }
    if &bytes[0..4] != MAGIC {
        return Err(corrupt(key, "bad magic: not a task record"));
    }
    if bytes[4] != TASK_FORMAT_VERSION {
        return Err(corrupt(
            key,
            format!(
                "task record format version {} is not known to this build (it reads {TASK_FORMAT_VERSION})",
                bytes[4]
            ),
        ));
    }
    let version = Version(u64::from_be_bytes(array(&bytes[5..13])));
    let secs = i64::from_be_bytes(array(&bytes[13..21]));
    let nanos = u32::from_be_bytes(array(&bytes[21..25]));
    let expires_at = DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| corrupt(key, "expiry time out of range"))?;
    Ok(RecordHeader {
        version,
        expires_at,
    })
}

/// Decodes task record bytes stored under `key` (the task id).
///
/// # Errors
/// [`StoreError::TaskCorrupt`] naming `key` if the header, checksum or JSON is damaged, or
/// the body's id is not `key`.
pub fn decode_task_record(key: &str, bytes: &[u8]) -> Result<Versioned<TaskRecord>, StoreError> {
    let header = task_record_header(key, bytes)?;
    let body = &bytes[HEADER_LEN..];
    if crc32fast::hash(body) != u32::from_be_bytes(array(&bytes[25..29])) {
        return Err(corrupt(key, "checksum mismatch"));
    }
    let value: TaskRecord =
        serde_json::from_slice(body).map_err(|e| corrupt(key, format!("bad JSON body: {e}")))?;
    if value.id.as_str() != key {
        return Err(corrupt(
            key,
            format!("record holds task {} under key {key}", value.id),
        ));
    }
    if value.expires_at != header.expires_at {
        return Err(corrupt(key, "header and body disagree on expires_at"));
    }
    Ok(Versioned {
        version: header.version,
        value,
    })
}

/// The task expiry-index key: 12 bytes of time (seconds, sign-flipped, big-endian; then
/// nanoseconds, big-endian), then the id. Keys sort by expiry time, then id.
pub fn task_expiry_key(expires_at: DateTime<Utc>, id: &TaskId) -> Vec<u8> {
    let mut key = Vec::with_capacity(12 + id.as_str().len());
    key.extend_from_slice(&time_prefix(expires_at));
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// The exclusive upper bound of the task expiry-index keys expired at `now`
/// (`expires_at <= now`): scan `..task_expiry_range_end(now)`.
pub fn task_expiry_range_end(now: DateTime<Utc>) -> Vec<u8> {
    let mut key = time_prefix(now).to_vec();
    // Task ids are ASCII, so 0xFF sorts after every id at this exact time.
    key.push(0xFF);
    key
}

/// The task id of a task expiry-index key (its bytes after the time), as stored: it names
/// the record to remove even if that record is unreadable.
pub fn task_expiry_key_id(key: &[u8]) -> Option<&str> {
    key.get(12..)
        .and_then(|id| std::str::from_utf8(id).ok())
        .filter(|id| !id.is_empty())
}

fn time_prefix(t: DateTime<Utc>) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[0..8].copy_from_slice(&((t.timestamp() as u64) ^ (1 << 63)).to_be_bytes());
    out[8..12].copy_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
    out
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn task(id: &str) -> TaskRecord {
        let now = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        let mut t = TaskRecord::new(TaskId::new(id).unwrap(), "build_image", now, 60_000, 500);
        t.result = Some(serde_json::json!({"content": [{"type": "text", "text": "ok"}]}));
        t
    }

    #[test]
    fn round_trips() {
        let t = task("abc");
        let bytes = encode_task_record(Version(7), &t).unwrap();
        let back = decode_task_record("abc", &bytes).unwrap();
        assert_eq!((back.version, back.value), (Version(7), t.clone()));
        let header = task_record_header("abc", &bytes).unwrap();
        assert_eq!(header.expires_at, t.expires_at);
    }

    #[test]
    fn damage_is_reported_as_task_corrupt_never_as_data() {
        let bytes = encode_task_record(Version(1), &task("abc")).unwrap();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 0x20;
        let mut future = bytes.clone();
        future[4] = 99;
        let session = crate::adapter::encode_record(
            Version(1),
            &crate::Session::new(
                crate::SessionId::new("abc").unwrap(),
                task("abc").created_at,
                std::time::Duration::from_secs(1),
            ),
        )
        .unwrap();
        for bad in [
            &bytes[..5],
            &flipped[..],
            &future[..],
            &session[..],
            b"junk",
        ] {
            let e = decode_task_record("abc", bad).unwrap_err();
            assert!(matches!(e, StoreError::TaskCorrupt { .. }), "{e}");
            assert!(e.to_string().starts_with("task abc is corrupt"), "{e}");
        }
        assert!(matches!(
            decode_task_record("other", &bytes),
            Err(StoreError::TaskCorrupt { .. })
        ));
    }

    #[test]
    fn expiry_keys_sort_by_time_then_id_and_name_their_task() {
        let id = TaskId::new("-b").unwrap();
        let times = [
            DateTime::from_timestamp(-5, 0).unwrap(),
            DateTime::from_timestamp(0, 1).unwrap(),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        ];
        let keys: Vec<_> = times.iter().map(|t| task_expiry_key(*t, &id)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (t, k) in times.iter().zip(&keys) {
            assert_eq!(task_expiry_key_id(k), Some("-b"));
            assert!(k.as_slice() < task_expiry_range_end(*t).as_slice());
        }
        assert!(keys[2].as_slice() >= task_expiry_range_end(times[1]).as_slice());
    }
}
