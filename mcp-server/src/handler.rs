//! The MCP side: an rmcp `ServerHandler` over the toolbox. Tool calls become
//! `Toolbox::call`; progress tokens become progress notifications; cancellation drops the
//! call (which releases the session lock and stops child processes).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mcp_tools::{
    catalogue, instructions_for, log_safe, CallContext, ProgressSink, ToolErrorKind, Toolbox,
    LOG_MESSAGE_CHARS, LOG_NAME_CHARS,
};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ErrorData,
    Implementation, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::{Peer, RequestContext, RoleServer};
use rmcp::ServerHandler;

use crate::confirm::{Confirmations, Prepared};
use serde_json::Value;

/// The server's MCP handler. Cheap to clone (one per HTTP session).
#[derive(Clone)]
pub(crate) struct Handler {
    tools: Toolbox,
    listed: Arc<Vec<Tool>>,
    confirmations: Option<Arc<Confirmations>>,
}

impl Handler {
    pub(crate) fn new(tools: Toolbox) -> Handler {
        Handler {
            tools,
            listed: Arc::new(mcp_tools_as_rmcp()),
            confirmations: None,
        }
    }

    /// Asks the user before destructive tools through the client, sealing 2026-07-28
    /// confirmation states with `confirmations`' key (without it, nobody is asked).
    pub(crate) fn with_confirmations(mut self, confirmations: Confirmations) -> Handler {
        self.confirmations = Some(Arc::new(confirmations));
        self
    }
}

fn object(v: Value) -> Arc<serde_json::Map<String, Value>> {
    match v {
        Value::Object(o) => Arc::new(o),
        _ => Arc::new(serde_json::Map::new()),
    }
}

fn mcp_tools_as_rmcp() -> Vec<Tool> {
    catalogue()
        .into_iter()
        .map(|t| {
            Tool::new(t.name, t.description, object(t.input_schema))
                .with_title(t.title)
                .with_raw_output_schema(object(t.output_schema))
                .with_annotations(
                    ToolAnnotations::new()
                        .read_only(t.read_only)
                        .destructive(t.destructive)
                        .idempotent(t.idempotent)
                        .open_world(t.open_world),
                )
        })
        .collect()
}

/// Sends MCP progress notifications for one request, echoing the client's token. The
/// specification requires the value to increase with each notification: a report that would
/// not is dropped (the tools report increasing values; this keeps the promise if one did not).
struct ProgressNotifier {
    peer: Peer<RoleServer>,
    token: ProgressToken,
    last: std::sync::Mutex<Option<f64>>,
}

#[async_trait]
impl ProgressSink for ProgressNotifier {
    async fn report(&self, progress: f64, total: Option<f64>, message: Option<String>) {
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|l| progress <= l) || !progress.is_finite() {
                tracing::debug!(progress, "progress not increasing; not sent");
                return;
            }
            *last = Some(progress);
        }
        let mut p = ProgressNotificationParam::new(self.token.clone(), progress);
        p.total = total;
        p.message = message;
        if let Err(e) = self.peer.notify_progress(p).await {
            tracing::debug!(error = %e, "progress notification not delivered");
        }
    }
}

/// The client's roots as directories, when it declared the capability (bounded wait).
#[allow(deprecated)] // roots are deprecated by SEP-2577 but still sent by current clients
async fn client_roots(peer: &Peer<RoleServer>) -> Vec<PathBuf> {
    let declared = peer
        .peer_info()
        .is_some_and(|i| i.capabilities.roots.is_some());
    if !declared {
        return Vec::new();
    }
    match tokio::time::timeout(Duration::from_secs(2), peer.list_roots()).await {
        Ok(Ok(r)) => r
            .roots
            .iter()
            .filter_map(|root| root.uri.strip_prefix("file://").map(PathBuf::from))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the call may touch a repository: it names one, or a session whose repository
/// every step re-checks against the roots (issue #18), so it needs the client's roots too.
fn arguments_mention_path(args: &Value) -> bool {
    args.get("repo_path").is_some() || args.get("session_id").is_some()
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        let mut info = ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources() // resources.rs: a session's artifacts
                .build(),
        );
        info.server_info = Implementation::new("container-kit-mcp", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(instructions_for(self.tools.config().confirm));
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(
            self.listed.as_ref().clone(),
        ))
    }

    // A session's artifacts as resources (issue #20): mapped in resources.rs.
    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(crate::resources::templates())
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        crate::resources::list(&self.tools, request).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let roots = if crate::resources::reads_workspace(&request.uri) {
            client_roots(&context.peer).await
        } else {
            Vec::new()
        };
        Ok(crate::resources::read(&self.tools, request, roots)
            .await?
            .into())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let args = Value::Object(request.arguments.unwrap_or_default());
        let session_id = args
            .get("session_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        // Client input: escaped and cut, so it cannot forge a log line or flood the log.
        let span = tracing::info_span!(
            "tool_call",
            tool = %log_safe(&name, LOG_NAME_CHARS),
            session_id = %log_safe(&session_id, LOG_NAME_CHARS)
        );
        let started = Instant::now();
        let progress: Option<Arc<dyn ProgressSink>> =
            context.meta.get_progress_token().map(|token| {
                Arc::new(ProgressNotifier {
                    peer: context.peer.clone(),
                    token,
                    last: std::sync::Mutex::new(None),
                }) as Arc<dyn ProgressSink>
            });
        let roots = if arguments_mention_path(&args) {
            client_roots(&context.peer).await
        } else {
            Vec::new()
        };
        // confirm: who asks the user before a destructive tool (mcp-server/src/confirm.rs)
        let prepared: Result<Option<Prepared>, _> = match &self.confirmations {
            Some(c) => c
                .prepare(
                    &name,
                    &args,
                    request.request_state.as_deref(),
                    request.input_responses.as_ref(),
                    &context,
                )
                .map(Some),
            None => Ok(None),
        };
        let outcome = match &prepared {
            Err(refused) => Some(Err(refused.clone())),
            Ok(p) => {
                let ctx = CallContext {
                    progress,
                    roots,
                    confirm: p.as_ref().and_then(Prepared::confirmer),
                };
                tokio::select! {
                    r = self.tools.call(&name, args, &ctx) => Some(r),
                    _ = context.ct.cancelled() => None,
                }
            }
        };
        if let (Some(Err(e)), Ok(Some(p)), Some(c)) = (&outcome, &prepared, &self.confirmations) {
            if e.kind == ToolErrorKind::ConfirmationRequired {
                if let Some(input) = c.input_required(p) {
                    tracing::info!(parent: &span, "confirmation asked (input_required)");
                    return Ok(CallToolResponse::InputRequired(input));
                }
            }
        }
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let result = match outcome {
            None => {
                tracing::info!(parent: &span, elapsed_ms, "tool call cancelled");
                return Err(ErrorData::internal_error("the call was cancelled", None));
            }
            Some(Ok(out)) => {
                tracing::info!(parent: &span, elapsed_ms, "tool call ok");
                let mut r = CallToolResult::success(vec![ContentBlock::text(out.summary)]);
                r.structured_content = Some(out.structured);
                r
            }
            Some(Err(e)) if e.kind == ToolErrorKind::UnknownTool => {
                tracing::info!(parent: &span, elapsed_ms, "unknown tool");
                return Err(ErrorData::invalid_params(
                    e.message.clone(),
                    Some(e.to_json()),
                ));
            }
            Some(Err(e)) => {
                tracing::info!(parent: &span, elapsed_ms, kind = ?e.kind, error = %log_safe(&e.message, LOG_MESSAGE_CHARS), "tool call failed");
                // The text content carries the guidance too, for clients that show no
                // structured content.
                let text = format!("{} (hint: {}; next: {})", e.message, e.hint(), e.next());
                let mut r = CallToolResult::error(vec![ContentBlock::text(text)]);
                r.structured_content = Some(e.to_json());
                r
            }
        };
        Ok(result.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_list_holds_every_registered_tool_with_schemas_title_and_hints() {
        let listed = mcp_tools_as_rmcp();
        let registry = catalogue();
        assert_eq!(
            listed.iter().map(|t| t.name.as_ref()).collect::<Vec<_>>(),
            registry.iter().map(|t| t.name).collect::<Vec<_>>()
        );
        for (tool, declared) in listed.iter().zip(&registry) {
            assert_eq!(tool.input_schema.get("type"), Some(&Value::from("object")));
            let output = tool.output_schema.as_ref().map(|s| s.get("type").cloned());
            assert_eq!(
                output,
                Some(Some(Value::from("object"))),
                "{}",
                declared.name
            );
            assert_eq!(tool.title.as_deref(), Some(declared.title));
            let hints = tool
                .annotations
                .as_ref()
                .map(|a| (a.read_only_hint, a.destructive_hint));
            assert_eq!(
                hints,
                Some((Some(declared.read_only), Some(declared.destructive))),
                "{}",
                declared.name
            );
        }
    }

    /// Every tool's annotations as tools/list sends them: (name, readOnly, destructive,
    /// idempotent, openWorld). A tool added without a row here fails the test.
    #[test]
    fn every_tools_annotations_match_the_table() {
        const T: bool = true;
        const F: bool = false;
        let table: [(&str, bool, bool, bool, bool); 20] = [
            ("analyze_repository", F, F, T, F),
            ("generate_dockerfile", F, F, T, F),
            ("build_image", F, F, F, T),
            ("scan_image", F, F, T, T),
            ("tag_image", F, F, T, T),
            ("push_image", F, T, F, T),
            ("generate_k8s_manifests", F, F, T, F),
            ("prepare_cluster", F, T, F, T),
            ("deploy_application", F, T, F, T),
            ("verify_deployment", F, F, T, T),
            ("start_workflow", F, F, F, T),
            ("workflow_status", T, F, T, F),
            ("list_tools", T, F, T, F),
            ("ping", T, F, T, F),
            ("server_status", T, F, T, F),
            ("list_sessions", T, F, T, F),
            ("get_session", T, F, T, F),
            ("delete_session", F, T, T, F),
            ("validate_dockerfile", T, F, T, F),
            ("fix_dockerfile", F, F, T, F),
        ];
        let listed: Vec<(String, bool, bool, bool, bool)> = mcp_tools_as_rmcp()
            .iter()
            .map(|t| {
                let a = t.annotations.clone().unwrap_or_default();
                (
                    t.name.to_string(),
                    a.read_only_hint == Some(true),
                    a.destructive_hint == Some(true),
                    a.idempotent_hint == Some(true),
                    a.open_world_hint == Some(true),
                )
            })
            .collect();
        let expected: Vec<(String, bool, bool, bool, bool)> = table
            .iter()
            .map(|&(n, r, d, i, o)| (n.to_owned(), r, d, i, o))
            .collect();
        assert_eq!(listed, expected);
    }

    #[test]
    fn the_instructions_state_the_confirm_mode() {
        use mcp_tools::ConfirmPolicy;
        let asks = instructions_for(ConfirmPolicy::Destructive);
        assert!(
            asks.contains(
                "push_image, prepare_cluster, deploy_application, delete_session ask the user"
            ),
            "{asks}"
        );
        let never = instructions_for(ConfirmPolicy::Never);
        assert!(never.contains("--confirm never"), "{never}");
        assert!(never.contains("ask the user yourself"), "{never}");
    }

    #[test]
    fn the_instructions_name_every_step_tool_in_order() {
        let text = mcp_tools::instructions();
        let steps: Vec<&str> = catalogue()
            .iter()
            .filter(|t| t.step.is_some())
            .map(|t| t.name)
            .collect();
        assert!(text.contains(&steps.join(", ")), "{text}");
        assert!(text.starts_with("Containerize a repository step by step: start_workflow"));
    }
}
