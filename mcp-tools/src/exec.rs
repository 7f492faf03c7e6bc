//! Running the external CLIs (docker or podman, trivy, kubectl, kind), or, in dry-run mode,
//! recording the exact command lines instead.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;

/// Which programs to run and how.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecConfig {
    /// The container engine: `docker` or `podman` (or a path).
    pub container_engine: String,
    /// The image scanner.
    pub trivy: String,
    /// The Kubernetes CLI.
    pub kubectl: String,
    /// kind, for a local cluster when none is reachable.
    pub kind: String,
    /// Record command lines instead of running them.
    pub dry_run: bool,
    /// The longest one command may run.
    pub timeout: Duration,
    /// `PATH` for the child processes (default: inherited).
    pub path: Option<OsString>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            container_engine: "docker".into(),
            trivy: "trivy".into(),
            kubectl: "kubectl".into(),
            kind: "kind".into(),
            dry_run: false,
            timeout: Duration::from_secs(30 * 60),
            path: None,
        }
    }
}

/// One command run (or, in dry-run, recorded).
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq, schemars::JsonSchema)]
pub struct CommandRecord {
    /// The command line, shell-quoted.
    pub command: String,
    /// Whether it was executed (false in dry-run).
    pub executed: bool,
    /// Its exit code, when it ran.
    pub exit_code: Option<i32>,
    /// The tail of its standard output.
    pub stdout: String,
    /// The tail of its standard error.
    pub stderr: String,
}

/// Runs `program args` in `cwd` per `config`. In dry-run mode returns a record without
/// running anything.
///
/// # Errors
/// A message naming the missing program, a non-zero exit with the tail of stderr, or a
/// timeout.
pub async fn run(
    config: &ExecConfig,
    program: &str,
    args: &[String],
    cwd: &Path,
) -> Result<CommandRecord, String> {
    let command = std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ");
    if config.dry_run {
        return Ok(CommandRecord {
            command,
            executed: false,
            exit_code: None,
            stdout: String::new(),
            stderr: String::new(),
        });
    }
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(path) = &config.path {
        cmd.env("PATH", path);
    }
    let child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "program `{program}` was not found on PATH; install it, configure another program name, or run with --dry-run to record the commands instead"
        ),
        _ => format!("cannot run `{program}`: {e}"),
    })?;
    let output = match tokio::time::timeout(config.timeout, child.wait_with_output()).await {
        Ok(r) => r.map_err(|e| format!("`{command}` failed while running: {e}"))?,
        Err(_) => {
            return Err(format!(
                "`{command}` did not finish within {:?} and was stopped",
                config.timeout
            ))
        }
    };
    let record = CommandRecord {
        command: command.clone(),
        executed: true,
        exit_code: output.status.code(),
        stdout: tail(&output.stdout),
        stderr: tail(&output.stderr),
    };
    if output.status.success() {
        Ok(record)
    } else {
        Err(format!(
            "`{command}` failed ({}): {}",
            output.status,
            record.stderr.trim()
        ))
    }
}

/// The last 4 KiB of output, as text.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(4096);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_program_is_named() {
        let config = ExecConfig::default();
        let err = run(&config, "definitely-not-a-program-xyz", &[], Path::new("."))
            .await
            .unwrap_err();
        assert!(
            err.contains("`definitely-not-a-program-xyz` was not found"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn dry_run_records_the_exact_line() {
        let config = ExecConfig {
            dry_run: true,
            ..Default::default()
        };
        let r = run(
            &config,
            "docker",
            &["build".into(), "-t".into(), "a b".into()],
            Path::new("."),
        )
        .await
        .unwrap();
        assert_eq!(r.command, "docker build -t 'a b'");
        assert!(!r.executed);
    }

    #[tokio::test]
    async fn a_failing_command_reports_its_stderr() {
        let config = ExecConfig::default();
        let err = run(
            &config,
            "sh",
            &["-c".into(), "echo oops >&2; exit 3".into()],
            Path::new("."),
        )
        .await
        .unwrap_err();
        assert!(err.contains("oops") && err.contains("3"), "{err}");
    }
}
