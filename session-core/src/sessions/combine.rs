//! Hot-session combining: concurrent [`Sessions::update`]s of one session share one commit.
//!
//! Each caller still takes the session's lock (FIFO) and runs its own closure while holding
//! it, but on the session's *open batch*: the in-memory copy that the updates before it left
//! (committed or not). A closure that refuses leaves the copy as it was. If more callers are
//! queued for the lock, the caller joins the batch and releases the lock without writing;
//! the last one (nobody queued, or the batch full) writes the whole batch in one atomic
//! `apply` of one `Replace` per applied closure (so the version still advances by one per
//! update and every write is a compare-and-swap) and then every member is answered with its
//! own version. A lost race (conflict) sends every member back to re-run its closure on the
//! fresh record; a failed write answers every member with the error.
//!
//! The commit runs in a task of its own that holds the lock until it is done, so a cancelled
//! committer never strands its batch's members. A member waiting for its answer also waits
//! for the lock, and commits the batch itself if it finds it still open (its committer gave
//! up before starting). A caller cancelled while queued for the lock has run nothing, so its
//! closure is never applied. Anyone else who takes the lock (a [`super::SessionGuard`],
//! `update_many`) first commits the open batch, so a held guard excludes combining.

use tokio::sync::oneshot;

use super::stats::bump;
use super::Sessions;
use crate::locks::HeldLock;
use crate::store::WriteOp;
use crate::{Session, SessionId, StoreError, Version, Versioned};

/// The most updates one commit carries.
pub(super) const MAX_BATCH: usize = 128;

/// How long a member waits for its answer before it also queues for the lock, to commit its
/// batch itself should the batch have been stranded (every caller queued behind it gave up).
/// Commits normally answer well within it, and members then never queue for the lock, so a
/// released lock goes straight to the next caller with a closure to run.
const STRANDED_AFTER: std::time::Duration = std::time::Duration::from_millis(50);

/// A session's updates applied in memory and not yet committed, kept under its lock.
#[derive(Debug)]
pub(crate) struct OpenBatch {
    /// The committed version the batch builds on.
    base: Version,
    /// The session after each applied closure, in order.
    writes: Vec<Session>,
    /// The members waiting for the commit (all but the one that writes it).
    waiters: Vec<oneshot::Sender<Outcome>>,
}

/// What a member of a batch hears after the commit.
#[derive(Clone, Debug)]
enum Outcome {
    Committed,
    /// The batch lost a version race: re-run the closure on the fresh record.
    Retry(StoreError),
    Failed(StoreError),
}

impl OpenBatch {
    /// The session as the batch leaves it, at the version its commit will give it.
    fn current(&self) -> Option<Versioned<Session>> {
        self.writes.last().map(|s| Versioned {
            version: Version(self.base.get() + self.writes.len() as u64),
            value: s.clone(),
        })
    }

    /// True when every member gave up (cancelled): then nobody is answered and nothing of it
    /// may be written.
    fn abandoned(&self) -> bool {
        self.waiters.iter().all(|w| w.is_closed())
    }
}

impl Sessions {
    /// [`Sessions::try_update`]'s body: the combining read-modify-write described above.
    pub(super) async fn combined_update<R, E, F>(
        &self,
        id: &SessionId,
        mut f: F,
        span: &tracing::Span,
    ) -> Result<(Versioned<Session>, R), E>
    where
        F: FnMut(&mut Session) -> Result<R, E> + Send,
        E: From<StoreError> + Send,
        R: Send,
    {
        let c = &self.inner.counters;
        let mut attempt = 0u32;
        let mut lock_wait_us = 0u64;
        loop {
            attempt += 1;
            let (mut held, waited) = self.acquire(id).await?;
            lock_wait_us += waited.as_micros() as u64;
            span.record("lock_wait_us", lock_wait_us);
            span.record("attempts", attempt);
            if held.batch().as_ref().is_some_and(OpenBatch::abandoned) {
                *held.batch() = None;
            }
            // The batch's copy, else the cached record (taken out: a refusal below leaves
            // the cache empty and the next update reads the store), else the store's.
            let Versioned {
                version: current,
                value: mut next,
            } = match held.batch().as_ref().and_then(OpenBatch::current) {
                Some(current) => current,
                None => match self.take_current(id).await {
                    Ok(current) => current,
                    Err(e) => return Err(E::from(e)),
                },
            };
            let refused = match f(&mut next) {
                Ok(out) => match self.stamp_id(id, &mut next) {
                    Ok(()) => Ok(out),
                    Err(e) => Err(E::from(e)),
                },
                Err(e) => Err(e),
            };
            let out = match refused {
                Ok(out) => out,
                Err(e) => {
                    bump(&c.rejected, 1);
                    span.record("outcome", "rejected");
                    self.leave(id, held);
                    return Err(e);
                }
            };
            let others_queued = held.others_queued();
            let batch = held.batch().get_or_insert_with(|| OpenBatch {
                base: current,
                writes: Vec::new(),
                waiters: Vec::new(),
            });
            batch.writes.push(next.clone());
            let mine = Version(batch.base.get() + batch.writes.len() as u64);
            let outcome = if others_queued && batch.writes.len() < MAX_BATCH {
                let (tx, rx) = oneshot::channel();
                batch.waiters.push(tx);
                self.await_batch(id, held, rx).await
            } else {
                match held.batch().take() {
                    Some(batch) => {
                        // With members waiting, the commit must outlive this caller; alone,
                        // a cancelled commit strands nobody (and the version check guards
                        // the next writer), so it runs here without a task.
                        let written = if batch.waiters.is_empty() {
                            let written = self.commit(id, batch).await;
                            drop(held);
                            written
                        } else {
                            self.spawn_commit(id, Some(held), batch).await
                        };
                        match written {
                            Ok(()) => Outcome::Committed,
                            Err(e @ StoreError::Conflict { .. }) => Outcome::Retry(e),
                            Err(e) => Outcome::Failed(e),
                        }
                    }
                    None => Outcome::Failed(StoreError::Invalid(
                        "a combined update lost its batch".into(),
                    )),
                }
            };
            match outcome {
                Outcome::Committed => {
                    span.record("outcome", "committed");
                    return Ok((
                        Versioned {
                            version: mine,
                            value: next,
                        },
                        out,
                    ));
                }
                Outcome::Failed(e) => {
                    span.record("outcome", e.kind());
                    return Err(E::from(e));
                }
                Outcome::Retry(conflict) => match self.inner.config.retry.next_delay(attempt) {
                    Some(delay) => {
                        bump(&c.retries, 1);
                        tokio::time::sleep(delay).await;
                    }
                    None => {
                        span.record("outcome", conflict.kind());
                        return Err(E::from(conflict));
                    }
                },
            }
        }
    }

    /// The record an update under the lock starts from: the holder's cache, else the store.
    pub(super) async fn current(&self, id: &SessionId) -> Result<Versioned<Session>, StoreError> {
        self.live(id, self.inner.cache.get(id)).await
    }

    /// [`Sessions::current`], taking the cached record out instead of copying it.
    /// The record of `id` as the cache holds it when the guard numbered `token` committed
    /// it, else as stored.
    pub(super) async fn current_fenced(
        &self,
        id: &SessionId,
        token: u64,
    ) -> Result<Versioned<Session>, StoreError> {
        self.live(id, self.inner.cache.get_fenced(id, token)).await
    }

    async fn take_current(&self, id: &SessionId) -> Result<Versioned<Session>, StoreError> {
        self.live(id, self.inner.cache.take(id)).await
    }

    async fn live(
        &self,
        id: &SessionId,
        cached: Option<Versioned<Session>>,
    ) -> Result<Versioned<Session>, StoreError> {
        match cached {
            Some(c) if c.value.is_expired_at(self.now()) => Err(StoreError::Expired(id.clone())),
            Some(c) => Ok(c),
            None => self.get(id).await,
        }
    }

    /// Waits for the batch this caller joined to be committed, after releasing the lock.
    /// After [`STRANDED_AFTER`] it also waits for the lock: finding its batch still open
    /// there (everyone who would have committed it gave up), the member commits it itself.
    async fn await_batch(
        &self,
        id: &SessionId,
        held: HeldLock,
        mut answer: oneshot::Receiver<Outcome>,
    ) -> Outcome {
        let entry = held.entry();
        drop(held);
        tokio::select! {
            biased;
            got = &mut answer => {
                return got.unwrap_or_else(|_| Outcome::Failed(StoreError::Backend(
                    "the commit of a combined update failed inside the store".into(),
                )));
            }
            () = tokio::time::sleep(STRANDED_AFTER) => {}
        }
        loop {
            tokio::select! {
                biased;
                got = &mut answer => {
                    return got.unwrap_or_else(|_| Outcome::Failed(StoreError::Backend(
                        "the commit of a combined update failed inside the store".into(),
                    )));
                }
                mut held = self.inner.locks.relock(&entry) => {
                    if let Some(batch) = held.batch().take() {
                        if !batch.abandoned() {
                            let _ = self.spawn_commit(id, Some(held), batch).await;
                        }
                    }
                }
            }
        }
    }

    /// Leaves the lock after a refused closure: commits the open batch first when nobody is
    /// queued to do it (in the background, holding the lock until done).
    fn leave(&self, id: &SessionId, mut held: HeldLock) {
        if held.others_queued() {
            return;
        }
        if let Some(batch) = held.batch().take() {
            if !batch.abandoned() {
                drop(self.spawn_commit(id, Some(held), batch));
            }
        }
    }

    /// Commits the open batch of a lock just taken by someone who does not combine (a
    /// guard, `update_many`), so their work starts from a committed record.
    pub(super) async fn settle(&self, id: &SessionId, held: &mut HeldLock) {
        if let Some(batch) = held.batch().take() {
            if !batch.abandoned() {
                let _ = self.spawn_commit(id, None, batch).await;
            }
        }
    }

    /// Writes `batch` in a task of its own (which keeps `held` until done, so cancelling the
    /// caller neither strands the members nor frees the lock mid-commit) and answers its
    /// members. Returns the commit's result for the caller.
    fn spawn_commit(
        &self,
        id: &SessionId,
        held: Option<HeldLock>,
        batch: OpenBatch,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let sessions = self.clone();
        let id = id.clone();
        let task = tokio::spawn(async move {
            let result = sessions.commit(&id, batch).await;
            drop(held);
            result
        });
        async move {
            match task.await {
                Ok(result) => result,
                Err(e) => Err(StoreError::Backend(format!(
                    "the commit of a combined update did not finish: {e}"
                ))),
            }
        }
    }

    /// One commit of a batch: one `Replace` per applied closure, in one atomic write.
    async fn commit(&self, id: &SessionId, batch: OpenBatch) -> Result<(), StoreError> {
        let c = &self.inner.counters;
        let OpenBatch {
            base,
            mut writes,
            waiters,
        } = batch;
        let size = writes.len() as u64;
        let Some(last) = writes.last().cloned() else {
            return Ok(());
        };
        let generation = self.inner.cache.generation();
        let store = &self.inner.store;
        let written = if size == 1 {
            match writes.pop() {
                Some(session) => store.replace(base, session).await,
                None => Ok(base),
            }
        } else {
            let ops = writes
                .into_iter()
                .enumerate()
                .map(|(i, session)| WriteOp::Replace {
                    expected: Version(base.get() + i as u64),
                    session,
                })
                .collect();
            store.apply(ops).await.map(|_| Version(base.get() + size))
        };
        let outcome = match written {
            Ok(version) => {
                bump(&c.commits, 1);
                c.batch_max
                    .fetch_max(size, std::sync::atomic::Ordering::Relaxed);
                if size > 1 {
                    bump(&c.combined_batches, 1);
                    bump(&c.combined_updates, size);
                }
                self.inner.cache.put(
                    generation,
                    Versioned {
                        version,
                        value: last,
                    },
                );
                Ok(())
            }
            Err(e) => {
                if matches!(e, StoreError::Conflict { .. }) {
                    bump(&c.conflicts, 1);
                }
                self.inner.cache.forget(id);
                Err(e)
            }
        };
        let answer = match &outcome {
            Ok(()) => Outcome::Committed,
            Err(e @ StoreError::Conflict { .. }) => Outcome::Retry(e.clone()),
            Err(e) => Outcome::Failed(e.clone()),
        };
        for w in waiters {
            // A member that gave up no longer listens.
            let _ = w.send(answer.clone());
        }
        outcome
    }
}
