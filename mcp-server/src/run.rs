//! The process around a command: logging, the async runtime, and the dispatch to `serve`,
//! `tool` or `sessions`. Building the services lives in `services.rs`, signals in
//! `signal.rs`; this module only starts and dispatches.

use std::process::ExitCode;
use std::time::Duration;

use crate::cli::{Cli, Command};
use crate::config::Config;

pub(crate) fn main(cli: Cli) -> ExitCode {
    crate::logging::init(cli.global.log_level.as_deref());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("container-kit-mcp: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = rt.block_on(dispatch(cli));
    // Do not wait for the blocking thread that reads stdin: it never returns once a signal
    // ended the session. Everything that matters (the store) was closed in `dispatch`.
    rt.shutdown_timeout(Duration::from_millis(200));
    match outcome {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("container-kit-mcp: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn dispatch(mut cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.take() {
        None => unreachable_default(),
        Some(Command::Serve(args)) => {
            crate::serve::serve(Config::from_args(&cli.global)?, *args).await
        }
        Some(Command::Tool(args)) => crate::tool_mode::run(cli.global, args).await,
        Some(Command::Sessions(cmd)) => {
            crate::sessions_cmd::run(Config::from_args(&cli.global)?, cmd).await
        }
    }
}

/// `main` inserts `serve` when no subcommand is given, so this is never reached.
fn unreachable_default() -> anyhow::Result<ExitCode> {
    anyhow::bail!("no subcommand given; use serve, tool or sessions")
}
