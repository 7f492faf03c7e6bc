//! Shutdown signals: SIGINT and SIGTERM on unix, Ctrl-C elsewhere. After the first signal
//! the shutdown is bounded: a second signal, or [`SHUTDOWN_BOUND`] without the process
//! having exited, ends it at once with status 1 (what was not closed is named on stderr).

use std::time::Duration;

use anyhow::Context;

/// The longest an orderly shutdown may take after the first signal. The store's close is
/// bounded below this (`services::close`), so this only fires when something else hangs.
pub(crate) const SHUTDOWN_BOUND: Duration = Duration::from_secs(8);

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

    /// Resolves at the first SIGINT or SIGTERM, and arms the bound on the shutdown that
    /// follows: a second signal or [`SHUTDOWN_BOUND`] ends the process.
    pub(crate) async fn recv(mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => {}
                _ = self.term.recv() => {}
            }
            let ShutdownSignal { mut int, mut term } = self;
            tokio::spawn(async move {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                force_exit("a second signal arrived");
            });
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        // A plain thread: it fires even if every runtime thread is stuck.
        let _ = std::thread::Builder::new()
            .name("shutdown-bound".into())
            .spawn(|| {
                std::thread::sleep(SHUTDOWN_BOUND);
                force_exit(&format!(
                    "the shutdown did not finish within {SHUTDOWN_BOUND:?}"
                ));
            });
    }
}

/// Ends the process now with status 1, saying why on stderr (stdout is the MCP channel).
fn force_exit(why: &str) -> ! {
    tracing::error!("{why}: exiting without closing the session store");
    eprintln!("container-kit-mcp: {why}: exiting now without closing the session store (writes were made durable when acknowledged; the next open recovers the file)");
    std::process::exit(1)
}
