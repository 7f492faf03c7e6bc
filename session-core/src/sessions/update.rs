//! Optimistic read-modify-write: [`Sessions::update`], [`Sessions::try_update`] (whose body,
//! hot-session combining, is in `combine.rs`), and [`Sessions::update_many`] and the
//! guard's updates on one retry loop (read, run the closure on copies, stamp,
//! compare-and-swap; on a conflict wait per the retry policy and start again).

use std::collections::BTreeSet;
use std::time::Instant;

use tracing::field::Empty;
use tracing::Instrument;

use super::stats::bump;
use super::Sessions;
use crate::session::expiry_after;
use crate::store::WriteOp;
use crate::{Fence, Session, SessionId, StoreError, Versioned};

/// How an attempt's writes are committed.
#[derive(Clone, Copy)]
pub(super) enum Commit<'a> {
    /// One session, by the store's `replace`.
    Replace,
    /// One session, by `apply_fenced` under a cross-process lock, by the guard with this
    /// serial number (what its cached record is marked with).
    Fenced(&'a Fence, u64),
    /// Several sessions in one atomic `apply`.
    Apply,
}

/// Why a read-modify-write stopped without committing: the store's error (whose kind the
/// span records), or the closure's refusal.
enum Stopped<E> {
    Store(StoreError),
    Refused(E),
}

pub(super) fn update_span(id: &SessionId) -> tracing::Span {
    tracing::debug_span!(
        "session_update",
        session_id = %id,
        attempts = Empty,
        lock_wait_us = Empty,
        duration_us = Empty,
        outcome = Empty
    )
}

impl Sessions {
    /// Optimistic read-modify-write of one session. Takes the session's lock (bounded wait),
    /// reads it, runs `f` on a copy, and writes the copy back with a compare-and-swap. On a
    /// conflict it re-reads and re-runs `f` per the retry policy, so no update is ever lost.
    /// Every write slides the session's expiry to `now + ttl`.
    ///
    /// `f` refuses a change by returning an error (e.g. `StoreError::Rejected`); nothing is
    /// written and that error is returned. `f` may run more than once. A closure with an
    /// error type of its own goes to [`Sessions::try_update`].
    ///
    /// Concurrent updates of one session combine: each closure runs in lock order on the
    /// result of the one before it (committed or not), and they are written in one commit,
    /// one version per applied closure; each caller is answered after that commit with its
    /// own version. The record an update starts from comes from the service's cache of its
    /// last commit when it has one, so an update costs no store read.
    ///
    /// Errors: `NotFound`, `Expired`, `Busy`, `Conflict` (retries exhausted), `f`'s error.
    pub async fn update<R, F>(
        &self,
        id: &SessionId,
        f: F,
    ) -> Result<(Versioned<Session>, R), StoreError>
    where
        F: FnMut(&mut Session) -> Result<R, StoreError> + Send,
        R: Send,
    {
        self.try_update(id, f).await
    }

    /// [`Sessions::update`] with a closure that refuses a change with its own error type
    /// `E` (a domain error of the caller), returned as it is; the store's failures
    /// (`NotFound`, `Expired`, `Busy`, `Conflict` after the retries, …) arrive as
    /// `E::from(StoreError)`. Same guarantees: nothing is written when `f` refuses, and no
    /// update is lost to a concurrent writer.
    pub async fn try_update<R, E, F>(
        &self,
        id: &SessionId,
        f: F,
    ) -> Result<(Versioned<Session>, R), E>
    where
        F: FnMut(&mut Session) -> Result<R, E> + Send,
        E: From<StoreError> + Send,
        R: Send,
    {
        let span = update_span(id);
        self.combined_update(id, f, &span)
            .instrument(span.clone())
            .await
    }

    /// The read-modify-write of one session whose lock the caller holds.
    pub(super) async fn update_one<R, E, F>(
        &self,
        id: &SessionId,
        mut f: F,
        span: &tracing::Span,
        commit: Commit<'_>,
    ) -> Result<(Versioned<Session>, R), E>
    where
        F: FnMut(&mut Session) -> Result<R, E> + Send,
        E: From<StoreError> + Send,
        R: Send,
    {
        let start = Instant::now();
        let ids = std::slice::from_ref(id);
        let (result, attempts) = self
            .read_modify_write(
                ids,
                |sessions: &mut [Session]| match sessions {
                    [one] => f(one).map_err(Stopped::Refused),
                    _ => Err(Stopped::Store(StoreError::Invalid(
                        "a one-session update read another number of sessions".into(),
                    ))),
                },
                commit,
            )
            .await;
        span.record("attempts", attempts);
        span.record("duration_us", start.elapsed().as_micros() as u64);
        span.record(
            "outcome",
            match &result {
                Ok(_) => "committed",
                Err(Stopped::Store(e)) => e.kind(),
                Err(Stopped::Refused(_)) => "rejected",
            },
        );
        match result {
            Ok((mut written, out)) => match written.pop() {
                Some(one) => Ok((one, out)),
                None => Err(E::from(StoreError::Invalid(
                    "a one-session update wrote no session".into(),
                ))),
            },
            Err(Stopped::Store(e)) => Err(E::from(e)),
            Err(Stopped::Refused(e)) => Err(e),
        }
    }

    /// Read-modify-write of several sessions at once, all or nothing: takes their locks in
    /// sorted id order (so batches in any order never deadlock), reads them, runs `f` on
    /// copies given in the order of `ids`, and writes them in one atomic `apply`, retrying on
    /// conflict as [`Sessions::update`].
    ///
    /// Errors: `Invalid` for an empty or repeated id list; otherwise as `update`.
    pub async fn update_many<R, F>(
        &self,
        ids: &[SessionId],
        mut f: F,
    ) -> Result<(Vec<Versioned<Session>>, R), StoreError>
    where
        F: FnMut(&mut [Session]) -> Result<R, StoreError> + Send,
        R: Send,
    {
        let sorted: BTreeSet<&SessionId> = ids.iter().collect();
        if ids.is_empty() || sorted.len() != ids.len() {
            return Err(StoreError::Invalid(
                "update_many needs distinct session ids".into(),
            ));
        }
        let mut held = Vec::with_capacity(sorted.len());
        for id in sorted {
            let (mut lock, waited) = self.acquire(id).await?;
            self.settle(id, &mut lock).await;
            held.push((lock, waited));
        }
        let (result, _) = self
            .read_modify_write(
                ids,
                |s: &mut [Session]| f(s).map_err(Stopped::Store),
                Commit::Apply,
            )
            .await;
        result.map_err(|(Stopped::Store(e) | Stopped::Refused(e))| e)
    }

    /// The one retry loop: read `ids`, run `f` on copies, stamp them, commit them with a
    /// compare-and-swap per `commit`; on `Conflict` wait per the retry policy and start
    /// again. Returns the outcome and the number of attempts.
    async fn read_modify_write<R, E, F>(
        &self,
        ids: &[SessionId],
        mut f: F,
        commit: Commit<'_>,
    ) -> (Result<(Vec<Versioned<Session>>, R), Stopped<E>>, u32)
    where
        F: FnMut(&mut [Session]) -> Result<R, Stopped<E>> + Send,
        R: Send,
    {
        let c = &self.inner.counters;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.attempt(ids, &mut f, commit).await {
                Ok(Ok(done)) => {
                    bump(&c.commits, 1);
                    return (Ok(done), attempt);
                }
                Ok(Err(conflict)) => {
                    bump(&c.conflicts, 1);
                    match self.inner.config.retry.next_delay(attempt) {
                        Some(delay) => {
                            bump(&c.retries, 1);
                            tokio::time::sleep(delay).await;
                        }
                        None => return (Err(Stopped::Store(conflict)), attempt),
                    }
                }
                Err(stopped) => return (Err(stopped), attempt),
            }
        }
    }

    /// One attempt of [`Sessions::read_modify_write`]: `Ok(Err(conflict))` when another
    /// writer came first.
    #[allow(clippy::type_complexity)] // the nesting says "committed, lost the race, stopped"
    async fn attempt<R, E, F>(
        &self,
        ids: &[SessionId],
        f: &mut F,
        commit: Commit<'_>,
    ) -> Result<Result<(Vec<Versioned<Session>>, R), StoreError>, Stopped<E>>
    where
        F: FnMut(&mut [Session]) -> Result<R, Stopped<E>> + Send,
        R: Send,
    {
        let c = &self.inner.counters;
        let mut current = Vec::with_capacity(ids.len());
        for id in ids {
            current.push(self.current(id).await.map_err(Stopped::Store)?);
        }
        let mut next: Vec<Session> = current.iter().map(|s| s.value.clone()).collect();
        let out = f(&mut next).inspect_err(|_| bump(&c.rejected, 1))?;
        for (before, after) in current.iter().zip(next.iter_mut()) {
            self.stamp(&before.value, after)
                .inspect_err(|_| bump(&c.rejected, 1))
                .map_err(Stopped::Store)?;
        }
        let store = &self.inner.store;
        let generation = self.inner.cache.generation();
        let written: Result<Vec<_>, StoreError> = match (commit, current.as_slice(), &next[..]) {
            (Commit::Replace, [cur], [session]) => store
                .replace(cur.version, session.clone())
                .await
                .map(|v| vec![v]),
            (Commit::Fenced(fence, _), [cur], [session]) => {
                let op = WriteOp::Replace {
                    expected: cur.version,
                    session: session.clone(),
                };
                store
                    .apply_fenced(vec![op], fence)
                    .await
                    .map(|mut v| vec![v.pop().flatten().unwrap_or(cur.version.next())])
            }
            _ => {
                let batch = current
                    .iter()
                    .zip(&next)
                    .map(|(cur, s)| WriteOp::Replace {
                        expected: cur.version,
                        session: s.clone(),
                    })
                    .collect();
                store
                    .apply(batch)
                    .await
                    .map(|_| current.iter().map(|cur| cur.version.next()).collect())
            }
        };
        if written.is_err() {
            for id in ids {
                self.inner.cache.forget(id);
            }
        }
        match written {
            Ok(versions) => {
                let written: Vec<Versioned<Session>> = versions
                    .into_iter()
                    .zip(next)
                    .map(|(version, value)| Versioned { version, value })
                    .collect();
                let token = match commit {
                    Commit::Fenced(_, guard) => Some(guard),
                    _ => None,
                };
                for w in &written {
                    self.inner.cache.put_fenced(generation, w.clone(), token);
                }
                Ok(Ok((written, out)))
            }
            Err(e @ StoreError::Conflict { .. }) => Ok(Err(e)),
            Err(e) => Err(Stopped::Store(e)),
        }
    }

    /// Checks what a closure may not change and stamps the write time and sliding expiry.
    fn stamp(&self, before: &Session, after: &mut Session) -> Result<(), StoreError> {
        self.stamp_id(&before.id, after)
    }

    /// [`Sessions::stamp`] against the session's id.
    pub(super) fn stamp_id(&self, id: &SessionId, after: &mut Session) -> Result<(), StoreError> {
        if after.id != *id {
            return Err(StoreError::Rejected(format!(
                "an update may not change the session id ({} -> {})",
                id, after.id
            )));
        }
        let now = self.now();
        after.updated_at = now;
        after.expires_at = expiry_after(now, self.inner.config.ttl);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use std::sync::Arc;

    use super::*;
    use crate::{MemoryStore, SessionsConfig};

    /// A caller's own domain error, as `try_update` is for.
    #[derive(Debug, PartialEq)]
    enum DomainError {
        Refused(&'static str),
        Store(String),
    }

    impl From<StoreError> for DomainError {
        fn from(e: StoreError) -> Self {
            DomainError::Store(e.kind().to_owned())
        }
    }

    #[tokio::test]
    async fn try_update_returns_the_closures_own_error_and_writes_nothing() {
        let sessions = Sessions::new(Arc::new(MemoryStore::new()), SessionsConfig::default());
        let id = SessionId::new("try-update").unwrap();
        sessions.create(&id).await.unwrap();
        let refused = sessions
            .try_update(&id, |_s: &mut Session| -> Result<(), DomainError> {
                Err(DomainError::Refused("no"))
            })
            .await;
        assert_eq!(refused.unwrap_err(), DomainError::Refused("no"));
        assert_eq!(sessions.get(&id).await.unwrap().version.get(), 1);
        let (after, n) = sessions
            .try_update(&id, |s: &mut Session| {
                s.stage = "x".into();
                Ok::<_, DomainError>(7)
            })
            .await
            .unwrap();
        assert_eq!(
            (after.version.get(), n, after.value.stage.as_str()),
            (2, 7, "x")
        );
        let missing = SessionId::new("never-created").unwrap();
        let err = sessions
            .try_update(&missing, |_s: &mut Session| Ok::<_, DomainError>(()))
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::Store("not_found".into()));
        let guard = sessions.lock(&id).await.unwrap();
        let err = guard
            .try_update(|_s: &mut Session| -> Result<(), DomainError> {
                Err(DomainError::Refused("held"))
            })
            .await
            .unwrap_err();
        assert_eq!(err, DomainError::Refused("held"));
        assert_eq!(sessions.stats().rejected, 2);
    }
}
