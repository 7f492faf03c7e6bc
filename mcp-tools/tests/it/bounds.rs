//! Bounded inputs and outputs (issue 18, parts 9, 11 and 12): string parameters capped and
//! their caps in the schema, unknown parameters refused, a child's huge output bounded,
//! image references parsed as OCI references, existence checked before capacity.

use std::os::unix::fs::PermissionsExt;

use mcp_tools::{ToolErrorKind, MAX_TEXT_CHARS};
use serde_json::{json, Value};

use super::*;

fn invalid(r: Result<ToolOutput, mcp_tools::ToolError>) -> String {
    let e = r.expect_err("the call should be refused");
    assert_eq!(e.kind, ToolErrorKind::InvalidParams, "{}", e.message);
    e.message
}

/// Every string parameter but the two whose cap is the configurable content limit
/// declares a `maxLength`, which clients read in tools/list.
#[test]
fn every_string_parameter_declares_its_limit_in_the_schema() {
    let mut checked = 0;
    for tool in mcp_tools::catalogue() {
        let props = tool.input_schema["properties"].as_object().cloned();
        for (name, p) in props.unwrap_or_default() {
            let text = p.to_string();
            if !text.contains("\"string\"")
                || ["dockerfile_content", "manifests"].contains(&name.as_str())
            {
                continue;
            }
            assert!(text.contains("\"maxLength\""), "{}.{name}: {p}", tool.name);
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked}");
    let tag = mcp_tools::find_tool("tag_image").unwrap().input_schema;
    assert_eq!(tag["properties"]["previous_error"]["maxLength"], 65_536);
    assert_eq!(tag["properties"]["failed_tool"]["maxLength"], 128);
    assert_eq!(tag["properties"]["session_id"]["maxLength"], 128);
}

#[test]
fn huge_string_parameters_are_refused_naming_field_length_and_limit() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "svc", "python");
    rt.block_on(async {
        call(&f.tools, "start_workflow", json!({"repo_path": repo, "session_id": "big"}))
            .await
            .unwrap();
        let fits = "e".repeat(MAX_TEXT_CHARS);
        let huge = "e".repeat(15 * 1024 * 1024);
        let m = invalid(
            call(
                &f.tools,
                "analyze_repository",
                json!({"session_id": "big", "repo_path": repo, "previous_error": huge}),
            )
            .await,
        );
        assert_eq!(
            m,
            "previous_error is 15728640 characters long, over its limit of 65536; send a shorter previous_error"
        );
        let m = invalid(call(&f.tools, "ping", json!({"message": format!("{fits}!")})).await);
        assert!(m.contains("message is 65537 characters long, over its limit of 65536"), "{m}");
        let m = invalid(
            call(
                &f.tools,
                "build_image",
                json!({"session_id": "big", "failed_tool": "t".repeat(129)}),
            )
            .await,
        );
        assert!(m.contains("failed_tool is 129 characters"), "{m}");
        let m = invalid(
            call(&f.tools, "workflow_status", json!({"session_id": "s".repeat(10_000)})).await,
        );
        assert!(m.contains("session_id is 10000 characters long, over its limit of 128"), "{m}");
        // Nothing was recorded; at the limit the text is accepted and recorded.
        let s = call(&f.tools, "get_session", json!({"session_id": "big"})).await.unwrap();
        assert!(!s.structured.to_string().contains("eeee"), "a refused call left a trace");
        call(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "big", "repo_path": repo, "previous_error": fits, "fixing_mode": true}),
        )
        .await
        .unwrap();
        let pong = call(&f.tools, "ping", json!({"message": "e".repeat(MAX_TEXT_CHARS)})).await;
        assert!(pong.is_ok());
    });
}

#[test]
fn an_unknown_parameter_is_refused_by_every_tool() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "svc", "python");
    rt.block_on(async {
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "u"}),
        )
        .await
        .unwrap();
        let cases: Vec<(&str, Value)> = vec![
            ("workflow_status", json!({"session_id": "u", "sesion": "x"})),
            // A step tool: its repair context is flattened, which serde's
            // deny_unknown_fields cannot check.
            (
                "tag_image",
                json!({"session_id": "u", "tag": "v1", "fixng_mode": true}),
            ),
            (
                "analyze_repository",
                json!({"session_id": "u", "repo_path": repo, "x": 1}),
            ),
            ("server_status", json!({"verbose": true})),
            ("ping", json!({"mesage": "hi"})),
        ];
        for (tool, args) in cases {
            let m = invalid(call(&f.tools, tool, args).await);
            assert!(
                m.starts_with(&format!("{tool} takes no parameter \"")),
                "{tool}: {m}"
            );
        }
        let m = invalid(
            call(
                &f.tools,
                "workflow_status",
                json!({"session_id": "u", "sesion": 1}),
            )
            .await,
        );
        assert!(m.ends_with("its parameters are session_id"), "{m}");
        let s = call(&f.tools, "workflow_status", json!({"session_id": "u"}))
            .await
            .unwrap();
        assert_eq!(s.structured["next_step"], "analyze_repository");
    });
}

/// A child printing 400 MB: the process's peak memory does not grow by that much, and the
/// record keeps the first and last 64 KiB with the count of bytes dropped between them.
#[test]
fn a_child_printing_400_mb_is_kept_to_its_head_and_tail() {
    const PRINTED: u64 = 400_000_000;
    let rt = rt();
    let bin = tempfile::tempdir().unwrap();
    let docker = bin.path().join("docker");
    std::fs::write(
        &docker,
        format!("#!/bin/sh\nprintf START\nyes | head -c {PRINTED}\nprintf END\n"),
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).unwrap();
    let f = fixture(ExecConfig {
        container_engine: docker.display().to_string(),
        ..ExecConfig::default()
    });
    let repo = repo(f.dir.path(), "svc", "python");
    // Linux: writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss_kib();
    let build = rt.block_on(async {
        for (tool, args) in [
            (
                "start_workflow",
                json!({"repo_path": repo, "session_id": "loud"}),
            ),
            (
                "analyze_repository",
                json!({"session_id": "loud", "repo_path": repo}),
            ),
            ("generate_dockerfile", json!({"session_id": "loud"})),
            ("build_image", json!({"session_id": "loud"})),
        ] {
            call(&f.tools, tool, args)
                .await
                .unwrap_or_else(|e| panic!("{tool}: {e}"));
        }
        call(&f.tools, "get_session", json!({"session_id": "loud"}))
            .await
            .unwrap()
    });
    let grown_mib = (peak_rss_kib() - before) / 1024;
    eprintln!("peak RSS grew by {grown_mib} MiB while the child printed {PRINTED} bytes");
    let record = &build.structured["session"]["metadata"]["workflow_state"]["artifacts"]
        ["build_result"]["commands"][0];
    let stdout = record["stdout"].as_str().unwrap();
    let kept = 2 * 64 * 1024;
    let dropped = PRINTED + 8 - kept as u64;
    assert!(
        stdout.starts_with("STARTy\ny\n") && stdout.ends_with("y\ny\nEND"),
        "{}",
        &stdout[..64]
    );
    assert!(
        stdout.contains(&format!("\n[… {dropped} bytes of output dropped …]\n")),
        "no marker of the {dropped} bytes dropped"
    );
    assert!(stdout.len() < kept + 100, "{}", stdout.len());
    assert!(
        grown_mib < 100,
        "peak RSS grew by {grown_mib} MiB for 381 MiB of output"
    );
}

fn peak_rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn registries_and_tags_that_are_not_oci_references_are_refused() {
    let rt = rt();
    let f = fixture(dry());
    let repo = repo(f.dir.path(), "svc", "python");
    rt.block_on(async {
        for (tool, args) in [
            (
                "start_workflow",
                json!({"repo_path": repo, "session_id": "img"}),
            ),
            (
                "analyze_repository",
                json!({"session_id": "img", "repo_path": repo}),
            ),
            ("generate_dockerfile", json!({"session_id": "img"})),
            ("build_image", json!({"session_id": "img"})),
        ] {
            call(&f.tools, tool, args)
                .await
                .unwrap_or_else(|e| panic!("{tool}: {e}"));
        }
        for tag in ["-f", "--force", "v1 -f", "v\"1", "vé", "a\nb", ".v1", ""] {
            let m = invalid(
                call(
                    &f.tools,
                    "tag_image",
                    json!({"session_id": "img", "tag": tag}),
                )
                .await,
            );
            assert!(m.contains("is not a valid image tag"), "{tag:?}: {m}");
        }
        call(
            &f.tools,
            "tag_image",
            json!({"session_id": "img", "tag": "v1.2_3-rc"}),
        )
        .await
        .unwrap();
        for registry in [
            "-D",
            "--config=/tmp/x",
            "ghcr.io/-D",
            "ghcr.io/a\"b",
            "ghcr.io/a'b",
            "reg\u{1}istry.io",
            "registry.io\nkind: Pod",
            "ghcr.io/Acme",
            "https://ghcr.io",
            "ghcr io",
            "ghcr.io/acme@sha256",
        ] {
            let m = invalid(
                call(
                    &f.tools,
                    "push_image",
                    json!({"session_id": "img", "registry": registry}),
                )
                .await,
            );
            assert!(
                m.starts_with("registry ") && m.contains("host[:port][/namespace]"),
                "{registry:?}: {m}"
            );
            assert!(
                !m.contains('\n'),
                "the message quotes the registry escaped: {m}"
            );
        }
        for registry in [
            "localhost:5001",
            "ghcr.io/acme/team",
            "registry.example:5000/",
        ] {
            let out = call(
                &f.tools,
                "push_image",
                json!({"session_id": "img", "registry": registry}),
            )
            .await
            .unwrap_or_else(|e| panic!("{registry}: {e}"));
            let pushed = format!("{}/svc:v1.2_3-rc", registry.trim_end_matches('/'));
            assert!(
                out.structured.to_string().contains(&pushed),
                "{pushed}: {}",
                out.structured
            );
        }
    });
}

/// start_workflow on a session that exists, with the store at its session cap, continues it
/// (today it failed CapacityExceeded: capacity was checked before existence).
#[test]
fn start_workflow_continues_an_existing_session_at_the_cap() {
    let rt = rt();
    let f = fixture_with(
        dry(),
        SessionsConfig {
            max_sessions: Some(1),
            ..SessionsConfig::default()
        },
    );
    let repo = repo(f.dir.path(), "svc", "python");
    rt.block_on(async {
        let args = json!({"repo_path": repo, "session_id": "only"});
        call(&f.tools, "start_workflow", args.clone())
            .await
            .unwrap();
        let again = call(&f.tools, "start_workflow", args).await.unwrap();
        assert_eq!(again.structured["session_id"], "only");
        let e = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "second"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, ToolErrorKind::Store, "{}", e.message);
    });
}
