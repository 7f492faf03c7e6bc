//! Conformance cases of the `Sessions` service over the store: refused updates, the session
//! cap, expiry as seen by readers, and id validation.

use std::time::Duration;

use super::{bump_counter, counter, id, sessions_at};
use crate::testkit::TestStore;
use crate::{Session, SessionId, SessionsConfig, StoreError, Version};

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

/// At the cap, creating an id that is already stored fails `AlreadyExists`, not
/// `CapacityExceeded` (existence is checked first), so `get_or_create` and a continued
/// workflow reach the existing session; a new id is still refused.
pub async fn existence_is_checked_before_capacity(t: TestStore) {
    let config = SessionsConfig {
        max_sessions: Some(2),
        ..Default::default()
    };
    let (sessions, _clock) = sessions_at(&t.store, config);
    let first = sessions.create(&id("c1")).await.unwrap();
    sessions.create(&id("c2")).await.unwrap();
    let err = sessions.create(&id("c1")).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    let err = sessions
        .create_with(&id("c2"), |s| s.stage = "other".into())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
    assert_eq!(sessions.get_or_create(&id("c1")).await.unwrap(), first);
    let err = sessions.create(&id("c3")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::CapacityExceeded { max: 2 }),
        "{err:?}"
    );
    assert_eq!(t.store.count().await.unwrap(), 2);
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
