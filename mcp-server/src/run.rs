//! Startup and shutdown: build the services from the config and run the chosen command.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use mcp_tools::{Toolbox, ToolboxConfig};
use rmcp::ServiceExt;
use session_core::{SessionStore, Sessions, SessionsConfig};

use crate::cli::{Cli, Command, ServeArgs, Transport};
use crate::config::Config;
use crate::handler::Handler;

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
        Some(Command::Serve(args)) => serve(Config::from_args(&cli.global)?, args).await,
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

/// The services every command shares.
pub(crate) struct Services {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) tools: Toolbox,
}

pub(crate) async fn services(config: &Config, lock_wait: Duration) -> anyhow::Result<Services> {
    let store = crate::store::open(config, lock_wait).await?;
    let sessions = Sessions::new(
        Arc::clone(&store),
        SessionsConfig {
            ttl: config.ttl,
            max_sessions: config.max_sessions,
            ..SessionsConfig::default()
        },
    );
    let tools = Toolbox::new(
        sessions,
        ToolboxConfig {
            allowed_roots: vec![config.workspace_dir.clone()],
            exec: config.exec.clone(),
            ..ToolboxConfig::default()
        },
    );
    Ok(Services { store, tools })
}

/// Flushes and closes the store: every acknowledged write is on disk when this returns.
pub(crate) async fn close(services: Services) -> anyhow::Result<()> {
    let Services { store, tools } = services;
    drop(tools);
    store.flush().await.context("flushing the session store")?;
    // The last reference: the adapter drains its queue and closes the file on drop.
    tokio::task::spawn_blocking(move || drop(store))
        .await
        .context("closing the session store")?;
    Ok(())
}

async fn serve(config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let signal = ShutdownSignal::install()?;
    let services = services(&config, Duration::from_secs(5)).await?;
    let maintenance = services.tools.sessions().spawn_maintenance();
    if config.exec.dry_run {
        tracing::info!("dry run: external commands are recorded, not executed");
    }
    let handler = Handler::new(services.tools.clone());
    match args.transport {
        Transport::Stdio => {
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
        Transport::Http => {
            crate::http::serve(
                handler,
                args.listen,
                args.auth_token,
                args.allowed_hosts,
                signal.recv(),
            )
            .await?;
        }
    }
    drop(maintenance);
    close(services).await?;
    tracing::info!("store flushed; bye");
    Ok(ExitCode::SUCCESS)
}

/// SIGINT/SIGTERM, registered when created (before the server answers anything), so a
/// signal that arrives early is not lost to the default action.
pub(crate) struct ShutdownSignal {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    pub(crate) fn install() -> anyhow::Result<ShutdownSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(ShutdownSignal {
                int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
                term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignal {})
    }

    /// Resolves at the first SIGINT or SIGTERM.
    pub(crate) async fn recv(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
