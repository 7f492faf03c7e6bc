//! The Rust Dockerfile, from the analysis's facts: a `rust` slim builder at the toolchain
//! the project declares, the manifests and lockfile copied first with empty target files
//! so `cargo fetch` caches the dependencies in a layer of their own, `cargo build
//! --release` with `--locked` whenever a lockfile exists (never dropped on failure), and a
//! distroless runtime running as its own numeric non-root user.

use super::{render, template};
use crate::analyze::{AnalyzeResult, Details, RustDetails, ServiceKind};

/// The Rust Dockerfile for `a`. A worker exposes nothing.
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let name = if a.app_name.is_empty() {
        "app"
    } else {
        &a.app_name
    };
    // An analysis without Rust details: one package named for the app, no lockfile known.
    let fallback = RustDetails {
        bin: name.to_owned(),
        manifests: vec!["Cargo.toml".into()],
        targets: vec!["src/main.rs".into()],
        ..RustDetails::default()
    };
    let d = match &a.details {
        Details::Rust(d) if !d.bin.is_empty() => d,
        _ => &fallback,
    };
    let copies = copies(&d.manifests);
    let mut dirs: Vec<&str> = d
        .targets
        .iter()
        .filter_map(|t| t.rsplit_once('/').map(|(dir, _)| dir))
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    let mut mkdir = String::new();
    if let Some(t) = &d.target_triple {
        // `[build] target` of .cargo/config.toml: the image's toolchain needs that target.
        mkdir.push_str(&format!("rustup target add {t} \\\n    && "));
    }
    if !dirs.is_empty() {
        mkdir.push_str(&format!("mkdir -p {} \\\n    && ", dirs.join(" ")));
    }
    // cargo runs where its root manifest is (and rustup finds rust-toolchain.toml there).
    let workdir = if d.cargo_dir.is_empty() {
        String::new()
    } else {
        format!("WORKDIR /src/{}\n", d.cargo_dir)
    };
    let locked = if d.locked { " --locked" } else { "" };
    let mut build = format!("cargo build --release{locked}");
    if let Some(p) = &d.package {
        build.push_str(&format!(" -p {p}"));
    }
    build.push_str(&format!(" --bin {}", d.bin));
    let triple = d
        .target_triple
        .as_ref()
        .map(|t| format!("{t}/"))
        .unwrap_or_default();
    let expose = match a.kind {
        ServiceKind::Worker => String::new(),
        ServiceKind::Web => format!("EXPOSE {port}\n"),
    };
    let env: String = d.env.iter().map(|e| format!("ENV {e}\n")).collect();
    let tag = a
        .toolchain
        .as_ref()
        .filter(|t| !t.tag.is_empty())
        .map_or("1", |t| t.tag.as_str());
    render(
        template::RUST,
        &[
            ("tag", tag),
            ("copies", &copies),
            ("workdir", &workdir),
            ("mkdir", &mkdir),
            ("targets", &d.targets.join(" ")),
            ("locked", locked),
            ("build", &build),
            ("triple", &triple),
            ("bin", &d.bin),
            ("env", &env),
            ("expose", &expose),
        ],
    )
}

/// One `COPY` per directory of `manifests` (`COPY Cargo.toml Cargo.lock ./`,
/// `COPY api/Cargo.toml api/`), in the order first seen.
fn copies(manifests: &[String]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for m in manifests {
        let dir = m
            .rsplit_once('/')
            .map_or(String::new(), |(d, _)| format!("{d}/"));
        match groups.iter_mut().find(|(d, _)| *d == dir) {
            Some((_, files)) => files.push(m),
            None => groups.push((dir, vec![m])),
        }
    }
    groups
        .into_iter()
        .map(|(dir, files)| {
            let dest = if dir.is_empty() { "./".to_owned() } else { dir };
            format!("COPY {} {dest}\n", files.join(" "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::go::tests::{check_golden, generated};

    #[test]
    fn rust_fixtures_generate_their_goldens() {
        for (golden, fixture) in [
            ("rust-axum-api.Dockerfile", "axum-api"),
            ("rust-actix-workspace.Dockerfile", "actix-workspace"),
        ] {
            check_golden(golden, &generated(fixture, None));
        }
    }

    #[test]
    fn the_lockfile_is_respected_and_never_dropped() {
        let ws = generated("actix-workspace", None);
        assert!(
            ws.contains("cargo build --release --locked -p api --bin shop-api"),
            "{ws}"
        );
        assert!(
            ws.contains("COPY Cargo.toml Cargo.lock rust-toolchain.toml ./"),
            "{ws}"
        );
        assert!(ws.contains("FROM rust:1.88-slim AS build"), "{ws}");
        assert!(!ws.contains("||"), "{ws}");
    }
}
