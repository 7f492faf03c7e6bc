//! Hostile repositories through the tool: a manifest that is a symlink out of the workspace,
//! a FIFO, a 10 MB file. The analysis reads none of them (the confined reader refuses them),
//! so nothing from outside reaches the result, the error or the store, and no call hangs.

use std::time::Duration;

use serde_json::json;

use super::*;

/// Far above the analysis of a small repository, far below a hang.
const LIMIT: Duration = Duration::from_secs(20);

/// Runs the whole workflow on `repo` within [`LIMIT`] and returns its outcome as text (the
/// error or the result, and the stored session) for the caller to search.
async fn run_bounded(f: &Fixture, repo: &Path, id: &str) -> (Result<Value, Value>, String) {
    let outcome = tokio::time::timeout(
        LIMIT,
        call(
            &f.tools,
            "start_workflow",
            json!({"repo_path": repo, "session_id": id, "run": true}),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("the workflow on {} hung", repo.display()));
    let outcome = outcome.map(|o| o.structured).map_err(|e| e.to_json());
    let session = call(&f.tools, "get_session", json!({"session_id": id}))
        .await
        .unwrap()
        .structured;
    (outcome, session.to_string())
}

#[test]
fn a_symlink_to_etc_passwd_gives_nothing_from_outside() {
    let rt = rt();
    let f = fixture(dry());
    let repo = f.dir.path().join("passwd");
    std::fs::create_dir_all(&repo).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.join("requirements.txt")).unwrap();
    std::fs::write(
        repo.join("app.py"),
        "from flask import Flask\napp = Flask(__name__)\n",
    )
    .unwrap();
    rt.block_on(async {
        let (outcome, session) = run_bounded(&f, &repo, "passwd").await;
        let text = format!("{outcome:?} {session}");
        assert!(
            !text.contains("root:"),
            "content of /etc/passwd leaked: {text}"
        );
        let err = outcome.unwrap_err();
        assert_eq!(err["error"]["kind"], "not_a_service", "{err}");
    });
}

#[test]
fn a_fifo_manifest_is_never_opened() {
    let rt = rt();
    let f = fixture(dry());
    let repo = f.dir.path().join("fifo");
    std::fs::create_dir_all(&repo).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(repo.join("package.json"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(made, "mkfifo is needed for this test");
    std::fs::write(
        repo.join("index.js"),
        "require('http').createServer().listen(3000)\n",
    )
    .unwrap();
    rt.block_on(async {
        let (outcome, _) = run_bounded(&f, &repo, "fifo").await;
        let err = outcome.unwrap_err();
        assert_eq!(err["error"]["kind"], "not_a_service", "{err}");
        assert_eq!(err["error"]["details"]["refusal"], "unknown", "{err}");
    });
}

#[test]
fn a_ten_megabyte_manifest_is_not_read() {
    let rt = rt();
    let f = fixture(dry());
    let repo = f.dir.path().join("huge");
    std::fs::create_dir_all(&repo).unwrap();
    let mut pkg =
        String::from(r#"{"name":"huge","scripts":{"start":"node index.js"},"description":""#);
    pkg.push_str(&"x".repeat(10 * 1024 * 1024));
    pkg.push_str(r#"","dependencies":{"express":"^4"}}"#);
    std::fs::write(repo.join("package.json"), pkg).unwrap();
    std::fs::write(repo.join("index.js"), "require('express')().listen(3000)\n").unwrap();
    rt.block_on(async {
        let (outcome, session) = run_bounded(&f, &repo, "huge").await;
        assert!(
            session.len() < 1024 * 1024,
            "the store holds {} bytes",
            session.len()
        );
        let err = outcome.unwrap_err();
        assert_eq!(err["error"]["kind"], "not_a_service", "{err}");
        assert!(
            err.to_string().len() < 64 * 1024,
            "the error is {} bytes",
            err.to_string().len()
        );
    });
}

#[test]
fn a_symlinked_requirements_file_beside_a_real_manifest_is_not_read() {
    let rt = rt();
    let f = fixture(dry());
    let repo = f.dir.path().join("beside");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(
        repo.join("pyproject.toml"),
        "[project]\nname = \"svc\"\ndependencies = [\"flask\"]\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.join("requirements.txt")).unwrap();
    std::fs::write(
        repo.join("app.py"),
        "from flask import Flask\napp = Flask(__name__)\n",
    )
    .unwrap();
    rt.block_on(async {
        let (outcome, session) = run_bounded(&f, &repo, "beside").await;
        let text = format!("{outcome:?} {session}");
        assert!(
            !text.contains("root:"),
            "content of /etc/passwd leaked: {text}"
        );
        let dockerfile = std::fs::read_to_string(repo.join("Dockerfile")).unwrap_or_default();
        assert!(!dockerfile.contains("root:"), "{dockerfile}");
    });
}
