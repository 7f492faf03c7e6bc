//! The conformance kit (feature `testkit`): every case of the port's contract, run against
//! any adapter by one macro call, plus a model-based property test.
//!
//! ```text
//! // in an adapter's tests/it/main.rs
//! fn make() -> session_core::testkit::TestStore {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = MyStore::open(dir.path().join("s.db")).unwrap();
//!     session_core::testkit::TestStore::new(store, dir)
//! }
//! session_core::session_store_conformance!(make);
//! ```

pub mod cases;
pub mod counting;
pub mod crash;
pub mod model;
pub mod tmpfs;

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use crate::SessionStore;

/// A fresh, empty store for one test case, with whatever must live as long as it (a
/// temporary directory, say).
pub struct TestStore {
    /// The store under test.
    pub store: Arc<dyn SessionStore>,
    /// Dropped after the case.
    pub keep_alive: Box<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for TestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestStore")
            .field("backend", &self.store.backend_name())
            .finish()
    }
}

impl TestStore {
    /// Wraps a store and what must outlive it.
    pub fn new(store: impl SessionStore, keep_alive: impl Any + Send + Sync) -> TestStore {
        TestStore {
            store: Arc::new(store),
            keep_alive: Box::new(keep_alive),
        }
    }
}

/// Runs one conformance case on a fresh store, on a 4-worker multi-threaded runtime so that
/// concurrency cases really run in parallel.
pub fn run_case<Fut>(make: impl Fn() -> TestStore, case: impl FnOnce(TestStore) -> Fut)
where
    Fut: Future<Output = ()>,
{
    let rt = runtime();
    let store = make();
    rt.block_on(case(store));
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot start a tokio runtime for the test: {e}"),
    }
}

/// Expands to a `session_store_conformance` test module running every conformance case and
/// the model-based property test against the stores made by `$make` (a
/// `fn() -> TestStore`).
///
/// `session_store_conformance!(make, available = check)` runs each case only when
/// `check() -> Result<(), String>` is `Ok`, and otherwise prints why it was skipped — for
/// adapters that need an external service. Make `check` fail (not skip) in CI.
#[macro_export]
macro_rules! session_store_conformance {
    ($make:expr) => {
        $crate::session_store_conformance!($make, available = || Ok::<(), String>(()));
    };
    ($make:expr, available = $available:expr) => {
        $crate::__conformance_cases!($make, $available;
            insert_get_round_trip_keeps_nested_metadata,
            duplicate_insert_is_already_exists,
            stale_replace_conflicts_and_writes_nothing,
            replace_of_missing_is_not_found,
            remove_honours_expected_version,
            apply_is_all_or_nothing,
            apply_checks_writes_in_order,
            scan_filters_by_status_label_and_prefix,
            scan_pages_are_stable_while_inserts_run,
            purge_expired_removes_only_expired_and_honours_limit,
            expiry_index_follows_replaced_expiry,
            count_counts_every_session,
            racing_replaces_of_one_version_have_one_winner,
            racing_get_or_create_yields_one_session,
            hot_session_updates_lose_nothing,
            two_services_on_one_store_lose_no_update,
            update_many_in_opposite_orders_never_deadlocks,
            lock_excludes_and_times_out_busy,
            lock_is_released_on_panic_and_cancellation,
            rejected_update_writes_nothing,
            max_sessions_ignores_expired_sessions,
            existence_is_checked_before_capacity,
            max_sessions_holds_under_concurrent_creation,
            expired_session_reads_as_expired,
            session_ids_are_validated,
            restore_keeps_versions_and_overwrites,
            shared_locks_exclude_other_services,
            concurrent_creations_share_commits,
            capped_concurrent_creations_share_commits,
            locked_updates_read_nothing_from_the_store,
            hot_updates_combine_in_order_with_rejections,
            hot_updates_share_commits,
            cancelled_waiter_is_never_applied,
            held_guard_excludes_combining,
            stranded_batch_is_committed_by_its_member,
            capacity_freed_by_delete_is_reusable_at_once,
            task_insert_get_round_trip,
            task_double_insert_is_task_exists,
            task_stale_version_conflicts_and_writes_nothing,
            task_replace_of_missing_is_task_not_found,
            concurrent_task_updates_lose_nothing,
            tasks_list_per_session_newest_first_with_limit,
            purge_removes_only_expired_tasks,
            task_closure_error_writes_nothing,
            maintenance_purges_expired_tasks,
            task_and_session_writes_run_together,
        );

    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($make:expr, $available:expr; $($case:ident),* $(,)?) => {
        mod session_store_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    if let Err(why) = ($available)() {
                        eprintln!("skipped {}: {why}", stringify!($case));
                        return;
                    }
                    $crate::testkit::run_case($make, $crate::testkit::cases::$case);
                }
            )*

            #[test]
            fn model_based_operation_sequences() {
                if let Err(why) = ($available)() {
                    eprintln!("skipped model_based_operation_sequences: {why}");
                    return;
                }
                $crate::testkit::model::run_model_test($make);
            }
        }
    };
}

/// Expands to a `session_store_crash` test module: the kill -9 harness
/// ([`crash::kill_cycles`]) and the child test it re-runs. `$open` is a
/// `fn(&Path) -> Result<Arc<dyn SessionStore>, StoreError>` that opens (or creates) the store
/// at a path; the store must be durable on acknowledge.
#[macro_export]
macro_rules! session_store_crash_tests {
    ($open:expr) => {
        mod session_store_crash {
            #[allow(unused_imports)]
            use super::*;

            /// Runs only when the harness starts this binary as its child.
            #[test]
            fn crash_child_process() {
                $crate::testkit::crash::child_main($open);
            }

            #[test]
            fn kill_9_loses_no_acknowledged_write() {
                let module = module_path!();
                let module = module.split_once("::").map_or(module, |(_, rest)| rest);
                $crate::testkit::crash::kill_cycles(
                    &format!("{module}::crash_child_process"),
                    $open,
                    $crate::testkit::crash::CrashConfig::default(),
                );
            }
        }
    };
}

/// The value of environment variable `var` naming an external service a test needs (etcd's
/// endpoints, say), or why the test cannot run: `Err` to skip with that reason on a developer
/// machine. Under CI (`CI=true`) a missing service is a failure, never a skip.
pub fn service_env(var: &str, how_to_start: &str) -> Result<String, String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} is not set in CI: .ci/run must start the service ({how_to_start})")
        }
        _ => Err(format!("{var} is not set; {how_to_start}")),
    }
}
