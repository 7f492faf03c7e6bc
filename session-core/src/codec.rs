//! The record codec: the bytes every adapter stores for a session, and the expiry-index key.
//!
//! Format version 1 (see `docs/record-format.md`):
//!
//! ```text
//! offset  size  field
//! 0       4     magic b"CKSR"
//! 4       1     format version (1)
//! 5       8     record version, u64 big-endian
//! 13      8     expires_at: seconds since the Unix epoch, i64 big-endian
//! 21      4     expires_at: nanoseconds, u32 big-endian
//! 25      4     CRC-32 (IEEE) of the body, big-endian
//! 29      ..    body: the Session as compact JSON (UTF-8)
//! ```
//!
//! Keeping the record version and expiry in the header lets an adapter check a
//! compare-and-swap and maintain its expiry index from the stored bytes alone, without
//! parsing JSON on its writer; and both backends hold identical bytes.

use chrono::{DateTime, Utc};

use crate::{Session, SessionId, StoreError, Version, Versioned};

/// The record format this build writes.
pub const RECORD_FORMAT_VERSION: u8 = 1;

const MAGIC: &[u8; 4] = b"CKSR";
const HEADER_LEN: usize = 29;

/// Encodes a session and its version as format-version-1 record bytes.
///
/// # Errors
/// [`StoreError::Invalid`] if the session cannot be serialized (it always can, unless its
/// metadata holds a non-finite number).
pub fn encode_record(version: Version, session: &Session) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 512);
    out.extend_from_slice(MAGIC);
    out.push(RECORD_FORMAT_VERSION);
    out.extend_from_slice(&version.0.to_be_bytes());
    out.extend_from_slice(&session.expires_at.timestamp().to_be_bytes());
    out.extend_from_slice(&session.expires_at.timestamp_subsec_nanos().to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut out, session).map_err(|e| {
        StoreError::Invalid(format!("session {} cannot be encoded: {e}", session.id))
    })?;
    let crc = crc32fast::hash(&out[HEADER_LEN..]);
    out[25..29].copy_from_slice(&crc.to_be_bytes());
    Ok(out)
}

/// What the header of a record says, read without parsing the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    /// The record's version.
    pub version: Version,
    /// The session's `expires_at`.
    pub expires_at: DateTime<Utc>,
}

/// Reads the header of record bytes stored under `key`, checking the magic and format
/// version but not the body.
///
/// # Errors
/// [`StoreError::Corrupt`] naming `key` if the header is damaged or of an unknown format.
pub fn record_header(key: &str, bytes: &[u8]) -> Result<RecordHeader, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        id: key.to_owned(),
        reason,
    };
    if bytes.len() < HEADER_LEN {
        return Err(corrupt(format!(
            "record is {} bytes, shorter than its header",
            bytes.len()
        )));
    }
    if &bytes[0..4] != MAGIC {
        return Err(corrupt("bad magic: not a session record".into()));
    }
    if bytes[4] != RECORD_FORMAT_VERSION {
        return Err(corrupt(format!(
            "record format version {} is not known to this build (it reads {RECORD_FORMAT_VERSION})",
            bytes[4]
        )));
    }
    let version = Version(u64::from_be_bytes(array(&bytes[5..13])));
    let secs = i64::from_be_bytes(array(&bytes[13..21]));
    let nanos = u32::from_be_bytes(array(&bytes[21..25]));
    let expires_at = DateTime::from_timestamp(secs, nanos)
        .ok_or_else(|| corrupt("expiry time out of range".into()))?;
    Ok(RecordHeader {
        version,
        expires_at,
    })
}

fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(bytes);
    out
}

/// Decodes record bytes stored under `key`.
///
/// # Errors
/// [`StoreError::Corrupt`] naming `key` if the header, checksum or JSON is damaged, or the
/// body's id is not `key`.
pub fn decode_record(key: &str, bytes: &[u8]) -> Result<Versioned<Session>, StoreError> {
    let header = record_header(key, bytes)?;
    let corrupt = |reason: String| StoreError::Corrupt {
        id: key.to_owned(),
        reason,
    };
    let body = &bytes[HEADER_LEN..];
    if crc32fast::hash(body) != u32::from_be_bytes(array(&bytes[25..29])) {
        return Err(corrupt("checksum mismatch".into()));
    }
    let value: Session =
        serde_json::from_slice(body).map_err(|e| corrupt(format!("bad JSON body: {e}")))?;
    if value.id.as_str() != key {
        return Err(corrupt(format!(
            "record holds session {} under key {key}",
            value.id
        )));
    }
    if value.expires_at != header.expires_at {
        return Err(corrupt("header and body disagree on expires_at".into()));
    }
    Ok(Versioned {
        version: header.version,
        value,
    })
}

/// The expiry-index key of a session: 12 bytes of time (seconds, sign-flipped, big-endian;
/// then nanoseconds, big-endian), then the id. Keys sort by expiry time, then id.
pub fn expiry_key(expires_at: DateTime<Utc>, id: &SessionId) -> Vec<u8> {
    let mut key = Vec::with_capacity(12 + id.as_str().len());
    key.extend_from_slice(&time_prefix(expires_at));
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// The exclusive upper bound of the expiry-index keys of sessions expired at `now`
/// (`expires_at <= now`): scan `..expiry_range_end(now)`.
pub fn expiry_range_end(now: DateTime<Utc>) -> Vec<u8> {
    let mut key = time_prefix(now).to_vec();
    // Ids are ASCII, so 0xFF sorts after every id at this exact time.
    key.push(0xFF);
    key
}

/// Splits an expiry-index key back into its time and id.
pub fn parse_expiry_key(key: &[u8]) -> Option<(DateTime<Utc>, SessionId)> {
    if key.len() < 13 {
        return None;
    }
    let secs = (u64::from_be_bytes(array(&key[0..8])) ^ (1 << 63)) as i64;
    let time = DateTime::from_timestamp(secs, u32::from_be_bytes(array(&key[8..12])))?;
    let id = SessionId::new(std::str::from_utf8(&key[12..]).ok()?).ok()?;
    Some((time, id))
}

fn time_prefix(t: DateTime<Utc>) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[0..8].copy_from_slice(&((t.timestamp() as u64) ^ (1 << 63)).to_be_bytes());
    out[8..12].copy_from_slice(&t.timestamp_subsec_nanos().to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn session(id: &str) -> Session {
        let now = DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        Session::new(SessionId::new(id).unwrap(), now, Duration::from_secs(60))
    }

    #[test]
    fn round_trips() {
        let s = session("abc");
        let bytes = encode_record(Version(7), &s).unwrap();
        let back = decode_record("abc", &bytes).unwrap();
        assert_eq!(back.version, Version(7));
        assert_eq!(back.value, s);
        let header = record_header("abc", &bytes).unwrap();
        assert_eq!(
            header,
            RecordHeader {
                version: Version(7),
                expires_at: s.expires_at
            }
        );
    }

    #[test]
    fn damage_is_reported_as_corrupt_never_as_data() {
        let bytes = encode_record(Version(1), &session("abc")).unwrap();
        let mut flipped = bytes.clone();
        let last = flipped.len() - 2;
        flipped[last] ^= 0x20;
        for bad in [&bytes[..5], &flipped[..], b"not a record at all"] {
            assert!(matches!(
                decode_record("abc", bad),
                Err(StoreError::Corrupt { .. })
            ));
        }
        let mut future = bytes.clone();
        future[4] = 99;
        assert!(matches!(
            decode_record("abc", &future),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode_record("other", &bytes),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn expiry_keys_sort_by_time_then_id_and_parse_back() {
        let id = SessionId::new("b").unwrap();
        let times = [
            DateTime::<Utc>::MIN_UTC,
            DateTime::from_timestamp(-5, 0).unwrap(),
            DateTime::from_timestamp(0, 0).unwrap(),
            DateTime::from_timestamp(0, 1).unwrap(),
            DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            DateTime::<Utc>::MAX_UTC,
        ];
        let keys: Vec<_> = times.iter().map(|t| expiry_key(*t, &id)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (t, k) in times.iter().zip(&keys) {
            assert_eq!(parse_expiry_key(k), Some((*t, id.clone())));
            assert!(k.as_slice() < expiry_range_end(*t).as_slice());
        }
        assert!(keys[3].as_slice() >= expiry_range_end(times[2]).as_slice());
    }
}
