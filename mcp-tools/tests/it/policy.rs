//! The example policies of `policies/`, each denying and allowing the cases it is for,
//! through the tools; `server_status` lists the loaded rules; a broken file names its line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_tools::policy::Policy;
use serde_json::json;

use super::*;

fn policies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

/// A dry-run toolbox with `policy` loaded (the file or the whole `policies/` directory).
fn with_policy(policy: &Path) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sessions = Sessions::new(Arc::new(MemoryStore::new()), SessionsConfig::default());
    let config = ToolboxConfig {
        allowed_roots: vec![dir.path().to_path_buf()],
        exec: dry(),
        policy: Some(Arc::new(Policy::load(policy).unwrap())),
        ..ToolboxConfig::default()
    };
    Fixture {
        tools: Toolbox::new(sessions, config),
        dir,
    }
}

/// A session `id` on a node repository, analysed, with `dockerfile` (or the generated one).
async fn prepared(f: &Fixture, id: &str, dockerfile: Option<&str>) {
    let repo = repo(f.dir.path(), id, "node");
    started_and_analyzed(&f.tools, id, &repo).await;
    let mut args = json!({"session_id": id});
    if let Some(d) = dockerfile {
        args["dockerfile_content"] = json!(d);
    }
    call(&f.tools, "generate_dockerfile", args).await.unwrap();
}

fn denied(e: &mcp_tools::ToolError, rule: &str, words: &str) {
    assert_eq!(e.kind, mcp_tools::ToolErrorKind::PolicyDenied, "{e:?}");
    assert!(
        e.message.contains(rule) && e.message.contains(words),
        "{e:?}"
    );
    let j = e.to_json();
    assert_eq!(j["error"]["details"]["denials"][0]["rule"], rule, "{j}");
    assert!(j["error"]["hint"].as_str().unwrap().contains(words), "{j}");
}

const GOOD: &str =
    "FROM node:22-alpine\nWORKDIR /app\nCOPY . .\nUSER 10001\nCMD [\"node\", \"index.js\"]\n";

#[test]
fn non_root_denies_a_root_or_missing_user_and_allows_a_numeric_one() {
    let f = with_policy(&policies().join("non_root.rego"));
    rt().block_on(async {
        prepared(
            &f,
            "root",
            Some("FROM node:22\nUSER app\nUSER root\nCMD [\"node\", \"i.js\"]\n"),
        )
        .await;
        let e = call(&f.tools, "build_image", json!({"session_id": "root"}))
            .await
            .unwrap_err();
        denied(&e, "containerkit.non_root.deny", "last USER is root");
        // Nothing recorded: build_image is still the next step.
        let s = call(&f.tools, "workflow_status", json!({"session_id": "root"}))
            .await
            .unwrap();
        assert_eq!(s.structured["next_step"], "build_image");
        prepared(&f, "none", Some("FROM node:22\nCMD [\"node\", \"i.js\"]\n")).await;
        let e = call(&f.tools, "build_image", json!({"session_id": "none"}))
            .await
            .unwrap_err();
        denied(&e, "containerkit.non_root.deny", "sets no USER");
        prepared(&f, "ok", Some(GOOD)).await;
        call(&f.tools, "build_image", json!({"session_id": "ok"}))
            .await
            .unwrap();
    });
}

#[test]
fn min_runtime_denies_an_old_base_and_allows_a_current_one() {
    let f = with_policy(&policies().join("min_runtime.rego"));
    rt().block_on(async {
        prepared(
            &f,
            "old",
            Some("from  docker.io/library/node:18.19-alpine AS build\nUSER 1\n"),
        )
        .await;
        let e = call(&f.tools, "build_image", json!({"session_id": "old"}))
            .await
            .unwrap_err();
        denied(
            &e,
            "containerkit.min_runtime.deny",
            "node:18.19 is below the minimum node version 20",
        );
        prepared(&f, "new", Some(GOOD)).await;
        call(&f.tools, "build_image", json!({"session_id": "new"}))
            .await
            .unwrap();
        // The generated Dockerfile passes too.
        prepared(&f, "gen", None).await;
        call(&f.tools, "build_image", json!({"session_id": "gen"}))
            .await
            .unwrap();
    });
}

#[test]
fn allowed_registries_deny_a_foreign_push_and_allow_the_organisations() {
    let f = with_policy(&policies().join("allowed_registries.rego"));
    rt().block_on(async {
        prepared(&f, "reg", Some(GOOD)).await;
        call(&f.tools, "build_image", json!({"session_id": "reg"}))
            .await
            .unwrap();
        call(
            &f.tools,
            "tag_image",
            json!({"session_id": "reg", "tag": "1.0.0"}),
        )
        .await
        .unwrap();
        let e = call(
            &f.tools,
            "push_image",
            json!({"session_id": "reg", "registry": "quay.io/evil"}),
        )
        .await
        .unwrap_err();
        denied(
            &e,
            "containerkit.registries.deny",
            "is not in an allowed registry",
        );
        let e = call(&f.tools, "push_image", json!({"session_id": "reg"}))
            .await
            .unwrap_err();
        denied(&e, "containerkit.registries.deny", "web:1.0.0");
        let out = call(
            &f.tools,
            "push_image",
            json!({"session_id": "reg", "registry": "ghcr.io/acme"}),
        )
        .await
        .unwrap();
        assert_eq!(
            out.structured["artifact"]["image"],
            "ghcr.io/acme/web:1.0.0"
        );
    });
}

#[test]
fn no_latest_denies_latest_manifests_and_pushes_and_allows_a_version() {
    let f = with_policy(&policies().join("no_latest.rego"));
    rt().block_on(async {
        prepared(&f, "lat", Some(GOOD)).await;
        call(&f.tools, "build_image", json!({"session_id": "lat"})).await.unwrap();
        // Before tag_image the manifests would deploy lat:latest.
        let e = call(&f.tools, "generate_k8s_manifests", json!({"session_id": "lat"}))
            .await
            .unwrap_err();
        denied(&e, "containerkit.no_latest.deny", "tagged latest");
        assert!(!f.dir.path().join("lat/k8s").exists(), "a denial writes nothing");
        let upper = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w\nspec:\n  template:\n    spec:\n      containers:\n      - name: w\n        image: w:LATEST\n";
        let e = call(&f.tools, "generate_k8s_manifests", json!({"session_id": "lat", "manifests": upper}))
            .await
            .unwrap_err();
        denied(&e, "containerkit.no_latest.deny", "w:LATEST");
        let e = call(&f.tools, "push_image", json!({"session_id": "lat"})).await.unwrap_err();
        denied(&e, "containerkit.no_latest.deny", "web:latest");
        call(&f.tools, "tag_image", json!({"session_id": "lat", "tag": "2.0.0"})).await.unwrap();
        call(&f.tools, "push_image", json!({"session_id": "lat"})).await.unwrap();
        call(&f.tools, "generate_k8s_manifests", json!({"session_id": "lat"})).await.unwrap();
        call(&f.tools, "deploy_application", json!({"session_id": "lat"})).await.unwrap();
    });
}

#[test]
fn resources_required_denies_bare_containers_and_warns_on_one_replica() {
    let f = with_policy(&policies().join("resources_required.rego"));
    rt().block_on(async {
        prepared(&f, "res", Some(GOOD)).await;
        let bare = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: w\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n      - name: web\n        image: w:1\n        resources:\n          limits: {cpu: 500m, memory: 256Mi}\n";
        let e = call(&f.tools, "generate_k8s_manifests", json!({"session_id": "res", "manifests": bare}))
            .await
            .unwrap_err();
        denied(&e, "containerkit.resources.deny", "container web has no resources.requests");
        // The generated manifests declare both; their one replica is a warning, listed.
        let out = call(&f.tools, "generate_k8s_manifests", json!({"session_id": "res"}))
            .await
            .unwrap();
        let warnings = &out.structured["artifact"]["policy_warnings"];
        assert_eq!(warnings[0]["rule"], "containerkit.resources.warn", "{warnings}");
        assert!(warnings[0]["message"].as_str().unwrap().contains("one replica"), "{warnings}");
        let out = call(&f.tools, "deploy_application", json!({"session_id": "res"})).await.unwrap();
        assert_eq!(out.structured["artifact"]["policy_warnings"][0]["rule"], "containerkit.resources.warn");
    });
}

#[test]
fn the_whole_directory_loads_and_server_status_lists_its_rules() {
    let f = with_policy(&policies());
    rt().block_on(async {
        let s = call(&f.tools, "server_status", json!({}))
            .await
            .unwrap()
            .structured;
        let rules = s["policy_rules"].as_array().unwrap();
        let names: Vec<&str> = rules
            .iter()
            .map(|r| r["package"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "containerkit.registries",
                "containerkit.min_runtime",
                "containerkit.no_latest",
                "containerkit.non_root",
                "containerkit.resources"
            ]
        );
        assert_eq!(rules[4]["rules"], json!(["deny", "warn"]));
        // A full run under every policy stops where they say: the push of a bare name.
        let repo = repo(f.dir.path(), "all", "node");
        let e = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "run": true}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, mcp_tools::ToolErrorKind::PolicyDenied, "{e:?}");
        assert!(e.message.starts_with("push_image denied"), "{e:?}");
        // Without a policy, server_status lists none.
        let plain = fixture(dry());
        let s = call(&plain.tools, "server_status", json!({}))
            .await
            .unwrap()
            .structured;
        assert_eq!(s["policy_rules"], json!([]));
    });
}

#[test]
fn a_broken_policy_names_its_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rego");
    std::fs::write(
        &bad,
        "package containerkit.bad\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n}\n",
    )
    .unwrap();
    let e = Policy::load(&bad).unwrap_err();
    assert_eq!(e.file, bad.display().to_string());
    assert!(e.line.is_some_and(|l| (6..=7).contains(&l)), "{e}");
    assert!(!e.reason.is_empty() && !e.reason.contains("-->"), "{e}");
    let other = dir.path().join("other.rego");
    std::fs::write(
        &other,
        "package acme\n\nimport rego.v1\n\ndeny contains 1 if { true }\n",
    )
    .unwrap();
    let e = Policy::load(&other).unwrap_err();
    assert!(e.reason.contains("containerkit"), "{e}");
    let none = dir.path().join("none.rego");
    std::fs::write(
        &none,
        "package containerkit.none\n\nimport rego.v1\n\nallow := true\n",
    )
    .unwrap();
    assert!(Policy::load(&none)
        .unwrap_err()
        .reason
        .contains("neither deny nor warn"));
    assert!(Policy::load(&dir.path().join("missing.rego")).is_err());
}

/// The Dockerfile tools are policed too: `generate_dockerfile` before it writes,
/// `validate_dockerfile` on the text it checks (its findings in the input), `fix_dockerfile`
/// on the text it would write.
#[test]
fn the_dockerfile_tools_are_evaluated_on_the_dockerfile_they_write_or_check() {
    let rules = tempfile::tempdir().unwrap();
    let file = rules.path().join("dockerfile_tools.rego");
    std::fs::write(
        &file,
        r#"package containerkit.dockerfile_tools

import rego.v1

tools := {"generate_dockerfile", "validate_dockerfile", "fix_dockerfile"}

deny contains "ADD copies local files: use COPY" if {
	input.tool in tools
	some raw in split(input.dockerfile.content, "\n")
	startswith(trim_space(raw), "ADD ")
}

warn contains msg if {
	input.tool in tools
	some f in input.findings
	f.rule == "DL3007"
	msg := sprintf("line %d: a latest base image", [f.line])
}
"#,
    )
    .unwrap();
    let f = with_policy(&file);
    const WITH_ADD: &str =
        "FROM node:latest\nWORKDIR /app\nADD . /app\nUSER 10001\nCMD [\"node\", \"index.js\"]\n";
    rt().block_on(async {
        // The generated Dockerfile passes; a given one with ADD is refused unwritten.
        prepared(&f, "dt", None).await;
        let repo = f.dir.path().join("dt").canonicalize().unwrap();
        let before = std::fs::read_to_string(repo.join("Dockerfile")).unwrap();
        let e = call(
            &f.tools,
            "generate_dockerfile",
            json!({"session_id": "dt", "dockerfile_content": WITH_ADD}),
        )
        .await
        .unwrap_err();
        denied(&e, "containerkit.dockerfile_tools.deny", "use COPY");
        assert_eq!(
            std::fs::read_to_string(repo.join("Dockerfile")).unwrap(),
            before
        );
        // validate_dockerfile: denied on ADD; a COPY with a latest base passes with a warning
        // built from its findings.
        let e = call(
            &f.tools,
            "validate_dockerfile",
            json!({"dockerfile_content": WITH_ADD}),
        )
        .await
        .unwrap_err();
        denied(&e, "containerkit.dockerfile_tools.deny", "use COPY");
        let ok = call(
            &f.tools,
            "validate_dockerfile",
            json!({"dockerfile_content": WITH_ADD.replace("ADD ", "COPY ")}),
        )
        .await
        .unwrap();
        let warnings = &ok.structured["policy_warnings"];
        assert_eq!(
            warnings[0]["rule"], "containerkit.dockerfile_tools.warn",
            "{warnings}"
        );
        assert!(
            warnings[0]["message"].as_str().unwrap().contains("line 1"),
            "{warnings}"
        );
        // fix_dockerfile is judged on its result: ADD became COPY, so it passes.
        let fixed = call(
            &f.tools,
            "fix_dockerfile",
            json!({"dockerfile_content": WITH_ADD}),
        )
        .await
        .unwrap();
        assert!(!fixed.structured["content"]
            .as_str()
            .unwrap()
            .contains("ADD "));
        assert_eq!(
            fixed.structured["policy_warnings"][0]["rule"],
            "containerkit.dockerfile_tools.warn"
        );
    });
}
