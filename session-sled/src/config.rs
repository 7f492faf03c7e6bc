//! [`SledConfig`]: the knobs of a store, and when a write counts as acknowledged.

use std::time::Duration;

/// When a write counts as acknowledged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SledDurability {
    /// After sled's flush and an `fdatasync` of its data file (shared by concurrent writers).
    /// The default.
    #[default]
    Immediate,
    /// When the transaction commits in memory; sled writes it out within ~500 ms (its
    /// `flush_every_ms`) and a crash may lose the last writes. For benchmarks.
    None,
}

/// The knobs of a [`crate::SledStore`].
#[derive(Clone, Debug, PartialEq)]
pub struct SledConfig {
    /// When a write counts as acknowledged. Default: on disk.
    pub durability: SledDurability,
    /// How long `open` retries while another process holds the directory, before `Locked`.
    /// Default zero: fail at once.
    pub lock_wait: Duration,
    /// sled's page cache, in bytes. Default 64 MiB.
    pub cache_capacity: u64,
    /// The longest a write (or `flush`) waits for its durability sync before it fails; sled's
    /// flush can hang on a failing disk. Default 10 s.
    pub flush_timeout: Duration,
    /// The longest closing the store waits for the last durable flush. Default 5 s.
    pub close_timeout: Duration,
}

impl Default for SledConfig {
    fn default() -> Self {
        SledConfig {
            durability: SledDurability::Immediate,
            lock_wait: Duration::ZERO,
            cache_capacity: 64 * 1024 * 1024,
            flush_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}
