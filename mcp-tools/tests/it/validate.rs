//! `validate_dockerfile` and `fix_dockerfile` (issue #22) on the fixture Dockerfiles of
//! `tests/dockerfiles/`: every rule's expected findings in `expected.toml` (each rule
//! triggered and not triggered), the fix → validate round trip without errors, and the
//! user's CMD, EXPOSE and build steps surviving a fix.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use crate::fixtures::repos;
use crate::{call, dry, fixture, rt, Fixture};

#[derive(Deserialize)]
struct Table {
    case: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    file: String,
    /// A fixture repository of tests/repos whose analysis is the context.
    #[serde(default)]
    repo: Option<String>,
    /// Our findings, `RULE:LINE`, exactly.
    findings: Vec<String>,
}

pub fn dockerfiles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dockerfiles")
}

fn table() -> Table {
    toml::from_str(&std::fs::read_to_string(dockerfiles().join("expected.toml")).unwrap()).unwrap()
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// The arguments naming `case`'s Dockerfile: its text, in its repository when it has one
/// (the repository copied into the fixture's workspace).
fn source(f: &Fixture, case: &Case, content: &str) -> Value {
    match &case.repo {
        Some(r) => {
            let dir = f.dir.path().join(r);
            if !dir.exists() {
                copy(&repos().join(r), &dir);
                let _ = std::fs::remove_file(dir.join("Dockerfile"));
            }
            json!({"repo_path": dir, "dockerfile_content": content, "hadolint": false})
        }
        None => json!({"dockerfile_content": content, "hadolint": false}),
    }
}

fn found(v: &Value, key: &str) -> BTreeSet<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{}:{}", f["rule"].as_str().unwrap(), f["line"]))
        .collect()
}

#[test]
fn every_fixture_has_exactly_its_expected_findings() {
    let rt = rt();
    let f = fixture(dry());
    let mut wrong = Vec::new();
    let mut rules_triggered = BTreeSet::new();
    for case in table().case {
        let content = std::fs::read_to_string(dockerfiles().join(&case.file)).unwrap();
        let out = rt
            .block_on(call(
                &f.tools,
                "validate_dockerfile",
                source(&f, &case, &content),
            ))
            .unwrap()
            .structured;
        let got = found(&out, "findings");
        let want: BTreeSet<String> = case.findings.iter().cloned().collect();
        if got != want {
            wrong.push(format!("{}: expected {want:?}, found {got:?}", case.file));
        }
        rules_triggered.extend(want.iter().map(|w| w.split(':').next().unwrap().to_owned()));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every rule is triggered by some fixture (and the clean fixtures trigger nothing).
    for rule in [
        "DL3000", "DL3002", "DL3003", "DL3004", "DL3006", "DL3007", "DL3008", "DL3009", "DL3012",
        "DL3013", "DL3014", "DL3015", "DL3016", "DL3018", "DL3019", "DL3020", "DL3021", "DL3025",
        "DL3027", "DL3042", "DL3059", "DL4000", "DL4003", "DL4004", "DL4006", "CK001", "CK002",
        "CK003", "CK004", "CK005", "CK006",
    ] {
        assert!(rules_triggered.contains(rule), "no fixture triggers {rule}");
    }
}

/// The instructions of `text` with keyword `kw` (continuations joined, upper-cased keyword
/// removed).
fn instructions(text: &str, kw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        cur.push_str(t.strip_suffix('\\').unwrap_or(t).trim());
        if t.ends_with('\\') {
            cur.push(' ');
            continue;
        }
        let inst = std::mem::take(&mut cur);
        if let Some((k, rest)) = inst.split_once(' ') {
            if k.eq_ignore_ascii_case(kw) {
                out.push(rest.trim().to_owned());
            }
        }
    }
    out
}

/// The words a CMD/ENTRYPOINT runs: JSON form as is; shell form as `/bin/sh -c` runs it.
fn command(arg: &str) -> Vec<String> {
    match serde_json::from_str::<Vec<String>>(arg) {
        Ok(words) if words.len() == 3 && words[0] == "/bin/sh" && words[1] == "-c" => {
            words[2].split_whitespace().map(str::to_owned).collect()
        }
        Ok(words) => words,
        Err(_) => arg.split_whitespace().map(str::to_owned).collect(),
    }
}

#[test]
fn a_fix_leaves_no_error_and_keeps_the_users_cmd_expose_and_build_steps() {
    let rt = rt();
    let f = fixture(dry());
    let mut problems = Vec::new();
    for case in table().case {
        let before = std::fs::read_to_string(dockerfiles().join(&case.file)).unwrap();
        let mut args = source(&f, &case, &before);
        args["write"] = json!(false);
        let out = rt
            .block_on(call(&f.tools, "fix_dockerfile", args))
            .unwrap()
            .structured;
        let after = out["content"].as_str().unwrap().to_owned();
        // Validating the result finds no error.
        let again = rt
            .block_on(call(
                &f.tools,
                "validate_dockerfile",
                source(&f, &case, &after),
            ))
            .unwrap()
            .structured;
        if again["errors"] != 0 || out["errors_after"] != 0 {
            problems.push(format!(
                "{}: errors left after the fix: {}",
                case.file, again["findings"]
            ));
        }
        // The last CMD and ENTRYPOINT run the same words; EXPOSE is unchanged.
        for kw in ["CMD", "ENTRYPOINT"] {
            let (b, a) = (instructions(&before, kw), instructions(&after, kw));
            if b.last().map(|c| command(c)) != a.last().map(|c| command(c)) {
                problems.push(format!("{}: {kw} changed: {b:?} -> {a:?}", case.file));
            }
        }
        if instructions(&before, "EXPOSE") != instructions(&after, "EXPOSE") {
            problems.push(format!("{}: EXPOSE changed", case.file));
        }
        // Every build step is still there (sudo dropped), in the same order.
        let runs_after = instructions(&after, "RUN");
        let runs_before: Vec<String> = instructions(&before, "RUN")
            .iter()
            .map(|r| r.replace("sudo -E ", "").replace("sudo ", ""))
            .collect();
        if runs_before != runs_after {
            problems.push(format!(
                "{}: RUN steps changed: {runs_before:?} -> {runs_after:?}",
                case.file
            ));
        }
        // The changes are reported and the fixed file is the diff's result.
        assert_eq!(
            out["changes"].as_array().unwrap().is_empty(),
            before == after,
            "{}",
            case.file
        );
        assert_eq!(
            out["diff"].as_str().unwrap().is_empty(),
            before == after,
            "{}",
            case.file
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `name` of tests/repos copied into the fixture's workspace, with `session_id` analyzed.
async fn analyzed(f: &Fixture, name: &str) -> (PathBuf, String) {
    let dir = f.dir.path().join(name);
    copy(&repos().join(name), &dir);
    let s = call(&f.tools, "start_workflow", json!({"repo_path": dir}))
        .await
        .unwrap();
    let id = s.structured["session_id"].as_str().unwrap().to_owned();
    call(
        &f.tools,
        "analyze_repository",
        json!({"session_id": id, "repo_path": dir}),
    )
    .await
    .unwrap();
    (dir, id)
}

#[test]
fn generate_dockerfile_keeps_an_existing_dockerfile_by_default_with_findings_and_a_patch() {
    let rt = rt();
    let f = fixture(dry());
    rt.block_on(async {
        let (dir, id) = analyzed(&f, "node-existing-dockerfile").await;
        let before = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let out = call(&f.tools, "generate_dockerfile", json!({"session_id": id}))
            .await
            .unwrap()
            .structured;
        let a = &out["artifact"];
        assert_eq!(a["mode"], "kept");
        // Nothing written: the file is the user's, no backup, no .dockerignore.
        assert_eq!(
            std::fs::read_to_string(dir.join("Dockerfile")).unwrap(),
            before
        );
        assert!(!dir.join("Dockerfile.orig").exists());
        assert!(!dir.join(".dockerignore").exists());
        assert_eq!(a["content"], before.as_str());
        let rules = found(a, "findings");
        for r in ["CK001:3", "CK002:1", "CK006:0"] {
            assert!(rules.contains(r), "{r} not in {rules:?}");
        }
        // The patch is a unified diff of the mechanical fixes.
        let patch = a["patch"].as_str().unwrap();
        assert!(
            patch.starts_with("--- a/Dockerfile\n+++ b/Dockerfile\n@@"),
            "{patch}"
        );
        assert!(patch.contains("+USER 10001"), "{patch}");
        assert!(out["summary"]
            .as_str()
            .unwrap()
            .contains("kept the existing Dockerfile"));
        // The next step builds the user's file.
        assert_eq!(a["path"], dir.join("Dockerfile").display().to_string());
    });
}

#[test]
fn generate_dockerfile_update_writes_the_fixes_and_replace_generates_a_new_one() {
    let rt = rt();
    let f = fixture(dry());
    rt.block_on(async {
        let (dir, id) = analyzed(&f, "node-existing-dockerfile").await;
        let before = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let out = call(
            &f.tools,
            "generate_dockerfile",
            json!({"session_id": id, "mode": "update"}),
        )
        .await
        .unwrap()
        .structured;
        let a = &out["artifact"];
        assert_eq!(a["mode"], "updated");
        let now = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        assert_eq!(a["content"], now.as_str());
        assert_ne!(now, before);
        assert!(
            now.contains("USER 10001\n")
                && now.contains("CMD [\"node\", \"app.js\"]")
                && now.contains("EXPOSE 4000"),
            "{now}"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("Dockerfile.orig")).unwrap(),
            before
        );
        let check = call(
            &f.tools,
            "validate_dockerfile",
            json!({"session_id": id, "hadolint": false}),
        )
        .await
        .unwrap()
        .structured;
        assert_eq!(check["errors"], 0, "{}", check["findings"]);
        assert!(!found(&check, "findings").contains("CK002:1"));
        // replace: generated from the analysis, the updated file moved aside.
        let out = call(
            &f.tools,
            "generate_dockerfile",
            json!({"session_id": id, "mode": "replace"}),
        )
        .await
        .unwrap()
        .structured;
        assert_eq!(out["artifact"]["mode"], "generated");
        assert_eq!(out["artifact"]["generated"], true);
        assert!(dir.join(".dockerignore").exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("Dockerfile.orig.1")).unwrap(),
            now
        );
        // A mode the schema does not list is refused.
        let bad = call(
            &f.tools,
            "generate_dockerfile",
            json!({"session_id": id, "mode": "merge"}),
        )
        .await;
        assert!(bad.is_err());
    });
}

#[test]
fn the_mode_and_its_default_are_in_the_schema() {
    let t = mcp_tools::find_tool("generate_dockerfile").unwrap();
    let s = t.input_schema.to_string();
    for word in ["\"keep\"", "\"update\"", "\"replace\"", "Default `keep`"] {
        assert!(s.contains(word), "{word} not in {s}");
    }
    let v = mcp_tools::find_tool("validate_dockerfile").unwrap();
    assert!(v.read_only);
    assert!(!mcp_tools::find_tool("fix_dockerfile").unwrap().read_only);
}

#[test]
fn fix_dockerfile_writes_the_repositorys_dockerfile_with_a_backup() {
    let rt = rt();
    let f = fixture(dry());
    rt.block_on(async {
        let (dir, _) = analyzed(&f, "node-existing-dockerfile").await;
        let before = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        let out = call(&f.tools, "fix_dockerfile", json!({"repo_path": dir, "hadolint": false}))
            .await
            .unwrap()
            .structured;
        assert_eq!(out["path"], dir.join("Dockerfile").display().to_string());
        assert_eq!(std::fs::read_to_string(dir.join("Dockerfile.orig")).unwrap(), before);
        assert_eq!(std::fs::read_to_string(dir.join("Dockerfile")).unwrap(), out["content"].as_str().unwrap());
        assert!(out["score_after"].as_u64() > out["score_before"].as_u64(), "{out}");
        assert!(!out["notes"].as_array().unwrap().is_empty());
        // A Dockerfile path outside the repository is not read.
        let outside = call(&f.tools, "validate_dockerfile", json!({"repo_path": dir, "dockerfile_path": "../../../etc/passwd"})).await;
        assert!(outside.unwrap_err().message.contains("no readable Dockerfile"));
        // Nothing to check is refused with what to pass.
        let none = call(&f.tools, "validate_dockerfile", json!({})).await;
        assert!(none.unwrap_err().message.contains("dockerfile_content"));
        // An instruction Docker does not know is an error (hadolint's DL1000, a parse error).
        let bad = call(&f.tools, "validate_dockerfile", json!({"dockerfile_content": "FROM alpine:3\nNOT AN INSTRUCTION ((\n", "hadolint": false})).await.unwrap().structured;
        assert_eq!(found(&bad, "findings"), BTreeSet::from(["DL1000:2".to_owned(), "CK002:1".to_owned()]));
    });
}

fn hadolint_bin() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("hadolint"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "hadolint is not on PATH in CI"
        );
        eprintln!("validate: hadolint is not on PATH; the merge and agreement tests are skipped");
    }
    found
}

#[test]
fn hadolints_findings_are_merged_one_per_rule_and_line() {
    if hadolint_bin().is_none() {
        return;
    }
    let rt = rt();
    let f = fixture(dry());
    let content = std::fs::read_to_string(dockerfiles().join("ck002-named-user.Dockerfile"))
        .unwrap()
        .replace("FROM node:22-alpine", "FROM node");
    let out = rt
        .block_on(call(
            &f.tools,
            "validate_dockerfile",
            json!({"dockerfile_content": content}),
        ))
        .unwrap()
        .structured;
    assert_eq!(out["hadolint"], true);
    let by = |rule: &str| {
        out["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| f["source"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(by("DL3006"), ["both"]);
    assert_eq!(by("DL3066"), ["hadolint"]);
    assert_eq!(by("CK002"), ["container-kit"]);
}

/// Our DL rules (the hadolint rules we implement).
const OUR_DL_RULES: &[&str] = &[
    "DL1000", "DL3000", "DL3002", "DL3003", "DL3004", "DL3006", "DL3007", "DL3008", "DL3009",
    "DL3012", "DL3013", "DL3014", "DL3015", "DL3016", "DL3018", "DL3019", "DL3020", "DL3021",
    "DL3025", "DL3027", "DL3042", "DL3059", "DL4000", "DL4003", "DL4004", "DL4006",
];

/// `hadolint --format json` on `content`: `RULE:LINE` for our DL rules.
fn hadolint_says(bin: &Path, content: &str) -> BTreeSet<String> {
    use std::io::Write;
    let mut child = std::process::Command::new(bin)
        .args(["--format", "json", "--no-fail", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}:{}", e["code"].as_str().unwrap(), e["line"]))
        .filter(|f| OUR_DL_RULES.contains(&f.split(':').next().unwrap()))
        .collect()
}

/// The generated Dockerfile of every fixture repository of tests/repos that analyzes.
fn corpus() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(repos()).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            if let Ok(a) = mcp_tools::analyze(&e.path()) {
                out.push((
                    e.file_name().to_string_lossy().into_owned(),
                    mcp_tools::dockerfile(&a),
                ));
            }
        }
    }
    out.sort();
    out
}

/// Per rule: (both, ours only, hadolint only) over `files`.
fn agreement(
    f: &Fixture,
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    files: &[(String, String)],
) -> std::collections::BTreeMap<String, (usize, usize, usize)> {
    let mut per = std::collections::BTreeMap::new();
    for (name, content) in files {
        let ours: BTreeSet<String> = found(
            &rt.block_on(call(
                &f.tools,
                "validate_dockerfile",
                json!({"dockerfile_content": content, "hadolint": false}),
            ))
            .unwrap()
            .structured,
            "findings",
        )
        .into_iter()
        .filter(|r| r.starts_with("DL"))
        .collect();
        let theirs = hadolint_says(bin, content);
        for r in ours.union(&theirs) {
            let e = per
                .entry(r.split(':').next().unwrap().to_owned())
                .or_insert((0, 0, 0));
            match (ours.contains(r), theirs.contains(r)) {
                (true, true) => e.0 += 1,
                (true, false) => {
                    e.1 += 1;
                    eprintln!("  ours only: {name} {r}");
                }
                _ => {
                    e.2 += 1;
                    eprintln!("  hadolint only: {name} {r}");
                }
            }
        }
    }
    per
}

#[test]
fn our_hadolint_rules_agree_with_hadolint_on_the_fixtures_and_the_generated_corpus() {
    let Some(bin) = hadolint_bin() else { return };
    let rt = rt();
    let f = fixture(dry());
    let fixtures: Vec<(String, String)> = table()
        .case
        .iter()
        .map(|c| {
            (
                c.file.clone(),
                std::fs::read_to_string(dockerfiles().join(&c.file)).unwrap(),
            )
        })
        .collect();
    let corpus = corpus();
    assert!(corpus.len() >= 20, "the corpus analyzes: {}", corpus.len());
    let mut disagreements = Vec::new();
    for (name, files) in [("fixtures", &fixtures), ("generated corpus", &corpus)] {
        let per = agreement(&f, &rt, &bin, files);
        eprintln!("agreement with hadolint on the {name} ({} Dockerfiles): rule both ours-only hadolint-only", files.len());
        for (rule, (b, o, h)) in &per {
            eprintln!("  {rule} {b} {o} {h}");
            if *o + *h > 0 {
                disagreements.push(format!(
                    "{name}: {rule}: {b} agreed, {o} ours only, {h} hadolint only"
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Not a pass/fail timing: prints validate + fix time of the largest Dockerfile (the
/// report's measurement), and checks the fix of it leaves no error.
#[test]
fn validate_and_fix_of_the_largest_dockerfile() {
    let rt = rt();
    let f = fixture(dry());
    let mut all: Vec<(String, String)> = corpus();
    all.extend(table().case.iter().map(|c| {
        (
            c.file.clone(),
            std::fs::read_to_string(dockerfiles().join(&c.file)).unwrap(),
        )
    }));
    let (name, content) = all.into_iter().max_by_key(|(_, c)| c.len()).unwrap();
    let t = std::time::Instant::now();
    let v = rt
        .block_on(call(
            &f.tools,
            "validate_dockerfile",
            json!({"dockerfile_content": content, "hadolint": false}),
        ))
        .unwrap();
    let validated = t.elapsed();
    let fx = rt
        .block_on(call(
            &f.tools,
            "fix_dockerfile",
            json!({"dockerfile_content": content, "hadolint": false}),
        ))
        .unwrap();
    let both = t.elapsed();
    eprintln!(
        "largest Dockerfile {name} ({} bytes, {} lines): validate {:?}, validate + fix {:?}; {}",
        content.len(),
        content.lines().count(),
        validated,
        both,
        v.summary
    );
    assert_eq!(fx.structured["errors_after"], 0);
}

#[test]
fn each_mechanical_fix_writes_the_expected_text() {
    let rt = rt();
    let f = fixture(dry());
    let cases: &[(&str, Option<&str>, &str, &[&str])] = &[
        ("dl3006-untagged.Dockerfile", Some("express-src-index"), "DL3006", &["FROM node:22\n"]),
        ("ck005-old-base.Dockerfile", Some("express-src-index"), "CK005", &["FROM node:22-alpine\n"]),
        ("dl3020-add.Dockerfile", None, "DL3020", &["COPY app.sh /usr/local/bin/app.sh\n", "ADD https://example.com/tool.tar.gz /opt/\n", "ADD vendor.tar.gz /opt/vendor/\n"]),
        ("dl3025-shell-vars.Dockerfile", None, "DL3025", &["CMD [\"/bin/sh\", \"-c\", \"gunicorn -b 0.0.0.0:$PORT app:app\"]\n"]),
        ("dl3025-shell-cmd.Dockerfile", None, "DL3025", &["ENTRYPOINT [\"/app\", \"--port\", \"8080\"]\n"]),
        ("dl3004-sudo.Dockerfile", None, "DL3004", &["RUN mkdir -p /data && chown 1000 /data\nUSER 1000\nUSER root\nRUN touch /data/ready\nUSER 1000\n"]),
        ("ck002-no-user.Dockerfile", None, "CK002", &["COPY . .\nUSER 10001\nEXPOSE 3000\n"]),
        ("dl3002-root.Dockerfile", None, "DL3002", &["USER 10001\nCMD [\"bash\"]\n"]),
        ("ck001-sources-first.Dockerfile", Some("express-src-index"), "CK001", &["WORKDIR /app\nCOPY package*.json ./\nRUN npm ci\nCOPY . .\n"]),
        ("dl3000-workdir.Dockerfile", None, "DL3000", &["WORKDIR /app/src\n"]),
        ("dl4000-maintainer.Dockerfile", None, "DL4000", &["LABEL maintainer=\"Jane Doe <jane@example.com>\"\n"]),
    ];
    for (file, repo, rule, expect) in cases {
        let case = Case {
            file: (*file).into(),
            repo: repo.map(str::to_owned),
            findings: vec![],
        };
        let before = std::fs::read_to_string(dockerfiles().join(file)).unwrap();
        let mut args = source(&f, &case, &before);
        args["write"] = json!(false);
        let out = rt
            .block_on(call(&f.tools, "fix_dockerfile", args))
            .unwrap()
            .structured;
        let content = out["content"].as_str().unwrap();
        for e in *expect {
            assert!(content.contains(e), "{file}: {e:?} not in\n{content}");
        }
        let rules: Vec<&str> = out["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["rule"].as_str().unwrap())
            .collect();
        assert!(rules.contains(rule), "{file}: {rules:?}");
    }
    // Without a repository the dependency-first fix is not made (the manifests are unknown)
    // and is left for a person.
    let case = Case {
        file: "ck001-sources-first.Dockerfile".into(),
        repo: None,
        findings: vec![],
    };
    let before = std::fs::read_to_string(dockerfiles().join(&case.file)).unwrap();
    let out = rt
        .block_on(call(&f.tools, "fix_dockerfile", source(&f, &case, &before)))
        .unwrap()
        .structured;
    assert_eq!(out["content"], before.as_str());
    assert_eq!(found(&out, "left"), BTreeSet::from(["CK001:3".to_owned()]));
    assert_eq!(out["path"], Value::Null);
}

#[test]
fn generated_dockerfiles_pass_our_rules_with_their_analysis() {
    let rt = rt();
    let f = fixture(dry());
    let mut problems = Vec::new();
    for e in std::fs::read_dir(repos()).unwrap() {
        let e = e.unwrap();
        if !e.file_type().unwrap().is_dir() {
            continue;
        }
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(a) = mcp_tools::analyze(&e.path()) else {
            continue;
        };
        let dir = f.dir.path().join(&name);
        copy(&e.path(), &dir);
        // What generate_dockerfile writes: the Dockerfile and its .dockerignore.
        std::fs::write(
            dir.join(mcp_tools::dockerignore_name(&a)),
            mcp_tools::dockerignore(&a),
        )
        .unwrap();
        let out = rt
            .block_on(call(&f.tools, "validate_dockerfile", json!({"repo_path": dir, "dockerfile_content": mcp_tools::dockerfile(&a), "hadolint": false})))
            .unwrap()
            .structured;
        let bad: Vec<String> = out["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] == "error" || f["severity"] == "warning")
            .map(|f| {
                format!(
                    "{}:{} {}",
                    f["rule"].as_str().unwrap(),
                    f["line"],
                    f["message"].as_str().unwrap()
                )
            })
            .collect();
        eprintln!(
            "generated {name}: score {} {:?}",
            out["score"],
            found(&out, "findings")
        );
        if !bad.is_empty() {
            problems.push(format!("{name}: {bad:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
