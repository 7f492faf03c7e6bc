//! For adapter crates; embedding programs need nothing here.
//!
//! What every implementation of [`crate::SessionStore`] shares, so the write rule, the record
//! bytes and the paging are written once:
//!
//! - [`plan_batch`]: the port's version rule over a batch, against the stored state read
//!   through the adapter's lookup and the batch's own earlier writes; [`WriteOp::encode`]
//!   (on [`crate::WriteOp`]): the record bytes a write stores.
//! - the record codec ([`encode_record`], [`decode_record`], [`record_header`]) and the
//!   expiry-index key ([`expiry_key`], [`expiry_range_end`], [`parse_expiry_key`]); see
//!   `docs/record-format.md`.
//! - [`ScanQueryExt`]: where a scan starts and how a page is cut.
//! - [`open_waiting`]: open a store file, waiting while another process holds it.
//! - [`shared_lock_handle`]: the handle a [`crate::SharedLocks`] backend returns.
//!
//! [`WriteOp::encode`]: crate::WriteOp::encode

mod plan;
mod scan;

use std::time::{Duration, Instant};

pub use crate::adapter::plan::{plan_batch, PlanError, PlannedWrite};
pub use crate::adapter::scan::ScanQueryExt;
pub use crate::codec::{
    decode_record, encode_record, expiry_key, expiry_range_end, parse_expiry_key, record_header,
    RecordHeader, RECORD_FORMAT_VERSION,
};
// Hook (issue #20, taskstore): the task record codec and list order, for adapters.
pub use crate::tasks::{
    decode_task_record, encode_task_record, select_tasks, task_expiry_key, task_expiry_key_id,
    task_expiry_range_end, task_record_header, TASK_FORMAT_VERSION,
};
use crate::{Fence, SharedLockHandle, StoreError};

/// A handle of a shared lock held under `fence`; dropping it runs `release` once.
pub fn shared_lock_handle(
    fence: Fence,
    release: impl FnOnce() + Send + Sync + 'static,
) -> SharedLockHandle {
    SharedLockHandle::new(fence, release)
}

/// Calls `open` until it returns anything but `Locked`, or until `lock_wait` has passed:
/// an adapter's open of a file that one process holds at a time, waiting for the holder to
/// exit. Sleeps between tries (5 ms, doubling up to 100 ms, never past the deadline); with a
/// zero `lock_wait` it tries once. Blocks the thread: call it where blocking is allowed.
///
/// # Errors
/// The last error of `open`: `Locked` when the wait ran out, any other error at once.
pub fn open_waiting<T>(
    lock_wait: Duration,
    mut open: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let deadline = Instant::now() + lock_wait;
    let mut pause = Duration::from_millis(5);
    loop {
        match open() {
            Err(StoreError::Locked { .. }) if Instant::now() < deadline => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked() -> StoreError {
        StoreError::Locked {
            path: "s.db".into(),
        }
    }

    #[test]
    fn open_waiting_retries_while_locked_until_the_holder_lets_go() {
        let mut tries = 0;
        let out = open_waiting(Duration::from_secs(30), || {
            tries += 1;
            if tries < 3 {
                Err(locked())
            } else {
                Ok(tries)
            }
        });
        assert_eq!(out.unwrap(), 3);
    }

    #[test]
    fn open_waiting_gives_up_locked_after_the_wait_and_at_once_without_one() {
        let mut tries = 0;
        let out: Result<(), _> = open_waiting(Duration::ZERO, || {
            tries += 1;
            Err(locked())
        });
        assert!(matches!(out, Err(StoreError::Locked { .. })));
        assert_eq!(tries, 1);
        let start = Instant::now();
        let out: Result<(), _> = open_waiting(Duration::from_millis(20), || Err(locked()));
        assert!(matches!(out, Err(StoreError::Locked { .. })));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn open_waiting_returns_other_errors_at_once() {
        let mut tries = 0;
        let out: Result<(), _> = open_waiting(Duration::from_secs(30), || {
            tries += 1;
            Err(StoreError::Backend("not a store file".into()))
        });
        assert!(matches!(out, Err(StoreError::Backend(_))));
        assert_eq!(tries, 1);
    }
}
