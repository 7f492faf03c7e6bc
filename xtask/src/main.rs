//! `cargo xtask`: the workspace's own tasks.
//!
//! - `cargo xtask load` — concurrent workflows against a backend; checks that no update was
//!   lost and reports throughput, latency, lock waits and the seed plan's criteria.
//! - `cargo xtask migrate` — copy sessions between backends, upgrade record formats, import
//!   the Go server's BoltDB store.
//! - `cargo xtask ci` — what `.ci/run` runs, locally.

mod bolt;
mod ci;
mod etcd_args;
mod load;
mod migrate;
mod progress;
mod via_server;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "container-kit-mcp workspace tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load-test a session backend and verify that no update was lost.
    Load(load::LoadArgs),
    /// Copy sessions between backends (redb, sled, etcd) or import a Go container-kit BoltDB store.
    Migrate(migrate::MigrateArgs),
    /// Run the CI checks locally: fmt, dependency edges, file sizes, clippy, tests.
    Ci,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Load(args) => load::run(args),
        Command::Migrate(args) => migrate::run(args),
        Command::Ci => ci::run(),
    }
}
