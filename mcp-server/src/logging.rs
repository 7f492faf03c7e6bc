//! Logs to stderr with tracing: stdout is the MCP channel.

use tracing_subscriber::EnvFilter;

/// Sends `tracing` output to stderr at `level` (`--log-level`; `info` when absent).
/// `RUST_LOG`, when set, wins over `level`.
pub(crate) fn init(level: Option<&str>) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => EnvFilter::new(level.unwrap_or("info")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
