//! The tables of a redb store file: the records, the expiry index, the step locks and the
//! tasks with their expiry index.

use redb::TableDefinition;

/// Sessions: id → record bytes (session-core's codec).
pub(crate) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// The expiry index: `expiry_key(expires_at, id)` → nothing.
pub(crate) const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("sessions_by_expiry");
/// Step locks shared by the processes of a multi-process store: id → lock record
/// (`locks.rs`: fence token, expiry, holder).
pub(crate) const LOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("step_locks");
/// Tasks (issue #20): task id → task record bytes (session-core's task codec, magic `CKTR`).
/// Created by the first task write; a file without it has no tasks.
pub(crate) const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
/// The task expiry index: `task_expiry_key(expires_at, id)` → nothing.
pub(crate) const TASK_EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("tasks_by_expiry");
