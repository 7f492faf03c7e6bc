//! What one write transaction does to the tables, for the writer (`writer.rs`): a
//! caller's batch planned by the port's write rule (`plan_batch`) and applied (the last
//! write of each key only, the expiry index moved once), fenced by a step lock when the
//! caller holds one, and the purge of expired sessions through the index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use redb::{ReadableTable, Table};
use session_core::adapter::{
    expiry_key, expiry_range_end, parse_expiry_key, plan_batch, record_header, PlanError,
    RecordHeader,
};
use session_core::{Fence, SessionId, StoreError, Version, WriteOp};

use crate::errors;

pub(crate) type Sessions<'t> = Table<'t, &'static str, &'static [u8]>;
pub(crate) type Expiry<'t> = Table<'t, &'static [u8], ()>;

/// A write with its record already encoded.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) op: WriteOp,
    pub(crate) record: Option<Vec<u8>>,
}

impl Prepared {
    pub(crate) fn new(op: WriteOp) -> Result<Prepared, StoreError> {
        let record = op.encode()?;
        Ok(Prepared { op, record })
    }
}

/// [`apply`], refused with `LockLost` (nothing written) when `fence` no longer holds its
/// step lock in this transaction's view of the lock table.
pub(crate) fn fence_then_apply(
    sessions: &mut Sessions<'_>,
    expiry: &mut Expiry<'_>,
    locks: Option<&Table<'_, &'static str, &'static [u8]>>,
    fence: Option<&Fence>,
    ops: Vec<Prepared>,
) -> Result<Result<Vec<Option<Version>>, StoreError>, StoreError> {
    if let (Some(fence), Some(locks)) = (fence, locks) {
        if !crate::locks::fence_holds(locks, fence)? {
            return Ok(Err(StoreError::LockLost(fence.id.clone())));
        }
    }
    apply(sessions, expiry, ops)
}

/// The outcome of one caller's batch: `Ok(Ok(versions))` applied, `Ok(Err(e))` refused by a
/// check (nothing of it written), `Err(e)` a backend failure that dooms the transaction.
fn apply(
    sessions: &mut Sessions<'_>,
    expiry: &mut Expiry<'_>,
    ops: Vec<Prepared>,
) -> Result<Result<Vec<Option<Version>>, StoreError>, StoreError> {
    // Plan: check every write against the stored state and the batch's earlier writes,
    // reading each key's header once; the plan carries each key's expiry-index entry as the
    // batch leaves it, so executing needs no second lookup.
    let planned = plan_batch(ops.iter().map(|p| &p.op), |id| {
        stored_header(sessions, id.as_str())
    });
    let planned = match planned {
        Ok(planned) => planned,
        Err(PlanError::Refused(refused)) => return Ok(Err(refused)),
        Err(PlanError::Backend(fatal)) => return Err(fatal),
    };
    // Execute: every check passed, so only a backend error can stop us now. Only the last
    // write of a key reaches the tables, with the index moved once from the key's expiry
    // before the job to its expiry after it: a combined batch of k replaces of one session
    // (Sessions' hot-session combining) costs one record write, not k.
    let last: HashMap<&SessionId, (usize, Option<DateTime<Utc>>)> = if ops.len() > 1 {
        let mut last = HashMap::with_capacity(ops.len());
        for (i, (p, plan)) in ops.iter().zip(&planned).enumerate() {
            last.entry(p.op.id())
                .and_modify(|(at, _)| *at = i)
                .or_insert((i, plan.old_expiry));
        }
        last
    } else {
        HashMap::new()
    };
    for (i, (p, plan)) in ops.iter().zip(&planned).enumerate() {
        let id = p.op.id();
        let old_expiry = match last.get(id) {
            Some(&(at, _)) if at != i => continue, // a later write of this key supersedes it
            Some(&(_, first_old)) => first_old,
            None => plan.old_expiry,
        };
        match &p.record {
            Some(record) => {
                sessions
                    .insert(id.as_str(), record.as_slice())
                    .map_err(|e| errors::backend("write", e))?;
            }
            None => {
                sessions
                    .remove(id.as_str())
                    .map_err(|e| errors::backend("write", e))?;
            }
        }
        if old_expiry != plan.new_expiry {
            if let Some(old) = old_expiry {
                expiry
                    .remove(expiry_key(old, id).as_slice())
                    .map_err(|e| errors::backend("write", e))?;
            }
            if let Some(new) = plan.new_expiry {
                expiry
                    .insert(expiry_key(new, id).as_slice(), ())
                    .map_err(|e| errors::backend("write", e))?;
            }
        }
    }
    Ok(Ok(planned.into_iter().map(|p| p.version).collect()))
}

/// The header of the record stored under `id`: `Ok(Ok(None))` absent, `Ok(Err(corrupt))`
/// unreadable, `Err` a backend failure.
fn stored_header(
    sessions: &Sessions<'_>,
    id: &str,
) -> Result<Result<Option<RecordHeader>, StoreError>, StoreError> {
    let Some(bytes) = sessions.get(id).map_err(|e| errors::backend("read", e))? else {
        return Ok(Ok(None));
    };
    Ok(record_header(id, bytes.value()).map(Some))
}

/// Removes up to `limit` sessions expired at `now`, earliest first, through the index. An
/// index entry that no longer matches its session (left by a corrupt record's removal) is
/// dropped without touching the session.
pub(crate) fn purge(
    sessions: &mut Sessions<'_>,
    expiry: &mut Expiry<'_>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<SessionId>, StoreError> {
    let end = expiry_range_end(now);
    let mut purged = Vec::new();
    while purged.len() < limit {
        let keys: Vec<Vec<u8>> = expiry
            .range::<&[u8]>(..end.as_slice())
            .map_err(|e| errors::backend("purge", e))?
            .take(limit - purged.len())
            .map(|entry| entry.map(|(k, _)| k.value().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(|e| errors::backend("purge", e))?;
        if keys.is_empty() {
            break;
        }
        for key in keys {
            expiry
                .remove(key.as_slice())
                .map_err(|e| errors::backend("purge", e))?;
            let Some((at, id)) = parse_expiry_key(&key) else {
                continue;
            };
            if let Ok(Some(h)) = stored_header(sessions, id.as_str())? {
                if h.expires_at == at {
                    sessions
                        .remove(id.as_str())
                        .map_err(|e| errors::backend("purge", e))?;
                    purged.push(id);
                }
            }
        }
    }
    Ok(purged)
}
