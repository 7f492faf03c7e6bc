//! The MCP side of a session's resources: `mcp_tools`' templates, list pages, read
//! contents and [`ResourceError`]s mapped onto rmcp's types. `handler.rs` delegates
//! `resources/templates/list`, `resources/list` and `resources/read` here.
//!
//! A request's fault (a malformed URI, an invalid session id or cursor, a repository now
//! outside the roots) is `-32602` invalid params; something that is not there (an unknown
//! session, an artifact not produced yet, a file gone or refused) is `-32002` resource not
//! found, which rmcp turns into `-32602` for 2026-07-28 clients. Both carry
//! `{kind, uri, next_tool}` in their data.

use std::path::PathBuf;

use mcp_tools::{
    list_resources, log_safe, read_resource, ResourceError, ResourceUri, Toolbox, LOG_NAME_CHARS,
    RESOURCE_TEMPLATES,
};
use rmcp::model::{
    ErrorData, ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResult, Resource, ResourceContents, ResourceTemplate,
};
use serde_json::json;

/// Every resource template, from `mcp_tools::RESOURCE_TEMPLATES`.
pub(crate) fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(
        RESOURCE_TEMPLATES
            .iter()
            .map(|t| {
                ResourceTemplate::new(t.uri_template, t.name)
                    .with_title(t.title)
                    .with_description(t.description)
                    .with_mime_type(t.mime_type)
            })
            .collect(),
    )
}

/// One page of the sessions' concrete resources (see `mcp_tools::list_resources`).
pub(crate) async fn list(
    tools: &Toolbox,
    request: Option<PaginatedRequestParams>,
) -> Result<ListResourcesResult, ErrorData> {
    let cursor = request.and_then(|r| r.cursor);
    let page = list_resources(tools, cursor.as_deref())
        .await
        .map_err(|e| error(e, None))?;
    let mut result = ListResourcesResult::with_all_items(
        page.resources
            .into_iter()
            .map(|r| {
                Resource::new(r.uri, r.name)
                    .with_title(r.title)
                    .with_description(r.description)
                    .with_mime_type(r.mime_type)
            })
            .collect(),
    );
    result.next_cursor = page.next_cursor;
    Ok(result)
}

/// Whether reading `uri` reads the repository, so the client's roots are needed (a URI that
/// does not parse needs none: it is refused before anything is read).
pub(crate) fn reads_workspace(uri: &str) -> bool {
    ResourceUri::parse(uri).is_ok_and(|u| u.resource.reads_workspace())
}

/// Reads one resource; `roots` are the client's roots (empty when it declared none).
pub(crate) async fn read(
    tools: &Toolbox,
    request: ReadResourceRequestParams,
    roots: Vec<PathBuf>,
) -> Result<ReadResourceResult, ErrorData> {
    let uri = request.uri;
    let span = tracing::info_span!("resource_read", uri = %log_safe(&uri, LOG_NAME_CHARS));
    match read_resource(tools, &uri, &roots).await {
        Ok(contents) => {
            tracing::debug!(parent: &span, contents = contents.len(), "resource read");
            Ok(ReadResourceResult::new(
                contents
                    .into_iter()
                    .map(|c| ResourceContents::text(c.text, c.uri).with_mime_type(c.mime_type))
                    .collect(),
            ))
        }
        Err(e) => {
            tracing::info!(parent: &span, kind = e.kind(), "resource not read");
            Err(error(e, Some(&uri)))
        }
    }
}

/// The MCP error for `e` (see the module docs for which code).
fn error(e: ResourceError, uri: Option<&str>) -> ErrorData {
    let data = Some(json!({
        "kind": e.kind(),
        "uri": uri.map(|u| log_safe(u, 200).to_string()),
        "next_tool": e.next_tool(),
    }));
    let message = e.to_string();
    if e.is_invalid_request() {
        ErrorData::invalid_params(message, data)
    } else if e.is_not_found() {
        ErrorData::resource_not_found(message, data)
    } else {
        tracing::warn!(error = %message, "resource read failed");
        ErrorData::internal_error(message, data)
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::ErrorCode;
    use session_core::SessionId;

    use super::*;

    #[test]
    fn the_templates_list_every_resource_with_title_description_and_mime_type() {
        let listed = templates().resource_templates;
        let uris: Vec<&str> = listed.iter().map(|t| t.uri_template.as_str()).collect();
        assert_eq!(
            uris,
            [
                "container-kit://sessions/{session_id}/dockerfile",
                "container-kit://sessions/{session_id}/manifests",
                "container-kit://sessions/{session_id}/manifests/{file}",
                "container-kit://sessions/{session_id}/scan-report",
                "container-kit://sessions/{session_id}/workflow",
            ]
        );
        for t in &listed {
            assert!(t.title.as_deref().is_some_and(|s| !s.is_empty()));
            assert!(t.description.as_deref().is_some_and(|s| s.len() > 20));
        }
        let mime: Vec<_> = listed.iter().map(|t| t.mime_type.as_deref()).collect();
        assert_eq!(
            mime,
            [
                Some("text/x-dockerfile"),
                Some("application/yaml"),
                Some("application/yaml"),
                Some("application/json"),
                Some("application/json"),
            ]
        );
    }

    #[test]
    fn request_faults_are_invalid_params_and_absences_resource_not_found() {
        let bad = ResourceError::InvalidCursor("x".into());
        assert_eq!(error(bad, None).code, ErrorCode::INVALID_PARAMS);
        let absent = ResourceError::NotProduced {
            session: SessionId::new("s").unwrap(),
            what: "Dockerfile",
            tool: "generate_dockerfile",
        };
        let e = error(absent, Some("container-kit://sessions/s/dockerfile"));
        assert_eq!(e.code, ErrorCode::RESOURCE_NOT_FOUND);
        assert!(e.message.ends_with("call generate_dockerfile first"));
        let data = e.data.unwrap();
        assert_eq!(data["next_tool"], "generate_dockerfile");
        assert_eq!(data["kind"], "not_produced");
    }

    #[test]
    fn only_the_dockerfile_and_manifests_need_the_client_roots() {
        let base = "container-kit://sessions/s";
        for (what, reads) in [
            ("dockerfile", true),
            ("manifests", true),
            ("manifests/web.yaml", true),
            ("scan-report", false),
            ("workflow", false),
            ("nothing", false),
        ] {
            assert_eq!(reads_workspace(&format!("{base}/{what}")), reads, "{what}");
        }
    }
}
