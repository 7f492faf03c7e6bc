//! The server on etcd as it runs in production (issue 16): TLS with a client certificate
//! and user/password auth, the user's role limited to `test/` (`.ci/etcd-tls.sh`). A
//! dry-run workflow runs end to end, and three replicas' worth of one-shot processes run
//! every step at once on one session without losing one.

use std::process::{Command, Stdio};

use super::{chrono_free_nanos, scratch_repo, BIN};

struct AuthEtcd {
    endpoints: String,
    ca: String,
    cert: String,
    key: String,
    user: String,
    password: String,
    password_file: String,
}

fn auth_etcd() -> Result<AuthEtcd, String> {
    let endpoints = session_core::testkit::service_env(
        "ETCD_AUTH_ENDPOINTS",
        "run `bash .ci/etcd-tls.sh start DIR && source DIR/env`",
    )?;
    let var = |n: &str| std::env::var(n).unwrap_or_else(|_| panic!("{n} is not set"));
    Ok(AuthEtcd {
        endpoints,
        ca: var("ETCD_AUTH_CA"),
        cert: var("ETCD_AUTH_CERT"),
        key: var("ETCD_AUTH_KEY"),
        user: var("ETCD_AUTH_USER"),
        password: var("ETCD_AUTH_PASSWORD"),
        password_file: var("ETCD_AUTH_PASSWORD_FILE"),
    })
}

#[test]
fn a_dry_run_workflow_runs_over_tls_with_auth_and_replicas_lose_no_step() {
    let etcd = match auth_etcd() {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let prefix = format!(
        "test/e2e-tls-{}-{}/",
        std::process::id(),
        chrono_free_nanos()
    );
    // Half the processes read the password from the file flag, half from the environment.
    let ckm = |n: usize, args: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(args)
            .args(["--store", "etcd", "--dry-run"])
            .args(["--etcd-endpoints", &etcd.endpoints, "--etcd-ca", &etcd.ca])
            .args(["--etcd-cert", &etcd.cert, "--etcd-key", &etcd.key])
            .args(["--etcd-user", &etcd.user])
            .env("MCP_ETCD_PREFIX", &prefix)
            .env("MCP_WORKSPACE_DIR", dir.path())
            .env_remove("MCP_ETCD_PASSWORD")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if n.is_multiple_of(2) {
            c.args(["--etcd-password-file", &etcd.password_file]);
        } else {
            c.env("MCP_ETCD_PASSWORD", &etcd.password);
        }
        c
    };
    let repo_s = repo.to_str().unwrap();
    let start = [
        "tool",
        "start_workflow",
        "--repo-path",
        repo_s,
        "--session-id",
        "tls",
        "--run",
    ];
    let out = ckm(0, &start).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "completed", "{v}");
    let steps = [
        "analyze_repository",
        "generate_dockerfile",
        "build_image",
        "scan_image",
        "tag_image",
        "push_image",
        "generate_k8s_manifests",
        "prepare_cluster",
        "deploy_application",
        "verify_deployment",
    ];
    let children: Vec<_> = (0..3)
        .flat_map(|_| steps.iter())
        .enumerate()
        .map(|(n, step)| {
            let mut args = vec!["tool", step, "--session-id", "tls"];
            match *step {
                "analyze_repository" => args.extend(["--repo-path", repo_s]),
                "tag_image" => args.extend(["--tag", "v2"]),
                _ => {}
            }
            ckm(n, &args).spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = ckm(1, &["tool", "get_session", "--session-id", "tls"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["session"]["metadata"]["workflow_state"]["metadata"]["step_runs"], 40,
        "a step was lost"
    );
}

#[test]
fn a_user_without_its_password_is_told_where_to_put_it() {
    let etcd = match auth_etcd() {
        Ok(e) => e,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let out = Command::new(BIN)
        .args(["tool", "list_sessions", "--store", "etcd"])
        .args(["--etcd-endpoints", &etcd.endpoints, "--etcd-ca", &etcd.ca])
        .args(["--etcd-user", &etcd.user])
        .env_remove("MCP_ETCD_PASSWORD")
        .env_remove("MCP_ETCD_PASSWORD_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--etcd-password-file"), "{err}");
}
