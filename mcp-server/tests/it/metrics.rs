//! Metrics an operator can scrape (issue 14, part 4): `GET /metrics` on the HTTP transport
//! behind the bearer token and the same Host check as `/mcp`, Prometheus histograms
//! (`_bucket{le=…}`, `_sum`, `_count`) of the step lock wait, the session update and the step
//! duration per tool after a few dry-run steps over HTTP, and `sessions stats` printing the
//! same names for its own process beside the store's figures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use super::http_hardening::{call_with, open_session, parse, start, Reply};
use super::{scratch_repo, BIN};

const HISTOGRAMS: [&str; 3] = [
    "container_kit_step_lock_wait_seconds",
    "container_kit_session_update_seconds",
    "container_kit_step_duration_seconds",
];

fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    get_from(addr, "127.0.0.1", path, headers)
}

fn get_from(addr: SocketAddr, host: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut text = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    parse(&raw)
}

/// The value of the sample `series` (name and labels exactly as rendered), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse().unwrap())
}

/// Checks that `name{tool=…}` is a histogram with `count` samples: finite buckets and
/// `+Inf`, `_sum`, `_count`, each bucket's count at most the next one's.
fn check_histogram(text: &str, name: &str, tool: &str, count: f64) {
    assert!(
        text.contains(&format!("# TYPE {name} histogram")),
        "{name} is not a histogram:\n{text}"
    );
    let prefix = format!("{name}_bucket{{tool=\"{tool}\",le=\"");
    let buckets: Vec<f64> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.rsplit_once(' ').unwrap().1.parse().unwrap())
        .collect();
    assert!(
        buckets.len() > 2,
        "{name}{{tool={tool}}} has no buckets:\n{text}"
    );
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "{name}{{tool={tool}}} buckets are not cumulative: {buckets:?}"
    );
    let inf = value(text, &format!("{prefix}+Inf\"}}"));
    assert_eq!(inf, Some(count), "{name}{{tool={tool}}} +Inf bucket");
    let labels = format!("{{tool=\"{tool}\"}}");
    assert_eq!(value(text, &format!("{name}_count{labels}")), Some(count));
    let sum = value(text, &format!("{name}_sum{labels}")).unwrap();
    assert!(
        if count > 0.0 { sum > 0.0 } else { sum == 0.0 },
        "{name}{labels} sum {sum} for {count} samples"
    );
}

#[test]
fn metrics_after_dry_run_steps_over_http_show_histograms_per_tool_behind_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let token = "metrics-token";
    let bearer = format!("Bearer {token}");
    let auth = [("Authorization", bearer.as_str())];
    let workspace = dir.path().display().to_string();
    let store = dir.path().join("s.redb").display().to_string();
    let server = start(
        &["--store", "redb", "--store-path", &store, "--dry-run"],
        &[("MCP_AUTH_TOKEN", token), ("MCP_WORKSPACE_DIR", &workspace)],
    );
    // Before any call: every series is there with a zero count.
    let before = get(server.addr, "/metrics", &auth);
    assert_eq!(before.status, 200, "{before:?}");
    for name in HISTOGRAMS {
        check_histogram(&before.body, name, "analyze_repository", 0.0);
    }

    let session = open_session(server.addr, &auth).unwrap();
    let repo_arg = format!(r#""repo_path":"{}""#, repo.display());
    let steps = ["analyze_repository", "generate_dockerfile", "build_image"];
    let calls = [
        (
            "start_workflow",
            format!(r#"{{"session_id":"m1",{repo_arg}}}"#),
        ),
        (steps[0], format!(r#"{{"session_id":"m1",{repo_arg}}}"#)),
        (steps[1], r#"{"session_id":"m1"}"#.to_owned()),
        (steps[2], r#"{"session_id":"m1"}"#.to_owned()),
    ];
    for (i, (tool, args)) in calls.iter().enumerate() {
        let reply = call_with(server.addr, &auth, &session, i as u64 + 2, tool, args);
        assert!(
            reply.body.contains("\"result\"") && !reply.body.contains("\"isError\":true"),
            "{tool}: {reply:?}"
        );
    }

    let scrape = get(server.addr, "/metrics", &auth);
    assert_eq!(scrape.status, 200, "{scrape:?}");
    assert!(
        scrape
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4")),
        "{scrape:?}"
    );
    let text = &scrape.body;
    for step in steps {
        for name in HISTOGRAMS {
            check_histogram(text, name, step, 1.0);
        }
    }
    check_histogram(
        text,
        "container_kit_session_update_seconds",
        "start_workflow",
        1.0,
    );
    // A step not run is listed with nothing recorded.
    check_histogram(
        text,
        "container_kit_step_duration_seconds",
        "push_image",
        0.0,
    );
    // The session service's counters: start_workflow's create and update, one per step.
    let commits = value(text, "container_kit_sessions_commits_total").unwrap();
    assert!(commits >= 5.0, "{commits} commits:\n{text}");
    let locks = value(text, "container_kit_sessions_lock_acquisitions_total").unwrap();
    assert!(locks >= 3.0, "{locks} lock acquisitions:\n{text}");
    assert_eq!(value(text, "container_kit_store_sessions"), Some(1.0));
    assert!(text.contains("# TYPE container_kit_sessions_commits_total counter"));
    // The redb writer's group commits: as many as it made, each with its size, as histograms.
    for name in [
        "container_kit_store_group_commit_writes",
        "container_kit_store_commit_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} histogram")),
            "{name}:\n{text}"
        );
        let count = value(text, &format!("{name}_count")).unwrap_or(0.0);
        assert!(count >= 4.0, "{name}: {count} commits:\n{text}");
        assert!(
            text.contains(&format!("{name}_bucket{{le=\"1\"}}")),
            "{name}:\n{text}"
        );
    }

    // The same token as /mcp: none, or a wrong one, is refused and shows nothing.
    for headers in [vec![], vec![("Authorization", "Bearer wrong")]] {
        let refused = get(server.addr, "/metrics", &headers);
        assert_eq!(refused.status, 401, "{refused:?}");
        assert!(!refused.body.contains("container_kit_"), "{refused:?}");
    }
    // The same Host check as /mcp: a name rebound to loopback does not read them.
    let rebound = get_from(server.addr, "evil.example", "/metrics", &auth);
    assert_eq!(rebound.status, 403, "{rebound:?}");
    assert!(!rebound.body.contains("container_kit_"), "{rebound:?}");
}

#[test]
fn sessions_stats_prints_the_histograms_and_the_stores_figures_and_says_whose_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let repo = scratch_repo(dir.path());
    let store = dir.path().join("s.redb");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("MCP_STORE_PATH", &store)
            .env("MCP_WORKSPACE_DIR", dir.path())
            .env_remove("MCP_STORE_BACKEND")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let repo = repo.display().to_string();
    run(&[
        "tool",
        "start_workflow",
        "--session-id",
        "done",
        "--repo-path",
        &repo,
        "--run",
        "--dry-run",
    ]);
    run(&[
        "tool",
        "start_workflow",
        "--session-id",
        "begun",
        "--repo-path",
        &repo,
    ]);

    let text = run(&["sessions", "stats"]);
    assert!(
        text.contains("read from the store")
            && text.contains("this sessions-stats process's own")
            && text.contains("not a running server's"),
        "{text}"
    );
    for name in HISTOGRAMS {
        // Its own process ran no tool: the histograms are there, empty.
        check_histogram(&text, name, "build_image", 0.0);
    }
    assert_eq!(value(&text, "container_kit_store_sessions"), Some(2.0));
    assert_eq!(
        value(&text, "container_kit_store_workflows{status=\"completed\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "container_kit_store_workflows{status=\"started\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "container_kit_sessions_commits_total"),
        Some(0.0)
    );

    let json: serde_json::Value = serde_json::from_str(&run(&["sessions", "stats", "--json"]))
        .expect("sessions stats --json prints JSON");
    assert_eq!(json["backend"], "redb");
    assert_eq!(json["store"]["sessions"], 2);
    assert_eq!(json["store"]["workflows"]["completed"], 1);
    assert!(json["scope"]["process"]
        .as_str()
        .unwrap()
        .contains("not a running server's"));
    assert_eq!(json["process"]["commits"], 0);
    let samples = json["samples"].as_array().unwrap();
    for name in HISTOGRAMS {
        let bucket = format!("{name}_bucket");
        let inf = samples
            .iter()
            .find(|s| {
                s["name"] == bucket.as_str()
                    && s["labels"]["tool"] == "scan_image"
                    && s["labels"]["le"] == "+Inf"
            })
            .unwrap_or_else(|| panic!("no {bucket} +Inf sample: {json}"));
        assert_eq!(inf["value"], 0.0);
        assert!(samples
            .iter()
            .any(|s| s["name"] == format!("{name}_count").as_str()));
    }
}
