//! The tables of a redb store file: the records, the expiry index and the step locks.

use redb::TableDefinition;

/// Sessions: id → record bytes (session-core's codec).
pub(crate) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// The expiry index: `expiry_key(expires_at, id)` → nothing.
pub(crate) const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("sessions_by_expiry");
/// Step locks shared by the processes of a multi-process store: id → lock record
/// (`locks.rs`: fence token, expiry, holder).
pub(crate) const LOCKS: TableDefinition<&str, &[u8]> = TableDefinition::new("step_locks");
