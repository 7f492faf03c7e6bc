//! The write rule of the port, once for every adapter: [`plan_batch`] checks a batch against
//! the stored state and the batch's own earlier writes, and [`WriteOp::encode`] makes the
//! record bytes a write stores.

use std::collections::HashMap;
use std::fmt;

use chrono::{DateTime, Utc};

use crate::codec::{encode_record, RecordHeader};
use crate::{SessionId, StoreError, Version, WriteOp};

/// What [`plan_batch`] decided for one write of a batch: what it stores and what the adapter
/// changes beside the record, so executing the batch needs no second lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedWrite {
    /// The version the write stores, `None` for a removal: what `apply` returns for it.
    pub version: Option<Version>,
    /// The expiry under which this key is indexed just before this write, as the stored
    /// record and the batch's earlier writes leave it. `None` when the key is absent then,
    /// or when its stored record is corrupt: such an index entry cannot be read, and it stays
    /// until a purge drops it.
    pub old_expiry: Option<DateTime<Utc>>,
    /// The expiry under which the key is indexed after this write (`None` after a removal).
    /// When it differs from `old_expiry`, the adapter removes the old index entry and inserts
    /// the new one.
    pub new_expiry: Option<DateTime<Utc>>,
}

/// Why [`plan_batch`] planned nothing. The two causes must stay apart: a refusal ends one
/// caller's batch, a backend failure may doom everything the adapter's transaction holds.
#[derive(Clone, Debug)]
pub enum PlanError<E> {
    /// A write is refused by the version rule (`AlreadyExists`, `NotFound`, `Conflict`, or
    /// `Corrupt` for a write that needs the version of an unreadable record): nothing of the
    /// batch may be written, and the error is the caller's answer.
    Refused(StoreError),
    /// The adapter's lookup failed, with its own error, unchanged.
    Backend(E),
}

impl<E: fmt::Display> fmt::Display for PlanError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Refused(e) => e.fmt(f),
            PlanError::Backend(e) => e.fmt(f),
        }
    }
}

impl From<PlanError<StoreError>> for StoreError {
    /// Either cause as the caller's error, for adapters that treat both alike.
    fn from(e: PlanError<StoreError>) -> StoreError {
        match e {
            PlanError::Refused(e) | PlanError::Backend(e) => e,
        }
    }
}

/// Applies the port's version rule to `batch`, in order, each write checked against the
/// state the earlier writes of the batch leave (so an insert followed by a replace of the
/// same session at [`Version::FIRST`] passes). Returns one [`PlannedWrite`] per write, or the
/// first write's refusal; it writes nothing itself.
///
/// `lookup` reads the stored state of one key: `Ok(Ok(None))` when absent, `Ok(Ok(Some(header)))`
/// (see [`crate::adapter::record_header`]), `Ok(Err(corrupt))` when the stored record cannot
/// be read, and `Err(e)` when the backend failed, which `plan_batch` returns as
/// [`PlanError::Backend`]. It is called at most once per key of the batch, on the key's
/// first write.
///
/// A corrupt record refuses every write of its key with its `Corrupt` error, except those
/// that need no version: an unconditional remove (the way out of a corrupt record) and a
/// restore.
///
/// # Errors
/// [`PlanError::Refused`] with the first failing write's error, [`PlanError::Backend`] with
/// the lookup's.
pub fn plan_batch<'a, E>(
    batch: impl IntoIterator<Item = &'a WriteOp>,
    mut lookup: impl FnMut(&SessionId) -> Result<Result<Option<RecordHeader>, StoreError>, E>,
) -> Result<Vec<PlannedWrite>, PlanError<E>> {
    // Each key's version and indexed expiry as the batch's writes so far leave it.
    let mut overlay: HashMap<&SessionId, (Option<Version>, Option<DateTime<Utc>>)> = HashMap::new();
    let batch = batch.into_iter();
    let mut planned = Vec::with_capacity(batch.size_hint().0);
    for op in batch {
        let id = op.id();
        let (version, old_expiry) = match overlay.get(id) {
            Some(&(stored, expiry)) => (op.check(stored), expiry),
            None => {
                let header = lookup(id).map_err(PlanError::Backend)?;
                let expiry = header.as_ref().ok().and_then(|h| h.map(|h| h.expires_at));
                (op.check_header(header), expiry)
            }
        };
        let version = version.map_err(PlanError::Refused)?;
        let new_expiry = op.session().map(|s| s.expires_at);
        overlay.insert(id, (version, new_expiry));
        planned.push(PlannedWrite {
            version,
            old_expiry,
            new_expiry,
        });
    }
    Ok(planned)
}

impl WriteOp {
    /// The record bytes this write stores (`None` for a removal), in session-core's codec:
    /// an insert at [`Version::FIRST`], a replace at `expected.next()`, a restore at its own
    /// version — the versions [`plan_batch`] reports for the write when it passes.
    ///
    /// For adapters, which encode ahead of their transaction.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] if the session cannot be serialized.
    pub fn encode(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            WriteOp::Insert(s) => encode_record(Version::FIRST, s).map(Some),
            WriteOp::Replace { expected, session } => {
                encode_record(expected.next(), session).map(Some)
            }
            WriteOp::Restore(r) => encode_record(r.version, &r.value).map(Some),
            WriteOp::Remove { .. } => Ok(None),
        }
    }

    /// [`WriteOp::check`] against the header of the record found stored under this write's
    /// id (`Ok(None)` if absent). A record that cannot be read refuses every write with its
    /// `Corrupt` error except those that need no version: an unconditional remove and a
    /// restore.
    fn check_header(
        &self,
        stored: Result<Option<RecordHeader>, StoreError>,
    ) -> Result<Option<Version>, StoreError> {
        match (stored, self) {
            (Ok(header), _) => self.check(header.map(|h| h.version)),
            (Err(_), WriteOp::Remove { expected: None, .. }) => Ok(None),
            (Err(_), WriteOp::Restore(r)) => Ok(Some(r.version)),
            (Err(corrupt), _) => Err(corrupt),
        }
    }

    /// The version rule of the port: given the version stored under this write's id (`None`
    /// if absent), the version the write stores (`None` for a removal), or the error that
    /// refuses it.
    fn check(&self, stored: Option<Version>) -> Result<Option<Version>, StoreError> {
        match (self, stored) {
            (WriteOp::Restore(r), _) => Ok(Some(r.version)),

            (WriteOp::Insert(s), Some(_)) => Err(StoreError::AlreadyExists(s.id.clone())),
            (WriteOp::Insert(_), None) => Ok(Some(Version::FIRST)),
            (WriteOp::Replace { session, .. }, None) => {
                Err(StoreError::NotFound(session.id.clone()))
            }
            (WriteOp::Remove { id, .. }, None) => Err(StoreError::NotFound(id.clone())),
            (WriteOp::Replace { expected, .. }, Some(actual))
            | (
                WriteOp::Remove {
                    expected: Some(expected),
                    ..
                },
                Some(actual),
            ) if *expected != actual => Err(StoreError::Conflict {
                expected: *expected,
                actual,
            }),
            (WriteOp::Replace { expected, .. }, Some(_)) => Ok(Some(expected.next())),
            (WriteOp::Remove { .. }, Some(_)) => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::codec::record_header;
    use crate::{Session, Versioned};

    fn id(s: &str) -> SessionId {
        SessionId::new(s).unwrap()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn session(name: &str, ttl_secs: u64) -> Session {
        Session::new(id(name), at(0), Duration::from_secs(ttl_secs))
    }

    fn header(version: u64, expires: i64) -> RecordHeader {
        RecordHeader {
            version: Version(version),
            expires_at: at(expires),
        }
    }

    fn corrupt() -> Result<Option<RecordHeader>, StoreError> {
        Err(StoreError::Corrupt {
            id: "x".into(),
            reason: "bad".into(),
        })
    }

    /// A stored state of headers, counting the lookups of each key.
    struct Stored {
        headers: BTreeMap<SessionId, RecordHeader>,
        lookups: RefCell<BTreeMap<SessionId, usize>>,
    }

    impl Stored {
        fn new(headers: &[(&str, RecordHeader)]) -> Stored {
            Stored {
                headers: headers.iter().map(|(k, h)| (id(k), *h)).collect(),
                lookups: RefCell::default(),
            }
        }

        fn plan(&self, batch: &[WriteOp]) -> Result<Vec<PlannedWrite>, PlanError<String>> {
            plan_batch(batch, |id| {
                *self.lookups.borrow_mut().entry(id.clone()).or_default() += 1;
                Ok(Ok(self.headers.get(id).copied()))
            })
        }
    }

    #[test]
    fn insert_then_replace_of_one_key_in_one_batch_passes() {
        let stored = Stored::new(&[]);
        let s = session("a", 60);
        let mut later = s.clone();
        later.expires_at = at(120);
        let batch = [
            WriteOp::Insert(s.clone()),
            WriteOp::Replace {
                expected: Version::FIRST,
                session: later,
            },
            WriteOp::Remove {
                id: id("a"),
                expected: Some(Version(2)),
            },
        ];
        assert_eq!(
            stored.plan(&batch).unwrap(),
            [
                PlannedWrite {
                    version: Some(Version(1)),
                    old_expiry: None,
                    new_expiry: Some(at(60)),
                },
                PlannedWrite {
                    version: Some(Version(2)),
                    old_expiry: Some(at(60)),
                    new_expiry: Some(at(120)),
                },
                PlannedWrite {
                    version: None,
                    old_expiry: Some(at(120)),
                    new_expiry: None,
                },
            ]
        );
    }

    #[test]
    fn a_refused_write_refuses_the_whole_batch_with_its_error() {
        let stored = Stored::new(&[("a", header(3, 10)), ("b", header(1, 10))]);
        let batch = [
            WriteOp::Replace {
                expected: Version(3),
                session: session("a", 60),
            },
            WriteOp::Replace {
                expected: Version(2),
                session: session("b", 60),
            },
            WriteOp::Insert(session("c", 60)),
        ];
        assert!(matches!(
            stored.plan(&batch),
            Err(PlanError::Refused(StoreError::Conflict {
                expected: Version(2),
                actual: Version(1),
            }))
        ));
        // Later writes are not looked at once one is refused.
        assert_eq!(stored.lookups.borrow().get(&id("c")), None);
        assert!(matches!(
            stored.plan(&[
                WriteOp::Insert(session("c", 60)),
                WriteOp::Insert(session("a", 60))
            ]),
            Err(PlanError::Refused(StoreError::AlreadyExists(_)))
        ));
        let missing = WriteOp::Remove {
            id: id("zz"),
            expected: None,
        };
        assert!(matches!(
            stored.plan(&[WriteOp::Insert(session("c", 60)), missing]),
            Err(PlanError::Refused(StoreError::NotFound(_)))
        ));
    }

    #[test]
    fn a_backend_failure_is_reported_as_such_not_as_a_refusal() {
        let batch = [
            WriteOp::Insert(session("a", 60)),
            WriteOp::Insert(session("b", 60)),
        ];
        let out = plan_batch(&batch, |id| {
            if id.as_str() == "b" {
                Err("disk on fire")
            } else {
                Ok(Ok(None))
            }
        });
        assert!(matches!(out, Err(PlanError::Backend("disk on fire"))));
    }

    #[test]
    fn each_key_is_looked_up_once_per_batch() {
        let stored = Stored::new(&[("a", header(1, 10))]);
        let mut batch = Vec::new();
        for v in 1..=3 {
            batch.push(WriteOp::Replace {
                expected: Version(v),
                session: session("a", 60),
            });
            batch.push(WriteOp::Insert(session(&format!("n{v}"), 60)));
        }
        batch.push(WriteOp::Remove {
            id: id("a"),
            expected: None,
        });
        batch.push(WriteOp::Insert(session("a", 60)));
        let planned = stored.plan(&batch).unwrap();
        let versions: Vec<_> = planned
            .iter()
            .map(|p| p.version.map(Version::get))
            .collect();
        assert_eq!(
            versions,
            [
                Some(2),
                Some(1),
                Some(3),
                Some(1),
                Some(4),
                Some(1),
                None,
                Some(1)
            ]
        );
        assert_eq!(planned[0].old_expiry, Some(at(10)));
        let lookups = stored.lookups.borrow();
        assert_eq!(lookups.len(), 4);
        assert!(lookups.values().all(|n| *n == 1), "{lookups:?}");
    }

    #[test]
    fn a_corrupt_record_refuses_every_write_but_a_plain_remove_or_a_restore() {
        let id = id("x");
        let s = Session::new(id.clone(), chrono::Utc::now(), Duration::from_secs(1));
        let refused = [
            WriteOp::Insert(s.clone()),
            WriteOp::Replace {
                expected: Version(1),
                session: s.clone(),
            },
            WriteOp::Remove {
                id: id.clone(),
                expected: Some(Version(1)),
            },
        ];
        for op in refused {
            assert!(
                matches!(op.check_header(corrupt()), Err(StoreError::Corrupt { .. })),
                "{op:?}"
            );
            assert!(
                matches!(
                    plan_batch([&op], |_| Ok::<_, ()>(corrupt())),
                    Err(PlanError::Refused(StoreError::Corrupt { .. }))
                ),
                "{op:?}"
            );
        }
        let remove = WriteOp::Remove {
            id: id.clone(),
            expected: None,
        };
        assert_eq!(remove.check_header(corrupt()).unwrap(), None);
        let restore = WriteOp::Restore(Versioned {
            version: Version(9),
            value: s.clone(),
        });
        assert_eq!(restore.check_header(corrupt()).unwrap(), Some(Version(9)));
        // The way out of a corrupt record, then a fresh insert, in one batch; the unreadable
        // index entry is left for a purge (no old expiry).
        let planned = plan_batch([&remove, &WriteOp::Insert(s.clone())], |_| {
            Ok::<_, ()>(corrupt())
        })
        .unwrap();
        assert_eq!(planned[0].version, None);
        assert_eq!(planned[0].old_expiry, None);
        assert_eq!(planned[1].version, Some(Version::FIRST));
        assert_eq!(planned[1].old_expiry, None);
        let planned = plan_batch([&restore], |_| Ok::<_, ()>(corrupt())).unwrap();
        assert_eq!(planned[0].version, Some(Version(9)));
    }

    #[test]
    fn encode_stores_the_version_the_plan_reports() {
        let stored = Stored::new(&[("a", header(4, 10))]);
        let batch = [
            WriteOp::Insert(session("b", 60)),
            WriteOp::Replace {
                expected: Version(4),
                session: session("a", 60),
            },
            WriteOp::Restore(Versioned {
                version: Version(40),
                value: session("c", 60),
            }),
            WriteOp::Remove {
                id: id("b"),
                expected: Some(Version(1)),
            },
        ];
        let planned = stored.plan(&batch).unwrap();
        for (op, p) in batch.iter().zip(&planned) {
            let bytes = op.encode().unwrap();
            let version = bytes.map(|b| record_header(op.id().as_str(), &b).unwrap().version);
            assert_eq!(version, p.version, "{op:?}");
        }
    }
}
