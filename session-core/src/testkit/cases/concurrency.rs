//! Conformance cases under concurrency: racing writers, lost-update checks, locks (local
//! and shared) and the session cap under racing creations.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::{bump_counter, counter, id, session, sessions_at};
use crate::testkit::TestStore;
use crate::{RetryPolicy, SessionsConfig, StoreError, Version};

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
