//! The tool registry is the one list: every tool in the catalogue is listed by `list_tools`,
//! has object schemas, and dispatches through `Toolbox::call`; every workflow step has its
//! tool, in workflow order.

use mcp_tools::{catalogue, find_tool, instructions, Step, ToolErrorKind};
use serde_json::json;

use crate::{call, dry, fixture, rt};

#[test]
fn every_registered_tool_is_listed_has_schemas_and_dispatches() {
    let rt = rt();
    let f = fixture(dry());
    rt.block_on(async {
        let listed = call(&f.tools, "list_tools", json!({}))
            .await
            .unwrap()
            .structured;
        let listed: Vec<&str> = listed["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        let tools = catalogue();
        assert_eq!(
            listed,
            tools.iter().map(|t| t.name).collect::<Vec<_>>(),
            "list_tools lists the registry, in its order"
        );
        for t in &tools {
            assert_eq!(t.input_schema["type"], "object", "{}", t.name);
            assert_eq!(t.output_schema["type"], "object", "{}", t.name);
            assert!(
                !t.title.is_empty() && !t.description.is_empty(),
                "{}",
                t.name
            );
            assert_eq!(find_tool(t.name).map(|d| d.name), Some(t.name));
            // Arguments that are not an object reach the tool's parameter decoding: the
            // dispatcher knows the name.
            let err = call(&f.tools, t.name, json!("not an object"))
                .await
                .unwrap_err();
            assert_eq!(
                err.kind,
                ToolErrorKind::InvalidParams,
                "{}: {err:?}",
                t.name
            );
        }
        let err = call(&f.tools, "no_such_tool", json!({})).await.unwrap_err();
        assert_eq!(err.kind, ToolErrorKind::UnknownTool);
    });
}

#[test]
fn every_step_has_its_tool_in_workflow_order() {
    let tools = catalogue();
    let steps: Vec<Step> = tools.iter().filter_map(|t| t.step).collect();
    assert_eq!(steps, Step::ALL);
    for t in tools.iter().filter(|t| t.step.is_some()) {
        assert_eq!(t.step.map(Step::name), Some(t.name));
    }
    let text = instructions();
    for step in Step::ALL {
        assert!(text.contains(step.name()), "{text}");
    }
    let hints: Vec<&str> = tools
        .iter()
        .filter(|t| t.destructive)
        .map(|t| t.name)
        .collect();
    assert_eq!(
        hints,
        [
            "push_image",
            "prepare_cluster",
            "deploy_application",
            "delete_session"
        ]
    );
    let long: Vec<&str> = tools
        .iter()
        .filter(|t| t.long_running)
        .map(|t| t.name)
        .collect();
    assert_eq!(
        long,
        [
            "build_image",
            "scan_image",
            "push_image",
            "prepare_cluster",
            "deploy_application"
        ]
    );
}
