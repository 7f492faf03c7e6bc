//! The names of the metrics an adapter records through the `metrics` facade (a no-op until
//! the program installs a recorder: the server does, an embedding program may), with the
//! buckets an exporter should give them, so the recording adapter and the exporting program
//! name them once. session-core itself records nothing.

/// Writes (callers' batches) carried by one group commit of the redb writer.
pub const GROUP_COMMIT_WRITES: &str = "container_kit_store_group_commit_writes";

/// Buckets of [`GROUP_COMMIT_WRITES`] (upper bounds, writes).
pub const GROUP_COMMIT_WRITES_BUCKETS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Seconds one group commit took, from its transaction's start to its durable commit.
pub const COMMIT_SECONDS: &str = "container_kit_store_commit_seconds";

/// Buckets of [`COMMIT_SECONDS`] (upper bounds, s).
pub const COMMIT_SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Every histogram above with its buckets, for an exporter to configure.
pub const HISTOGRAMS: &[(&str, &[f64])] = &[
    (GROUP_COMMIT_WRITES, GROUP_COMMIT_WRITES_BUCKETS),
    (COMMIT_SECONDS, COMMIT_SECONDS_BUCKETS),
];
