//! Conformance cases for the write paths that share commits: concurrent creations (no gate
//! around the durable write), hot-session combining, and the lock holder's cache (no store
//! read per locked update). Commits and reads are counted at the port by a
//! [`CountingStore`] around the store under test; its emulated group commit makes commit
//! counts mean the same on every backend.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{bump_counter, counter, id, sessions_at};
use crate::testkit::counting::CountingStore;
use crate::testkit::TestStore;
use crate::{Session, SessionStore, Sessions, SessionsConfig, StoreError};

/// The emulated sync: long enough that writers queue behind it, as behind an fsync.
const SYNC: Duration = Duration::from_millis(2);

fn counted(t: &TestStore, config: SessionsConfig) -> (Sessions, Arc<CountingStore>) {
    let counting = Arc::new(CountingStore::group_commit(Arc::clone(&t.store), SYNC));
    let store: Arc<dyn SessionStore> = counting.clone();
    let (sessions, _clock) = sessions_at(&store, config);
    (sessions, counting)
}

async fn create_100_at_once(sessions: &Sessions) {
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let s = sessions.clone();
            tokio::spawn(async move { s.create(&id(&format!("new-{i:03}"))).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("every creation succeeds");
    }
}

/// Fails when creations are serialized around their durable write (100 commits then).
pub async fn concurrent_creations_share_commits(t: TestStore) {
    let (sessions, counting) = counted(&t, SessionsConfig::default());
    create_100_at_once(&sessions).await;
    assert_eq!(t.store.count().await.unwrap(), 100);
    let commits = counting.commits();
    assert!(
        commits < 50,
        "100 concurrent creations took {commits} commits"
    );
}

/// The same with a cap: the slot is reserved in memory, the write is not serialized.
pub async fn capped_concurrent_creations_share_commits(t: TestStore) {
    let config = SessionsConfig {
        max_sessions: Some(1_000),
        ..SessionsConfig::default()
    };
    let (sessions, counting) = counted(&t, config);
    create_100_at_once(&sessions).await;
    assert_eq!(t.store.count().await.unwrap(), 100);
    let commits = counting.commits();
    assert!(
        commits < 50,
        "100 capped concurrent creations took {commits} commits"
    );
}

/// Fails when the lock holder re-reads the record it committed last.
pub async fn locked_updates_read_nothing_from_the_store(t: TestStore) {
    let counting = Arc::new(CountingStore::new(Arc::clone(&t.store)));
    let store: Arc<dyn SessionStore> = counting.clone();
    let (sessions, _clock) = sessions_at(&store, SessionsConfig::default());
    let s = id("holder");
    sessions.create(&s).await.unwrap();
    // Every read the 100 updates make, the guard's `get` before each locked one included.
    let mut reads = 0;
    for _ in 0..50 {
        let r0 = counting.reads();
        sessions.update(&s, bump_counter).await.unwrap();
        reads += counting.reads() - r0;
    }
    let guard = sessions.lock(&s).await.unwrap();
    for _ in 0..50 {
        // The step path's shape: read under the lock, then update.
        let r0 = counting.reads();
        let seen = guard.get().await.unwrap();
        let (after, _) = guard.update(bump_counter).await.unwrap();
        reads += counting.reads() - r0;
        assert_eq!(after.version, seen.version.next());
    }
    drop(guard);
    assert!(
        reads < 10,
        "100 locked updates read the store {reads} times"
    );
    // The cache never hides a write: the store holds all 100.
    let stored = t.store.get(&s).await.unwrap().unwrap();
    assert_eq!((counter(&stored.value), stored.version.get()), (100, 101));
    // A write behind the service's back makes the next update conflict, re-read and retry.
    let mut behind = stored.value.clone();
    behind.stage = "changed-behind".into();
    t.store.replace(stored.version, behind).await.unwrap();
    let (after, n) = sessions.update(&s, bump_counter).await.unwrap();
    assert_eq!(
        (n, after.version.get(), after.value.stage.as_str()),
        (101, 103, "changed-behind")
    );
    // So does the guard's update (how another process's write is caught on a shared
    // backend): the closure re-runs on the record read after the conflict.
    let guard = sessions.lock(&s).await.unwrap();
    let cached = guard.get().await.unwrap();
    let mut behind = cached.value.clone();
    behind.stage = "behind-the-guard".into();
    t.store.replace(cached.version, behind).await.unwrap();
    let (after, n) = guard.update(bump_counter).await.unwrap();
    assert_eq!(
        (n, after.version.get(), after.value.stage.as_str()),
        (102, 105, "behind-the-guard")
    );
    assert_eq!(guard.get().await.unwrap(), after);
    drop(guard);
    // On a shared backend a guard's read sees another service's (another process's)
    // write: the cached record is served only under the holding it was committed in.
    if t.store.shared_locks().is_some() {
        let (other, _clock) = sessions_at(&t.store, SessionsConfig::default());
        let guard = other.lock(&s).await.unwrap();
        let (theirs, _) = guard.update(bump_counter).await.unwrap();
        drop(guard);
        let guard = sessions.lock(&s).await.unwrap();
        assert_eq!(guard.get().await.unwrap(), theirs);
        drop(guard);
    }
    // Deleting and re-creating is seen too.
    sessions.delete(&s).await.unwrap();
    sessions.create(&s).await.unwrap();
    let (fresh, n) = sessions.update(&s, bump_counter).await.unwrap();
    assert_eq!((n, fresh.version.get()), (1, 2));
}

fn refuses(writer: usize, round: usize) -> bool {
    (writer * 7 + round * 3).is_multiple_of(11)
}

/// 64 writers × 50 updates of one session, some refusing: every accepted closure counted
/// once, each saw the one before it, versions unique and rising per caller, refusals wrote
/// nothing.
pub async fn hot_updates_combine_in_order_with_rejections(t: TestStore) {
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    let hot = id("hot-combined");
    sessions.create(&hot).await.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|w| {
            let (s, i) = (sessions.clone(), hot.clone());
            tokio::spawn(async move {
                let mut accepted = Vec::new();
                for r in 0..50 {
                    let got = s
                        .update(&i, |sess: &mut Session| {
                            if refuses(w, r) {
                                sess.stage = "refused-but-changed".into();
                                return Err(StoreError::Rejected("refused".into()));
                            }
                            bump_counter(sess)
                        })
                        .await;
                    match got {
                        Ok((after, n)) => accepted.push((after.version.get(), n)),
                        Err(StoreError::Rejected(_)) => assert!(refuses(w, r)),
                        Err(e) => panic!("hot update failed: {e:?}"),
                    }
                }
                accepted
            })
        })
        .collect();
    let mut all = BTreeSet::new();
    let mut total = 0u64;
    for task in tasks {
        let accepted = task.await.unwrap();
        for pair in accepted.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "versions of one caller must rise: {pair:?}"
            );
        }
        for &(version, n) in &accepted {
            // The counter a closure saw is the number applied before it: one per version.
            assert_eq!(version, n + 1, "closure result and version disagree");
            assert!(all.insert(version), "version {version} answered twice");
        }
        total += accepted.len() as u64;
    }
    let expected: u64 = (0..64)
        .flat_map(|w| (0..50).map(move |r| (w, r)))
        .filter(|&(w, r)| !refuses(w, r))
        .count() as u64;
    assert_eq!(total, expected);
    let stored = sessions.get(&hot).await.unwrap();
    assert_eq!(counter(&stored.value), expected, "lost or doubled updates");
    assert_eq!(
        stored.version.get(),
        expected + 1,
        "a refusal advanced the version"
    );
    assert_ne!(stored.value.stage, "refused-but-changed", "a refusal wrote");
    assert_eq!(all, (2..=expected + 1).collect::<BTreeSet<_>>());
}

/// Fails when combining is removed: 640 hot updates then take 640 commits.
pub async fn hot_updates_share_commits(t: TestStore) {
    let (sessions, counting) = counted(&t, SessionsConfig::default());
    let hot = id("hot-commits");
    sessions.create(&hot).await.unwrap();
    let before = counting.commits();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (s, i) = (sessions.clone(), hot.clone());
            tokio::spawn(async move {
                for _ in 0..10 {
                    s.update(&i, bump_counter).await.expect("hot update");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let commits = counting.commits() - before;
    assert!(commits < 200, "640 hot updates took {commits} commits");
    let stored = sessions.get(&hot).await.unwrap();
    assert_eq!((counter(&stored.value), stored.version.get()), (640, 641));
    assert!(sessions.stats().batch_max > 1);
}

/// A caller cancelled while it waits for the session never has its closure applied.
pub async fn cancelled_waiter_is_never_applied(t: TestStore) {
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    let s = id("cancelled-waiter");
    sessions.create(&s).await.unwrap();
    let guard = sessions.lock(&s).await.unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let mut waiters = Vec::new();
    for _ in 0..4 {
        let (sess, i, ran) = (sessions.clone(), s.clone(), Arc::clone(&ran));
        waiters.push(tokio::spawn(async move {
            sess.update(&i, move |x: &mut Session| {
                ran.store(true, Ordering::SeqCst);
                x.stage = "cancelled".into();
                Ok(())
            })
            .await
        }));
    }
    let live = {
        let (sess, i) = (sessions.clone(), s.clone());
        tokio::spawn(async move { sess.update(&i, bump_counter).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    for w in &waiters {
        w.abort();
    }
    for w in waiters {
        assert!(w.await.unwrap_err().is_cancelled());
    }
    guard.update(bump_counter).await.unwrap();
    drop(guard);
    live.await.unwrap().unwrap();
    let (after, n) = sessions.update(&s, bump_counter).await.unwrap();
    assert!(
        !ran.load(Ordering::SeqCst),
        "a cancelled waiter's closure ran"
    );
    assert_eq!((n, after.version.get()), (3, 4));
    assert_ne!(after.value.stage, "cancelled");
}

/// While a guard is held, queued updates neither combine with the holder's writes nor see
/// them half-done; they run after it, in order.
pub async fn held_guard_excludes_combining(t: TestStore) {
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    let s = id("guarded");
    sessions.create(&s).await.unwrap();
    let guard = sessions.lock(&s).await.unwrap();
    let queued: Vec<_> = (0..8)
        .map(|_| {
            let (sess, i) = (sessions.clone(), s.clone());
            tokio::spawn(async move { sess.update(&i, bump_counter).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(20)).await;
    for expected in 1..=3u64 {
        let (after, n) = guard.update(bump_counter).await.unwrap();
        assert_eq!((n, after.version.get()), (expected, expected + 1));
        let stored = t.store.get(&s).await.unwrap().unwrap();
        assert_eq!(
            stored.version.get(),
            expected + 1,
            "the guard's write is committed"
        );
    }
    drop(guard);
    let mut seen = BTreeSet::new();
    for q in queued {
        let (after, n) = q.await.unwrap().unwrap();
        assert!(n > 3, "a queued update ran inside the guard");
        assert!(seen.insert(after.version.get()));
    }
    assert_eq!(seen, (5..=12).collect::<BTreeSet<_>>());
}

/// A batch whose would-be committer died (its closure panicked while it held the lock) is
/// committed by the member waiting on it: no member waits forever, nothing is lost.
pub async fn stranded_batch_is_committed_by_its_member(t: TestStore) {
    let (sessions, _clock) = sessions_at(&t.store, SessionsConfig::default());
    let s = id("stranded");
    sessions.create(&s).await.unwrap();
    let first = {
        let (sess, i) = (sessions.clone(), s.clone());
        tokio::spawn(async move {
            sess.update(&i, |x: &mut Session| {
                // Hold the lock until the second caller is queued behind it.
                std::thread::sleep(Duration::from_millis(200));
                bump_counter(x)
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = {
        let (sess, i) = (sessions.clone(), s.clone());
        tokio::spawn(async move {
            sess.update(&i, |_x: &mut Session| -> Result<(), StoreError> {
                panic!("a closure that dies holding the lock (expected in this test)")
            })
            .await
        })
    };
    assert!(second.await.unwrap_err().is_panic());
    let (after, n) = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("the stranded member was never answered")
        .unwrap()
        .unwrap();
    assert_eq!((n, after.version.get()), (1, 2));
    let stored = t.store.get(&s).await.unwrap().unwrap();
    assert_eq!((counter(&stored.value), stored.version.get()), (1, 2));
}

/// The cap reuses a recent count between checks; a slot freed by a deletion is usable at
/// once all the same (a check that would refuse counts again), and the cap still holds.
pub async fn capacity_freed_by_delete_is_reusable_at_once(t: TestStore) {
    let config = SessionsConfig {
        max_sessions: Some(3),
        ..SessionsConfig::default()
    };
    let (sessions, _clock) = sessions_at(&t.store, config);
    for i in 0..3 {
        sessions.create(&id(&format!("cap-{i}"))).await.unwrap();
    }
    let err = sessions.create(&id("cap-3")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::CapacityExceeded { max: 3 }),
        "{err:?}"
    );
    sessions.delete(&id("cap-0")).await.unwrap();
    sessions.create(&id("cap-3")).await.unwrap();
    let err = sessions.create(&id("cap-4")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::CapacityExceeded { max: 3 }),
        "{err:?}"
    );
    // A session removed behind the service's back frees its slot too.
    t.store.remove(&id("cap-1"), None).await.unwrap();
    sessions.create(&id("cap-4")).await.unwrap();
    assert_eq!(t.store.count().await.unwrap(), 3);
}
