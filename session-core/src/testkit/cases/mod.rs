//! The conformance cases. Each takes a fresh [`TestStore`](super::TestStore) and panics on a
//! broken contract. They are public so an adapter can also call one directly.
//!
//! `writes.rs`: the port's writes, the expiry index and `count`; `scan.rs`: filters and
//! paging; `service.rs`: the `Sessions` service's rules; `concurrency.rs`: racing writers,
//! locks and the cap under racing creations; `combining.rs`: group commit of creations,
//! hot-session combining and the lock holder's reads; `tasks.rs`: the task store and the
//! `Tasks` service. The helpers below are shared by all.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod combining;
mod concurrency;
mod scan;
mod service;
mod tasks;
mod writes;

pub use self::combining::{
    cancelled_waiter_is_never_applied, capacity_freed_by_delete_is_reusable_at_once,
    capped_concurrent_creations_share_commits, concurrent_creations_share_commits,
    held_guard_excludes_combining, hot_updates_combine_in_order_with_rejections,
    hot_updates_share_commits, locked_updates_read_nothing_from_the_store,
    stranded_batch_is_committed_by_its_member,
};
pub use self::concurrency::{
    hot_session_updates_lose_nothing, lock_excludes_and_times_out_busy,
    lock_is_released_on_panic_and_cancellation, max_sessions_holds_under_concurrent_creation,
    racing_get_or_create_yields_one_session, racing_replaces_of_one_version_have_one_winner,
    shared_locks_exclude_other_services, two_services_on_one_store_lose_no_update,
    update_many_in_opposite_orders_never_deadlocks,
};
pub use self::scan::{
    scan_filters_by_status_label_and_prefix, scan_pages_are_stable_while_inserts_run,
};
pub use self::service::{
    existence_is_checked_before_capacity, expired_session_reads_as_expired,
    max_sessions_ignores_expired_sessions, rejected_update_writes_nothing,
    session_ids_are_validated,
};
pub use self::tasks::{
    concurrent_task_updates_lose_nothing, maintenance_purges_expired_tasks,
    purge_removes_only_expired_tasks, task_and_session_writes_run_together,
    task_closure_error_writes_nothing, task_double_insert_is_task_exists,
    task_insert_get_round_trip, task_replace_of_missing_is_task_not_found,
    task_stale_version_conflicts_and_writes_nothing,
    tasks_list_per_session_newest_first_with_limit,
};
pub use self::writes::{
    apply_checks_writes_in_order, apply_is_all_or_nothing, count_counts_every_session,
    duplicate_insert_is_already_exists, expiry_index_follows_replaced_expiry,
    insert_get_round_trip_keeps_nested_metadata,
    purge_expired_removes_only_expired_and_honours_limit, remove_honours_expected_version,
    replace_of_missing_is_not_found, restore_keeps_versions_and_overwrites,
    stale_replace_conflicts_and_writes_nothing,
};

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{ManualClock, Session, SessionId, SessionStore, Sessions, SessionsConfig, StoreError};

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
