//! The tool registry: every tool is one type implementing [`Tool`], declared once (name,
//! title, description, hints, parameter and output types, summary line) and listed once in
//! [`TOOLS`]. The catalogue, `tools/list`, the dispatcher [`crate::Toolbox::call`], the
//! step order of `start_workflow run: true`, the CLI `tool` mode's flags and the server's
//! instructions are all derived from that list.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::admin::{DeleteSession, GetSession, ListSessions, Ping, ServerStatus};
use crate::arguments;
use crate::confirm::{self, ConfirmPolicy};
use crate::error::{ToolError, ToolErrorKind};
use crate::fix_dockerfile::FixDockerfile;
use crate::state::{Step, WorkflowState};
use crate::steps::{
    analyze_repository::AnalyzeRepository, build_image::BuildImage,
    deploy_application::DeployApplication, generate_dockerfile::GenerateDockerfile,
    generate_k8s_manifests::GenerateK8sManifests, prepare_cluster::PrepareCluster,
    push_image::PushImage, scan_image::ScanImage, tag_image::TagImage,
    verify_deployment::VerifyDeployment,
};
use crate::toolbox::{CallContext, ToolOutput, Toolbox};
use crate::validate_dockerfile::ValidateDockerfile;
use crate::workflow::{ListTools, StartWorkflow, WorkflowStatusTool};

/// One tool: its description for the client and its typed behaviour.
pub(crate) trait Tool {
    /// The name clients call it by (the Go server's).
    const NAME: &'static str;
    /// A short human title.
    const TITLE: &'static str;
    /// What it does and when to call it (the client's model reads this).
    const DESCRIPTION: &'static str;
    /// Changes nothing (the client may call it without asking the user). Default: false.
    const READ_ONLY: bool = false;
    /// May delete data or change the world outside the repository irreversibly (a push, a
    /// cluster change, a deletion): the client should confirm first. Default: false.
    const DESTRUCTIVE: bool = false;
    /// Calling it again with the same arguments has no further effect. Default: false.
    const IDEMPOTENT: bool = false;
    /// Reaches outside this server and the repository (container engine, registry, cluster).
    /// Default: true unless read-only.
    const OPEN_WORLD: bool = !Self::READ_ONLY;
    /// May run for minutes (it runs a container engine, scanner or cluster command): it may
    /// run as a durable MCP task. Default: false.
    const LONG_RUNNING: bool = false;
    /// The workflow step it runs, for a step tool.
    const WORKFLOW_STEP: Option<Step> = None;
    /// The arguments, decoded from the call's JSON (their doc comments are the schema's
    /// descriptions).
    type Params: DeserializeOwned + JsonSchema + Send;
    /// The result, sent as `structuredContent`.
    type Output: Serialize + JsonSchema + Send;

    /// Runs the tool.
    fn run(
        tools: &Toolbox,
        params: Self::Params,
        ctx: &CallContext,
    ) -> impl Future<Output = Result<Self::Output, ToolError>> + Send;

    /// The one-line text summary sent beside the structured result.
    fn summary(output: &Self::Output) -> String;

    /// The parameters `start_workflow run: true` runs a step tool with; `None` for the
    /// other tools.
    fn workflow_params(_session_id: &str, _state: &WorkflowState) -> Option<Self::Params> {
        None
    }
}

type BoxFuture<'a> = Pin<Box<dyn Future<Output = Result<ToolOutput, ToolError>> + Send + 'a>>;

/// A [`Tool`] with its types erased: what the dispatcher and the catalogue hold.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    pub(crate) title: &'static str,
    pub(crate) description: &'static str,
    pub(crate) read_only: bool,
    pub(crate) destructive: bool,
    pub(crate) idempotent: bool,
    pub(crate) open_world: bool,
    pub(crate) long_running: bool,
    pub(crate) step: Option<Step>,
    input_schema: fn() -> Value,
    output_schema: fn() -> Value,
    /// Decodes JSON arguments and runs the tool.
    pub(crate) call: for<'a> fn(&'a Toolbox, Value, &'a CallContext) -> BoxFuture<'a>,
    /// Runs the tool as a workflow step with [`Tool::workflow_params`].
    pub(crate) run_in_workflow:
        for<'a> fn(&'a Toolbox, &'a str, &'a WorkflowState, &'a CallContext) -> BoxFuture<'a>,
}

const fn entry<T: Tool + 'static>() -> Entry {
    Entry {
        name: T::NAME,
        title: T::TITLE,
        description: T::DESCRIPTION,
        read_only: T::READ_ONLY,
        destructive: T::DESTRUCTIVE,
        idempotent: T::IDEMPOTENT,
        open_world: T::OPEN_WORLD,
        long_running: T::LONG_RUNNING,
        step: T::WORKFLOW_STEP,
        input_schema: schema::<T::Params>,
        output_schema: schema::<T::Output>,
        call: call::<T>,
        run_in_workflow: run_in_workflow::<T>,
    }
}

/// Every tool, in workflow order then utilities. Adding a tool is one file and one line here.
pub(crate) static TOOLS: [Entry; 20] = [
    entry::<AnalyzeRepository>(),
    entry::<GenerateDockerfile>(),
    entry::<BuildImage>(),
    entry::<ScanImage>(),
    entry::<TagImage>(),
    entry::<PushImage>(),
    entry::<GenerateK8sManifests>(),
    entry::<PrepareCluster>(),
    entry::<DeployApplication>(),
    entry::<VerifyDeployment>(),
    entry::<StartWorkflow>(),
    entry::<WorkflowStatusTool>(),
    entry::<ListTools>(),
    entry::<Ping>(),
    entry::<ServerStatus>(),
    entry::<ListSessions>(),
    entry::<GetSession>(),
    entry::<DeleteSession>(),
    entry::<ValidateDockerfile>(),
    entry::<FixDockerfile>(),
];

/// The registry entry named `name`.
pub(crate) fn find(name: &str) -> Option<&'static Entry> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The input schema of the tool named `name`, built once per process (the dispatcher checks
/// every call's arguments against it).
fn input_schema(name: &str) -> &'static Value {
    static SCHEMAS: OnceLock<Vec<(&'static str, Value)>> = OnceLock::new();
    static NONE: Value = Value::Null;
    SCHEMAS
        .get_or_init(|| TOOLS.iter().map(|t| (t.name, (t.input_schema)())).collect())
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(&NONE, |(_, s)| s)
}

/// The registry entry of the tool that runs `step`.
pub(crate) fn for_step(step: Step) -> Option<&'static Entry> {
    TOOLS.iter().find(|t| t.step == Some(step))
}

fn call<'a, T: Tool + 'static>(
    tools: &'a Toolbox,
    args: Value,
    ctx: &'a CallContext,
) -> BoxFuture<'a> {
    Box::pin(async move {
        let args = if args.is_null() { json!({}) } else { args };
        arguments::check(T::NAME, input_schema(T::NAME), &args)?;
        // A destructive tool that is no step (delete_session) asks first: nothing runs on a
        // refusal, and the decision is recorded in the session. A destructive step asks under
        // its session lock, once its own arguments are checked (steps/mod.rs `run_step`).
        let session_id = (T::DESTRUCTIVE && T::WORKFLOW_STEP.is_none()).then(|| session_of(&args));
        let params: T::Params = serde_json::from_value(args)
            .map_err(|e| ToolError::invalid(format!("invalid arguments for {}: {e}", T::NAME)))?;
        if let Some(session_id) = session_id {
            confirm::gate(tools, T::NAME, &session_id, ctx).await?;
        }
        let out = T::run(tools, params, ctx).await?;
        output::<T>(&out)
    })
}

fn run_in_workflow<'a, T: Tool + 'static>(
    tools: &'a Toolbox,
    session_id: &'a str,
    state: &'a WorkflowState,
    ctx: &'a CallContext,
) -> BoxFuture<'a> {
    Box::pin(async move {
        let params = T::workflow_params(session_id, state)
            .ok_or_else(|| ToolError::internal(format!("{} is not a workflow step", T::NAME)))?;
        let out = T::run(tools, params, ctx).await?;
        output::<T>(&out)
    })
}

/// The `session_id` argument of a call (empty when it has none).
fn session_of(args: &Value) -> String {
    args.get("session_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn output<T: Tool>(out: &T::Output) -> Result<ToolOutput, ToolError> {
    let structured = serde_json::to_value(out)
        .map_err(|e| ToolError::internal(format!("cannot encode the result: {e}")))?;
    Ok(ToolOutput {
        structured,
        summary: T::summary(out),
    })
}

/// The error of a call to a name the registry does not hold.
pub(crate) fn unknown_tool(name: &str) -> ToolError {
    ToolError {
        kind: ToolErrorKind::UnknownTool,
        message: format!("unknown tool {name:?}; call list_tools for the tools of this server"),
        next_tool: Some(ListTools::NAME.into()),
        details: None,
        guidance: None,
    }
}

/// A tool in the catalogue.
#[derive(Clone, Debug)]
pub struct ToolDescriptor {
    /// The name clients call it by (as the Go server).
    pub name: &'static str,
    /// A short human title.
    pub title: &'static str,
    /// What it does and when to call it.
    pub description: &'static str,
    /// JSON Schema of the arguments.
    pub input_schema: Value,
    /// JSON Schema of `structuredContent`.
    pub output_schema: Value,
    /// Changes nothing: becomes the `readOnlyHint` annotation.
    pub read_only: bool,
    /// May delete data or change the world irreversibly: becomes the `destructiveHint`
    /// annotation, and the server asks the user before running it.
    pub destructive: bool,
    /// A repeated call has no further effect: the `idempotentHint` annotation.
    pub idempotent: bool,
    /// Reaches outside the server and the repository: the `openWorldHint` annotation.
    pub open_world: bool,
    /// May run for minutes: may run as a durable MCP task.
    pub long_running: bool,
    /// The workflow step it runs, for the ten step tools.
    pub step: Option<Step>,
}

impl ToolDescriptor {
    fn of(t: &Entry) -> ToolDescriptor {
        ToolDescriptor {
            name: t.name,
            title: t.title,
            description: t.description,
            input_schema: (t.input_schema)(),
            output_schema: (t.output_schema)(),
            read_only: t.read_only,
            destructive: t.destructive,
            idempotent: t.idempotent,
            open_world: t.open_world,
            long_running: t.long_running,
            step: t.step,
        }
    }
}

/// How a parameter's value is written in the CLI's `--flag value` form (tool mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParameterKind {
    /// Text, taken as it is.
    String,
    /// `true` or `false`; a bare flag means true.
    Boolean,
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// An array or object, written as JSON.
    Json,
}

/// One of a tool's parameters, read from its input schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolParameter {
    /// The parameter's name (`session_id`; the flag is `--session-id`).
    pub name: String,
    /// How its value is written.
    pub kind: ParameterKind,
}

impl ToolDescriptor {
    /// The tool's parameters (the properties of its input schema, by name), each with the
    /// kind of value it takes.
    pub fn parameters(&self) -> Vec<ToolParameter> {
        let Some(props) = self
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
        else {
            return Vec::new();
        };
        props
            .iter()
            .map(|(name, p)| ToolParameter {
                name: name.clone(),
                kind: match property_type(p).as_deref() {
                    Some("boolean") => ParameterKind::Boolean,
                    Some("integer") => ParameterKind::Integer,
                    Some("number") => ParameterKind::Number,
                    Some("array" | "object") => ParameterKind::Json,
                    _ => ParameterKind::String,
                },
            })
            .collect()
    }
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

/// Every tool, in workflow order then utilities.
pub fn catalogue() -> Vec<ToolDescriptor> {
    TOOLS.iter().map(ToolDescriptor::of).collect()
}

/// The tool named `name`, if this server has it.
pub fn find_tool(name: &str) -> Option<ToolDescriptor> {
    find(name).map(ToolDescriptor::of)
}

/// The server's instructions for the client's model: the workflow, with the step tools in
/// order as the registry lists them, and the confirmation rule of the default
/// `--confirm destructive`.
pub fn instructions() -> String {
    instructions_for(ConfirmPolicy::default())
}

/// [`instructions`] for a server running with `--confirm <confirm>`.
pub fn instructions_for(confirm: ConfirmPolicy) -> String {
    let destructive: Vec<&str> = TOOLS
        .iter()
        .filter(|t| t.destructive)
        .map(|t| t.name)
        .collect();
    let rule = match confirm {
        ConfirmPolicy::Destructive => format!(
            "{} ask the user for a confirmation first (elicitation) unless the server runs with --dry-run; a declined one runs nothing (--confirm destructive).",
            destructive.join(", ")
        ),
        ConfirmPolicy::Never => format!(
            "This server runs with --confirm never: {} run without asking the user, so ask the user yourself before calling them.",
            destructive.join(", ")
        ),
    };
    let steps: Vec<&str> = TOOLS
        .iter()
        .filter(|t| t.step.is_some())
        .map(|t| t.name)
        .collect();
    format!(
        "Containerize a repository step by step: {start} (repo_path) returns a session_id; then call {} with that session_id. {status} tells the next step. {rule}",
        steps.join(", "),
        start = StartWorkflow::NAME,
        status = WorkflowStatusTool::NAME,
    )
}

fn schema<T: JsonSchema>() -> Value {
    let mut v = serde_json::to_value(schemars::schema_for!(T))
        .unwrap_or_else(|_| json!({"type": "object"}));
    strip_numeric_formats(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.entry("type").or_insert(json!("object"));
    }
    v
}

/// schemars marks integers with Rust formats (`uint64`, `double`, …) that JSON Schema
/// validators do not know and warn about; the `minimum` it also emits says what matters.
fn strip_numeric_formats(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("format").and_then(Value::as_str).is_some_and(|f| {
                f.starts_with("uint") || f.starts_with("int") || f == "double" || f == "float"
            }) {
                o.remove("format");
            }
            o.values_mut().for_each(strip_numeric_formats);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_numeric_formats),
        _ => {}
    }
}
