//! Conformance cases of `scan`: its filters, and cursor paging that stays stable while
//! other sessions are inserted.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::session;
use crate::testkit::TestStore;
use crate::{ScanQuery, SessionStatus};

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
