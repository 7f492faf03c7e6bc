//! The two tables of a redb store file: the records and the expiry index.

use redb::TableDefinition;

/// Sessions: id → record bytes (session-core's codec).
pub(crate) const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
/// The expiry index: `expiry_key(expires_at, id)` → nothing.
pub(crate) const EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("sessions_by_expiry");
