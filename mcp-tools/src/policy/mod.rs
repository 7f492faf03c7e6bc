//! Organisation policy as code (`--policy FILE|DIR`): Rego modules evaluated with `regorus`,
//! so policies written for OPA run unchanged.
//!
//! Every module declares `package containerkit.<name>`; its `deny` and `warn` rules are sets
//! of messages (strings, or objects with `msg`). A step with a policy builds one input
//! document ([`PolicyInput`]) and evaluates every module: a `deny` message fails the step with
//! [`ToolErrorKind::PolicyDenied`] naming the rule (`containerkit.<name>.deny`) and the
//! message; `warn` messages are listed in the step's artifact (`policy_warnings`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::{ToolError, ToolErrorKind};

/// The Rego package every policy module lives under.
pub const PACKAGE_ROOT: &str = "containerkit";

/// A policy file that cannot be loaded: which file, which line (when known) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("policy {file}{}: {reason}", line.map_or(String::new(), |l| format!(" line {l}")))]
pub struct PolicyError {
    /// The file.
    pub file: String,
    /// The line the reason is about, when the interpreter names one.
    pub line: Option<u32>,
    /// What is wrong.
    pub reason: String,
}

/// A loaded module's rules, as `server_status` lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyRule {
    /// The package, `containerkit.<name>`.
    pub package: String,
    /// The file it was loaded from.
    pub file: String,
    /// The rules it defines among `deny` and `warn`.
    pub rules: Vec<String>,
}

/// One `deny` or `warn` message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyViolation {
    /// The rule, `containerkit.<name>.deny` or `.warn`.
    pub rule: String,
    /// The policy's message.
    pub message: String,
}

/// What a policy evaluation found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PolicyOutcome {
    /// `deny` messages: the step must not run.
    pub deny: Vec<PolicyViolation>,
    /// `warn` messages: listed in the result.
    pub warn: Vec<PolicyViolation>,
}

/// The input document of one evaluation (its JSON shape is documented in the README).
#[derive(Clone, Debug, Default, Serialize)]
pub struct PolicyInput {
    /// The tool (step) being evaluated: `generate_dockerfile`, `validate_dockerfile`,
    /// `fix_dockerfile`, `build_image`, `push_image`, `generate_k8s_manifests`,
    /// `deploy_application`.
    pub tool: String,
    /// The step's parameters: `image` (the reference built, pushed or deployed), `registry`,
    /// `namespace`, `platform`, when the step has them.
    pub params: Value,
    /// The Dockerfile: `{path, content}`, when the step knows one.
    pub dockerfile: Option<Value>,
    /// Findings of a Dockerfile validation (`{rule, severity, line, message}`), when known.
    pub findings: Vec<Value>,
    /// The repository analysis (the `analyze_result` artifact: language, framework,
    /// toolchain version, port, ...), when it has run.
    pub analysis: Option<Value>,
    /// The Kubernetes manifests, one object per YAML document, when the step has them.
    pub manifests: Vec<Value>,
}

/// The loaded policy modules.
#[derive(Debug)]
pub struct Policy {
    engine: Mutex<regorus::Engine>,
    rules: Vec<PolicyRule>,
}

impl Policy {
    /// Loads `path`: one `.rego` file, or every `.rego` file of a directory (sorted). Any
    /// module that does not parse, is outside `containerkit.*`, or fails on an empty input
    /// is an error naming the file, the line and the reason.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let err = |file: &Path, line, reason: String| PolicyError {
            file: file.display().to_string(),
            line,
            reason,
        };
        let files: Vec<PathBuf> = if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| err(path, None, format!("cannot read the directory: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rego"))
                .collect();
            files.sort();
            if files.is_empty() {
                return Err(err(path, None, "the directory holds no .rego file".into()));
            }
            files
        } else {
            vec![path.to_path_buf()]
        };
        let mut engine = regorus::Engine::new();
        let mut packages = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file)
                .map_err(|e| err(file, None, format!("cannot read it: {e}")))?;
            let package = engine
                .add_policy(file.display().to_string(), text)
                .map_err(|e| {
                    let (line, reason) = locate(&e.to_string());
                    err(file, line, reason)
                })?;
            let name = package.strip_prefix("data.").unwrap_or(&package).to_owned();
            if !name.starts_with(&format!("{PACKAGE_ROOT}.")) {
                return Err(err(
                    file,
                    Some(1),
                    format!("package {name} is not under {PACKAGE_ROOT}: declare package {PACKAGE_ROOT}.<name>"),
                ));
            }
            packages.push((name, file.clone()));
        }
        // An evaluation on an empty input finds the semantic errors now, not at a step, and
        // which of deny and warn each module defines.
        engine.set_input(regorus::Value::from(json!({})));
        let mut rules = Vec::new();
        for (name, file) in packages {
            let value = engine
                .eval_query(format!("data.{name}"), false)
                .map_err(|e| {
                    let (line, reason) = locate(&e.to_string());
                    err(&file, line, reason)
                })?;
            let object = value
                .result
                .first()
                .and_then(|r| r.expressions.first())
                .map(|e| to_json(&e.value))
                .unwrap_or(Value::Null);
            let defined: Vec<String> = ["deny", "warn"]
                .into_iter()
                .filter(|r| object.get(r).is_some())
                .map(String::from)
                .collect();
            if defined.is_empty() {
                return Err(err(
                    &file,
                    None,
                    format!("package {name} defines neither deny nor warn"),
                ));
            }
            rules.push(PolicyRule {
                package: name,
                file: file.display().to_string(),
                rules: defined,
            });
        }
        Ok(Policy {
            engine: Mutex::new(engine),
            rules,
        })
    }

    /// The loaded modules and their rules.
    pub fn rules(&self) -> &[PolicyRule] {
        &self.rules
    }

    /// Evaluates every module on `input`.
    pub fn evaluate(&self, input: &PolicyInput) -> Result<PolicyOutcome, String> {
        let input = serde_json::to_value(input).map_err(|e| format!("policy input: {e}"))?;
        let mut engine = self.engine.lock().unwrap_or_else(|e| e.into_inner());
        engine.set_input(regorus::Value::from(input));
        let mut out = PolicyOutcome::default();
        for module in &self.rules {
            for rule in &module.rules {
                let path = format!("data.{}.{rule}", module.package);
                let value = engine
                    .eval_rule(path.clone())
                    .map_err(|e| format!("policy rule {path} failed: {e}"))?;
                let list = match to_json(&value) {
                    Value::Array(items) => items,
                    Value::Null => Vec::new(),
                    other => vec![other],
                };
                for item in list {
                    let message = match &item {
                        Value::String(s) => s.clone(),
                        Value::Object(m) => m
                            .get("msg")
                            .and_then(Value::as_str)
                            .map_or_else(|| item.to_string(), str::to_owned),
                        other => other.to_string(),
                    };
                    let v = PolicyViolation {
                        rule: format!("{}.{rule}", module.package),
                        message,
                    };
                    if rule == "deny" {
                        out.deny.push(v);
                    } else {
                        out.warn.push(v);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Evaluates `input` for a step: a `deny` becomes a [`ToolErrorKind::PolicyDenied`]
    /// error naming each rule and message; otherwise the warnings.
    pub fn check(&self, input: &PolicyInput) -> Result<Vec<PolicyViolation>, ToolError> {
        let out = self.evaluate(input).map_err(ToolError::internal)?;
        if out.deny.is_empty() {
            return Ok(out.warn);
        }
        let listed: Vec<String> = out
            .deny
            .iter()
            .map(|d| format!("{}: {}", d.rule, d.message))
            .collect();
        let mut e = ToolError::new(
            ToolErrorKind::PolicyDenied,
            format!("{} denied by policy: {}", input.tool, listed.join("; ")),
        )
        .with_hint_next(
            format!(
                "the organisation policy forbids this {}: {}",
                input.tool,
                out.deny
                    .iter()
                    .map(|d| d.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            format!(
                "change what the denial names, then call {} again",
                input.tool
            ),
        );
        e.details = Some(json!({ "denials": out.deny, "warnings": out.warn }));
        Err(e)
    }
}

/// A regorus value as JSON (sets become arrays; an undefined value null).
fn to_json(v: &regorus::Value) -> Value {
    v.to_json_str()
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

/// The line and the reason of a regorus error (`--> file:line:col ... error: reason`).
fn locate(message: &str) -> (Option<u32>, String) {
    let line = message.split("--> ").nth(1).and_then(|rest| {
        let first = rest.lines().next()?;
        let mut parts = first.rsplitn(3, ':');
        let _col = parts.next()?;
        parts.next()?.trim().parse().ok()
    });
    let reason = message
        .rsplit_once("error: ")
        .map_or(message.trim(), |(_, r)| r.trim())
        .to_owned();
    (line, reason)
}

/// One object per YAML document of `text` (empty documents skipped; unparsable ones left
/// out: the manifest steps report those).
pub fn manifest_documents(text: &str) -> Vec<Value> {
    use serde::Deserialize as _;
    yaml_serde::Deserializer::from_str(text)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

/// Evaluates the toolbox's policy, if one is loaded, for a step: `Ok(warnings)` or the
/// refusal (nothing recorded).
pub(crate) fn check_step(
    tools: &crate::toolbox::Toolbox,
    input: impl FnOnce() -> PolicyInput,
) -> Result<Vec<PolicyViolation>, crate::steps::Failure> {
    match &tools.config().policy {
        None => Ok(Vec::new()),
        Some(p) => p.check(&input()).map_err(crate::steps::Failure::Refused),
    }
}

/// Evaluates the toolbox's policy, if one is loaded, on a Dockerfile for `tool`
/// (`generate_dockerfile`, `validate_dockerfile`, `fix_dockerfile`): its path and text, the
/// findings of its validation and the repository analysis. `Ok(warnings)` or the denial.
pub(crate) fn check_dockerfile(
    tools: &crate::toolbox::Toolbox,
    tool: &str,
    path: Option<&str>,
    content: &str,
    findings: &[crate::dockerfile::Finding],
    analysis: Option<Value>,
) -> Result<Vec<PolicyViolation>, ToolError> {
    let Some(policy) = &tools.config().policy else {
        return Ok(Vec::new());
    };
    policy.check(&PolicyInput {
        tool: tool.into(),
        params: json!({}),
        dockerfile: Some(json!({ "path": path, "content": content })),
        findings: findings
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .collect(),
        analysis,
        manifests: Vec::new(),
    })
}

impl PolicyInput {
    /// The input of `tool` on a workflow: the analysis, the workflow's Dockerfile and
    /// manifests as far as they exist, and the step's `params`.
    pub(crate) fn from_state(
        tool: &str,
        st: &crate::state::WorkflowState,
        params: Value,
    ) -> PolicyInput {
        use crate::steps::generate_dockerfile::DockerfileArtifact;
        use crate::steps::generate_k8s_manifests::ManifestArtifact;
        let dockerfile = crate::steps::artifact::<DockerfileArtifact>(st)
            .filter(|d| !d.content.is_empty())
            .map(|d| json!({ "path": d.path, "content": d.content }));
        let manifests = crate::steps::artifact::<ManifestArtifact>(st)
            .map(|m| manifest_documents(&m.content))
            .unwrap_or_default();
        PolicyInput {
            tool: tool.into(),
            params,
            dockerfile,
            findings: Vec::new(),
            analysis: crate::steps::artifact::<crate::analyze::AnalyzeResult>(st)
                .and_then(|a| serde_json::to_value(a).ok()),
            manifests,
        }
    }
}
