//! Conformance cases of the task store ([`crate::TaskStore`]) and the [`Tasks`] service over
//! it: the version rule, listing, purging and racing updates. A backend whose
//! `SessionStore::tasks` is `None` skips them, saying so.

use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use serde_json::json;

use super::{id, t0};
use crate::testkit::TestStore;
use crate::{
    ManualClock, RetryPolicy, StoreError, TaskId, TaskRecord, TaskState, TaskStore, Tasks, Version,
};

fn tasks_of(t: &TestStore, case: &str) -> Option<(Arc<dyn TaskStore>, Tasks, Arc<ManualClock>)> {
    let Some(store) = t.store.tasks() else {
        eprintln!(
            "skipped {case}: the {} backend keeps no tasks (SessionStore::tasks is None)",
            t.store.backend_name()
        );
        return None;
    };
    let clock = Arc::new(ManualClock::new(t0()));
    // Patient retries: the racing case has 32 writers on one record and no lock.
    let retry = RetryPolicy {
        max_attempts: 400,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
        jitter: 1.0,
    };
    let tasks = Tasks::new(Arc::clone(&store), retry, clock.clone());
    Some((store, tasks, clock))
}

fn tid(s: &str) -> TaskId {
    TaskId::new(s).unwrap()
}

fn task(name: &str, ttl_secs: u64) -> TaskRecord {
    TaskRecord::new(tid(name), "build_image", t0(), ttl_secs * 1000, 250)
}

pub async fn task_insert_get_round_trip(t: TestStore) {
    let Some((store, _, _)) = tasks_of(&t, "task_insert_get_round_trip") else {
        return;
    };
    assert!(store.get_task(&tid("absent")).await.unwrap().is_none());
    let mut full = task("full_1", 60);
    full.session_id = Some(id("s-1"));
    full.state = TaskState::InputRequired;
    full.status_message = Some("waiting for the user".into());
    full.progress = Some(0.5);
    full.total = Some(1.0);
    full.input_requests = Some(json!({"confirm": {"method": "elicitation/create", "n": [1, 2]}}));
    full.input_responses = Some(json!({"confirm": {"action": "accept"}}));
    full.error = Some(json!({"code": -32603, "message": "x"}));
    full.result = Some(json!({"content": [{"type": "text", "text": "ünïcode"}]}));
    full.cancel_requested = true;
    full.runner = Some(crate::TaskRunner {
        instance: "replica-2".into(),
        pid: 4242,
        host: "node-a".into(),
    });
    full.lease_until = Some(DateTime::from_timestamp(1_750_000_010, 123_456_789).unwrap());
    assert_eq!(
        store.put_task(None, full.clone()).await.unwrap(),
        Version::FIRST
    );
    let back = store.get_task(&full.id).await.unwrap().unwrap();
    assert_eq!((back.version, back.value), (Version::FIRST, full));
    assert_eq!(
        t.store.count().await.unwrap(),
        0,
        "tasks are not sessions: count is unchanged"
    );
}

pub async fn task_double_insert_is_task_exists(t: TestStore) {
    let Some((store, tasks, _)) = tasks_of(&t, "task_double_insert_is_task_exists") else {
        return;
    };
    let first = tasks.create(task("dup", 60)).await.unwrap();
    let mut other = task("dup", 60);
    other.tool = "push_image".into();
    let err = store.put_task(None, other.clone()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::TaskExists(ref i) if i == "dup"),
        "{err:?}"
    );
    assert!(matches!(
        tasks.create(other).await,
        Err(StoreError::TaskExists(_))
    ));
    assert_eq!(store.get_task(&tid("dup")).await.unwrap().unwrap(), first);
}

pub async fn task_stale_version_conflicts_and_writes_nothing(t: TestStore) {
    let Some((store, _, _)) = tasks_of(&t, "task_stale_version_conflicts_and_writes_nothing")
    else {
        return;
    };
    let mut a = task("cas", 60);
    store.put_task(None, a.clone()).await.unwrap();
    a.progress = Some(1.0);
    assert_eq!(
        store.put_task(Some(Version(1)), a.clone()).await.unwrap(),
        Version(2)
    );
    let mut stale = a.clone();
    stale.state = TaskState::Failed;
    let err = store.put_task(Some(Version(1)), stale).await.unwrap_err();
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
    let stored = store.get_task(&tid("cas")).await.unwrap().unwrap();
    assert_eq!((stored.version, stored.value), (Version(2), a));
}

pub async fn task_replace_of_missing_is_task_not_found(t: TestStore) {
    let Some((store, tasks, _)) = tasks_of(&t, "task_replace_of_missing_is_task_not_found") else {
        return;
    };
    let err = store
        .put_task(Some(Version(1)), task("ghost", 60))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::TaskNotFound(ref i) if i == "ghost"),
        "{err:?}"
    );
    assert!(store.get_task(&tid("ghost")).await.unwrap().is_none());
    assert!(matches!(
        tasks.update(&tid("ghost"), |_| Ok(())).await,
        Err(StoreError::TaskNotFound(_))
    ));
    assert!(matches!(
        tasks.get(&tid("ghost")).await,
        Err(StoreError::TaskNotFound(_))
    ));
}

pub async fn concurrent_task_updates_lose_nothing(t: TestStore) {
    let Some((_, tasks, _)) = tasks_of(&t, "concurrent_task_updates_lose_nothing") else {
        return;
    };
    tasks.create(task("hot", 600)).await.unwrap();
    let mut joins = Vec::new();
    for _ in 0..32 {
        let tasks = tasks.clone();
        joins.push(tokio::spawn(async move {
            let (_, n) = tasks
                .update(&tid("hot"), |t| {
                    let n = t.progress.unwrap_or(0.0) + 1.0;
                    t.progress = Some(n);
                    Ok(n as u64)
                })
                .await
                .unwrap();
            n
        }));
    }
    let mut seen = Vec::new();
    for j in joins {
        seen.push(j.await.unwrap());
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (1..=32).collect::<Vec<u64>>(),
        "each update saw its own count"
    );
    let end = tasks.get(&tid("hot")).await.unwrap();
    assert_eq!(end.value.progress, Some(32.0));
    assert_eq!(end.version, Version(33));
}

pub async fn tasks_list_per_session_newest_first_with_limit(t: TestStore) {
    let Some((store, tasks, clock)) =
        tasks_of(&t, "tasks_list_per_session_newest_first_with_limit")
    else {
        return;
    };
    // a1 oldest … a4 newest for session a; b1 between them for session b; n1 has none.
    for (name, session) in [("a1", Some("sa")), ("b1", Some("sb")), ("a2", Some("sa"))] {
        let mut t = task(name, 600);
        t.session_id = session.map(id);
        tasks.create(t).await.unwrap();
        clock.advance(Duration::from_secs(1));
    }
    for name in ["a3", "a4"] {
        let mut t = task(name, 600);
        t.session_id = Some(id("sa"));
        tasks.create(t).await.unwrap();
        clock.advance(Duration::from_secs(1));
    }
    tasks.create(task("n1", 600)).await.unwrap();
    // An update does not change the order: it is by creation.
    tasks
        .update(&tid("a1"), |t| {
            t.progress = Some(1.0);
            Ok(())
        })
        .await
        .unwrap();
    let names = |l: Vec<crate::Versioned<TaskRecord>>| {
        l.into_iter()
            .map(|t| t.value.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let sa = id("sa");
    assert_eq!(
        names(store.list_tasks(Some(&sa), 10).await.unwrap()),
        ["a4", "a3", "a2", "a1"]
    );
    assert_eq!(
        names(store.list_tasks(Some(&sa), 2).await.unwrap()),
        ["a4", "a3"]
    );
    assert_eq!(
        names(store.list_tasks(Some(&id("sb")), 10).await.unwrap()),
        ["b1"]
    );
    assert!(store
        .list_tasks(Some(&id("nobody")), 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        names(store.list_tasks(None, 10).await.unwrap()),
        ["n1", "a4", "a3", "a2", "b1", "a1"]
    );
    assert_eq!(
        names(tasks.list(None, 3).await.unwrap()),
        ["n1", "a4", "a3"]
    );
    assert!(store.list_tasks(None, 0).await.unwrap().is_empty());
}

pub async fn purge_removes_only_expired_tasks(t: TestStore) {
    let Some((store, tasks, clock)) = tasks_of(&t, "purge_removes_only_expired_tasks") else {
        return;
    };
    for (name, ttl) in [
        ("short1", 10),
        ("short2", 10),
        ("short3", 20),
        ("long", 100),
    ] {
        tasks.create(task(name, ttl)).await.unwrap();
    }
    assert_eq!(tasks.purge_expired(100).await.unwrap(), 0);
    clock.advance(Duration::from_secs(10)); // short1 and short2 expire (expires_at <= now)
                                            // Written at t0+10: lives to t0+30 now (sliding expiry), so it survives the next purge.
    tasks
        .update(&tid("short3"), |t| {
            t.state = TaskState::Completed;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .purge_expired_tasks(clock_now(&clock), 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(tasks.purge_expired(100).await.unwrap(), 1);
    assert_eq!(tasks.purge_expired(100).await.unwrap(), 0);
    for gone in ["short1", "short2"] {
        assert!(
            store.get_task(&tid(gone)).await.unwrap().is_none(),
            "{gone}"
        );
    }
    clock.advance(Duration::from_secs(25)); // t0+35: short3 (t0+30) expires, long stays
    assert_eq!(tasks.purge_expired(100).await.unwrap(), 1);
    let left: Vec<_> = store.list_tasks(None, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].value.id.as_str(), "long");
    assert_eq!(left[0].version, Version::FIRST);
}

fn clock_now(clock: &ManualClock) -> chrono::DateTime<chrono::Utc> {
    crate::Clock::now(clock)
}

pub async fn task_closure_error_writes_nothing(t: TestStore) {
    let Some((store, tasks, clock)) = tasks_of(&t, "task_closure_error_writes_nothing") else {
        return;
    };
    let before = tasks.create(task("refuse", 60)).await.unwrap();
    clock.advance(Duration::from_secs(5));
    let err = tasks
        .update(&tid("refuse"), |t| -> Result<(), StoreError> {
            t.state = TaskState::Completed;
            t.result = Some(json!({"half": true}));
            Err(StoreError::Rejected("the task is already terminal".into()))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    assert_eq!(
        store.get_task(&tid("refuse")).await.unwrap().unwrap(),
        before
    );
}

pub async fn maintenance_purges_expired_tasks(t: TestStore) {
    if t.store.tasks().is_none() {
        eprintln!(
            "skipped maintenance_purges_expired_tasks: the {} backend keeps no tasks",
            t.store.backend_name()
        );
        return;
    }
    let (sessions, clock) = super::sessions_at(&t.store, crate::SessionsConfig::default());
    let tasks = sessions.tasks().unwrap();
    tasks.create(task("old", 10)).await.unwrap();
    tasks.create(task("young", 60)).await.unwrap();
    clock.advance(Duration::from_secs(30));
    let report = sessions.run_maintenance().await.unwrap();
    assert_eq!(report.purged_tasks, 1, "{report:?}");
    assert!(tasks.store().get_task(&tid("old")).await.unwrap().is_none());
    assert!(tasks.get(&tid("young")).await.is_ok());
    assert_eq!(sessions.run_maintenance().await.unwrap().purged_tasks, 0);
}

pub async fn task_and_session_writes_run_together(t: TestStore) {
    let Some((_, tasks, _)) = tasks_of(&t, "task_and_session_writes_run_together") else {
        return;
    };
    let (sessions, _) = super::sessions_at(&t.store, crate::SessionsConfig::default());
    sessions.create(&id("busy")).await.unwrap();
    tasks.create(task("busy", 600)).await.unwrap();
    let mut joins = Vec::new();
    for i in 0..16 {
        let (sessions, tasks) = (sessions.clone(), tasks.clone());
        joins.push(tokio::spawn(async move {
            if i % 2 == 0 {
                sessions
                    .update(&id("busy"), super::bump_counter)
                    .await
                    .map(drop)
            } else {
                tasks
                    .update(&tid("busy"), |t| {
                        t.progress = Some(t.progress.unwrap_or(0.0) + 1.0);
                        Ok(())
                    })
                    .await
                    .map(drop)
            }
        }));
    }
    for j in joins {
        j.await.unwrap().unwrap();
    }
    let s = sessions.get(&id("busy")).await.unwrap();
    assert_eq!(super::counter(&s.value), 8);
    assert_eq!(
        tasks.get(&tid("busy")).await.unwrap().value.progress,
        Some(8.0)
    );
    assert_eq!(t.store.count().await.unwrap(), 1);
}
