//! The external-CLI path, with stand-in programs on PATH that record their arguments.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::*;

/// Writes stand-ins for docker, trivy, kubectl and kind into `bin`; each appends its name and
/// arguments to `bin/calls.log`. trivy writes a report with two HIGH and one LOW finding.
pub(crate) fn stand_ins(bin: &Path, missing: &[&str]) -> PathBuf {
    std::fs::create_dir_all(bin).unwrap();
    let log = bin.join("calls.log");
    for program in ["docker", "trivy", "kubectl", "kind"] {
        if missing.contains(&program) {
            continue;
        }
        let output = match program {
            // Like trivy, writes its report to the file after --output.
            "trivy" => {
                r#"out=; prev=; for a in "$@"; do [ "$prev" = --output ] && out=$a; prev=$a; done
echo '{"Results":[{"Vulnerabilities":[{"Severity":"HIGH"},{"Severity":"HIGH"},{"Severity":"LOW"}]}]}' > "$out""#
            }
            _ => "true",
        };
        let script = format!(
            "#!/bin/sh\necho \"{program} $*\" >> '{}'\n{output}\n",
            log.display()
        );
        let p = bin.join(program);
        std::fs::write(&p, script).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    log
}

pub(crate) fn exec_with(bin: &Path) -> ExecConfig {
    let path = format!("{}:/usr/bin:/bin", bin.display());
    ExecConfig {
        path: Some(path.into()),
        container_engine: bin.join("docker").display().to_string(),
        trivy: bin.join("trivy").display().to_string(),
        kubectl: bin.join("kubectl").display().to_string(),
        kind: bin.join("kind").display().to_string(),
        ..ExecConfig::default()
    }
}

#[test]
fn steps_run_the_real_programs_with_the_right_arguments() {
    let rt = rt();
    let bin_dir = tempfile::tempdir().unwrap();
    let log = stand_ins(bin_dir.path(), &[]);
    let f = fixture(exec_with(bin_dir.path()));
    let repo = repo(f.dir.path(), "shop", "node");
    rt.block_on(async {
        let out = call_confirmed(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "real", "run": true}),
        )
        .await
        .unwrap();
        assert_eq!(out.structured["status"], "completed", "{}", out.structured);
        let s = call(&f.tools, "get_session", json!({"session_id": "real"}))
            .await
            .unwrap()
            .structured;
        let scan = &s["session"]["metadata"]["workflow_state"]["artifacts"]["scan_result"];
        assert_eq!(scan["vulnerabilities"], json!({"HIGH": 2, "LOW": 1}));
        assert_eq!(scan["commands"][0]["executed"], true);
        let verify = &s["session"]["metadata"]["workflow_state"]["artifacts"]["verify_result"];
        assert_eq!(verify["ready"], true);
    });
    let calls = std::fs::read_to_string(log).unwrap();
    // trivy's report goes to a fresh private directory: its name is random, its place known.
    let report_dir = std::env::temp_dir().join("container-kit-trivy-");
    let calls: Vec<String> = calls
        .lines()
        .map(|l| match l.split_once(report_dir.to_str().unwrap()) {
            Some((before, after)) => {
                let (_, rest) = after.split_once("/report.json").unwrap();
                assert!(
                    !Path::new(&format!("{}{}", report_dir.display(), &after[..16])).exists(),
                    "the report directory is removed"
                );
                format!("{before}<dir>/report.json{rest}")
            }
            None => l.to_owned(),
        })
        .collect();
    let lines: Vec<&str> = calls.iter().map(String::as_str).collect();
    let dockerfile = repo.canonicalize().unwrap().join("Dockerfile");
    let root = repo.canonicalize().unwrap();
    let manifest = root.join("k8s").join("web.yaml");
    assert_eq!(
        lines,
        vec![
            format!(
                "docker build -t web:latest -f {} {}",
                dockerfile.display(),
                root.display()
            )
            .as_str(),
            "trivy image --quiet --format json --output <dir>/report.json web:latest",
            "docker tag web:latest web:0.1.0",
            "docker push web:0.1.0",
            "kubectl cluster-info",
            format!("kubectl apply -f {}", manifest.display()).as_str(),
            "kubectl rollout status deployment/web --timeout=120s",
            "kubectl get pods -l app=web -o wide",
        ]
    );
}

#[test]
fn a_missing_program_fails_the_step_by_name_and_is_recorded() {
    let rt = rt();
    let bin_dir = tempfile::tempdir().unwrap();
    stand_ins(bin_dir.path(), &["docker"]);
    let f = fixture(exec_with(bin_dir.path()));
    let repo = repo(f.dir.path(), "api", "go");
    rt.block_on(async {
        let err = call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "nodocker", "run": true}),
        )
        .await
        .unwrap_err();
        assert!(
            err.message.contains("build_image failed")
                && err.message.contains("docker` was not found"),
            "{}",
            err.message
        );
        assert_eq!(err.next_tool.as_deref(), Some("generate_dockerfile"));
        let status = call(
            &f.tools,
            "workflow_status",
            json!({"session_id": "nodocker"}),
        )
        .await
        .unwrap()
        .structured;
        assert_eq!(status["status"], "error");
        assert_eq!(status["error"]["step"], "build_image");
        assert_eq!(status["steps"][2]["status"], "failed");
        assert_eq!(status["next_step"], "build_image");
    });
}
