//! Golden bytes of every task-record format version: old formats must keep decoding.

use session_core::adapter::{decode_task_record, encode_task_record};
use session_core::{TaskRecord, TaskState, Version};

const V1: &[u8] = include_bytes!("../data/task-v1.bin");
const V1_JSON: &str = include_str!("../data/task-v1.json");
const V1_ID: &str = "3f9a0c2e7b1d4e5f8a6b9c0d1e2f3a4b";

#[test]
fn task_format_v1_golden_bytes_decode() {
    let decoded = decode_task_record(V1_ID, V1).unwrap();
    assert_eq!(decoded.version, Version(4));
    let expected: TaskRecord = serde_json::from_str(V1_JSON).unwrap();
    assert_eq!(decoded.value, expected);
    assert_eq!(decoded.value.state, TaskState::InputRequired);
    assert_eq!(&V1[0..5], b"CKTR\x01");
}

#[test]
fn task_format_v1_encoding_is_stable() {
    let task: TaskRecord = serde_json::from_str(V1_JSON).unwrap();
    let bytes = encode_task_record(Version(4), &task).unwrap();
    assert_eq!(bytes, V1);
}
