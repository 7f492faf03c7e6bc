//! The HTTP transport's flags resolved into values: the token (flag, file or environment),
//! the timeouts, the MCP session limits, and the refusal to serve a public address openly.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::cli::ServeArgs;

/// Everything `http::serve` needs, checked.
#[derive(Debug, Clone)]
pub(crate) struct HttpOptions {
    pub(crate) listen: SocketAddr,
    /// `None`: no token (loopback, or `--insecure-no-auth`).
    pub(crate) auth_token: Option<String>,
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) header_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_sessions: usize,
    pub(crate) max_sessions_per_client: usize,
    pub(crate) session_idle: Duration,
    /// Legacy MCP sessions shared with the other replicas (`--store etcd`); set by `serve`.
    pub(crate) shared_sessions: Option<std::sync::Arc<super::SharedSessions>>,
}

/// Origins a local browser page or tool sends: loopback names on any port.
pub(crate) const LOOPBACK_ORIGINS: [&str; 6] = [
    "http://localhost:*",
    "https://localhost:*",
    "http://127.0.0.1:*",
    "https://127.0.0.1:*",
    "http://[::1]:*",
    "https://[::1]:*",
];

impl HttpOptions {
    pub(crate) fn from_args(args: &ServeArgs) -> anyhow::Result<HttpOptions> {
        let auth_token = resolve_token(args)?;
        let listen = args.listen;
        if !listen.ip().is_loopback() && auth_token.is_none() {
            if !args.insecure_no_auth {
                bail!(
                    "refusing to serve {listen} without a token: that address is reachable \
                     beyond this machine. Give a token with --auth-token-file FILE or \
                     MCP_AUTH_TOKEN, listen on 127.0.0.1, or pass --insecure-no-auth to serve \
                     anyone who can reach the port"
                );
            }
            tracing::warn!(
                %listen,
                "INSECURE: serving a non-loopback address WITHOUT a token (--insecure-no-auth): \
                 anyone who can reach this port can run the tools"
            );
            eprintln!(
                "container-kit-mcp: WARNING: serving {listen} without a token \
                 (--insecure-no-auth): anyone who can reach this port can run the tools"
            );
        }
        for origin in &args.allowed_origins {
            if origin != "null" && !origin.contains("://") {
                bail!(
                    "invalid --allowed-origin {origin:?}: write it with its scheme, e.g. \
                     https://app.example.com or http://host:*"
                );
            }
        }
        let header_timeout = duration("--http-header-timeout", &args.http_header_timeout)?;
        let idle_timeout = duration("--http-idle-timeout", &args.http_idle_timeout)?;
        let session_idle = duration("--mcp-session-idle", &args.mcp_session_idle)?;
        if args.max_mcp_sessions == 0 {
            bail!("--max-mcp-sessions must be at least 1");
        }
        let max_sessions_per_client = match args.max_mcp_sessions_per_client {
            Some(0) => bail!("--max-mcp-sessions-per-client must be at least 1"),
            Some(n) => n.min(args.max_mcp_sessions),
            None => args.max_mcp_sessions.div_ceil(2),
        };
        let mut allowed_origins: Vec<String> =
            LOOPBACK_ORIGINS.iter().map(|o| (*o).to_owned()).collect();
        allowed_origins.extend(args.allowed_origins.iter().cloned());
        Ok(HttpOptions {
            listen,
            auth_token,
            allowed_hosts: args.allowed_hosts.clone(),
            allowed_origins,
            header_timeout,
            idle_timeout,
            max_sessions: args.max_mcp_sessions,
            max_sessions_per_client,
            session_idle,
            shared_sessions: None,
        })
    }
}

fn duration(flag: &str, text: &str) -> anyhow::Result<Duration> {
    let d = store_open::parse_duration(text).with_context(|| format!("invalid {flag} {text:?}"))?;
    if d.is_zero() {
        bail!("{flag} must be longer than zero");
    }
    Ok(d)
}

/// The token from `--auth-token-file`, or `--auth-token` / `MCP_AUTH_TOKEN`; both at once is
/// an error. A token given on the command line (not through the environment) is warned about.
fn resolve_token(args: &ServeArgs) -> anyhow::Result<Option<String>> {
    let inline = args.auth_token.clone().filter(|t| !t.trim().is_empty());
    let from_file = match &args.auth_token_file {
        Some(path) => Some(read_token_file(path)?),
        None => None,
    };
    match (inline, from_file) {
        (Some(_), Some(_)) => bail!(
            "the token is given twice: use --auth-token-file or MCP_AUTH_TOKEN, not both \
             (nor --auth-token)"
        ),
        (Some(token), None) => {
            let from_env = std::env::var("MCP_AUTH_TOKEN").is_ok_and(|e| e == token);
            if !from_env {
                tracing::warn!(
                    "--auth-token puts the token on the command line, visible to every local \
                     user (ps); use --auth-token-file FILE or MCP_AUTH_TOKEN"
                );
            }
            Ok(Some(token.trim().to_owned()))
        }
        (None, file) => Ok(file),
    }
}

fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --auth-token-file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.is_empty() {
        bail!(
            "--auth-token-file {} is empty: write the token on its first line",
            path.display()
        );
    }
    Ok(token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn options(args: &[&str]) -> anyhow::Result<HttpOptions> {
        let mut argv = vec!["ckm", "serve", "--transport", "http"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)?.command {
            Some(Command::Serve(serve)) => HttpOptions::from_args(&serve),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_public_address_needs_a_token_unless_told_otherwise() {
        let refused = options(&["--listen", "0.0.0.0:8080"])
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("refusing to serve 0.0.0.0:8080 without a token"),
            "{refused}"
        );
        assert!(options(&["--listen", "[::]:8080"]).is_err());
        assert!(options(&["--listen", "0.0.0.0:8080", "--insecure-no-auth"]).is_ok());
        let with = options(&["--listen", "0.0.0.0:8080", "--auth-token", " t "]).unwrap();
        assert_eq!(with.auth_token.as_deref(), Some("t"));
        assert!(options(&["--listen", "[::1]:8080"]).is_ok());
    }

    #[test]
    fn the_token_file_is_read_and_a_second_token_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t");
        std::fs::write(&file, "  tok-1  \nignored\n").unwrap();
        let path = file.to_str().unwrap();
        let o = options(&["--auth-token-file", path]).unwrap();
        assert_eq!(o.auth_token.as_deref(), Some("tok-1"));
        let twice = options(&["--auth-token-file", path, "--auth-token", "x"]).unwrap_err();
        assert!(twice.to_string().contains("given twice"), "{twice}");
        let missing = options(&["--auth-token-file", "/nonexistent/t"]).unwrap_err();
        assert!(format!("{missing:#}").contains("cannot read --auth-token-file"));
    }

    #[test]
    fn defaults_shares_and_bad_values() {
        let o = options(&[]).unwrap();
        assert_eq!(o.header_timeout, Duration::from_secs(30));
        assert_eq!(o.idle_timeout, Duration::from_secs(60));
        assert_eq!(o.session_idle, Duration::from_secs(30 * 60));
        assert_eq!((o.max_sessions, o.max_sessions_per_client), (1000, 500));
        assert_eq!(o.allowed_origins.len(), LOOPBACK_ORIGINS.len());
        let o = options(&[
            "--max-mcp-sessions",
            "3",
            "--max-mcp-sessions-per-client",
            "9",
        ]);
        assert_eq!(o.unwrap().max_sessions_per_client, 3);
        assert_eq!(
            options(&["--max-mcp-sessions", "3"])
                .unwrap()
                .max_sessions_per_client,
            2
        );
        for bad in [
            &["--http-header-timeout", "0s"][..],
            &["--http-idle-timeout", "soon"],
            &["--max-mcp-sessions", "0"],
            &["--max-mcp-sessions-per-client", "0"],
            &["--allowed-origin", "app.example.com"],
        ] {
            assert!(options(bad).is_err(), "{bad:?}");
        }
        let o = options(&["--allowed-origin", "https://app.example.com"]).unwrap();
        assert!(o
            .allowed_origins
            .iter()
            .any(|x| x == "https://app.example.com"));
    }
}
