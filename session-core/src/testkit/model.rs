//! The model-based property test: random operation sequences run against the store under
//! test and against a plain `BTreeMap` model; every result and the final contents must agree.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::TestStore;
use crate::{ScanQuery, Session, SessionId, SessionStore, StoreError, Version, Versioned, WriteOp};

const IDS: [&str; 5] = ["k0", "k1", "k2", "k3", "k4"];

/// A version argument: the model's current version of the key (fresh), or a fixed one
/// (usually stale).
#[derive(Clone, Copy, Debug)]
enum Ver {
    Fresh,
    Fixed(u64),
}

#[derive(Clone, Debug)]
enum Write {
    Insert {
        key: usize,
        expiry: i64,
        tag: u8,
    },
    Replace {
        key: usize,
        ver: Ver,
        expiry: i64,
        tag: u8,
    },
    Remove {
        key: usize,
        ver: Option<Ver>,
    },
    Restore {
        key: usize,
        version: u64,
        expiry: i64,
        tag: u8,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Get(usize),
    Write(Write),
    Apply(Vec<Write>),
    Purge { now: i64, limit: usize },
    Count,
    Scan { after: Option<usize>, limit: usize },
}

fn ver() -> impl Strategy<Value = Ver> {
    prop_oneof![3 => Just(Ver::Fresh), 1 => (0u64..5).prop_map(Ver::Fixed)]
}

fn write() -> impl Strategy<Value = Write> {
    let key = 0..IDS.len();
    prop_oneof![
        (key.clone(), 0i64..10, any::<u8>()).prop_map(|(key, expiry, tag)| Write::Insert {
            key,
            expiry,
            tag
        }),
        (key.clone(), ver(), 0i64..10, any::<u8>()).prop_map(|(key, ver, expiry, tag)| {
            Write::Replace {
                key,
                ver,
                expiry,
                tag,
            }
        }),
        (key.clone(), proptest::option::of(ver()))
            .prop_map(|(key, ver)| Write::Remove { key, ver }),
        (key, 1u64..50, 0i64..10, any::<u8>()).prop_map(|(key, version, expiry, tag)| {
            Write::Restore {
                key,
                version,
                expiry,
                tag,
            }
        }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..IDS.len()).prop_map(Op::Get),
        6 => write().prop_map(Op::Write),
        2 => proptest::collection::vec(write(), 0..4).prop_map(Op::Apply),
        1 => (0i64..12, 0usize..4).prop_map(|(now, limit)| Op::Purge { now, limit }),
        1 => Just(Op::Count),
        1 => (proptest::option::of(0..IDS.len()), 1usize..4)
            .prop_map(|(after, limit)| Op::Scan { after, limit }),
    ]
}

fn at(secs: i64) -> DateTime<Utc> {
    super::cases::t0() + chrono::Duration::seconds(secs)
}

fn key_id(key: usize) -> SessionId {
    SessionId::new(IDS[key]).unwrap()
}

fn make_session(key: usize, expiry: i64, tag: u8) -> Session {
    let mut s = Session::new(key_id(key), at(0), Duration::ZERO);
    s.expires_at = at(expiry);
    s.metadata.insert("tag".into(), serde_json::json!(tag));
    s
}

/// The model: what the port's contract says, written as plainly as possible.
#[derive(Default)]
struct Model {
    map: BTreeMap<SessionId, (Version, Session)>,
}

impl Model {
    fn resolve(&self, key: usize, v: Ver) -> Version {
        match v {
            Ver::Fresh => self.map.get(&key_id(key)).map_or(Version(1), |(v, _)| *v),
            Ver::Fixed(n) => Version(n),
        }
    }

    fn to_op(&self, w: &Write) -> WriteOp {
        match *w {
            Write::Insert { key, expiry, tag } => WriteOp::Insert(make_session(key, expiry, tag)),
            Write::Replace {
                key,
                ver,
                expiry,
                tag,
            } => WriteOp::Replace {
                expected: self.resolve(key, ver),
                session: make_session(key, expiry, tag),
            },
            Write::Remove { key, ver } => WriteOp::Remove {
                id: key_id(key),
                expected: ver.map(|v| self.resolve(key, v)),
            },
            Write::Restore {
                key,
                version,
                expiry,
                tag,
            } => WriteOp::Restore(Versioned {
                version: Version(version),
                value: make_session(key, expiry, tag),
            }),
        }
    }

    /// Applies `ops` in order to a copy; commits the copy only if all succeed.
    fn apply(&mut self, ops: &[WriteOp]) -> Result<Vec<Option<Version>>, StoreError> {
        let mut next = self.map.clone();
        let mut out = Vec::new();
        for op in ops {
            let stored = next.get(op.id()).map(|(v, _)| *v);
            match op {
                WriteOp::Insert(s) => {
                    if stored.is_some() {
                        return Err(StoreError::AlreadyExists(s.id.clone()));
                    }
                    next.insert(s.id.clone(), (Version(1), s.clone()));
                    out.push(Some(Version(1)));
                }
                WriteOp::Replace { expected, session } => {
                    let Some(actual) = stored else {
                        return Err(StoreError::NotFound(session.id.clone()));
                    };
                    if actual != *expected {
                        return Err(StoreError::Conflict {
                            expected: *expected,
                            actual,
                        });
                    }
                    next.insert(session.id.clone(), (Version(actual.0 + 1), session.clone()));
                    out.push(Some(Version(actual.0 + 1)));
                }
                WriteOp::Remove { id, expected } => {
                    let Some(actual) = stored else {
                        return Err(StoreError::NotFound(id.clone()));
                    };
                    if let Some(expected) = expected {
                        if actual != *expected {
                            return Err(StoreError::Conflict {
                                expected: *expected,
                                actual,
                            });
                        }
                    }
                    next.remove(id);
                    out.push(None);
                }
                WriteOp::Restore(r) => {
                    next.insert(r.value.id.clone(), (r.version, r.value.clone()));
                    out.push(Some(r.version));
                }
            }
        }
        self.map = next;
        Ok(out)
    }

    fn purge(&mut self, now: DateTime<Utc>, limit: usize) -> Vec<SessionId> {
        let mut expired: Vec<(DateTime<Utc>, SessionId)> = self
            .map
            .values()
            .filter(|(_, s)| s.expires_at <= now)
            .map(|(_, s)| (s.expires_at, s.id.clone()))
            .collect();
        expired.sort();
        expired.truncate(limit);
        for (_, id) in &expired {
            self.map.remove(id);
        }
        expired.into_iter().map(|(_, id)| id).collect()
    }

    fn scan(&self, after: Option<usize>, limit: usize) -> Vec<String> {
        self.map
            .keys()
            .filter(|id| after.is_none_or(|a| id.as_str() > IDS[a]))
            .take(limit)
            .map(|id| id.to_string())
            .collect()
    }

    fn contents(&self) -> Vec<Versioned<Session>> {
        self.map
            .values()
            .map(|(v, s)| Versioned {
                version: *v,
                value: s.clone(),
            })
            .collect()
    }
}

fn show<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {e:?}"),
    }
}

async fn all_sessions(store: &dyn SessionStore) -> Vec<Versioned<Session>> {
    let mut q = ScanQuery {
        limit: 2,
        ..Default::default()
    };
    let mut out = Vec::new();
    loop {
        let page = store.scan(&q).await.unwrap();
        out.extend(page.items);
        match page.next_cursor {
            Some(c) => q.after = Some(c),
            None => return out,
        }
    }
}

async fn check_sequence(store: &dyn SessionStore, ops: &[Op]) -> Result<(), TestCaseError> {
    // Start each sequence from an empty store.
    for s in all_sessions(store).await {
        store.remove(&s.value.id, None).await.unwrap();
    }
    let mut model = Model::default();
    for (step, op) in ops.iter().enumerate() {
        let (got, want) = match op {
            Op::Get(key) => {
                let want = model.map.get(&key_id(*key)).map(|(v, s)| (v.0, s.clone()));
                let got = store
                    .get(&key_id(*key))
                    .await
                    .map(|o| o.map(|s| (s.version.0, s.value)));
                (show(&got), show(&Ok::<_, StoreError>(want)))
            }
            Op::Write(w) => {
                let wop = model.to_op(w);
                let want = model
                    .apply(std::slice::from_ref(&wop))
                    .map(|mut v| v.pop().flatten());
                let got = match wop {
                    WriteOp::Insert(s) => store.insert(s).await.map(Some),
                    WriteOp::Replace { expected, session } => {
                        store.replace(expected, session).await.map(Some)
                    }
                    WriteOp::Remove { id, expected } => {
                        store.remove(&id, expected).await.map(|()| None)
                    }
                    restore @ WriteOp::Restore(_) => store
                        .apply(vec![restore])
                        .await
                        .map(|mut v| v.pop().flatten()),
                };

                (show(&got), show(&want))
            }
            Op::Apply(ws) => {
                let batch: Vec<WriteOp> = ws.iter().map(|w| model.to_op(w)).collect();
                let want = model.apply(&batch);
                (show(&store.apply(batch).await), show(&want))
            }
            Op::Purge { now, limit } => {
                let want = model.purge(at(*now), *limit);
                (
                    show(&store.purge_expired(at(*now), *limit).await),
                    show(&Ok::<_, StoreError>(want)),
                )
            }
            Op::Count => {
                let want = model.map.len() as u64;
                (show(&store.count().await), show(&Ok::<_, StoreError>(want)))
            }
            Op::Scan { after, limit } => {
                let q = ScanQuery {
                    after: after.map(key_id),
                    limit: *limit,
                    ..Default::default()
                };
                let got = store.scan(&q).await.map(|p| {
                    p.items
                        .into_iter()
                        .map(|s| s.value.id.to_string())
                        .collect::<Vec<_>>()
                });
                (
                    show(&got),
                    show(&Ok::<_, StoreError>(model.scan(*after, *limit))),
                )
            }
        };
        prop_assert_eq!(got, want, "step {} {:?} disagrees with the model", step, op);
    }
    let got = all_sessions(store).await;
    prop_assert_eq!(
        got,
        model.contents(),
        "final contents disagree with the model"
    );
    Ok(())
}

/// Runs `PROPTEST_CASES` (default 48) random sequences of up to 40 operations against the
/// store made by `make`, comparing every result with the model.
pub fn run_model_test(make: impl Fn() -> TestStore) {
    let t = make();
    let rt = super::runtime();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&proptest::collection::vec(op(), 1..40), |ops| {
        rt.block_on(check_sequence(t.store.as_ref(), &ops))
    });
    if let Err(e) = result {
        panic!(
            "model-based test failed on {} store: {e}",
            t.store.backend_name()
        );
    }
}
