//! Conformance cases of the port's writes, used directly on the store: insert, replace,
//! remove, batches, restores, the expiry index behind `purge_expired`, and `count`.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{id, session, t0};
use crate::testkit::TestStore;
use crate::{StoreError, Version, WriteOp};

pub async fn insert_get_round_trip_keeps_nested_metadata(t: TestStore) {
    let mut s = session("session-2024-01-15T10-30-45-abc123def", 3600);
    s.user_id = "user-1".into();
    s.stage = "workflow".into();
    s.labels.insert("source".into(), "npm".into());
    s.metadata.insert(
        "workflow_state".into(),
        json!({
            "completed_steps": ["analyze_repository", "generate_dockerfile"],
            "artifacts": {"analyze_result": {"language": "go", "port": 8080.0, "deps": [], "nested": {"deep": [1, {"x": null}]}}},
            "text": "ünïcødé \"quoted\" \n newline",
        }),
    );
    assert_eq!(t.store.insert(s.clone()).await.unwrap(), Version::FIRST);
    let got = t
        .store
        .get(&s.id)
        .await
        .unwrap()
        .expect("inserted session is readable");
    assert_eq!(got.version, Version::FIRST);
    assert_eq!(got.value, s);
    assert!(t.store.get(&id("absent")).await.unwrap().is_none());
}

pub async fn duplicate_insert_is_already_exists(t: TestStore) {
    let s = session("dup", 60);
    t.store.insert(s.clone()).await.unwrap();
    let mut other = s.clone();
    other.stage = "other".into();
    let err = t.store.insert(other).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AlreadyExists(ref i) if i == &s.id),
        "{err:?}"
    );
    let got = t.store.get(&s.id).await.unwrap().unwrap();
    assert_eq!((got.version, got.value), (Version::FIRST, s));
}

pub async fn stale_replace_conflicts_and_writes_nothing(t: TestStore) {
    let s = session("cas", 60);
    t.store.insert(s.clone()).await.unwrap();
    let mut v2 = s.clone();
    v2.stage = "two".into();
    assert_eq!(
        t.store.replace(Version(1), v2.clone()).await.unwrap(),
        Version(2)
    );
    let mut stale = s.clone();
    stale.stage = "stale".into();
    let err = t.store.replace(Version(1), stale).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: Version(1),
                actual: Version(2)
            }
        ),
        "{err:?}"
    );
    let got = t.store.get(&s.id).await.unwrap().unwrap();
    assert_eq!((got.version, got.value), (Version(2), v2));
}

pub async fn replace_of_missing_is_not_found(t: TestStore) {
    let err = t
        .store
        .replace(Version(1), session("ghost", 60))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(t.store.get(&id("ghost")).await.unwrap().is_none());
}

pub async fn remove_honours_expected_version(t: TestStore) {
    let s = session("rm", 60);
    t.store.insert(s.clone()).await.unwrap();
    t.store.replace(Version(1), s.clone()).await.unwrap();
    let err = t.store.remove(&s.id, Some(Version(1))).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            expected: Version(1),
            actual: Version(2)
        }
    ));
    assert!(
        t.store.get(&s.id).await.unwrap().is_some(),
        "a refused remove removed"
    );
    t.store.remove(&s.id, Some(Version(2))).await.unwrap();
    assert!(t.store.get(&s.id).await.unwrap().is_none());
    assert!(matches!(
        t.store.remove(&s.id, None).await,
        Err(StoreError::NotFound(_))
    ));
    t.store.insert(s.clone()).await.unwrap();
    t.store.remove(&s.id, None).await.unwrap();
    assert_eq!(t.store.count().await.unwrap(), 0);
    // Nothing of the session lingers in the expiry index either.
    assert!(t
        .store
        .purge_expired(DateTime::<Utc>::MAX_UTC, 100)
        .await
        .unwrap()
        .is_empty());
}

pub async fn apply_is_all_or_nothing(t: TestStore) {
    let (a, b) = (session("a", 60), session("b", 60));
    t.store.insert(a.clone()).await.unwrap();
    t.store.insert(b.clone()).await.unwrap();
    t.store.replace(Version(1), b.clone()).await.unwrap(); // b is at 2
    let mut a2 = a.clone();
    a2.stage = "changed".into();
    let batch = vec![
        WriteOp::Replace {
            expected: Version(1),
            session: a2.clone(),
        },
        WriteOp::Insert(session("c", 60)),
        WriteOp::Replace {
            expected: Version(1),
            session: b.clone(),
        }, // stale
    ];
    let err = t.store.apply(batch).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            expected: Version(1),
            actual: Version(2)
        }
    ));
    assert_eq!(
        t.store.get(&a.id).await.unwrap().unwrap().value,
        a,
        "part of a failed batch landed"
    );
    assert!(
        t.store.get(&id("c")).await.unwrap().is_none(),
        "part of a failed batch landed"
    );
    assert_eq!(t.store.count().await.unwrap(), 2);

    let ok = t
        .store
        .apply(vec![
            WriteOp::Replace {
                expected: Version(1),
                session: a2.clone(),
            },
            WriteOp::Insert(session("c", 60)),
            WriteOp::Remove {
                id: b.id.clone(),
                expected: Some(Version(2)),
            },
        ])
        .await
        .unwrap();
    assert_eq!(ok, vec![Some(Version(2)), Some(Version(1)), None]);
    assert_eq!(t.store.get(&a.id).await.unwrap().unwrap().value, a2);
    assert!(t.store.get(&b.id).await.unwrap().is_none());
    assert_eq!(t.store.count().await.unwrap(), 2);
    assert_eq!(t.store.apply(vec![]).await.unwrap(), vec![]);
}

pub async fn apply_checks_writes_in_order(t: TestStore) {
    let x = session("x", 60);
    let out = t
        .store
        .apply(vec![
            WriteOp::Insert(x.clone()),
            WriteOp::Replace {
                expected: Version(1),
                session: x.clone(),
            },
            WriteOp::Replace {
                expected: Version(2),
                session: x.clone(),
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![Some(Version(1)), Some(Version(2)), Some(Version(3))]
    );
    let err = t
        .store
        .apply(vec![
            WriteOp::Remove {
                id: x.id.clone(),
                expected: None,
            },
            WriteOp::Remove {
                id: x.id.clone(),
                expected: None,
            },
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)));
    assert_eq!(
        t.store.get(&x.id).await.unwrap().unwrap().version,
        Version(3)
    );
}

pub async fn purge_expired_removes_only_expired_and_honours_limit(t: TestStore) {
    // ttl i*10 s: expiring at t0+0, t0+10, ... t0+90.
    for i in 0..10u64 {
        t.store
            .insert(session(&format!("p{i}"), i * 10))
            .await
            .unwrap();
    }
    let now = t0() + chrono::Duration::seconds(45);
    let first = t.store.purge_expired(now, 2).await.unwrap();
    assert_eq!(
        first,
        vec![id("p0"), id("p1")],
        "earliest expiry first, at most limit"
    );
    let rest = t.store.purge_expired(now, 100).await.unwrap();
    assert_eq!(rest, vec![id("p2"), id("p3"), id("p4")]);
    assert!(t.store.purge_expired(now, 100).await.unwrap().is_empty());
    assert_eq!(t.store.count().await.unwrap(), 5);
    for i in 5..10 {
        assert!(t.store.get(&id(&format!("p{i}"))).await.unwrap().is_some());
    }
    // expires_at == now counts as expired.
    let at = t0() + chrono::Duration::seconds(50);
    assert_eq!(
        t.store.purge_expired(at, 100).await.unwrap(),
        vec![id("p5")]
    );
}

pub async fn expiry_index_follows_replaced_expiry(t: TestStore) {
    let s = session("moving", 10);
    t.store.insert(s.clone()).await.unwrap();
    let mut later = s.clone();
    later.expires_at = t0() + chrono::Duration::seconds(1000);
    t.store.replace(Version(1), later.clone()).await.unwrap();
    let now = t0() + chrono::Duration::seconds(100);
    assert!(
        t.store.purge_expired(now, 10).await.unwrap().is_empty(),
        "stale index entry purged a live session"
    );
    assert!(t.store.get(&s.id).await.unwrap().is_some());
    let mut earlier = later.clone();
    earlier.expires_at = t0();
    t.store
        .apply(vec![WriteOp::Replace {
            expected: Version(2),
            session: earlier,
        }])
        .await
        .unwrap();
    assert_eq!(
        t.store.purge_expired(now, 10).await.unwrap(),
        vec![s.id.clone()]
    );
    assert_eq!(t.store.count().await.unwrap(), 0);
}

pub async fn count_counts_every_session(t: TestStore) {
    assert_eq!(t.store.count().await.unwrap(), 0);
    for i in 0..25 {
        t.store.insert(session(&format!("c{i}"), i)).await.unwrap();
    }
    assert_eq!(t.store.count().await.unwrap(), 25);
    t.store.remove(&id("c3"), None).await.unwrap();
    assert_eq!(t.store.count().await.unwrap(), 24);
    t.store.flush().await.unwrap();
}

pub async fn restore_keeps_versions_and_overwrites(t: TestStore) {
    use crate::Versioned;
    let old = session("restored", 10);
    t.store.insert(old.clone()).await.unwrap();
    let mut newer = session("restored", 1000);
    newer.stage = "migrated".into();
    let fresh = session("fresh", 10);
    let out = t
        .store
        .apply(vec![
            WriteOp::Restore(Versioned {
                version: Version(41),
                value: newer.clone(),
            }),
            WriteOp::Restore(Versioned {
                version: Version(7),
                value: fresh.clone(),
            }),
        ])
        .await
        .unwrap();
    assert_eq!(out, vec![Some(Version(41)), Some(Version(7))]);
    let got = t.store.get(&newer.id).await.unwrap().unwrap();
    assert_eq!((got.version, got.value), (Version(41), newer.clone()));
    // The version check goes on from the restored version.
    assert_eq!(
        t.store.replace(Version(41), newer).await.unwrap(),
        Version(42)
    );
    // The expiry index follows the restored expiry: only `fresh` (t0+10) is expired at t0+100.
    let now = t0() + chrono::Duration::seconds(100);
    assert_eq!(
        t.store.purge_expired(now, 10).await.unwrap(),
        vec![fresh.id]
    );
}
