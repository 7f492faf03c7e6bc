//! The group-commit writer: one thread owns every write transaction. It takes every request
//! waiting at the moment (up to `max_batch`), applies each with its own checks inside one
//! transaction, commits once, and then answers each caller with its own result.
//!
//! After a failed transaction (an I/O error such as a full disk, or a panic inside redb) the
//! writer answers the batch and every write already waiting with the error, then reopens the
//! file (redb latches an I/O failure until then), so later writes succeed once the cause is
//! gone. While a reopen fails it retries every second and at each new request.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use session_core::{telemetry, Fence, SessionId, StoreError, Version};
use tokio::sync::oneshot;

use crate::apply::{fence_then_apply, purge, Prepared};
use crate::config::{RedbConfig, RedbDurability};
use crate::errors;
use crate::handle::{guarded, Slot};
use crate::tables::{EXPIRY, LOCKS, SESSIONS};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

#[derive(Debug)]
pub(crate) enum Job {
    Apply {
        ops: Vec<Prepared>,
        /// Applied only while this step lock is held (`locks.rs`), checked in the same
        /// transaction.
        fence: Option<Fence>,
        reply: Reply<Vec<Option<Version>>>,
    },
    Purge {
        now: DateTime<Utc>,
        limit: usize,
        reply: Reply<Vec<SessionId>>,
    },
    Flush {
        reply: Reply<()>,
    },
    /// A step-lock operation (`locks.rs`), group-committed with the other writes; a
    /// release has no one waiting for its answer.
    Lock {
        op: crate::locks::LockOp,
        reply: Option<Reply<crate::locks::LockAnswer>>,
    },
}

#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) job: Job,
    pub(crate) deadline: Instant,
}

/// The longest a batch of step-lock releases alone waits for another write to share its
/// commit (another process waiting for the lock polls every few to 50 ms anyway).
pub(crate) const RELEASE_LINGER: Duration = Duration::from_millis(10);

impl Request {
    /// A step-lock release nobody waits for.
    fn is_release(&self) -> bool {
        matches!(
            self.job,
            Job::Lock {
                op: crate::locks::LockOp::Release { .. },
                reply: None
            }
        )
    }
}

/// A job's answer, held until the transaction commits.
enum Answer {
    Apply(
        Reply<Vec<Option<Version>>>,
        Result<Vec<Option<Version>>, StoreError>,
    ),
    Purge(Reply<Vec<SessionId>>, Result<Vec<SessionId>, StoreError>),
    Flush(Reply<()>),
    Lock(
        Option<Reply<crate::locks::LockAnswer>>,
        Result<crate::locks::LockAnswer, StoreError>,
    ),
}

impl Answer {
    /// Sends the answer, or `err` instead of any success when the commit failed.
    fn send(self, commit: &Result<(), StoreError>) {
        // A caller that gave up (dropped its future) no longer listens: ignore send errors.
        match self {
            Answer::Apply(tx, r) => drop(tx.send(commit.clone().and(r))),
            Answer::Purge(tx, r) => drop(tx.send(commit.clone().and(r))),
            Answer::Flush(tx) => drop(tx.send(commit.clone())),
            Answer::Lock(tx, r) => {
                if let Some(tx) = tx {
                    drop(tx.send(commit.clone().and(r)));
                }
            }
        }
    }
}

pub(crate) struct Writer {
    slot: Arc<Slot>,
    path: PathBuf,
    config: RedbConfig,
    queue: Receiver<Request>,
    counters: Arc<Counters>,
}

/// What the writer has committed, for [`crate::RedbStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) transactions: AtomicU64,
    pub(crate) requests: AtomicU64,
}

impl Writer {
    pub(crate) fn new(
        slot: Arc<Slot>,
        path: PathBuf,
        config: RedbConfig,
        queue: Receiver<Request>,
        counters: Arc<Counters>,
    ) -> Writer {
        Writer {
            slot,
            path,
            config,
            queue,
            counters,
        }
    }

    /// Runs until every sender is gone and the queue is drained.
    pub(crate) fn run(self) {
        let max_batch = self.config.max_batch.max(1);
        loop {
            let first = if self.slot.is_open() {
                match self.queue.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            } else {
                // The file is closed after an I/O error: try to reopen it now and then, so
                // reads work again once the cause is gone even when no write comes.
                match self.queue.recv_timeout(Duration::from_secs(1)) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout) => {
                        let _ = self.slot.reopen(&self.path, &self.config, "an I/O error");
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            let mut batch = vec![first];
            loop {
                while batch.len() < max_batch {
                    match self.queue.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                // Releases alone wait briefly for the next write and ride its commit: a lost
                // release only makes the lock expire (as a dead holder's does), so it needs
                // no fsync of its own; the usual next write is this process's next take of
                // the same lock, which then costs one commit instead of two.
                if batch.len() >= max_batch || !batch.iter().all(Request::is_release) {
                    break;
                }
                match self.queue.recv_timeout(RELEASE_LINGER) {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
        tracing::debug!("redb writer stopped");
    }

    fn commit_batch(&self, batch: Vec<Request>) {
        let now = Instant::now();
        let (live, late): (Vec<_>, Vec<_>) = batch.into_iter().partition(|r| r.deadline > now);
        for r in late {
            let err = StoreError::Overloaded(format!(
                "the write waited more than {:?} for the redb writer and was not applied",
                self.config.write_timeout
            ));
            answer_without_commit(r.job, err);
        }
        if live.is_empty() {
            return;
        }
        let started = Instant::now();
        let size = live.len();
        let mut answers = Vec::with_capacity(size);
        let commit = match self.slot.get() {
            Ok(handle) => match handle.writable() {
                Some(db) => match guarded(|| self.transact(db, live, &mut answers)) {
                    Ok(result) => result,
                    Err(panic) => Err(StoreError::Backend(format!(
                        "the redb write failed inside redb ({panic}); it was not applied"
                    ))),
                },
                None => Err(StoreError::Backend(
                    "the redb store is open read-only".into(),
                )),
            },
            Err(_) => {
                // Closed after an earlier I/O error: reopen first.
                match self.slot.reopen(&self.path, &self.config, "an I/O error") {
                    Ok(()) => return self.commit_batch(live),
                    Err(e) => {
                        let err = not_applied(&e);
                        for r in live {
                            answer_without_commit(r.job, err.clone());
                        }
                        return;
                    }
                }
            }
        };
        let commit = commit.map_err(|e| match e {
            StoreError::Backend(m) => StoreError::Backend(format!(
                "{m}; the write was not applied: retry once the cause (e.g. a full disk) is fixed"
            )),
            other => other,
        });
        if commit.is_ok() {
            metrics::histogram!(telemetry::GROUP_COMMIT_WRITES).record(size as f64);
            metrics::histogram!(telemetry::COMMIT_SECONDS).record(started.elapsed().as_secs_f64());
            self.counters.transactions.fetch_add(1, Ordering::Relaxed);
            self.counters
                .requests
                .fetch_add(size as u64, Ordering::Relaxed);
        }
        for a in answers {
            a.send(&commit);
        }
        tracing::trace!(
            size,
            elapsed_us = started.elapsed().as_micros() as u64,
            ok = commit.is_ok(),
            "group commit"
        );
        if let Err(e) = &commit {
            self.recover(e);
        }
    }

    /// After a failed transaction: answer every write already waiting with the error (none
    /// of them was tried), then reopen the file so later writes can succeed.
    fn recover(&self, cause: &StoreError) {
        tracing::error!(error = %cause, path = %self.path.display(), "redb write failed; reopening the store");
        let err = not_applied(cause);
        while let Ok(r) = self.queue.try_recv() {
            answer_without_commit(r.job, err.clone());
        }
        if let Err(e) = self
            .slot
            .reopen(&self.path, &self.config, &cause.to_string())
        {
            tracing::error!(error = %e, "the redb store could not be reopened yet; retrying");
        }
    }

    /// Applies every job in one write transaction and commits it. On a backend error nothing
    /// of the transaction is committed and every job gets the error.
    fn transact(
        &self,
        db: &redb::Database,
        jobs: Vec<Request>,
        answers: &mut Vec<Answer>,
    ) -> Result<(), StoreError> {
        let mut txn = db
            .begin_write()
            .map_err(|e| errors::backend("begin write", e))?;
        let wants_flush = jobs.iter().any(|r| matches!(r.job, Job::Flush { .. }));
        let durability = match (self.config.durability, wants_flush) {
            (RedbDurability::Immediate, _) | (_, true) => redb::Durability::Immediate,
            (RedbDurability::None, false) => redb::Durability::None,
        };
        txn.set_durability(durability)
            .map_err(|e| StoreError::Backend(format!("redb durability: {e}")))?;
        let applied = {
            let mut sessions = txn
                .open_table(SESSIONS)
                .map_err(|e| errors::backend("open table", e))?;
            let mut expiry = txn
                .open_table(EXPIRY)
                .map_err(|e| errors::backend("open table", e))?;
            let fenced = jobs
                .iter()
                .any(|r| matches!(r.job, Job::Apply { fence: Some(_), .. } | Job::Lock { .. }));
            let mut locks = if fenced {
                Some(
                    txn.open_table(LOCKS)
                        .map_err(|e| errors::backend("open table", e))?,
                )
            } else {
                None
            };
            let mut result: Result<(), StoreError> = Ok(());
            for r in jobs {
                if let Err(e) = &result {
                    answers.push(failed(r.job, e.clone()));
                    continue;
                }
                match r.job {
                    Job::Apply { ops, fence, reply } => match fence_then_apply(
                        &mut sessions,
                        &mut expiry,
                        locks.as_ref(),
                        fence.as_ref(),
                        ops,
                    ) {
                        Ok(outcome) => answers.push(Answer::Apply(reply, outcome)),
                        Err(fatal) => {
                            answers.push(Answer::Apply(reply, Err(fatal.clone())));
                            result = Err(fatal);
                        }
                    },
                    Job::Purge { now, limit, reply } => {
                        match purge(&mut sessions, &mut expiry, now, limit) {
                            Ok(ids) => answers.push(Answer::Purge(reply, Ok(ids))),
                            Err(fatal) => {
                                answers.push(Answer::Purge(reply, Err(fatal.clone())));
                                result = Err(fatal);
                            }
                        }
                    }
                    Job::Flush { reply } => answers.push(Answer::Flush(reply)),
                    Job::Lock { op, reply } => match locks.as_mut() {
                        Some(table) => match crate::locks::run(table, op) {
                            Ok(answer) => answers.push(Answer::Lock(reply, Ok(answer))),
                            Err(fatal) => {
                                answers.push(Answer::Lock(reply, Err(fatal.clone())));
                                result = Err(fatal);
                            }
                        },
                        None => answers.push(Answer::Lock(
                            reply,
                            Err(StoreError::Backend("the lock table is not open".into())),
                        )),
                    },
                }
            }
            result
        };
        match applied {
            Ok(()) => txn.commit().map_err(|e| errors::backend("commit", e)),
            Err(e) => {
                // Dropping an uncommitted transaction aborts it.
                drop(txn);
                Err(e)
            }
        }
    }
}

fn failed(job: Job, e: StoreError) -> Answer {
    match job {
        Job::Apply { reply, .. } => Answer::Apply(reply, Err(e)),
        Job::Purge { reply, .. } => Answer::Purge(reply, Err(e)),
        // A flush answers with the commit's result, which is this error.
        Job::Flush { reply } => Answer::Flush(reply),
        Job::Lock { reply, .. } => Answer::Lock(reply, Err(e)),
    }
}

/// The answer of a write that waited behind a failed transaction and was not tried.
fn not_applied(cause: &StoreError) -> StoreError {
    StoreError::Backend(format!(
        "the write was not applied because the redb store failed just before it: {cause}"
    ))
}

fn answer_without_commit(job: Job, e: StoreError) {
    failed(job, e.clone()).send(&Err(e));
}
