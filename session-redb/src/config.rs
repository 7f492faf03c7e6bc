//! [`RedbConfig`]: the knobs of a store, and when a write counts as acknowledged.

use std::time::Duration;

/// When a write counts as acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedbDurability {
    /// A write returns only after its commit is on disk (fsync). The default.
    #[default]
    Immediate,
    /// A write returns once committed in memory; it reaches disk with a later durable commit
    /// or [`session_core::SessionStore::flush`]. A crash may lose acknowledged writes (never corrupt the
    /// file). For benchmarks and throwaway stores.
    None,
}

/// The knobs of a [`crate::RedbStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct RedbConfig {
    /// When a write counts as acknowledged. Default: on disk.
    pub durability: RedbDurability,
    /// The most writes the writer gathers into one transaction. Default 512.
    pub max_batch: usize,
    /// Writes that may wait for the writer; a write beyond that fails `Overloaded` at once.
    /// Default 8,192.
    pub queue_capacity: usize,
    /// A write not started by the writer within this time fails `Overloaded` and is not
    /// applied. Default 30 s.
    pub write_timeout: Duration,
    /// How long `open` retries while another process holds the file, before `Locked`.
    /// Default zero: fail at once.
    pub lock_wait: Duration,
    /// redb's page cache, in bytes. Default 64 MiB.
    pub cache_size: usize,
    /// Verify the checksum of every page at a read-write open, so a file damaged outside
    /// redb fails to open with a clear error instead of panicking at a later read. Costs one
    /// read of the whole file per open. Default on.
    pub check_integrity_on_open: bool,
}

impl Default for RedbConfig {
    fn default() -> Self {
        RedbConfig {
            durability: RedbDurability::Immediate,
            max_batch: 512,
            queue_capacity: 8_192,
            write_timeout: Duration::from_secs(30),
            lock_wait: Duration::ZERO,
            cache_size: 64 * 1024 * 1024,
            check_integrity_on_open: true,
        }
    }
}
