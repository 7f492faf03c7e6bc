//! `container-kit-mcp serve`: MCP on stdio or streamable HTTP until the client leaves or a
//! signal arrives, then the store is flushed and closed.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rmcp::ServiceExt;

use crate::cli::{ServeArgs, Transport};
use crate::config::Config;
use crate::handler::Handler;
use crate::metrics::Metrics;
use crate::services::{close, services};
use crate::signal::ShutdownSignal;

/// How long the server waits at startup for another process that holds the store file.
const LOCK_WAIT: Duration = Duration::from_secs(5);

pub(crate) async fn serve(config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Refuse a bad HTTP configuration (a public address without a token) before opening
    // the store.
    let http = match args.transport {
        Transport::Http => Some(crate::http::HttpOptions::from_args(&args)?),
        Transport::Stdio => None,
    };
    let http = match http {
        Some(mut options) => {
            let shared = crate::http::SharedSessions::open(&config, options.session_idle)?;
            options.shared_sessions = shared.map(std::sync::Arc::new);
            Some(options)
        }
        None => None,
    };
    let signal = ShutdownSignal::install()?;
    let services = services(&config, LOCK_WAIT).await?;
    let maintenance = services.tools.sessions().spawn_maintenance();
    if config.exec.dry_run {
        tracing::info!("dry run: external commands are recorded, not executed");
    }
    let handler = Handler::new(services.tools.clone()).with_confirmations(
        crate::confirm::Confirmations::new(config.request_state_key.clone())?,
    ); // confirm: sealing key (issue 20)
    match http {
        None => {
            tracing::info!("serving MCP on stdio");
            let running = handler
                .serve(rmcp::transport::stdio())
                .await
                .context("the MCP handshake on stdio failed")?;
            let stop = running.cancellation_token();
            let signals = tokio::spawn(async move {
                signal.recv().await;
                tracing::info!("signal received: stopping");
                stop.cancel();
            });
            let reason = running.waiting().await;
            signals.abort();
            tracing::info!(?reason, "stdio session ended");
        }
        Some(options) => {
            let metrics = std::sync::Arc::new(Metrics::install(services.tools.clone())?);
            let _upkeep = metrics.spawn_upkeep();
            crate::http::serve(handler, metrics, options, signal.recv()).await?;
        }
    }
    drop(maintenance);
    close(services).await?;
    tracing::info!("store flushed; bye");
    Ok(ExitCode::SUCCESS)
}
