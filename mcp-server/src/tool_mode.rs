//! `container-kit-mcp tool <name>`: one call without a transport, compatible with the npm
//! wrapper: parameters from `TOOL_PARAMS` (JSON) and/or flags, the result JSON on stdout,
//! a non-zero exit status on error. Concurrent invocations share the store file one after
//! another (bounded wait for the file lock).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use mcp_tools::{catalogue, CallContext};
use serde_json::{Map, Value};

use crate::cli::{GlobalArgs, ToolArgs};
use crate::config::Config;

/// How long a one-shot call waits for another process to release the store file.
const LOCK_WAIT: Duration = Duration::from_secs(60);

pub(crate) async fn run(mut global: GlobalArgs, args: ToolArgs) -> anyhow::Result<ExitCode> {
    let schema = catalogue()
        .into_iter()
        .find(|t| t.name == args.name)
        .map(|t| t.input_schema);
    let mut params = match std::env::var("TOOL_PARAMS") {
        Ok(raw) if !raw.trim().is_empty() => match serde_json::from_str::<Value>(&raw) {
            Ok(Value::Object(o)) => o,
            Ok(_) => bail!("TOOL_PARAMS must be a JSON object"),
            Err(e) => bail!("TOOL_PARAMS is not valid JSON: {e}"),
        },
        _ => Map::new(),
    };
    parse_flags(&args.params, schema.as_ref(), &mut params, &mut global)?;
    let config = Config::from_args(&global)?;
    let services = crate::run::services(&config, LOCK_WAIT).await?;
    let outcome = services
        .tools
        .call(&args.name, Value::Object(params), &CallContext::default())
        .await;
    crate::run::close(services).await?;
    let (json, code) = match outcome {
        Ok(out) => (out.structured, ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("container-kit-mcp: {}: {}", args.name, e.message);
            (e.to_json(), ExitCode::from(1))
        }
    };
    print_json(&json)?;
    Ok(code)
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
/// typed by the tool's input schema. Global options (`--store`, `--dry-run`, …) given after
/// the tool name are applied to `global`.
fn parse_flags(
    flags: &[String],
    schema: Option<&Value>,
    params: &mut Map<String, Value>,
    global: &mut GlobalArgs,
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
        let kind = schema
            .and_then(|s| s.get("properties"))
            .and_then(|p| p.get(&name))
            .and_then(property_type)
            .unwrap_or_else(|| {
                if is_global_flag(&key) {
                    global_kind(&key)
                } else {
                    "string".into()
                }
            });
        let value = match inline {
            Some(v) => v,
            None if kind == "boolean"
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
        if is_global_flag(&key) {
            apply_global(global, &key, &value)?;
            continue;
        }
        let typed = match kind.as_str() {
            "boolean" => Value::Bool(
                value
                    .parse()
                    .with_context(|| format!("--{key} takes true or false, not {value:?}"))?,
            ),
            "integer" => Value::from(
                value
                    .parse::<i64>()
                    .with_context(|| format!("--{key} takes a whole number, not {value:?}"))?,
            ),
            "number" => Value::from(
                value
                    .parse::<f64>()
                    .with_context(|| format!("--{key} takes a number, not {value:?}"))?,
            ),
            "array" | "object" => {
                serde_json::from_str(&value).with_context(|| format!("--{key} takes JSON"))?
            }
            _ => Value::String(value),
        };
        params.insert(name, typed);
    }
    Ok(())
}

/// The JSON type of a schema property, looking through `anyOf`/`type: [T, "null"]`.
fn property_type(p: &Value) -> Option<String> {
    match p.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .map(str::to_owned),
        _ => p
            .get("anyOf")
            .and_then(Value::as_array)
            .and_then(|alts| alts.iter().find_map(property_type).filter(|t| t != "null")),
    }
}

const GLOBAL_FLAGS: [&str; 9] = [
    "store",
    "store-path",
    "session-ttl",
    "max-sessions",
    "workspace-dir",
    "log-level",
    "dry-run",
    "etcd-endpoints",
    "etcd-prefix",
];

fn is_global_flag(key: &str) -> bool {
    GLOBAL_FLAGS.contains(&key)
}

fn global_kind(key: &str) -> String {
    if key == "dry-run" {
        "boolean"
    } else {
        "string"
    }
    .into()
}

fn apply_global(g: &mut GlobalArgs, key: &str, value: &str) -> anyhow::Result<()> {
    use clap::ValueEnum;
    match key {
        "store" => {
            g.store = Some(
                crate::cli::Backend::from_str(value, true)
                    .map_err(|e| anyhow::anyhow!("--store: {e}"))?,
            )
        }
        "store-path" => g.store_path = Some(value.into()),
        "session-ttl" => g.session_ttl = Some(value.into()),
        "max-sessions" => {
            g.max_sessions = Some(value.parse().context("--max-sessions takes a number")?)
        }
        "workspace-dir" => g.workspace_dir = Some(value.into()),
        "log-level" => g.log_level = Some(value.into()),
        "dry-run" => g.dry_run = Some(value.parse().context("--dry-run takes true or false")?),
        "etcd-endpoints" => g.etcd_endpoints = Some(value.split(',').map(str::to_owned).collect()),
        "etcd-prefix" => g.etcd_prefix = Some(value.into()),
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(tool: &str, flags: &[&str]) -> anyhow::Result<(Map<String, Value>, GlobalArgs)> {
        let schema = catalogue()
            .into_iter()
            .find(|t| t.name == tool)
            .map(|t| t.input_schema);
        let mut params = Map::new();
        let mut g = GlobalArgs::default();
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        parse_flags(&flags, schema.as_ref(), &mut params, &mut g)?;
        Ok((params, g))
    }

    #[test]
    fn flags_become_typed_parameters() {
        let (p, g) = parse(
            "start_workflow",
            &[
                "--repo-path",
                "/r",
                "--session-id=s1",
                "--run",
                "--store",
                "memory",
                "--dry-run",
            ],
        )
        .unwrap();
        assert_eq!(
            Value::Object(p),
            json!({"repo_path": "/r", "session_id": "s1", "run": true})
        );
        assert_eq!(g.store, Some(crate::cli::Backend::Memory));
        assert_eq!(g.dry_run, Some(true));
        let (p, _) = parse("tag_image", &["--session-id", "s", "--tag", "7"]).unwrap();
        assert_eq!(p["tag"], json!("7"));
        let (p, _) = parse("list_sessions", &["--limit", "5"]).unwrap();
        assert_eq!(p["limit"], json!(5));
        assert!(parse("list_sessions", &["--limit", "many"]).is_err());
        assert!(parse("ping", &["loose"]).is_err());
        assert!(parse("ping", &["--message"]).is_err());
    }
}
