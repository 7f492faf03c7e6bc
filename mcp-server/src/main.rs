//! `container-kit-mcp`: parse flags, build the config, run. Everything else lives in the
//! modules; stdout belongs to the MCP protocol (and to `tool` mode's result), logs go to
//! stderr.

mod cli;
mod config;
mod confirm; // confirm: issue 20
mod handler;
mod http;
mod logging;
mod metrics;
mod resources;
mod run;
mod serve;
mod services;
mod sessions_cmd;
mod signal;
mod tool_mode;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let mut args = cli::hoist_tool_globals(std::env::args_os().collect());
    let mut cli = cli::Cli::parse_from(&args);
    if cli.command.is_none() {
        // `serve` is the default subcommand: parse again with it, so its flags and
        // environment variables apply.
        args.insert(1.min(args.len()), "serve".into());
        cli = cli::Cli::parse_from(args);
    }
    run::main(cli)
}
