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
            .block_on(call(&f.tools, "validate_dockerfile", source(&f, &case, &content)))
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
        let out = rt.block_on(call(&f.tools, "fix_dockerfile", args)).unwrap().structured;
        let after = out["content"].as_str().unwrap().to_owned();
        // Validating the result finds no error.
        let again = rt
            .block_on(call(&f.tools, "validate_dockerfile", source(&f, &case, &after)))
            .unwrap()
            .structured;
        if again["errors"] != 0 || out["errors_after"] != 0 {
            problems.push(format!("{}: errors left after the fix: {}", case.file, again["findings"]));
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
            problems.push(format!("{}: RUN steps changed: {runs_before:?} -> {runs_after:?}", case.file));
        }
        // The changes are reported and the fixed file is the diff's result.
        assert_eq!(out["changes"].as_array().unwrap().is_empty(), before == after, "{}", case.file);
        assert_eq!(out["diff"].as_str().unwrap().is_empty(), before == after, "{}", case.file);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
