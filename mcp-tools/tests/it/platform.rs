//! `build_image`'s `platform`: validated before the session is touched, passed to the engine
//! (`buildx build --platform` on docker, `build --platform` on podman), recorded in the
//! session, and the dry-run record shows the exact argv.

use serde_json::json;

use super::*;

/// Runs the workflow up to build_image and builds with `platform` on `engine`; returns the
/// build artifact as stored in the session.
async fn build_with(engine: &str, platform: Option<&str>) -> Value {
    let f = fixture(ExecConfig {
        container_engine: engine.into(),
        ..dry()
    });
    let repo = repo(f.dir.path(), "svc", "go");
    let id = "plat";
    call(
        &f.tools,
        "start_workflow",
        json!({"session_id": id, "repo_path": repo}),
    )
    .await
    .unwrap();
    for step in ["analyze_repository", "generate_dockerfile"] {
        let mut args = json!({"session_id": id});
        if step == "analyze_repository" {
            args["repo_path"] = json!(repo);
        }
        call(&f.tools, step, args).await.unwrap();
    }
    let mut args = json!({"session_id": id});
    if let Some(p) = platform {
        args["platform"] = json!(p);
    }
    let out = call(&f.tools, "build_image", args).await.unwrap();
    assert_eq!(out.structured["next_step"], "scan_image");
    let session = call(&f.tools, "get_session", json!({"session_id": id}))
        .await
        .unwrap()
        .structured;
    session["session"]["metadata"]["workflow_state"]["artifacts"]["build_result"].clone()
}

#[test]
fn docker_builds_with_buildx_and_the_platform_list_is_recorded() {
    rt().block_on(async {
        let b = build_with("docker", Some(" linux/amd64, linux/ARM64/v8 ")).await;
        assert_eq!(b["platform"], "linux/amd64,linux/arm64/v8", "{b}");
        let cmd = b["commands"][0]["command"].as_str().unwrap();
        let df = b["dockerfile"].as_str().unwrap();
        assert!(
            cmd.starts_with(&format!(
                "docker buildx build --platform linux/amd64,linux/arm64/v8 -t api:latest -f {df} "
            )),
            "{cmd}"
        );
        assert_eq!(b["commands"][0]["executed"], false);
    });
}

#[test]
fn podman_takes_platform_on_build_and_no_platform_is_a_plain_build() {
    rt().block_on(async {
        let b = build_with("/usr/bin/podman", Some("linux/arm64")).await;
        let cmd = b["commands"][0]["command"].as_str().unwrap();
        assert!(
            cmd.starts_with("/usr/bin/podman build --platform linux/arm64 -t api:latest -f "),
            "{cmd}"
        );
        let b = build_with("docker", None).await;
        assert!(b.get("platform").is_none(), "{b}");
        let cmd = b["commands"][0]["command"].as_str().unwrap();
        assert!(cmd.starts_with("docker build -t api:latest -f "), "{cmd}");
    });
}

#[test]
fn a_bad_platform_is_refused_with_guidance_and_records_nothing() {
    rt().block_on(async {
        let f = fixture(dry());
        let repo = repo(f.dir.path(), "svc", "go");
        call(
            &f.tools,
            "start_workflow",
            json!({"session_id": "p", "repo_path": repo}),
        )
        .await
        .unwrap();
        for bad in [
            "linux",
            "linux/amd65",
            "plan9/amd64",
            "linux/amd64,linux/amd64",
            "linux/arm/v8/x",
            "",
        ] {
            if bad.is_empty() {
                continue; // empty means "the engine's own platform"
            }
            let e = call(
                &f.tools,
                "build_image",
                json!({"session_id": "p", "platform": bad}),
            )
            .await
            .unwrap_err();
            assert_eq!(e.kind, mcp_tools::ToolErrorKind::InvalidParams, "{bad}");
            let j = e.to_json();
            assert!(
                j["error"]["next"].as_str().unwrap().contains("linux/amd64"),
                "{j}"
            );
            assert!(
                j["error"]["hint"].as_str().unwrap().contains("platform"),
                "{j}"
            );
        }
        let s = call(&f.tools, "workflow_status", json!({"session_id": "p"}))
            .await
            .unwrap()
            .structured;
        assert_eq!(s["next_step"], "analyze_repository", "{s}");
    });
}

/// Errors met through the tools carry a hint and a next that fits them.
#[test]
fn tool_errors_carry_a_hint_and_a_next() {
    rt().block_on(async {
        let f = fixture(dry());
        let cases = [
            ("no_such_tool", json!({}), "list_tools"),
            (
                "build_image",
                json!({"session_id": "nope"}),
                "start_workflow",
            ),
            ("build_image", json!({}), "argument"),
        ];
        for (tool, args, needle) in cases {
            let e = call(&f.tools, tool, args).await.unwrap_err();
            let j = e.to_json();
            let next = j["error"]["next"].as_str().unwrap();
            assert!(!j["error"]["hint"].as_str().unwrap().is_empty(), "{j}");
            assert!(next.contains(needle), "{tool}: {j}");
        }
        // A precondition names the step to run first.
        call(
            &f.tools,
            "start_workflow",
            json!({"session_id": "pre", "repo_path": f.dir.path()}),
        )
        .await
        .unwrap();
        let e = call(&f.tools, "build_image", json!({"session_id": "pre"}))
            .await
            .unwrap_err();
        assert_eq!(e.kind, mcp_tools::ToolErrorKind::Precondition);
        assert!(
            e.to_json()["error"]["next"]
                .as_str()
                .unwrap()
                .starts_with("call "),
            "{e:?}"
        );
    });
}

/// `format: "kustomize"` through the tool: base and overlays written, deploy applies the
/// dev overlay with `kubectl apply -k`; an unknown format (helm) is refused with guidance.
#[test]
fn kustomize_format_writes_base_and_overlays_and_deploy_applies_dev() {
    rt().block_on(async {
        let f = fixture(dry());
        let repo = repo(f.dir.path(), "svc", "go");
        let id = "kz";
        started_and_analyzed(&f.tools, id, &repo).await;
        let e = call(
            &f.tools,
            "generate_k8s_manifests",
            json!({"session_id": id, "format": "helm"}),
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, mcp_tools::ToolErrorKind::InvalidParams);
        assert!(e.to_json()["error"]["next"]
            .as_str()
            .unwrap()
            .contains("kustomize"));
        let out = call(
            &f.tools,
            "generate_k8s_manifests",
            json!({"session_id": id, "format": "kustomize"}),
        )
        .await
        .unwrap();
        let a = &out.structured["artifact"];
        assert!(
            a["path"].as_str().unwrap().ends_with("k8s/base/api.yaml"),
            "{a}"
        );
        let overlays: Vec<&str> = a["overlays"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(overlays.len(), 2, "{a}");
        assert!(
            overlays[0].ends_with("k8s/overlays/dev") && overlays[1].ends_with("k8s/overlays/prod")
        );
        for rel in [
            "k8s/base/kustomization.yaml",
            "k8s/overlays/dev/deployment.yaml",
            "k8s/overlays/prod/kustomization.yaml",
        ] {
            assert!(repo.join(rel).is_file(), "{rel}");
        }
        let out = call(&f.tools, "deploy_application", json!({"session_id": id}))
            .await
            .unwrap();
        let cmd = out.structured["artifact"]["commands"][0]["command"]
            .as_str()
            .unwrap();
        assert_eq!(cmd, format!("kubectl apply -k {}", overlays[0]));
    });
}
