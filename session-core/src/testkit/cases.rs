//! The conformance cases. Each takes a fresh [`TestStore`] and panics on a broken contract.
//! They are public so an adapter can also call one directly.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::TestStore;
use crate::{
    ManualClock, RetryPolicy, ScanQuery, Session, SessionId, SessionStatus, SessionStore, Sessions,
    SessionsConfig, StoreError, Version, WriteOp,
};

fn id(s: &str) -> SessionId {
    SessionId::new(s).unwrap()
}

/// A fixed instant the cases measure expiry from.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn session(name: &str, ttl_secs: u64) -> Session {
    Session::new(id(name), t0(), Duration::from_secs(ttl_secs))
}

fn sessions_at(
    store: &Arc<dyn SessionStore>,
    config: SessionsConfig,
) -> (Sessions, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    (
        Sessions::with_clock(Arc::clone(store), config, clock.clone()),
        clock,
    )
}

fn counter(s: &Session) -> u64 {
    s.metadata
        .get("counter")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

fn bump_counter(s: &mut Session) -> Result<u64, StoreError> {
    let n = counter(s) + 1;
    s.metadata.insert("counter".into(), json!(n));
    Ok(n)
}

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

pub async fn scan_filters_by_status_label_and_prefix(t: TestStore) {
    for i in 0..30 {
        let mut s = session(
            &format!("{}-{i:02}", if i % 3 == 0 { "wf" } else { "load" }),
            60,
        );
        if i % 2 == 0 {
            s.status = SessionStatus::Suspended;
        }
        s.labels.insert(
            "team".into(),
            if i % 5 == 0 { "red" } else { "blue" }.into(),
        );
        t.store.insert(s).await.unwrap();
    }
    let all = |q: ScanQuery| {
        let store = Arc::clone(&t.store);
        async move {
            let mut out = Vec::new();
            let mut q = ScanQuery { limit: 4, ..q };
            loop {
                let page = store.scan(&q).await.unwrap();
                out.extend(page.items.into_iter().map(|s| s.value.id.to_string()));
                match page.next_cursor {
                    Some(c) => q.after = Some(c),
                    None => return out,
                }
            }
        }
    };
    let expect = |pred: &dyn Fn(usize) -> bool| {
        let mut v: Vec<String> = (0..30)
            .filter(|i| pred(*i))
            .map(|i| format!("{}-{i:02}", if i % 3 == 0 { "wf" } else { "load" }))
            .collect();
        v.sort();
        v
    };
    assert_eq!(all(ScanQuery::default()).await, expect(&|_| true));
    assert_eq!(
        all(ScanQuery {
            status: Some(SessionStatus::Suspended),
            ..Default::default()
        })
        .await,
        expect(&|i| i % 2 == 0)
    );
    assert_eq!(
        all(ScanQuery {
            label: Some(("team".into(), "red".into())),
            ..Default::default()
        })
        .await,
        expect(&|i| i % 5 == 0)
    );
    assert_eq!(
        all(ScanQuery {
            id_prefix: Some("wf-".into()),
            ..Default::default()
        })
        .await,
        expect(&|i| i % 3 == 0)
    );
    assert_eq!(
        all(ScanQuery {
            id_prefix: Some("wf-".into()),
            status: Some(SessionStatus::Active),
            label: Some(("team".into(), "blue".into())),
            ..Default::default()
        })
        .await,
        expect(&|i| i % 3 == 0 && i % 2 == 1 && i % 5 != 0)
    );
}

pub async fn scan_pages_are_stable_while_inserts_run(t: TestStore) {
    let base: BTreeSet<String> = (0..150).map(|i| format!("base-{i:04}")).collect();
    for name in &base {
        t.store.insert(session(name, 60)).await.unwrap();
    }
    let writer = {
        let store = Arc::clone(&t.store);
        tokio::spawn(async move {
            for i in 0..150 {
                // Interleave before, between and after the base ids.
                for prefix in ["aaa", "base-0050x", "zzz"] {
                    store
                        .insert(session(&format!("{prefix}-{i:04}"), 60))
                        .await
                        .unwrap();
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut q = ScanQuery {
        limit: 7,
        ..Default::default()
    };
    loop {
        let page = t.store.scan(&q).await.unwrap();
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|s| s.value.id.to_string()));
        tokio::task::yield_now().await;
        match page.next_cursor {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    writer.await.unwrap();
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "pages are not in strictly ascending id order"
    );
    let seen_base: BTreeSet<String> = seen
        .iter()
        .filter(|s| s.starts_with("base-") && !s.contains('x'))
        .cloned()
        .collect();
    assert_eq!(seen_base, base, "a session present throughout was skipped");
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

pub async fn racing_replaces_of_one_version_have_one_winner(t: TestStore) {
    let s = session("race", 60);
    t.store.insert(s.clone()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&t.store);
        let mut mine = s.clone();
        mine.stage = format!("writer-{i}");
        tasks.push(tokio::spawn(async move {
            store.replace(Version(1), mine).await
        }));
    }
    let mut winners = Vec::new();
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(v) => winners.push((i, v)),
            Err(StoreError::Conflict {
                expected: Version(1),
                actual: Version(2),
            }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let got = t.store.get(&s.id).await.unwrap().unwrap();
    assert_eq!(got.version, Version(2));
    assert_eq!(got.value.stage, format!("writer-{}", winners[0].0));
}

pub async fn racing_get_or_create_yields_one_session(t: TestStore) {
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    let target = id("wf_5eed0001-1b2c-4d3e-8f90-0000a1b2c3d5");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (s, i) = (sessions.clone(), target.clone());
            tokio::spawn(async move { s.get_or_create(&i).await })
        })
        .collect();
    let mut seen = BTreeSet::new();
    for task in tasks {
        let got = task
            .await
            .unwrap()
            .expect("every racing get_or_create succeeds");
        seen.insert((got.version, got.value.created_at));
    }
    assert_eq!(seen.len(), 1, "callers saw different sessions: {seen:?}");
    assert_eq!(t.store.count().await.unwrap(), 1);
}

pub async fn hot_session_updates_lose_nothing(t: TestStore) {
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    let hot = id("hot");
    sessions.create(&hot).await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (s, i) = (sessions.clone(), hot.clone());
            tokio::spawn(async move {
                for _ in 0..50 {
                    s.update(&i, bump_counter)
                        .await
                        .expect("every hot update succeeds");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let got = sessions.get(&hot).await.unwrap();
    assert_eq!(counter(&got.value), 64 * 50, "updates were lost");
    assert_eq!(got.version, Version(1 + 64 * 50));
    assert_eq!(
        sessions.stats().lock_entries,
        0,
        "the lock table kept idle entries"
    );
}

pub async fn two_services_on_one_store_lose_no_update(t: TestStore) {
    // Two Sessions over one store stand for two processes: their locks do not exclude each
    // other, so only the version check keeps their updates.
    let config = SessionsConfig {
        retry: RetryPolicy {
            max_attempts: 1000,
            base_delay: Duration::from_micros(100),
            max_delay: Duration::from_millis(5),
            jitter: 1.0,
        },
        ..SessionsConfig::default()
    };
    let (one, _c1) = sessions_at(&t.store, config.clone());
    let (two, _c2) = sessions_at(&t.store, config);
    let shared = id("shared");
    one.create(&shared).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = if i % 2 == 0 { one.clone() } else { two.clone() };
            let id = shared.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    s.update(&id, bump_counter).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let got = one.get(&shared).await.unwrap();
    assert_eq!(counter(&got.value), 16 * 20, "updates were lost");
    assert_eq!(got.version, Version(1 + 16 * 20));
}

pub async fn update_many_in_opposite_orders_never_deadlocks(t: TestStore) {
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    let (a, b) = (id("pair-a"), id("pair-b"));
    sessions.create(&a).await.unwrap();
    sessions.create(&b).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let s = sessions.clone();
            let ids = if i % 2 == 0 {
                vec![a.clone(), b.clone()]
            } else {
                vec![b.clone(), a.clone()]
            };
            tokio::spawn(async move {
                for _ in 0..10 {
                    s.update_many(&ids, |ss| {
                        for x in ss.iter_mut() {
                            bump_counter(x)?;
                        }
                        Ok(())
                    })
                    .await
                    .unwrap();
                    // And single updates interleaved with the batches.
                    s.update(&ids[0], |_| Ok(())).await.unwrap();
                }
            })
        })
        .collect();
    let all = async {
        for task in tasks {
            task.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("update_many deadlocked");
    assert_eq!(counter(&sessions.get(&a).await.unwrap().value), 160);
    assert_eq!(counter(&sessions.get(&b).await.unwrap().value), 160);
    let err = sessions
        .update_many(&[a.clone(), a.clone()], |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)));
}

pub async fn lock_excludes_and_times_out_busy(t: TestStore) {
    let config = SessionsConfig {
        lock_timeout: Duration::from_millis(100),
        ..Default::default()
    };
    let (sessions, _clock) = sessions_at(&t.store, config);
    let s = id("locked");
    sessions.create(&s).await.unwrap();
    let guard = sessions.lock(&s).await.unwrap();
    assert!(matches!(
        sessions.lock(&s).await,
        Err(StoreError::Busy { .. })
    ));
    assert!(matches!(
        sessions.update(&s, bump_counter).await,
        Err(StoreError::Busy { .. })
    ));
    // Other sessions do not wait on this one.
    let other = id("free");
    sessions.create(&other).await.unwrap();
    sessions.update(&other, bump_counter).await.unwrap();
    // The holder writes through its guard.
    let (after, _) = guard.update(bump_counter).await.unwrap();
    assert_eq!(counter(&after.value), 1);
    // A waiter gets the lock once the holder lets go.
    let waiter = {
        let (sessions, s) = (sessions.clone(), s.clone());
        tokio::spawn(async move {
            let g = sessions.lock(&s).await?;
            g.update(bump_counter).await
        })
    };
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(guard);
    let (after, n) = waiter.await.unwrap().unwrap();
    assert_eq!((n, after.version), (2, Version(3)));
    let stats = sessions.stats();
    assert!(
        stats.lock_timeouts >= 2 && stats.lock_waits >= 1,
        "{stats:?}"
    );
}

pub async fn lock_is_released_on_panic_and_cancellation(t: TestStore) {
    let config = SessionsConfig {
        lock_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let (sessions, _clock) = sessions_at(&t.store, config);
    let s = id("fragile");
    sessions.create(&s).await.unwrap();
    let panicking = {
        let (sessions, s) = (sessions.clone(), s.clone());
        tokio::spawn(async move {
            let _g = sessions.lock(&s).await.unwrap();
            panic!("step failed while holding the lock");
        })
    };
    assert!(panicking.await.unwrap_err().is_panic());
    tokio::time::timeout(Duration::from_secs(1), sessions.lock(&s))
        .await
        .expect("a panicked holder kept the lock")
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let cancelled = {
        let (sessions, s) = (sessions.clone(), s.clone());
        tokio::spawn(async move {
            let _g = sessions.lock(&s).await.unwrap();
            let _ = tx.send(());
            std::future::pending::<()>().await;
        })
    };
    rx.await.unwrap();
    cancelled.abort();
    let _ = cancelled.await;
    tokio::time::timeout(Duration::from_secs(1), sessions.update(&s, bump_counter))
        .await
        .expect("a cancelled holder kept the lock")
        .unwrap();
    assert_eq!(sessions.stats().lock_entries, 0);
}

pub async fn rejected_update_writes_nothing(t: TestStore) {
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    let s = id("guarded");
    let before = sessions.create(&s).await.unwrap();
    let err = sessions
        .update(&s, |x: &mut Session| -> Result<(), StoreError> {
            x.stage = "half-done".into();
            Err(StoreError::Rejected("step not allowed now".into()))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)));
    let err = sessions.update(&s, |x| {
        x.id = id("hijack");
        Ok(())
    });
    assert!(matches!(err.await, Err(StoreError::Rejected(_))));
    assert_eq!(t.store.get(&s).await.unwrap().unwrap(), before);
    assert!(matches!(
        sessions.update(&id("nobody"), bump_counter).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(t.store.count().await.unwrap(), 1);
}

pub async fn max_sessions_ignores_expired_sessions(t: TestStore) {
    let config = SessionsConfig {
        max_sessions: Some(3),
        ttl: Duration::from_secs(60),
        ..Default::default()
    };
    let (sessions, clock) = sessions_at(&t.store, config);
    for name in ["m1", "m2", "m3"] {
        sessions.create(&id(name)).await.unwrap();
    }
    let err = sessions.create(&id("m4")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::CapacityExceeded { max: 3 }),
        "{err:?}"
    );
    assert!(matches!(
        sessions.get_or_create(&id("m4")).await,
        Err(StoreError::CapacityExceeded { .. })
    ));
    assert_eq!(t.store.count().await.unwrap(), 3);
    // Existing sessions are still readable at the cap.
    sessions.get_or_create(&id("m1")).await.unwrap();
    clock.advance(Duration::from_secs(30));
    sessions.update(&id("m1"), bump_counter).await.unwrap(); // m1 now lives to t0+90
    clock.advance(Duration::from_secs(31)); // m2, m3 expired
    sessions.create(&id("m4")).await.unwrap();
    sessions.create(&id("m5")).await.unwrap();
    assert!(matches!(
        sessions.create(&id("m6")).await,
        Err(StoreError::CapacityExceeded { .. })
    ));
    assert_eq!(t.store.count().await.unwrap(), 3);
}

pub async fn expired_session_reads_as_expired(t: TestStore) {
    let config = SessionsConfig {
        ttl: Duration::from_secs(60),
        ..Default::default()
    };
    let (sessions, clock) = sessions_at(&t.store, config);
    let s = id("ephemeral");
    sessions.create(&s).await.unwrap();
    sessions.update(&s, bump_counter).await.unwrap();
    clock.advance(Duration::from_secs(59));
    assert!(sessions.get(&s).await.is_ok());
    clock.advance(Duration::from_secs(1));
    assert!(matches!(
        sessions.get(&s).await,
        Err(StoreError::Expired(_))
    ));
    assert!(matches!(
        sessions.update(&s, bump_counter).await,
        Err(StoreError::Expired(_))
    ));
    assert!(matches!(
        sessions.lock(&s).await.unwrap().get().await,
        Err(StoreError::Expired(_))
    ));
    // get_or_create starts over with a fresh session; maintenance purges expired ones.
    let fresh = sessions.get_or_create(&s).await.unwrap();
    assert_eq!((fresh.version, counter(&fresh.value)), (Version::FIRST, 0));
    sessions.create(&id("old")).await.unwrap();
    clock.advance(Duration::from_secs(61));
    let report = sessions.run_maintenance().await.unwrap();
    assert_eq!(report.purged, 2);
    assert_eq!(t.store.count().await.unwrap(), 0);
}

pub async fn session_ids_are_validated(t: TestStore) {
    let long = "a".repeat(129);
    for bad in [
        "",
        "a/b",
        "..",
        "../x",
        "a b",
        " a",
        "a\tb",
        "a\nb",
        "a\u{7}b",
        "é",
        "sess\u{e9}",
        &long,
    ] {
        assert!(
            matches!(SessionId::new(bad), Err(StoreError::InvalidId { .. })),
            "{bad:?} accepted"
        );
    }
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    for good in [
        "session-2024-01-15T10-30-45-abc123def",
        "wf_5eed0001-1b2c-4d3e-8f90-0000a1b2c3d5",
        &"b".repeat(128),
    ] {
        let id = SessionId::new(good).unwrap();
        sessions.create(&id).await.unwrap();
        assert_eq!(sessions.get(&id).await.unwrap().value.id.as_str(), good);
    }
    let generated = SessionId::generate().unwrap();
    sessions.create(&generated).await.unwrap();
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

/// On a backend shared by several processes, `Sessions::lock` excludes holders in other
/// services (two `Sessions` stand for two replicas), and the guard's writes are fenced.
/// Embedded backends have no shared locks (their file admits one process): nothing to check.
pub async fn shared_locks_exclude_other_services(t: TestStore) {
    if t.store.shared_locks().is_none() {
        return;
    }
    let short = SessionsConfig {
        lock_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (a, _c1) = sessions_at(&t.store, short.clone());
    let (b, _c2) = sessions_at(&t.store, short);
    let s = id("replicated");
    a.create(&s).await.unwrap();
    let guard = a.lock(&s).await.unwrap();
    assert!(
        matches!(b.lock(&s).await, Err(StoreError::Busy { .. })),
        "another replica took a held lock"
    );
    let (after, n) = guard.update(bump_counter).await.unwrap();
    assert_eq!((after.version, n), (Version(2), 1));
    drop(guard);
    // The release is asynchronous: give it a moment, bounded.
    let patient = SessionsConfig {
        lock_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let (b, _c3) = sessions_at(&t.store, patient);
    let guard = b.lock(&s).await.unwrap();
    guard.update(bump_counter).await.unwrap();
    assert_eq!(counter(&b.get(&s).await.unwrap().value), 2);
}

/// Within one service the cap is exact even when creations race: a check-then-insert
/// without serialization would let several through at the cap.
pub async fn max_sessions_holds_under_concurrent_creation(t: TestStore) {
    let config = SessionsConfig {
        max_sessions: Some(10),
        ..Default::default()
    };
    let (sessions, _clock) = sessions_at(&t.store, config);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let s = sessions.clone();
            tokio::spawn(async move { s.create(&id(&format!("cap-{i:02}"))).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(StoreError::CapacityExceeded { max: 10 }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(created, 10);
    assert_eq!(t.store.count().await.unwrap(), 10);
}
