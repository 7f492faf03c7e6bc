//! Flags and environment variables (the Go server's names), for every subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::ffi::OsString;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// An MCP server that guides an AI assistant through containerizing a repository.
#[derive(Parser, Debug, Clone)]
#[command(name = "container-kit-mcp", version, about)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

/// Options every subcommand accepts, before or after the subcommand's name.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct GlobalArgs {
    /// Where sessions live: redb (one file, the default), sled (a directory), etcd (a
    /// cluster shared by several servers; needs --etcd-endpoints) or memory (lost on exit).
    #[arg(long, global = true, env = "MCP_STORE_BACKEND", value_enum)]
    pub(crate) store: Option<Backend>,
    /// Session store location (default: one per-user file in the platform's data directory).
    #[arg(long, global = true, env = "MCP_STORE_PATH")]
    pub(crate) store_path: Option<PathBuf>,
    /// Session lifetime after its last write, e.g. `24h`, `90m`, `7d`.
    #[arg(long, global = true, env = "MCP_SESSION_TTL")]
    pub(crate) session_ttl: Option<String>,
    /// The most live sessions (0: no limit).
    #[arg(long, global = true, env = "MCP_MAX_SESSIONS")]
    pub(crate) max_sessions: Option<u64>,
    /// The directory repositories must lie in (the client's roots narrow it). Default: home.
    #[arg(long, global = true, env = "MCP_WORKSPACE_DIR")]
    pub(crate) workspace_dir: Option<PathBuf>,
    /// Honour client roots outside --workspace-dir (by default they are ignored: a client's
    /// roots only narrow the workspace, and a root of `/` does not bypass it).
    #[arg(long, global = true, env = "MCP_TRUST_CLIENT_ROOTS", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub(crate) trust_client_roots: Option<bool>,
    /// Log level: error, warn, info, debug, trace (RUST_LOG wins when set).
    #[arg(long, global = true, env = "MCP_LOG_LEVEL")]
    pub(crate) log_level: Option<String>,
    /// etcd endpoints for --store etcd, comma-separated (http://host:port or https://…).
    #[arg(long, global = true, env = "MCP_ETCD_ENDPOINTS", value_delimiter = ',')]
    pub(crate) etcd_endpoints: Option<Vec<String>>,
    /// Key prefix of this deployment's sessions in etcd.
    #[arg(long, global = true, env = "MCP_ETCD_PREFIX")]
    pub(crate) etcd_prefix: Option<String>,
    /// CA bundle (PEM) that signed the etcd members' certificates; needed for https://.
    #[arg(long, global = true, env = "MCP_ETCD_CA")]
    pub(crate) etcd_ca: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's mutual TLS; with auth on, one without a CN.
    #[arg(long, global = true, env = "MCP_ETCD_CERT")]
    pub(crate) etcd_cert: Option<PathBuf>,
    /// Private key (PEM) of --etcd-cert.
    #[arg(long, global = true, env = "MCP_ETCD_KEY")]
    pub(crate) etcd_key: Option<PathBuf>,
    /// etcd user for a cluster with auth on; the password comes from --etcd-password-file
    /// or the MCP_ETCD_PASSWORD environment variable, never from a flag.
    #[arg(long, global = true, env = "MCP_ETCD_USER")]
    pub(crate) etcd_user: Option<String>,
    /// File whose first line is the password of --etcd-user.
    #[arg(long, global = true, env = "MCP_ETCD_PASSWORD_FILE")]
    pub(crate) etcd_password_file: Option<PathBuf>,
    /// The container engine the build, tag and push steps run: docker, podman, or a path.
    #[arg(long, global = true, env = "MCP_CONTAINER_ENGINE")]
    pub(crate) container_engine: Option<String>,
    /// The image scanner program (trivy).
    #[arg(long, global = true, env = "MCP_TRIVY")]
    pub(crate) trivy: Option<String>,
    /// The Kubernetes CLI program (kubectl).
    #[arg(long, global = true, env = "MCP_KUBECTL")]
    pub(crate) kubectl: Option<String>,
    /// The local-cluster program (kind).
    #[arg(long, global = true, env = "MCP_KIND")]
    pub(crate) kind: Option<String>,
    /// Record external commands (docker, trivy, kubectl, kind) instead of running them.
    #[arg(long, global = true, env = "MCP_DRY_RUN", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub(crate) dry_run: Option<bool>,
    /// Organisation policy: a Rego file, or a directory of them (package containerkit.<name>,
    /// `deny`/`warn` rules; see the README). A file that does not parse stops the server.
    #[arg(long, global = true, env = "MCP_POLICY")]
    pub(crate) policy: Option<PathBuf>,
    /// Ask the user before the destructive tools (push_image, prepare_cluster,
    /// deploy_application, delete_session): `destructive` (the default) asks through the
    /// client (elicitation) and runs nothing when nobody can be asked; `never` runs them
    /// without asking (automation), recorded in the session as skipped.
    #[arg(long, global = true, env = "MCP_CONFIRM", value_enum)]
    pub(crate) confirm: Option<ConfirmMode>,
    /// File holding the key (at least 32 bytes) that seals confirmation request states
    /// (protocol 2026-07-28); every replica behind one address must share it. Default: a
    /// random key per process (an answer then works only on the replica that asked).
    #[arg(long, global = true, env = "MCP_REQUEST_STATE_KEY_FILE")]
    pub(crate) request_state_key_file: Option<PathBuf>,
}

/// `--confirm`: when the destructive tools ask the user first.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfirmMode {
    /// Ask before every destructive tool (the default).
    Destructive,
    /// Never ask (automation); each skip is recorded in the session.
    Never,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// One redb file (the default).
    Redb,
    /// A sled directory (`sessions.sled` by default).
    Sled,
    /// In memory: nothing survives the process.
    Memory,
    /// An etcd cluster (--etcd-endpoints), shared by several server replicas.
    Etcd,
}

#[derive(Subcommand, Debug, Clone)]
pub(crate) enum Command {
    /// Serve MCP (the default): stdio, or streamable HTTP.
    Serve(ServeArgs),
    /// Call one tool without a transport and print its result JSON (npm-wrapper compatible).
    ///
    /// Parameters come from the TOOL_PARAMS JSON environment variable and/or flags
    /// (`--session-id X --repo-path Y`, dashes for underscores).
    Tool(ToolArgs),
    /// Inspect and maintain the session store.
    #[command(subcommand)]
    Sessions(SessionsCommand),
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Transport {
    /// JSON-RPC over stdin/stdout.
    #[default]
    Stdio,
    /// Streamable HTTP on --listen.
    Http,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct ServeArgs {
    /// How the client talks to the server: stdio (the client starts this process) or http
    /// (streamable HTTP on --listen, for clients that connect to a running server).
    #[arg(long, value_enum, default_value_t = Transport::Stdio, env = "MCP_TRANSPORT")]
    pub(crate) transport: Transport,
    /// Address for the HTTP transport (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080", env = "MCP_LISTEN")]
    pub(crate) listen: SocketAddr,
    /// Require `Authorization: Bearer <token>` on the HTTP transport. Prefer
    /// --auth-token-file or the environment: a command line is visible to every local user
    /// (`ps`).
    #[arg(long, env = "MCP_AUTH_TOKEN", hide_env_values = true)]
    pub(crate) auth_token: Option<String>,
    /// Read the bearer token from this file (its first line; surrounding whitespace ignored).
    #[arg(long, env = "MCP_AUTH_TOKEN_FILE", value_name = "FILE")]
    pub(crate) auth_token_file: Option<PathBuf>,
    /// Serve a non-loopback --listen address without a token (anyone who can reach the port
    /// can run the tools). Refused without this flag.
    #[arg(long)]
    pub(crate) insecure_no_auth: bool,
    /// Extra Host header values the HTTP transport accepts (besides loopback names).
    #[arg(long = "allowed-host")]
    pub(crate) allowed_hosts: Vec<String>,
    /// Extra browser origins the HTTP transport accepts (besides loopback ones), with their
    /// scheme: `https://app.example.com`, `http://host:*` (any port). A request whose
    /// `Origin` header is not allowed is refused with 403.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub(crate) allowed_origins: Vec<String>,
    /// A client must send a request's headers within this long (`30s`, `1m`).
    #[arg(long, default_value = "30s", env = "MCP_HTTP_HEADER_TIMEOUT")]
    pub(crate) http_header_timeout: String,
    /// A connection with no request in flight for this long is closed.
    #[arg(long, default_value = "60s", env = "MCP_HTTP_IDLE_TIMEOUT")]
    pub(crate) http_idle_timeout: String,
    /// The most open MCP sessions (HTTP transport); a new one beyond it is refused with 503.
    #[arg(long, default_value_t = 1000, env = "MCP_HTTP_MAX_SESSIONS")]
    pub(crate) max_mcp_sessions: usize,
    /// The most open MCP sessions of one client address (default: half of
    /// --max-mcp-sessions); a new one beyond it is refused with 429.
    #[arg(long, env = "MCP_HTTP_MAX_SESSIONS_PER_CLIENT")]
    pub(crate) max_mcp_sessions_per_client: Option<usize>,
    /// An MCP session with no message for this long is closed (the client must initialize
    /// again).
    #[arg(long, default_value = "30m", env = "MCP_HTTP_SESSION_IDLE")]
    pub(crate) mcp_session_idle: String,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct ToolArgs {
    /// Answer yes to the confirmation of a destructive tool (push_image, prepare_cluster,
    /// deploy_application, delete_session) instead of asking on the terminal.
    #[arg(long)]
    pub(crate) yes: bool,
    /// The tool to call (see `list_tools`).
    pub(crate) name: String,
    /// Tool parameters as flags: `--session-id X --repo-path Y --run`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) params: Vec<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub(crate) enum SessionsCommand {
    /// List sessions, expired ones included, as a table (or --json): id, status, workflow
    /// step, version, last update.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// List only sessions whose id starts with this (e.g. `wf_`).
        #[arg(long)]
        prefix: Option<String>,
    },
    /// Print one session as JSON with its version and workflow state, expired or not.
    Show {
        /// The id to show, as `sessions list` prints it (e.g. `wf_…` or `session-…`).
        id: String,
        /// Accepted for symmetry with the other commands: show always prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete one session and its workflow state; its id can then be used again.
    Delete {
        /// The id to delete, as `sessions list` prints it.
        id: String,
        /// Print `{"session_id": …, "deleted": true}` instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Remove every expired session.
    Purge {
        /// Print `{"purged": N}` instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Check the store file with redb's integrity check, on a temporary copy: the file is not
    /// modified. Exits 1 when damage is found.
    Check {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Repair the store file with redb's repair, after keeping a backup copy of it beside the
    /// file (`<file>.backup-<time>`); says what it did. Stop the server first.
    Repair {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print metrics in the Prometheus text format (or --json): the store's figures (read
    /// from the store, the same for every process sharing it) and this command's own
    /// process's counters and histograms — not a running server's, which are at its HTTP
    /// transport's /metrics.
    Stats {
        /// Print a JSON object (scope, store figures, every sample) instead of the text.
        #[arg(long)]
        json: bool,
    },
}

/// Moves global options written after `tool <name>` (where the tool's own `--flags` follow)
/// in front of `tool`, so clap parses them with their one definition and environment
/// variable, wherever the user wrote them: `tool build_image --session-id X --store sled`.
pub(crate) fn hoist_tool_globals(args: Vec<OsString>) -> Vec<OsString> {
    let Some(tool_at) = args.iter().position(|a| a == "tool") else {
        return args;
    };
    if tool_at + 2 > args.len() {
        return args;
    }
    let mut command = Cli::command();
    command.build();
    // Each global option's long name, and whether its value is optional (`--dry-run`).
    let globals: Vec<(String, bool)> = command
        .get_arguments()
        .filter(|a| a.is_global_set() && a.get_action().takes_values())
        .filter_map(|a| {
            let optional = a.get_num_args().is_some_and(|n| n.min_values() == 0);
            a.get_long().map(|l| (l.to_owned(), optional))
        })
        .collect();
    let (head, tail) = args.split_at(tool_at + 2);
    let mut hoisted = Vec::new();
    let mut rest = Vec::new();
    let mut tail = tail.iter().cloned().peekable();
    while let Some(arg) = tail.next() {
        let text = arg.to_string_lossy().into_owned();
        let key = text
            .strip_prefix("--")
            .map(|k| k.split('=').next().unwrap_or(k));
        let Some((_, optional)) = key.and_then(|k| globals.iter().find(|(l, _)| l == k)) else {
            rest.push(arg);
            continue;
        };
        let inline = text.contains('=');
        hoisted.push(arg);
        if inline {
            continue;
        }
        // An option whose value is optional (`--dry-run`) takes it only as `--dry-run=false`.
        if !*optional {
            hoisted.extend(tail.next());
        }
    }
    let mut out = Vec::with_capacity(args.len());
    out.extend_from_slice(&head[..tool_at]);
    out.extend(hoisted);
    out.extend_from_slice(&head[tool_at..]);
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoist(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        hoist_tool_globals(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn trust_client_roots_is_off_unless_asked() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).unwrap().global.trust_client_roots;
        assert_eq!(parse(&["ckm", "serve"]), None);
        assert_eq!(parse(&["ckm", "--trust-client-roots", "serve"]), Some(true));
        assert_eq!(
            parse(&["ckm", "--trust-client-roots=false", "serve"]),
            Some(false)
        );
    }

    #[test]
    fn globals_after_the_tool_name_are_parsed_as_globals() {
        let args = hoist(&[
            "ckm",
            "tool",
            "build_image",
            "--session-id",
            "s",
            "--store",
            "memory",
            "--dry-run",
            "--container-engine=podman",
            "--tag",
            "v1",
        ]);
        assert_eq!(
            args,
            [
                "ckm",
                "--store",
                "memory",
                "--dry-run",
                "--container-engine=podman",
                "tool",
                "build_image",
                "--session-id",
                "s",
                "--tag",
                "v1"
            ]
        );
        let cli = Cli::try_parse_from(&args).unwrap();
        assert_eq!(cli.global.store, Some(Backend::Memory));
        assert_eq!(cli.global.dry_run, Some(true));
        assert_eq!(cli.global.container_engine.as_deref(), Some("podman"));
        match cli.command {
            Some(Command::Tool(t)) => assert_eq!(t.params, ["--session-id", "s", "--tag", "v1"]),
            other => panic!("{other:?}"),
        }
        // `--dry-run=false` keeps its value; other commands are left alone.
        assert_eq!(
            hoist(&["ckm", "tool", "ping", "--dry-run=false"]),
            ["ckm", "--dry-run=false", "tool", "ping"]
        );
        let cli = Cli::try_parse_from(["ckm", "--dry-run", "tool", "ping"]).unwrap();
        assert_eq!(
            cli.global.dry_run,
            Some(true),
            "a bare --dry-run must not swallow `tool`"
        );
        assert_eq!(
            hoist(&["ckm", "serve", "--store", "sled"]),
            ["ckm", "serve", "--store", "sled"]
        );
    }
}
