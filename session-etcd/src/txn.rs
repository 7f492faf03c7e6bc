//! etcd's v3 KV API in the shapes of its JSON gateway: the requests this adapter sends
//! ([`TxnRequest`] of [`Compare`] guards and [`RequestOp`]s, [`RangeRequest`]) and the
//! responses it reads, as serde types, so a request is built as a value and serialized once.
//!
//! The gateway maps protobuf to JSON by proto3's rules: bytes are base64, 64-bit integers are
//! decimal strings, and a field holding its zero value (0, `false`, empty) is left out. So
//! an absent number *is* 0 where 0 can be meant (a `count`, a lease's remaining `TTL`), and
//! those fields are `#[serde(default)]`; where 0 is impossible (the revisions of a key that
//! exists, a txn's header revision, which fences a lock) the field is required, and an
//! absent or unparsable one fails the whole response: the caller gets
//! `StoreError::Backend` naming the field, never a made-up 0.

use serde::{Deserialize, Serialize};

/// A guard of a txn: etcd applies the txn's `success` operations only if every compare holds,
/// and otherwise applies nothing and answers `succeeded: false`. Every guard this adapter
/// needs is an equality on one revision of one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Compare {
    #[serde(with = "base64_bytes")]
    key: Vec<u8>,
    #[serde(flatten)]
    target: CompareTarget,
    result: CompareResult,
}

/// Which revision of the key a [`Compare`] checks, and the value it must equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "target")]
pub(crate) enum CompareTarget {
    /// The revision of the key's last change: equal to what a read saw means nobody wrote
    /// the key since.
    #[serde(rename = "MOD")]
    Mod {
        #[serde(with = "int64")]
        mod_revision: i64,
    },
    /// The revision at which the key was created, 0 for a key that does not exist. A lock's
    /// create revision is its fence token: equal means the same holding still holds it.
    #[serde(rename = "CREATE")]
    Create {
        #[serde(with = "int64")]
        create_revision: i64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum CompareResult {
    Equal,
}

impl Compare {
    /// Holds if `key` was last modified at `mod_revision`, i.e. is as a read at that
    /// revision saw it.
    pub(crate) fn unchanged_since(key: &[u8], mod_revision: i64) -> Compare {
        Compare::equal(key, CompareTarget::Mod { mod_revision })
    }

    /// Holds if `key` does not exist.
    pub(crate) fn absent(key: &[u8]) -> Compare {
        Compare::created_at(key, 0)
    }

    /// Holds if `key` exists and was created at `create_revision` (0: does not exist).
    pub(crate) fn created_at(key: &[u8], create_revision: i64) -> Compare {
        Compare::equal(key, CompareTarget::Create { create_revision })
    }

    fn equal(key: &[u8], target: CompareTarget) -> Compare {
        Compare {
            key: key.to_vec(),
            target,
            result: CompareResult::Equal,
        }
    }
}

/// One operation of a txn, in the gateway's `{"request_put": {...}}` form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) enum RequestOp {
    #[serde(rename = "request_range")]
    Range(RangeRequest),
    #[serde(rename = "request_put")]
    Put(PutRequest),
    #[serde(rename = "request_delete_range")]
    DeleteRange(DeleteRangeRequest),
}

impl RequestOp {
    /// Reads the one key `key` (absent keys read as no kv).
    pub(crate) fn get(key: &[u8]) -> RequestOp {
        RequestOp::Range(RangeRequest::key(key))
    }

    /// Sets `key` to `value`, not bound to a lease.
    pub(crate) fn put(key: &[u8], value: &[u8]) -> RequestOp {
        RequestOp::Put(PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            lease: None,
        })
    }

    /// Deletes the one key `key` (a no-op when absent).
    pub(crate) fn delete(key: &[u8]) -> RequestOp {
        RequestOp::DeleteRange(DeleteRangeRequest { key: key.to_vec() })
    }
}

/// `POST /v3/kv/txn`: if every compare holds, apply `success` in order, atomically, at one
/// new revision. etcd refuses two writes of one key in a txn, and a txn with more than its
/// `--max-txn-ops` entries in either list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub(crate) struct TxnRequest {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) compare: Vec<Compare>,
    pub(crate) success: Vec<RequestOp>,
}

/// `POST /v3/kv/range` (or a txn's read): the key `key`, or with `range_end` every key in
/// `[key, range_end)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RangeRequest {
    #[serde(with = "base64_bytes")]
    pub(crate) key: Vec<u8>,
    #[serde(with = "base64_bytes", skip_serializing_if = "Vec::is_empty")]
    pub(crate) range_end: Vec<u8>,
    /// At most this many kvs, in key order (`None`: all).
    #[serde(with = "int64_option", skip_serializing_if = "Option::is_none")]
    pub(crate) limit: Option<i64>,
    /// Answer only `count`, no kvs.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) count_only: bool,
}

impl RangeRequest {
    /// A read of exactly `key` (no range).
    pub(crate) fn key(key: &[u8]) -> RangeRequest {
        RangeRequest {
            key: key.to_vec(),
            range_end: Vec::new(),
            limit: None,
            count_only: false,
        }
    }

    /// Every key in `[start, end)`, at most `limit` of them.
    pub(crate) fn between(start: &[u8], end: &[u8], limit: usize) -> RangeRequest {
        RangeRequest {
            range_end: end.to_vec(),
            limit: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
            ..RangeRequest::key(start)
        }
    }
}

/// A txn's put: sets `key` to `value` (creating it, or replacing it at a new revision).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct PutRequest {
    #[serde(with = "base64_bytes")]
    pub(crate) key: Vec<u8>,
    #[serde(with = "base64_bytes")]
    pub(crate) value: Vec<u8>,
    /// Bind the key to this lease: it is deleted when the lease expires or is revoked.
    #[serde(with = "int64_option", skip_serializing_if = "Option::is_none")]
    pub(crate) lease: Option<i64>,
}

/// A txn's delete of exactly `key` (no range; a no-op when absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct DeleteRangeRequest {
    #[serde(with = "base64_bytes")]
    pub(crate) key: Vec<u8>,
}

/// The answer to a [`TxnRequest`].
#[derive(Debug, Deserialize)]
pub(crate) struct TxnResponse {
    pub(crate) header: ResponseHeader,
    /// Whether the compares held and `success` was applied (absent: they did not).
    #[serde(default)]
    pub(crate) succeeded: bool,
    /// One answer per applied operation, in order (absent when none was applied).
    #[serde(default)]
    pub(crate) responses: Vec<ResponseOp>,
}

/// What every answer says about the cluster; this adapter reads only the revision.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponseHeader {
    /// The store's revision after the request: for a txn that wrote, the revision of its
    /// writes (a lock's create revision). Always at least 1, so required.
    #[serde(with = "int64")]
    pub(crate) revision: i64,
}

/// One operation's answer in a [`TxnResponse`]; this adapter reads only those of ranges.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponseOp {
    #[serde(default)]
    pub(crate) response_range: Option<RangeResponse>,
}

/// The answer to a [`RangeRequest`].
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RangeResponse {
    /// The keys found, in key order (absent: none).
    #[serde(default)]
    pub(crate) kvs: Vec<KeyValue>,
    /// How many keys the range holds, regardless of `limit` (absent: 0).
    #[serde(default, with = "int64")]
    pub(crate) count: i64,
}

/// A key as stored, with the revisions a guard compares.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct KeyValue {
    #[serde(with = "base64_bytes")]
    pub(crate) key: Vec<u8>,
    /// Absent when empty (an expiry-index entry).
    #[serde(default, with = "base64_bytes")]
    pub(crate) value: Vec<u8>,
    /// The revision that created the key (required: a key that exists has one).
    #[serde(with = "int64")]
    pub(crate) create_revision: i64,
    /// The revision of the key's last change (required).
    #[serde(with = "int64")]
    pub(crate) mod_revision: i64,
}

/// A protobuf int64 in JSON: written as a decimal string (as etcd writes it), read from a
/// string or a number; anything else, or a string that is not an integer, is an error.
pub(crate) mod int64 {
    use serde::de::{Deserializer, Error, Unexpected, Visitor};
    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(Int64)
    }

    struct Int64;

    impl Visitor<'_> for Int64 {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a 64-bit integer, as a decimal string or a number")
        }

        fn visit_str<E: Error>(self, s: &str) -> Result<i64, E> {
            s.parse()
                .map_err(|_| E::invalid_value(Unexpected::Str(s), &self))
        }

        fn visit_i64<E: Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }

        fn visit_u64<E: Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }
    }
}

/// An optional protobuf int64, written as [`int64`] writes it (requests only).
mod int64_option {
    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }
}

/// Protobuf bytes in JSON: standard base64.
mod base64_bytes {
    use base64::engine::general_purpose::STANDARD as B64;
    use base64::Engine;
    use serde::de::{Deserialize, Deserializer, Error};
    use serde::Serializer;

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        B64.decode(text.as_bytes())
            .map_err(|e| D::Error::custom(format!("bad base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check_json<T: Serialize>(value: &T, expected: serde_json::Value) {
        assert_eq!(serde_json::to_value(value).unwrap(), expected);
    }

    #[test]
    fn compares_serialize_as_the_gateway_expects() {
        check_json(
            &Compare::unchanged_since(b"k", 42),
            json!({"key": "aw==", "target": "MOD", "mod_revision": "42", "result": "EQUAL"}),
        );
        check_json(
            &Compare::absent(b"k"),
            json!({"key": "aw==", "target": "CREATE", "create_revision": "0", "result": "EQUAL"}),
        );
        check_json(
            &Compare::created_at(b"k", 7),
            json!({"key": "aw==", "target": "CREATE", "create_revision": "7", "result": "EQUAL"}),
        );
    }

    #[test]
    fn request_ops_serialize_as_the_gateway_expects() {
        check_json(
            &RequestOp::get(b"k"),
            json!({"request_range": {"key": "aw=="}}),
        );
        check_json(
            &RequestOp::put(b"k", b"v"),
            json!({"request_put": {"key": "aw==", "value": "dg=="}}),
        );
        check_json(
            &RequestOp::Put(PutRequest {
                key: b"k".to_vec(),
                value: Vec::new(),
                lease: Some(694_201),
            }),
            json!({"request_put": {"key": "aw==", "value": "", "lease": "694201"}}),
        );
        check_json(
            &RequestOp::delete(b"k"),
            json!({"request_delete_range": {"key": "aw=="}}),
        );
    }

    #[test]
    fn a_txn_without_compares_omits_them() {
        let txn = TxnRequest {
            compare: vec![],
            success: vec![RequestOp::delete(b"k")],
        };
        check_json(
            &txn,
            json!({"success": [{"request_delete_range": {"key": "aw=="}}]}),
        );
        let txn = TxnRequest {
            compare: vec![Compare::absent(b"k")],
            success: vec![],
        };
        assert_eq!(
            serde_json::to_string(&txn).unwrap(),
            r#"{"compare":[{"key":"aw==","target":"CREATE","create_revision":"0","result":"EQUAL"}],"success":[]}"#
        );
    }

    #[test]
    fn ranges_serialize_only_what_they_set() {
        check_json(
            &RangeRequest::between(b"a", b"b", 64),
            json!({"key": "YQ==", "range_end": "Yg==", "limit": "64"}),
        );
        check_json(
            &RangeRequest {
                count_only: true,
                ..RangeRequest::between(b"a", b"b", 1)
            },
            json!({"key": "YQ==", "range_end": "Yg==", "limit": "1", "count_only": true}),
        );
    }

    /// A txn answer as etcd 3.4's gateway writes it.
    const TXN_ANSWER: &str = r#"{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"2","raft_term":"2"},"succeeded":true,"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1","value":"Yg=="}],"count":"1"}}]}"#;

    #[test]
    fn a_txn_answer_reads_into_typed_fields() {
        let txn: TxnResponse = serde_json::from_str(TXN_ANSWER).unwrap();
        assert_eq!(txn.header.revision, 2);
        assert!(txn.succeeded);
        let range = txn.responses[0].response_range.as_ref().unwrap();
        assert_eq!(range.count, 1);
        let kv = &range.kvs[0];
        assert_eq!(
            (kv.key.as_slice(), kv.value.as_slice()),
            (&b"a"[..], &b"b"[..])
        );
        assert_eq!((kv.create_revision, kv.mod_revision), (2, 2));
    }

    #[test]
    fn absent_zero_values_read_as_proto3_defaults() {
        // A failed compare and an empty count are left out, as proto3 leaves out zeros.
        let txn: TxnResponse = serde_json::from_str(r#"{"header":{"revision":"9"}}"#).unwrap();
        assert!(!txn.succeeded && txn.responses.is_empty());
        let range: RangeResponse = serde_json::from_str(r#"{"header":{}}"#).unwrap();
        assert_eq!((range.count, range.kvs.len()), (0, 0));
        let kv: KeyValue =
            serde_json::from_str(r#"{"key":"YQ==","create_revision":"3","mod_revision":4}"#)
                .unwrap();
        assert!(kv.value.is_empty());
        assert_eq!(kv.mod_revision, 4);
    }

    #[test]
    fn a_garbage_revision_is_an_error_not_zero() {
        let garbage = TXN_ANSWER.replace(r#""revision":"2","raft"#, r#""revision":"2x","raft"#);
        let err = serde_json::from_str::<TxnResponse>(&garbage).unwrap_err();
        assert!(err.to_string().contains("\"2x\""), "{err}");
        let missing = r#"{"header":{"cluster_id":"1"},"succeeded":true}"#;
        let err = serde_json::from_str::<TxnResponse>(missing).unwrap_err();
        assert!(
            err.to_string().contains("missing field `revision`"),
            "{err}"
        );
    }

    #[test]
    fn a_key_without_its_revisions_is_an_error() {
        for bad in [
            r#"{"key":"YQ==","mod_revision":"4"}"#,
            r#"{"key":"YQ==","create_revision":"3","mod_revision":"four"}"#,
            r#"{"key":"YQ==","create_revision":"3","mod_revision":1.5}"#,
            r#"{"key":"YQ==","create_revision":"3","mod_revision":"18446744073709551615"}"#,
        ] {
            assert!(serde_json::from_str::<KeyValue>(bad).is_err(), "{bad}");
        }
        let count = serde_json::from_str::<RangeResponse>(r#"{"count":"many"}"#);
        assert!(count.is_err());
    }
}
