//! `container-kit-mcp tool <name>`: one call without a transport, compatible with the npm
//! wrapper: parameters from `TOOL_PARAMS` (JSON) and/or flags, the result JSON on stdout,
//! a non-zero exit status on error. Concurrent invocations (and a running server) share the
//! default redb store at once; a step waits (bounded) only for another step on the same
//! session, through the store's step locks.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use mcp_tools::{
    find_tool, log_safe, CallContext, ParameterKind, ToolParameter, LOG_MESSAGE_CHARS,
    LOG_NAME_CHARS,
};
use serde_json::{Map, Value};
use std::io::IsTerminal;
use std::sync::Arc;

use async_trait::async_trait;
use mcp_tools::{ConfirmAnswer, ConfirmRequest, Confirmer};

use crate::cli::{GlobalArgs, ToolArgs};
use crate::config::Config;

/// How long a one-shot call waits for a process that holds the store file exclusively (a
/// redb file opened exclusively, e.g. by `sessions repair`; sled is refused at once).
const LOCK_WAIT: Duration = Duration::from_secs(60);

pub(crate) async fn run(global: GlobalArgs, mut args: ToolArgs) -> anyhow::Result<ExitCode> {
    let parameters = find_tool(&args.name).map(|t| t.parameters());
    // `--yes` after the tool's name too (`tool push_image --session-id X --yes`), unless the
    // tool has a parameter of that name.
    if !parameters
        .as_deref()
        .is_some_and(|ps| ps.iter().any(|p| p.name == "yes"))
    {
        let before = args.params.len();
        args.params.retain(|p| p != "--yes");
        args.yes |= args.params.len() != before;
    }
    let mut params = match std::env::var("TOOL_PARAMS") {
        Ok(raw) if !raw.trim().is_empty() => match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(o)) => o,
            Ok(_) => bail!("TOOL_PARAMS must be a JSON object"),
            Err(e) => bail!("TOOL_PARAMS is not valid JSON: {e}"),
        },
        _ => Map::new(),
    };
    parse_flags(&args.name, &args.params, parameters.as_deref(), &mut params)?;
    let config = Config::from_args(&global)?;
    // A tool that changes nothing opens the store read-only: the file is not modified.
    let read_only = find_tool(&args.name).is_some_and(|t| t.read_only);
    let services = crate::services::services_with(&config, LOCK_WAIT, read_only).await?;
    let confirm: Arc<dyn Confirmer> = if args.yes {
        Arc::new(Yes)
    } else {
        Arc::new(Terminal)
    };
    let ctx = CallContext {
        confirm: Some(confirm),
        ..CallContext::default()
    };
    let outcome = services
        .tools
        .call(&args.name, Value::Object(params), &ctx)
        .await;
    crate::services::close(services).await?;
    let (json, code) = match outcome {
        Ok(out) => (out.structured, ExitCode::SUCCESS),
        Err(e) => {
            eprintln!(
                "container-kit-mcp: {}: {}",
                log_safe(&args.name, LOG_NAME_CHARS),
                log_safe(&e.message, LOG_MESSAGE_CHARS)
            );
            (e.to_json(), ExitCode::from(1))
        }
    };
    print_json(&json)?;
    Ok(code)
}

/// `--yes`: the confirmation is answered yes without asking.
struct Yes;

#[async_trait]
impl Confirmer for Yes {
    async fn confirm(&self, _: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        Ok(ConfirmAnswer::Accepted)
    }

    fn channel(&self) -> &str {
        "yes_flag"
    }
}

/// Asks on the terminal (stderr, then a line of stdin); without a terminal nobody can be
/// asked.
struct Terminal;

#[async_trait]
impl Confirmer for Terminal {
    async fn confirm(&self, request: &ConfirmRequest) -> Result<ConfirmAnswer, String> {
        if !std::io::stdin().is_terminal() {
            return Err(
                "stdin is not a terminal; pass --yes to confirm, or run with --confirm never"
                    .into(),
            );
        }
        let message = request.message.clone();
        let line = tokio::task::spawn_blocking(move || {
            eprint!("{message}. Run it? [y/N] ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).map(|_| line)
        })
        .await
        .map_err(|e| format!("the terminal question failed: {e}"))?
        .map_err(|e| format!("cannot read the answer from the terminal: {e}"))?;
        Ok(match line.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => ConfirmAnswer::Accepted,
            _ => ConfirmAnswer::Declined,
        })
    }

    fn channel(&self) -> &str {
        "terminal"
    }
}

#[allow(clippy::print_stdout)] // tool mode's result channel is stdout
fn print_json(v: &Value) -> anyhow::Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).context("encoding the result")?
    );
    Ok(())
}

/// `--session-id X --repo-path=Y --run` → `{"session_id": "X", "repo_path": "Y", "run": true}`,
/// typed by the tool's parameters as the registry declares them. A flag the tool does not take is an error, not silently
/// dropped. (Global options written after the tool name were already moved in front of `tool`
/// by `cli::hoist_tool_globals`, so clap parsed them.)
fn parse_flags(
    tool: &str,
    flags: &[String],
    parameters: Option<&[ToolParameter]>,
    params: &mut Map<String, Value>,
) -> anyhow::Result<()> {
    let mut i = 0;
    while i < flags.len() {
        let flag = &flags[i];
        let Some(body) = flag.strip_prefix("--") else {
            bail!("unexpected argument {flag:?}; tool parameters are flags like --session-id X");
        };
        let (key, inline) = match body.split_once('=') {
            Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
            None => (body.to_owned(), None),
        };
        let name = key.replace('-', "_");
        let kind = match parameters {
            // An unknown tool: the call itself will say so.
            None => ParameterKind::String,
            Some(known) => match known.iter().find(|p| p.name == name) {
                Some(p) => p.kind,
                None => {
                    let known: Vec<String> = known
                        .iter()
                        .map(|p| format!("--{}", p.name.replace('_', "-")))
                        .collect();
                    // The flag is caller input that ends up in the log: escaped and cut.
                    bail!(
                        "{tool} takes no {}; its parameters are {}",
                        log_safe(&format!("--{key}"), LOG_NAME_CHARS),
                        known.join(" ")
                    );
                }
            },
        };
        let value = match inline {
            Some(v) => v,
            None if kind == ParameterKind::Boolean
                && flags.get(i + 1).is_none_or(|n| {
                    n.starts_with("--") || !matches!(n.as_str(), "true" | "false")
                }) =>
            {
                "true".into()
            }
            None => {
                i += 1;
                flags
                    .get(i)
                    .cloned()
                    .with_context(|| format!("--{key} needs a value"))?
            }
        };
        i += 1;
        let typed = match kind {
            ParameterKind::Boolean => Value::Bool(
                value
                    .parse()
                    .with_context(|| format!("--{key} takes true or false, not {value:?}"))?,
            ),
            ParameterKind::Integer => Value::from(
                value
                    .parse::<i64>()
                    .with_context(|| format!("--{key} takes a whole number, not {value:?}"))?,
            ),
            ParameterKind::Number => Value::from(
                value
                    .parse::<f64>()
                    .with_context(|| format!("--{key} takes a number, not {value:?}"))?,
            ),
            ParameterKind::Json => {
                serde_json::from_str(&value).with_context(|| format!("--{key} takes JSON"))?
            }
            _ => Value::String(value),
        };
        params.insert(name, typed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(tool: &str, flags: &[&str]) -> anyhow::Result<Map<String, Value>> {
        let parameters = find_tool(tool).map(|t| t.parameters());
        let mut params = Map::new();
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        parse_flags(tool, &flags, parameters.as_deref(), &mut params)?;
        Ok(params)
    }

    #[test]
    fn flags_become_typed_parameters() {
        let p = parse(
            "start_workflow",
            &["--repo-path", "/r", "--session-id=s1", "--run"],
        )
        .unwrap();
        assert_eq!(
            Value::Object(p),
            json!({"repo_path": "/r", "session_id": "s1", "run": true})
        );
        let p = parse(
            "tag_image",
            &["--session-id", "s", "--tag", "7", "--fixing-mode"],
        )
        .unwrap();
        assert_eq!((&p["tag"], &p["fixing_mode"]), (&json!("7"), &json!(true)));
        assert_eq!(
            parse("list_sessions", &["--limit", "5"]).unwrap()["limit"],
            json!(5)
        );
        assert!(parse("list_sessions", &["--limit", "many"]).is_err());
        assert!(parse("ping", &["loose"]).is_err());
        assert!(parse("ping", &["--message"]).is_err());
    }

    #[test]
    fn a_flag_the_tool_does_not_take_is_an_error() {
        let err = parse("workflow_status", &["--session-id", "s", "--sesion", "x"]).unwrap_err();
        assert!(
            err.to_string().contains("takes no \"--sesion\"")
                && err.to_string().contains("--session-id"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_flag_is_quoted_escaped_in_the_error() {
        let err = parse("ping", &["--x\nERROR forged", "1"]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"ping takes no "--x\nERROR forged"; its parameters are --message"#),
            "{err}"
        );
    }

    #[test]
    fn every_registered_tool_takes_each_of_its_parameters_as_a_flag() {
        for tool in mcp_tools::catalogue() {
            for p in tool.parameters() {
                let flag = format!("--{}", p.name.replace('_', "-"));
                let value = match p.kind {
                    ParameterKind::Boolean => "true",
                    ParameterKind::Integer | ParameterKind::Number => "5",
                    ParameterKind::Json => "[]",
                    _ => "x",
                };
                let parsed = parse(tool.name, &[&flag, value])
                    .unwrap_or_else(|e| panic!("{} {flag}: {e}", tool.name));
                assert!(parsed.contains_key(&p.name), "{} {flag}", tool.name);
            }
        }
    }
}
