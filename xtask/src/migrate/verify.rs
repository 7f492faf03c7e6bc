//! The end of a migration: every copied record read back from the target and compared byte
//! for byte with the source's record in the current format (a checksum over the whole
//! record, header included, and the bytes themselves).

use session_core::adapter::encode_record;
use session_core::SessionStore;

use super::{MigrationReport, Record};

/// Reads each of `records` back from `target`; counts it in `report.verified` when its bytes
/// are identical, lists its id in `report.mismatched` otherwise (missing, unreadable, or
/// different).
pub(super) async fn verify(
    target: &dyn SessionStore,
    records: &[Record],
    report: &mut MigrationReport,
) {
    for r in records {
        let id = &r.versioned.value.id;
        let ok = match target.get(id).await {
            Ok(Some(got)) => encode_record(got.version, &got.value)
                .is_ok_and(|b| crc32(&b) == crc32(&r.bytes) && b == r.bytes),
            _ => false,
        };
        if ok {
            report.verified += 1;
        } else {
            report.mismatched.push(id.to_string());
        }
    }
}

/// CRC-32 (IEEE) of the whole encoded record.
fn crc32(b: &[u8]) -> u32 {
    // The record's own CRC covers the body; this one covers the header (version, expiry) too.
    let mut h: u32 = 0xFFFF_FFFF;
    for byte in b {
        h ^= u32::from(*byte);
        for _ in 0..8 {
            h = if h & 1 != 0 {
                (h >> 1) ^ 0xEDB8_8320
            } else {
                h >> 1
            };
        }
    }
    !h
}
