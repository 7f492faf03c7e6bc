//! Golden bytes of every record-format version: old formats must keep decoding.

use session_core::adapter::{decode_record, encode_record};
use session_core::Version;

const V1: &[u8] = include_bytes!("../data/record-v1.bin");
const V1_JSON: &str = include_str!("../data/record-v1.json");

#[test]
fn format_v1_golden_bytes_decode() {
    let decoded = decode_record("session-2024-01-15T10-30-45-abc123def", V1).unwrap();
    assert_eq!(decoded.version, Version(7));
    let expected: session_core::Session = serde_json::from_str(V1_JSON).unwrap();
    assert_eq!(decoded.value, expected);
    assert_eq!(
        decoded.value.metadata["workflow_state"]["completed_steps"][1],
        "generate_dockerfile"
    );
}

#[test]
fn format_v1_encoding_is_stable() {
    let session: session_core::Session = serde_json::from_str(V1_JSON).unwrap();
    assert_eq!(encode_record(Version(7), &session).unwrap(), V1);
}
