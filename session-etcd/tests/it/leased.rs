//! [`LeasedEntries`] against a real etcd: put, read, renew and remove; an entry not renewed
//! is deleted by etcd when its lease runs out; entries live beside a store's sessions under
//! its prefix without touching them.

use std::time::{Duration, Instant};

use session_core::{Session, SessionId, SessionStore};
use session_etcd::{EtcdStore, LeasedEntries};

use super::{config, endpoints};

#[tokio::test]
async fn an_entry_is_read_renewed_and_removed_and_lives_beside_the_sessions() {
    let Ok(endpoints) = endpoints() else {
        return eprintln!("skipped: no ETCD_ENDPOINTS");
    };
    let config = config();
    let entries = LeasedEntries::new(endpoints.clone(), &config, Duration::from_secs(60)).unwrap();
    let store = EtcdStore::connect(endpoints, config.clone()).await.unwrap();
    let id = SessionId::new("same-name").unwrap();
    let now = chrono::Utc::now();
    store
        .insert(Session::new(id.clone(), now, Duration::from_secs(60)))
        .await
        .unwrap();

    assert_eq!(entries.get("same-name").await.unwrap(), None);
    entries.put("same-name", b"{\"a\":1}").await.unwrap();
    let entry = entries.get("same-name").await.unwrap().unwrap();
    assert_eq!(entry.value, b"{\"a\":1}");
    assert_ne!(entry.lease, 0);
    assert!(entries.refresh(entry.lease).await.unwrap());
    // The store's session of the same name is another key, and the store counts only its own.
    assert_eq!(store.count().await.unwrap(), 1);

    entries.remove("same-name").await.unwrap();
    assert_eq!(entries.get("same-name").await.unwrap(), None);
    assert!(
        !entries.refresh(entry.lease).await.unwrap(),
        "the lease was revoked"
    );
    assert!(store.get(&id).await.unwrap().is_some());
    // Removing what is absent is fine.
    entries.remove("same-name").await.unwrap();
}

#[tokio::test]
async fn an_entry_not_renewed_ends_with_its_lease() {
    let Ok(endpoints) = endpoints() else {
        return eprintln!("skipped: no ETCD_ENDPOINTS");
    };
    let entries = LeasedEntries::new(endpoints, &config(), Duration::from_secs(2)).unwrap();
    entries.put("short", b"x").await.unwrap();
    assert!(entries.get("short").await.unwrap().is_some());
    let start = Instant::now();
    while entries.get("short").await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the entry outlived its 2 s lease by far"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
