//! Running the external CLIs (docker or podman, trivy, kubectl, kind), or, in dry-run mode,
//! recording the exact command lines instead.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

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
    /// Its standard output: all of it up to 128 KiB, else the first and the last 64 KiB
    /// with a line between them saying how many bytes were dropped.
    pub stdout: String,
    /// Its standard error, bounded as `stdout`.
    pub stderr: String,
}

/// Runs `program args` in `cwd` per `config`. In dry-run mode returns a record without
/// running anything.
///
/// # Errors
/// A message naming the missing program, a non-zero exit with the last 4 KiB of stderr, or
/// a timeout.
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
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!(
            "program `{program}` was not found on PATH; install it, configure another program name, or run with --dry-run to record the commands instead"
        ),
        _ => format!("cannot run `{program}`: {e}"),
    })?;
    // Both streams are drained while the child runs (a full pipe would stall it), each into
    // a bounded head-and-tail buffer: a child printing 400 MB costs at most 2 × 128 KiB here.
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let finished = async {
        let (out, err, status) = tokio::join!(capture(stdout), capture(stderr), child.wait());
        Ok::<_, std::io::Error>((out?, err?, status?))
    };
    let (out, err, status) = match tokio::time::timeout(config.timeout, finished).await {
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
        exit_code: status.code(),
        stdout: out.text(),
        stderr: err.text(),
    };
    if status.success() {
        Ok(record)
    } else {
        Err(format!(
            "`{command}` failed ({status}): {}",
            err.last(ERROR_TAIL_BYTES).trim()
        ))
    }
}

/// The bytes of each stream kept from its start.
pub(crate) const OUTPUT_HEAD_BYTES: usize = 64 * 1024;
/// The bytes of each stream kept from its end.
pub(crate) const OUTPUT_TAIL_BYTES: usize = 64 * 1024;
/// The bytes of stderr a failure's message quotes (its end, where the error usually is).
const ERROR_TAIL_BYTES: usize = 4096;

/// Reads `stream` to its end into an [`Output`].
async fn capture(stream: Option<impl AsyncRead + Unpin>) -> std::io::Result<Output> {
    let mut output = Output::default();
    let Some(mut stream) = stream else {
        return Ok(output);
    };
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(output);
        }
        output.push(&buf[..n]);
    }
}

/// A stream's output, bounded: its first [`OUTPUT_HEAD_BYTES`] and last
/// [`OUTPUT_TAIL_BYTES`], and how many bytes between them were dropped.
#[derive(Debug, Default)]
struct Output {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped: u64,
}

impl Output {
    fn push(&mut self, mut bytes: &[u8]) {
        let room = OUTPUT_HEAD_BYTES - self.head.len();
        if room > 0 {
            let n = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.len() >= OUTPUT_TAIL_BYTES {
            self.dropped += (self.tail.len() + bytes.len() - OUTPUT_TAIL_BYTES) as u64;
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - OUTPUT_TAIL_BYTES..]);
            return;
        }
        let excess = (self.tail.len() + bytes.len()).saturating_sub(OUTPUT_TAIL_BYTES);
        self.tail.drain(..excess);
        self.dropped += excess as u64;
        self.tail.extend(bytes);
    }

    /// The output as text: the head, then (when bytes were dropped) a line saying how many,
    /// then the tail.
    fn text(&self) -> String {
        let mut bytes = self.head.clone();
        if self.dropped > 0 {
            bytes.extend_from_slice(
                format!("\n[… {} bytes of output dropped …]\n", self.dropped).as_bytes(),
            );
        }
        bytes.extend(&self.tail);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The last `n` bytes of the output, as text.
    fn last(&self, n: usize) -> String {
        let (a, b) = self.tail.as_slices();
        let all: Vec<u8> = if self.tail.is_empty() {
            self.head.clone()
        } else if self.dropped == 0 {
            self.head.iter().chain(a).chain(b).copied().collect()
        } else {
            a.iter().chain(b).copied().collect()
        };
        String::from_utf8_lossy(&all[all.len().saturating_sub(n)..]).into_owned()
    }
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

    #[test]
    fn output_keeps_head_and_tail_and_counts_what_it_dropped() {
        let mut o = Output::default();
        o.push(b"short");
        assert_eq!(
            (o.text(), o.last(3)),
            ("short".to_owned(), "ort".to_owned())
        );
        let mut o = Output::default();
        let total = OUTPUT_HEAD_BYTES + OUTPUT_TAIL_BYTES + 1000;
        let bytes: Vec<u8> = (0..total).map(|i| b'a' + (i % 26) as u8).collect();
        for chunk in bytes.chunks(777) {
            o.push(chunk);
        }
        assert_eq!(o.dropped, 1000);
        assert_eq!(o.head, bytes[..OUTPUT_HEAD_BYTES]);
        assert!(o.tail.iter().eq(&bytes[total - OUTPUT_TAIL_BYTES..]));
        assert!(o.text().contains("\n[… 1000 bytes of output dropped …]\n"));
        let mut big = Output::default();
        big.push(&bytes);
        assert_eq!((big.head, big.tail, big.dropped), (o.head, o.tail, 1000));
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
