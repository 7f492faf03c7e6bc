//! The Node.js and Bun Dockerfile, from the analysis's facts: a `deps` stage installing
//! every dependency from the lockfile and a `build` stage running the build (when there is
//! one), a `prod-deps` stage installing the production dependencies only, and a slim
//! runtime stage on `node:<tag>-alpine` (or `oven/bun:<tag>-alpine`) running as the image's
//! uid 1000. A Next.js standalone build copies `.next/standalone`, `.next/static` and
//! `public`; a static site is served by `nginxinc/nginx-unprivileged` (uid 101, port 8080).

use super::{exec_form, render, template};
use crate::analyze::{AnalyzeResult, Details, NodeDetails, NodeRuntime, ServiceKind};
use crate::toolchain::{choose, Ecosystem};

/// The Node.js or Bun Dockerfile for `a`, exposing `port`.
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let d = match &a.details {
        Details::Node(d) => d.clone(),
        _ => legacy(a),
    };
    let bun = d.runtime == NodeRuntime::Bun;
    let bun_image = || format!("oven/bun:{}-alpine", tag(a, Ecosystem::Bun));
    let base = if bun {
        bun_image()
    } else {
        format!("node:{}-alpine", tag(a, Ecosystem::Node))
    };
    // Bun installs (and runs the build scripts) on its own image even when node runs the
    // result (a Next.js app installed with bun); its image answers to `node` as well.
    let install_base = if a.build_tool == "bun" {
        bun_image()
    } else {
        base.clone()
    };
    let setup = if d.setup.is_empty() {
        String::new()
    } else {
        format!("{} && ", d.setup)
    };
    let manifests = d.manifests.join(" ");
    let next = matches!(d.runtime, NodeRuntime::NextStandalone) || a.framework == "nextjs";
    let build_stages = if d.build.is_empty() {
        String::new()
    } else {
        let build_env = if next {
            "ENV NEXT_TELEMETRY_DISABLED=1\n"
        } else {
            ""
        };
        render(
            template::NODE_BUILD,
            &[
                ("install_base", &install_base),
                ("manifests", &manifests),
                ("setup", &setup),
                ("install", &d.install),
                ("build_env", build_env),
                ("build", &d.build),
            ],
        )
    };
    let worker = a.kind == ServiceKind::Worker;
    let env: String = d
        .port_env
        .iter()
        .filter(|_| !worker)
        .map(|v| format!(" {v}={port}"))
        .collect();
    // A worker listens on nothing: no EXPOSE.
    let expose = if worker {
        String::new()
    } else {
        format!("EXPOSE {port}\n")
    };
    let healthcheck = match &a.health_path {
        Some(path) if d.runtime != NodeRuntime::StaticSite && !worker => {
            let probe = format!(
                "fetch('http://127.0.0.1:{port}{path}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
            );
            let runner = if bun { "bun" } else { "node" };
            format!(
                "HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD [\"{runner}\", \"-e\", {}]\n",
                serde_json::Value::from(probe)
            )
        }
        _ => String::new(),
    };
    let values = |body: &str, extra: &[(&str, &str)]| {
        let mut v: Vec<(&str, &str)> = vec![
            ("build_stages", &build_stages),
            ("base", &base),
            ("install_base", &install_base),
            ("env", &env),
            ("port", port),
            ("expose", &expose),
            ("healthcheck", &healthcheck),
        ];
        v.extend_from_slice(extra);
        render(body, &v)
    };
    match d.runtime {
        NodeRuntime::StaticSite => {
            // Built in the build stage, or served as the repository holds it.
            let from = if d.build.is_empty() {
                format!("{}/", d.build_output.trim_end_matches('/'))
            } else {
                format!("--from=build /app/{}", d.build_output)
            };
            values(template::NODE_STATIC, &[("from", &from)])
        }
        NodeRuntime::NextStandalone => {
            let public = if d.public_dir {
                "COPY --from=build --chown=1000:1000 /app/public ./public\n"
            } else {
                ""
            };
            values(template::NODE_NEXT, &[("public", public)])
        }
        NodeRuntime::Node | NodeRuntime::Bun if !d.build.is_empty() && d.build_output == "." => {
            values(
                template::NODE_WHOLE,
                &[("cmd", &exec_form(&a.start_command))],
            )
        }
        NodeRuntime::Node | NodeRuntime::Bun => {
            let build_copy = if d.build.is_empty() {
                String::new()
            } else {
                let out = if d.build_output.is_empty() {
                    "dist"
                } else {
                    &d.build_output
                };
                format!("COPY --from=build /app/{out} ./{out}\n")
            };
            values(
                template::NODE,
                &[
                    ("manifests", &manifests),
                    ("setup", &setup),
                    ("install_prod", &d.install_prod),
                    ("build_copy", &build_copy),
                    ("cmd", &exec_form(&a.start_command)),
                ],
            )
        }
    }
}

/// The image tag: the analysis's toolchain when it is this image's, else the policy's
/// default.
fn tag(a: &AnalyzeResult, ecosystem: Ecosystem) -> String {
    match &a.toolchain {
        Some(t) if t.image == ecosystem.image() && !t.tag.is_empty() => t.tag.clone(),
        _ => choose(ecosystem, &[]).map_or_else(|_| "lts".into(), |c| c.tag),
    }
}

/// The details of an analysis stored by a version that did not record them: the manager
/// from `build_tool`, the install and the build from `build_command`
/// (`npm ci && npm run build`).
fn legacy(a: &AnalyzeResult) -> NodeDetails {
    let (install, build) = match a.build_command.split_once(" && ") {
        Some((i, b)) => (i.to_owned(), b.to_owned()),
        None if a.build_command.is_empty() => ("npm install".to_owned(), String::new()),
        None => (a.build_command.clone(), String::new()),
    };
    let (lockfile, prod, setup) = match a.build_tool.as_str() {
        "yarn" => (
            "yarn.lock",
            "yarn install --frozen-lockfile --production",
            "",
        ),
        "pnpm" => (
            "pnpm-lock.yaml",
            "pnpm install --frozen-lockfile --prod",
            "corepack enable",
        ),
        "bun" => ("bun.lock", "bun install --frozen-lockfile --production", ""),
        _ => ("package*.json", "npm ci --omit=dev", ""),
    };
    let mut manifests = vec![lockfile.to_owned()];
    if lockfile != "package*.json" {
        manifests.insert(0, "package.json".into());
    }
    NodeDetails {
        runtime: NodeRuntime::Node,
        manifests,
        install,
        install_prod: prod.into(),
        setup: setup.into(),
        build,
        build_output: String::new(),
        public_dir: false,
        port_env: vec!["PORT".into()],
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The fixtures whose generated Dockerfile is kept as a golden
    /// (`templates/golden/node-<fixture>.Dockerfile`; `UPDATE_GOLDEN=1` rewrites them).
    /// node-existing-dockerfile is left out: its port comes from its own Dockerfile's
    /// EXPOSE, a source outside the Node detector.
    const GOLDEN_FIXTURES: [&str; 9] = [
        "2048-game",
        "express-src-index",
        "express-yarn",
        "nextjs-standalone",
        "nextjs-pnpm",
        "nestjs-api",
        "bun-server",
        "node-ts-express",
        "compose-fullstack/frontend",
    ];

    #[test]
    fn node_fixtures_generate_their_golden_dockerfiles() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        for target in GOLDEN_FIXTURES {
            let fixture = target.split('/').next().unwrap_or(target);
            let bound = manifest
                .join("tests/repos")
                .join(fixture)
                .canonicalize()
                .unwrap();
            let dir = bound.join(
                target
                    .strip_prefix(fixture)
                    .unwrap_or("")
                    .trim_start_matches('/'),
            );
            let a = crate::analyze::analyze_dir(&bound, &dir).unwrap();
            let actual = crate::generate::dockerfile(&a);
            let name = format!("node-{}.Dockerfile", target.replace('/', "-"));
            let path = manifest.join("templates/golden").join(&name);
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::write(&path, &actual).unwrap();
            }
            let expected = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
            assert!(
                actual == expected,
                "{name} differs from its golden:\n{actual}"
            );
        }
    }
}
