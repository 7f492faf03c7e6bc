//! How long `analyze_dir` takes on the fixtures, printed (never asserted: timings belong in
//! measurements, not pass/fail tests). `cargo test -p mcp-tools --test it analysis_time --
//! --nocapture` shows the slowest targets.

use std::time::{Duration, Instant};

use mcp_tools::analyze_dir;

use super::fixtures::repos;

/// How often each target is analyzed; the median is reported.
const RUNS: usize = 15;

#[test]
fn prints_the_analysis_time_of_the_largest_fixtures() {
    let mut rows: Vec<(Duration, String)> = Vec::new();
    for fixture in [
        "monorepo-services",
        "compose-fullstack",
        "django-pipenv",
        "actix-workspace",
    ] {
        let bound = repos().join(fixture).canonicalize().unwrap();
        let mut dirs = vec![bound.clone()];
        for sub in [
            "services/api",
            "services/web",
            "services/worker",
            "backend",
            "frontend",
        ] {
            if bound.join(sub).is_dir() {
                dirs.push(bound.join(sub));
            }
        }
        for dir in dirs {
            let mut times: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    let _ = analyze_dir(&bound, &dir);
                    start.elapsed()
                })
                .collect();
            times.sort();
            let shown = dir
                .strip_prefix(repos())
                .unwrap_or(&dir)
                .display()
                .to_string();
            rows.push((times[RUNS / 2], shown));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let report: Vec<String> = rows
        .iter()
        .map(|(t, d)| format!("{:>9.3} ms  {d}", t.as_secs_f64() * 1e3))
        .collect();
    eprintln!("analyze_dir, median of {RUNS} runs:\n{}", report.join("\n"));
}
