//! What a Next.js config and a tsconfig say about the build: Next.js's `output` mode, the
//! port of `next start -p`, the TypeScript compiler's `outDir`, and a start script that
//! only serves static files (`serve -s build`, `http-server public`).

use super::super::repo::join;
use super::super::Repo;
use super::Package;

/// Next.js's `output` mode (`standalone`, `export`) from `next.config.*`, with the file and
/// line.
pub(super) fn next_output(repo: &Repo, dir: &str) -> Option<(String, String, u32)> {
    [
        "next.config.js",
        "next.config.mjs",
        "next.config.ts",
        "next.config.cjs",
    ]
    .iter()
    .find_map(|f| {
        let mode_of = |l: &str| {
            let after = l.split("output").nth(1)?.trim_start().strip_prefix(':')?;
            ["standalone", "export"]
                .into_iter()
                .find(|m| after.contains(&format!("'{m}'")) || after.contains(&format!("\"{m}\"")))
        };
        let (line, text) = repo.find_line(&join(dir, f), |l| {
            !l.trim_start().starts_with("//") && mode_of(l).is_some()
        })?;
        let mode = mode_of(&text)?;
        Some((mode.to_owned(), (*f).to_owned(), line))
    })
}

/// The `-p`/`--port` of a `next start` script.
pub(super) fn next_port(pkg: &Package) -> Option<u16> {
    let script = pkg.script("start")?;
    let mut words = script.split_whitespace();
    while let Some(w) = words.next() {
        if let Some(v) = w.strip_prefix("--port=") {
            return v.parse().ok();
        }
        if w == "-p" || w == "--port" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// `compilerOptions.outDir` of `tsconfig.json` (`./dist` → `dist`), read by line: a
/// tsconfig may hold comments that JSON parsers refuse.
pub(super) fn tsc_out_dir(repo: &Repo, dir: &str) -> Option<String> {
    let (_, line) = repo.find_line(&join(dir, "tsconfig.json"), |l| l.contains("\"outDir\""))?;
    let after = line.split("\"outDir\"").nth(1)?;
    let value = after.split('"').nth(1)?;
    let value = value.trim_start_matches("./").trim_end_matches('/');
    (!value.is_empty() && value != ".").then(|| value.to_owned())
}

/// The directory a static file server in `scripts.start` serves (`serve -s build` →
/// `build`, `http-server ./public` → `public`, `.` when it names none).
pub(super) fn static_server(pkg: &Package) -> Option<String> {
    let script = pkg.script("start")?;
    let mut words = script
        .split("&&")
        .last()?
        .split_whitespace()
        .skip_while(|w| w.contains('=') || *w == "npx");
    if !matches!(words.next()?, "serve" | "http-server") {
        return None;
    }
    let mut dir = None;
    while let Some(w) = words.next() {
        if matches!(w, "-l" | "-p" | "--listen" | "--port" | "-a" | "-c") {
            words.next();
        } else if !w.starts_with('-') {
            dir = Some(w.trim_start_matches("./").trim_end_matches('/'));
            break;
        }
    }
    Some(dir.filter(|d| !d.is_empty()).unwrap_or(".").to_owned())
}
