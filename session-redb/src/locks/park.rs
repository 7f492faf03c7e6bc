//! Parked step locks: a holding this process ended is kept (still renewed) for `PARK_FOR`
//! instead of being released at once, so this process's next lock of the same session —
//! a workflow's next step, the next `lock()` + update — reuses it without a commit. Only
//! this process's lock table hands the session out, so a reused holding is never shared by
//! two guards at once; another process waiting for the lock sees it held up to `PARK_FOR`
//! longer (its polls back off to 50 ms anyway). A holding is parked only while it has been
//! held, across reuses, for less than `MAX_HOLD`: after that it is released for real, so a
//! session kept busy by this process still frees its lock for other processes now and then.
//! The store's `flush` and close release every parked holding first (a one-shot process
//! leaves no lock behind to expire).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::RedbLocks;

/// How long an ended holding stays parked for reuse.
pub(crate) const PARK_FOR: Duration = Duration::from_millis(20);

/// The longest a holding is kept across reuses before it is released for real.
pub(crate) const MAX_HOLD: Duration = Duration::from_millis(250);

/// One holding of a lock: its token, the task renewing it, and when it was taken.
#[derive(Debug)]
pub(crate) struct Holding {
    pub(crate) token: i64,
    pub(crate) renewer: tokio::task::JoinHandle<()>,
    pub(crate) since: Instant,
}

/// The parked holdings by session id, each with the number of its parking.
#[derive(Debug, Default)]
pub(crate) struct Parked {
    holdings: Mutex<HashMap<String, (Holding, u64)>>,
    parkings: AtomicU64,
}

impl Parked {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Holding, u64)>> {
        self.holdings.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RedbLocks {
    /// A guard's lock ends: park the holding for this process's next lock of `key`, or
    /// release it (held too long, renewal stopped, no runtime to time the parking, store
    /// closing).
    pub(super) fn park_or_release(&self, key: String, holding: Holding) {
        let open = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        let runtime = tokio::runtime::Handle::try_current();
        let fresh = holding.since.elapsed() < MAX_HOLD;
        let runtime = match runtime {
            Ok(rt) if open && fresh && !holding.renewer.is_finished() => rt,
            _ => return self.release(key, holding, fresh),
        };
        let parking = self.parked.parkings.fetch_add(1, Ordering::Relaxed);
        let replaced = self.parked.map().insert(key.clone(), (holding, parking));
        if let Some((old, _)) = replaced {
            self.release(key.clone(), old, false);
        }
        let this = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(PARK_FOR).await;
            let expired = {
                let mut map = this.parked.map();
                match map.get(&key) {
                    Some((_, p)) if *p == parking => map.remove(&key),
                    _ => None,
                }
            };
            if let Some((holding, _)) = expired {
                this.release(key, holding, true);
            }
        });
    }

    /// The parked holding of `key`, if its renewal still runs (one whose renewal stopped
    /// may have been taken over: it is released and a fresh take follows).
    pub(super) fn unpark(&self, key: &str) -> Option<Holding> {
        let (holding, _) = self.parked.map().remove(key)?;
        if holding.renewer.is_finished() {
            self.release(key.to_owned(), holding, false);
            return None;
        }
        Some(holding)
    }

    /// Releases every parked holding (before a flush, and when the store closes).
    pub(crate) fn release_parked(&self) {
        let drained: Vec<(String, Holding)> = self
            .parked
            .map()
            .drain()
            .map(|(k, (h, _))| (k, h))
            .collect();
        for (key, holding) in drained {
            self.release(key, holding, false);
        }
    }
}
