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

/// How processes share the file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedbSharing {
    /// Any number of processes open the file for reading and writing at once (redb's
    /// `ConcurrencyMode::MultiWriter`): one write transaction at a time across all of them,
    /// coordinated by redb with byte-range file locks; a commit is visible to every process's
    /// next read. Step locks are shared through a lock table in the file. The default.
    #[default]
    MultiProcess,
    /// One process holds the file (redb's `ExclusiveWriter`, a whole-file lock); another's
    /// open fails `Locked` (or waits `lock_wait`). Needed for [`RedbDurability::None`],
    /// which redb refuses when other processes may read the file.
    Exclusive,
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
    /// Verify the checksum of every page at open (read-write: redb's check, which also
    /// rebuilds the allocator state and commits; read-only: the check on a temporary copy),
    /// so a file damaged outside redb fails to open with a clear error instead of at a later
    /// read (where a panic inside redb is caught and reported as damage). Costs a read (and,
    /// read-only, a copy) of the whole file per open, and in [`RedbSharing::MultiProcess`]
    /// holds every other process's writes meanwhile. Default off: one-shot opens stay cheap;
    /// the long-running server and `sessions check` turn it on. A file not closed cleanly
    /// is recovered by redb at any read-write open, with or without it.
    pub check_integrity_on_open: bool,
    /// How processes share the file. Default [`RedbSharing::MultiProcess`].
    pub sharing: RedbSharing,
    /// How long a step lock (the lock table, [`RedbSharing::MultiProcess`]) stays held
    /// without renewal: a holder renews it every third of this while it lives, so a killed
    /// holder's lock is taken over at most this long after its death. Keep it below the
    /// lock wait (`SessionsConfig::lock_timeout`, 30 s), or a waiter gives up before a dead
    /// holder's lock expires. Default 10 s.
    pub lock_expiry: Duration,
}

impl RedbConfig {
    /// The sharing mode the file is opened in: [`RedbSharing::Exclusive`] whenever the
    /// durability is [`RedbDurability::None`] (redb refuses non-durable commits where other
    /// processes may read the file).
    pub fn effective_sharing(&self) -> RedbSharing {
        match self.durability {
            RedbDurability::None => RedbSharing::Exclusive,
            RedbDurability::Immediate => self.sharing,
        }
    }

    pub(crate) fn concurrency_mode(&self) -> redb::ConcurrencyMode {
        match self.effective_sharing() {
            RedbSharing::MultiProcess => redb::ConcurrencyMode::MultiWriter,
            RedbSharing::Exclusive => redb::ConcurrencyMode::ExclusiveWriter,
        }
    }
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
            check_integrity_on_open: false,
            sharing: RedbSharing::MultiProcess,
            lock_expiry: Duration::from_secs(10),
        }
    }
}
