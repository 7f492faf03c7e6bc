//! Confined file access (issue #18): writes and reads that a hostile repository, a swapped
//! directory or a client's roots try to lead outside the allowed roots. Every test checks
//! that the files outside are byte-identical afterwards, not just that a call failed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::*;

/// Far above a small workflow, far below a hang.
const LIMIT: Duration = Duration::from_secs(20);

/// A directory outside the workspace with one file, `victim`, that nothing may change.
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Outside {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("victim"), "root:x:0:0:OUTSIDE-SECRET\n").unwrap();
        Outside { dir }
    }

    fn victim(&self) -> PathBuf {
        self.dir.path().join("victim")
    }

    /// Every entry below the directory, with its bytes (symlinks by their target).
    fn snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                let meta = std::fs::symlink_metadata(&p).unwrap();
                if meta.is_dir() {
                    walk(&p, out);
                    out.insert(p, b"<dir>".to_vec());
                } else if meta.file_type().is_symlink() {
                    let target = std::fs::read_link(&p).unwrap();
                    out.insert(p, target.into_os_string().into_encoded_bytes());
                } else {
                    out.insert(p.clone(), std::fs::read(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.dir.path(), &mut out);
        out
    }
}

fn python_repo(root: &Path, name: &str) -> PathBuf {
    let repo = root.join(name);
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("pyproject.toml"),
        "[project]\nname = \"svc\"\ndependencies = [\"flask\"]\n",
    )
    .unwrap();
    std::fs::write(
        repo.join("app.py"),
        "from flask import Flask\napp = Flask(__name__)\n",
    )
    .unwrap();
    repo
}

/// Calls `name` with the client's `roots`, failing the test if it does not answer within
/// [`LIMIT`]. The call runs on its own task, so a call blocked inside a system call (a FIFO
/// opened for reading) is reported as hung instead of hanging the test.
async fn call_in(
    tools: &Toolbox,
    name: &str,
    args: Value,
    roots: Vec<PathBuf>,
) -> Result<ToolOutput, mcp_tools::ToolError> {
    let ctx = CallContext {
        roots,
        ..CallContext::default()
    };
    let (tools, tool) = (tools.clone(), name.to_owned());
    let task = tokio::spawn(async move { tools.call(&tool, args, &ctx).await });
    match tokio::time::timeout(LIMIT, task).await {
        Ok(joined) => joined.unwrap(),
        Err(_) => panic!("{name} hung"),
    }
}

/// The whole workflow on `repo`: its outcome (result or error) and the stored session, as
/// JSON values.
async fn run_all(f: &Fixture, repo: &Path, id: &str) -> (Result<Value, Value>, Value) {
    let outcome = call_in(
        &f.tools,
        "start_workflow",
        json!({"repo_path": repo, "session_id": id, "run": true}),
        vec![],
    )
    .await
    .map(|o| o.structured)
    .map_err(|e| e.to_json());
    let session = call(&f.tools, "get_session", json!({"session_id": id}))
        .await
        .unwrap()
        .structured;
    (outcome, session)
}

fn analysis(session: &Value) -> &Value {
    &session["session"]["metadata"]["workflow_state"]["artifacts"]["analyze_result"]
}

/// The `skipped` list of an analysis (or of a refusal's details), as (file name, reason).
fn skipped(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    let path = s["path"].as_str().unwrap_or_default();
                    let name = Path::new(path).file_name().unwrap_or_default();
                    (
                        name.to_string_lossy().into_owned(),
                        s["reason"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_planted_temp_symlink_never_redirects_the_dockerfile() {
    let rt = rt();
    let f = fixture(dry());
    let outside = Outside::new();
    let repo = python_repo(f.dir.path(), "tmpdocker");
    // The names the writer used for its temporary siblings.
    for name in [
        "Dockerfile.container-kit.tmp",
        ".dockerignore.container-kit.tmp",
    ] {
        std::os::unix::fs::symlink(outside.victim(), repo.join(name)).unwrap();
    }
    let before = outside.snapshot();
    rt.block_on(async {
        let (outcome, _) = run_all(&f, &repo, "tmpdocker").await;
        assert_eq!(outside.snapshot(), before, "a file outside was changed");
        outcome.unwrap();
        let dockerfile = std::fs::read_to_string(repo.join("Dockerfile")).unwrap();
        assert!(dockerfile.contains("FROM"), "{dockerfile}");
    });
}

#[test]
fn a_planted_temp_symlink_never_redirects_the_manifest() {
    let rt = rt();
    let f = fixture(dry());
    let outside = Outside::new();
    let repo = python_repo(f.dir.path(), "tmpk8s");
    let app = mcp_tools::analyze_dir(f.dir.path(), &repo)
        .unwrap()
        .app_name;
    std::fs::create_dir_all(repo.join("k8s")).unwrap();
    std::os::unix::fs::symlink(
        outside.victim(),
        repo.join(format!("k8s/{app}.container-kit.tmp")),
    )
    .unwrap();
    let before = outside.snapshot();
    rt.block_on(async {
        let (outcome, _) = run_all(&f, &repo, "tmpk8s").await;
        assert_eq!(outside.snapshot(), before, "a file outside was changed");
        outcome.unwrap();
        let yaml = std::fs::read_to_string(repo.join(format!("k8s/{app}.yaml"))).unwrap();
        assert!(yaml.contains("kind: Deployment"), "{yaml}");
    });
}

#[test]
fn a_k8s_directory_symlinked_outside_receives_nothing() {
    let rt = rt();
    let f = fixture(dry());
    let outside = Outside::new();
    let repo = python_repo(f.dir.path(), "k8sdir");
    std::os::unix::fs::symlink(outside.dir.path(), repo.join("k8s")).unwrap();
    let before = outside.snapshot();
    rt.block_on(async {
        let (outcome, _) = run_all(&f, &repo, "k8sdir").await;
        assert_eq!(outside.snapshot(), before, "the manifest went outside");
        let err = outcome.unwrap_err();
        let message = err["error"]["message"].as_str().unwrap();
        assert!(message.contains("generate_k8s_manifests failed"), "{err}");
        assert!(message.contains("symlink leading outside"), "{err}");
    });
}

#[test]
fn a_repo_swapped_for_a_symlink_after_start_is_refused_at_the_next_step() {
    let rt = rt();
    let f = fixture(dry());
    let outside = Outside::new();
    let repo = python_repo(f.dir.path(), "swapped");
    // The same service outside, with a Dockerfile of its own that must stay as it is.
    let elsewhere = python_repo(outside.dir.path(), "svc");
    std::fs::write(elsewhere.join("Dockerfile"), "FROM theirs\n").unwrap();
    let before = outside.snapshot();
    rt.block_on(async {
        let ok = |r: Result<ToolOutput, mcp_tools::ToolError>| r.unwrap();
        ok(call_in(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": "sw"}),
            vec![],
        )
        .await);
        ok(call_in(
            &f.tools,
            "analyze_repository",
            json!({"session_id": "sw", "repo_path": repo}),
            vec![],
        )
        .await);
        std::fs::rename(&repo, f.dir.path().join("swapped.away")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &repo).unwrap();
        for (tool, args) in [
            ("generate_dockerfile", json!({"session_id": "sw"})),
            (
                "generate_dockerfile",
                json!({"session_id": "sw", "dockerfile_content": "FROM mine\n"}),
            ),
            ("generate_k8s_manifests", json!({"session_id": "sw"})),
            ("build_image", json!({"session_id": "sw"})),
        ] {
            let err = call_in(&f.tools, tool, args.clone(), vec![])
                .await
                .unwrap_err();
            assert!(
                err.message.contains("outside the allowed roots"),
                "{tool} {args}: {err:?}"
            );
            assert_eq!(outside.snapshot(), before, "{tool} wrote outside");
        }
    });
}

#[test]
fn a_symlink_to_a_file_outside_is_skipped_and_named() {
    let rt = rt();
    let f = fixture(dry());
    let outside = Outside::new();
    let repo = python_repo(f.dir.path(), "passwd");
    std::os::unix::fs::symlink(outside.victim(), repo.join("requirements.txt")).unwrap();
    rt.block_on(async {
        let (outcome, session) = run_all(&f, &repo, "passwd").await;
        let text = format!("{outcome:?} {session}");
        assert!(
            !text.contains("OUTSIDE-SECRET"),
            "outside content leaked: {text}"
        );
        assert!(
            !text.contains(&*outside.dir.path().to_string_lossy()),
            "the target leaked: {text}"
        );
        outcome.unwrap();
        assert_eq!(
            skipped(&analysis(&session)["skipped"]),
            [(
                "requirements.txt".to_owned(),
                "symlink_outside_root".to_owned()
            )],
            "{}",
            analysis(&session)
        );
    });
}

#[test]
fn a_manifest_symlinked_to_dev_zero_is_skipped_without_reading() {
    let rt = rt();
    let f = fixture(dry());
    let repo = f.dir.path().join("zero");
    std::fs::create_dir_all(&repo).unwrap();
    std::os::unix::fs::symlink("/dev/zero", repo.join("package.json")).unwrap();
    std::fs::write(
        repo.join("index.js"),
        "require('http').createServer().listen(3000)\n",
    )
    .unwrap();
    rt.block_on(async {
        let (outcome, _) = run_all(&f, &repo, "zero").await;
        let err = outcome.unwrap_err();
        assert_eq!(err["error"]["kind"], "not_a_service", "{err}");
        assert_eq!(
            skipped(&err["error"]["details"]["skipped"]),
            [("package.json".to_owned(), "symlink_outside_root".to_owned())],
            "{err}"
        );
    });
}

#[test]
fn a_fifo_beside_a_real_manifest_is_skipped_without_opening() {
    let rt = rt();
    let f = fixture(dry());
    let repo = python_repo(f.dir.path(), "fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(repo.join("requirements.txt"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "mkfifo is needed for this test");
    rt.block_on(async {
        let (outcome, session) = run_all(&f, &repo, "fifo").await;
        outcome.unwrap();
        assert_eq!(
            skipped(&analysis(&session)["skipped"]),
            [(
                "requirements.txt".to_owned(),
                "not_a_regular_file".to_owned()
            )],
            "{}",
            analysis(&session)
        );
    });
}

#[test]
fn a_file_over_the_cap_is_skipped_and_named() {
    let rt = rt();
    let f = fixture(dry());
    let repo = python_repo(f.dir.path(), "huge");
    let mut req = "flask==3.0.0\n".repeat(200_000);
    req.push_str("OUTSIDE-SECRET\n");
    std::fs::write(repo.join("requirements.txt"), req).unwrap();
    rt.block_on(async {
        let (outcome, session) = run_all(&f, &repo, "huge").await;
        outcome.unwrap();
        assert!(!session.to_string().contains("OUTSIDE-SECRET"));
        assert_eq!(
            skipped(&analysis(&session)["skipped"]),
            [("requirements.txt".to_owned(), "over_file_cap".to_owned())],
            "{}",
            analysis(&session)
        );
    });
}

#[test]
fn a_fifo_in_the_dockerfiles_place_is_moved_aside_never_opened() {
    let rt = rt();
    let f = fixture(dry());
    let repo = python_repo(f.dir.path(), "fifodocker");
    let made = std::process::Command::new("mkfifo")
        .arg(repo.join("Dockerfile"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "mkfifo is needed for this test");
    rt.block_on(async {
        let (outcome, _) = run_all(&f, &repo, "fifodocker").await;
        outcome.unwrap();
        let kept = std::fs::symlink_metadata(repo.join("Dockerfile.orig")).unwrap();
        assert!(
            std::os::unix::fs::FileTypeExt::is_fifo(&kept.file_type()),
            "the FIFO is kept as the backup"
        );
        let dockerfile = std::fs::read_to_string(repo.join("Dockerfile")).unwrap();
        assert!(dockerfile.contains("FROM"), "{dockerfile}");
    });
}

/// The error of analyzing `path` with the workspace as the only root, `path` replaced by
/// `<path>` (the one part that differs by construction).
async fn refusal_of(f: &Fixture, path: &Path) -> String {
    let err = call_in(
        &f.tools,
        "analyze_repository",
        json!({"session_id": "probe", "repo_path": path}),
        vec![],
    )
    .await
    .unwrap_err();
    serde_json::to_string(&err.to_json())
        .unwrap()
        .replace(&*path.to_string_lossy(), "<path>")
}

#[test]
fn errors_tell_nothing_about_whether_an_outside_path_exists() {
    let rt = rt();
    let f = fixture(dry());
    let outside = Outside::new();
    let present = python_repo(outside.dir.path(), "present");
    let missing = outside.dir.path().join("missing");
    // And the same through symlinks planted in the workspace.
    let to_present = f.dir.path().join("to-present");
    let to_missing = f.dir.path().join("to-missing");
    std::os::unix::fs::symlink(&present, &to_present).unwrap();
    std::os::unix::fs::symlink(&missing, &to_missing).unwrap();
    rt.block_on(async {
        let a = refusal_of(&f, &present).await;
        let b = refusal_of(&f, &missing).await;
        assert_eq!(a, b, "an outside path's existence shows in the error");
        assert!(a.contains("outside the allowed roots"), "{a}");
        let c = refusal_of(&f, &to_present).await;
        let d = refusal_of(&f, &to_missing).await;
        assert_eq!(c, d, "a symlink target's existence shows in the error");
        // Inside the workspace, a missing directory is still said to be missing.
        let inside = refusal_of(&f, &f.dir.path().join("nope")).await;
        assert!(inside.contains("does not exist"), "{inside}");
        assert!(!c.contains(&*outside.dir.path().to_string_lossy()), "{c}");
    });
}

#[test]
fn client_roots_outside_the_workspace_are_ignored() {
    let rt = rt();
    let f = fixture(dry());
    let outside = Outside::new();
    let repo = python_repo(outside.dir.path(), "theirs");
    let before = outside.snapshot();
    rt.block_on(async {
        for root in [outside.dir.path().to_path_buf(), PathBuf::from("/")] {
            let err = call_in(
                &f.tools,
                "start_workflow",
                json!({"repo_path": repo, "run": true}),
                vec![root.clone()],
            )
            .await
            .unwrap_err();
            assert!(
                err.message.contains("outside the allowed roots"),
                "{root:?}: {err:?}"
            );
        }
        assert_eq!(outside.snapshot(), before);
    });
}

#[test]
fn client_roots_inside_the_workspace_narrow_it() {
    let rt = rt();
    let f = fixture(dry());
    let inside = python_repo(f.dir.path(), "a");
    let other = python_repo(f.dir.path(), "b");
    rt.block_on(async {
        let roots = vec![inside.clone()];
        call_in(
            &f.tools,
            "start_workflow",
            json!({"repo_path": inside}),
            roots.clone(),
        )
        .await
        .unwrap();
        let err = call_in(
            &f.tools,
            "start_workflow",
            json!({"repo_path": other}),
            roots,
        )
        .await
        .unwrap_err();
        assert!(err.message.contains("outside the allowed roots"), "{err:?}");
    });
}

#[test]
fn trusted_client_roots_are_honoured() {
    let rt = rt();
    let outside = Outside::new();
    let repo = python_repo(outside.dir.path(), "theirs");
    let workspace = tempfile::tempdir().unwrap();
    let tools = Toolbox::new(
        Sessions::new(Arc::new(MemoryStore::new()), SessionsConfig::default()),
        ToolboxConfig {
            allowed_roots: vec![workspace.path().to_path_buf()],
            trust_client_roots: true,
            exec: dry(),
            ..ToolboxConfig::default()
        },
    );
    rt.block_on(async {
        let out = call_in(
            &tools,
            "start_workflow",
            json!({"repo_path": repo, "run": true}),
            vec![outside.dir.path().to_path_buf()],
        )
        .await
        .unwrap();
        assert_eq!(out.structured["status"], "completed", "{}", out.structured);
        assert!(repo.join("Dockerfile").is_file());
    });
}
