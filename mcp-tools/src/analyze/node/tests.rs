//! The Node.js detector on small repositories written for each case.

use super::super::{Details, ServiceKind, Strength};
use super::*;

/// Detects a directory written from `files`: the strength and the result.
fn detect_files(files: &[(&str, &str)]) -> (Strength, AnalyzeResult) {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    let repo = Repo::new(dir.path().canonicalize().unwrap());
    let d = detect(&repo, "").unwrap();
    (d.strength, d.outcome.unwrap())
}

/// Extra files, then the expected manager, install and setup.
type ManagerCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str, &'a str);

fn details(r: &AnalyzeResult) -> NodeDetails {
    match &r.details {
        Details::Node(d) => d.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_package_json_of_linters_is_tooling_and_bad_json_never_panics() {
    let lint = r#"{"scripts":{"lint":"eslint ."},"devDependencies":{"eslint":"9"}}"#;
    assert_eq!(detect_files(&[("package.json", lint)]).0, Strength::Tooling);
    assert_eq!(
        detect_files(&[("package.json", "{not json")]).0,
        Strength::Tooling
    );
    assert_eq!(
        detect_files(&[("package.json", "[1]")]).0,
        Strength::Tooling
    );
}

#[test]
fn each_manager_installs_from_its_lockfile() {
    let pkg = r#"{"scripts":{"start":"node index.js"},"dependencies":{"express":"4"}}"#;
    let cases: [ManagerCase; 4] = [
        (
            &[
                (".yarnrc.yml", "nodeLinker: node-modules\n"),
                ("yarn.lock", "__metadata:\n"),
            ],
            "yarn",
            "yarn install --immutable",
            "corepack enable",
        ),
        (
            &[("bun.lockb", "")],
            "bun",
            "bun install --frozen-lockfile",
            "",
        ),
        (
            &[("pnpm-lock.yaml", ""), ("package-lock.json", "{}")],
            "pnpm",
            "pnpm install --frozen-lockfile",
            "corepack enable",
        ),
        (&[], "npm", "npm install", ""),
    ];
    for (extra, tool, install, setup) in cases {
        let mut files = vec![("package.json", pkg), ("index.js", "app.listen(3000)")];
        files.extend_from_slice(extra);
        let (_, r) = detect_files(&files);
        let d = details(&r);
        assert_eq!(
            (r.build_tool.as_str(), d.install.as_str(), d.setup.as_str()),
            (tool, install, setup),
            "{r:?}"
        );
    }
    let (_, r) = detect_files(&[("package.json", pkg), ("index.js", "")]);
    assert!(
        r.checks.iter().any(|c| c.contains("no lockfile")),
        "{:?}",
        r.checks
    );
    let berry = r#"{"packageManager":"yarn@4.5.3","scripts":{"start":"node index.js"},"dependencies":{"express":"4"}}"#;
    let (_, r) = detect_files(&[
        ("package.json", berry),
        ("yarn.lock", "__metadata:\n"),
        ("index.js", ""),
    ]);
    let d = details(&r);
    assert_eq!(
        d.install,
        "YARN_NODE_LINKER=node-modules yarn install --immutable"
    );
    assert_eq!(
        d.install_prod,
        "YARN_NODE_LINKER=node-modules yarn workspaces focus --all --production"
    );
}

#[test]
fn next_modes_and_ports() {
    let pkg = r#"{"scripts":{"build":"next build","start":"next start -p 4000"},"dependencies":{"next":"15"}}"#;
    let (_, r) = detect_files(&[("package.json", pkg), ("package-lock.json", "{}")]);
    assert_eq!((r.port, r.entrypoint.as_str()), (4000, "next start"));
    assert_eq!(
        r.start_command,
        "node_modules/.bin/next start -H 0.0.0.0 -p 4000"
    );
    let (_, r) = detect_files(&[
        ("package.json", pkg),
        (
            "next.config.js",
            "module.exports = {\n  output: 'export',\n};\n",
        ),
    ]);
    let d = details(&r);
    assert_eq!(
        (d.runtime, d.build_output.as_str(), r.port),
        (NodeRuntime::StaticSite, "out", 8080)
    );
}

#[test]
fn a_start_script_that_listens_on_nothing_is_a_worker() {
    let pkg = r#"{"scripts":{"start":"node worker.js"},"dependencies":{"bullmq":"5"}}"#;
    let (s, r) = detect_files(&[
        ("package.json", pkg),
        ("worker.js", "new Worker('q', job);\n"),
    ]);
    assert_eq!(
        (s, r.kind, r.port),
        (Strength::Service, ServiceKind::Worker, 0)
    );
    let df = crate::generate::dockerfile(&r);
    assert!(!df.contains("EXPOSE") && !df.contains("PORT="), "{df}");
}

#[test]
fn typescript_runners_map_to_the_build_output_or_keep_dev_dependencies() {
    let built =
        r#"{"scripts":{"build":"tsc","start":"tsx src/app.ts"},"dependencies":{"fastify":"5"}}"#;
    let (_, r) = detect_files(&[
        ("package.json", built),
        (
            "tsconfig.json",
            "{\"compilerOptions\": {\"outDir\": \"build\"}}",
        ),
        ("src/app.ts", "await app.listen({ port: 7000 });\n"),
    ]);
    assert_eq!(
        (r.entrypoint.as_str(), r.port, r.language.as_str()),
        ("build/app.js", 7000, "typescript")
    );
    assert!(
        r.checks.iter().any(|c| c.contains("host: '0.0.0.0'")),
        "{:?}",
        r.checks
    );
    let unbuilt = r#"{"scripts":{"start":"tsx src/app.ts"},"dependencies":{"hono":"4"}}"#;
    let (_, r) = detect_files(&[
        ("package.json", unbuilt),
        ("src/app.ts", "export default { port: 3001, fetch }\n"),
    ]);
    assert_eq!(r.start_command, "node_modules/.bin/tsx src/app.ts");
    assert_eq!(details(&r).install_prod, "npm install");
}

#[test]
fn a_port_in_dotenv_beats_the_codes_default_when_the_code_reads_it() {
    let pkg = r#"{"scripts":{"start":"node app.js"},"dependencies":{"koa":"2"}}"#;
    let app = "require('dotenv').config();\napp.listen(process.env.PORT || 3000);\n";
    let (_, r) = detect_files(&[
        ("package.json", pkg),
        ("app.js", app),
        (".env", "# local\nPORT=4100\n"),
    ]);
    assert_eq!(r.port, 4100);
    let ev = &r.facts.get("port").unwrap().evidence;
    assert_eq!((ev.file.as_deref(), ev.line), (Some(".env"), Some(2)));
}

#[test]
fn express_generator_static_servers_and_one_line_next_configs() {
    let pkg = r#"{"scripts":{"start":"node ./bin/www"},"dependencies":{"express":"4"}}"#;
    let www = "#!/usr/bin/env node\nvar port = normalizePort(process.env.PORT || '3000');\n";
    let (_, r) = detect_files(&[("package.json", pkg), ("bin/www", www), ("app.js", "")]);
    assert_eq!((r.entrypoint.as_str(), r.port), ("bin/www", 3000));
    assert!(!r.facts.get("port").unwrap().fallback, "{:?}", r.facts);

    let pkg = r#"{"scripts":{"build":"webpack","start":"serve -s build -l 5000"},"dependencies":{"serve":"14"}}"#;
    let (_, r) = detect_files(&[("package.json", pkg)]);
    let d = details(&r);
    assert_eq!(
        (d.runtime, d.build_output.as_str(), r.port, r.kind),
        (NodeRuntime::StaticSite, "build", 8080, ServiceKind::Web)
    );
    let df = crate::generate::dockerfile(&r);
    assert!(
        df.contains("COPY --from=build /app/build /usr/share/nginx/html"),
        "{df}"
    );

    let pkg =
        r#"{"scripts":{"build":"next build","start":"next start"},"dependencies":{"next":"15"}}"#;
    let conf = "module.exports = { output: \"standalone\" };\n";
    let (_, r) = detect_files(&[("package.json", pkg), ("next.config.js", conf)]);
    assert_eq!(
        (details(&r).runtime, r.entrypoint.as_str()),
        (NodeRuntime::NextStandalone, "server.js")
    );
    let pkg = r#"{"main":"lib/server.js","scripts":{"start":"node ."},"dependencies":{"koa":"2"}}"#;
    let (_, r) = detect_files(&[("package.json", pkg), ("lib/server.js", "app.listen(9000)")]);
    assert_eq!((r.entrypoint.as_str(), r.port), ("lib/server.js", 9000));
}

#[test]
fn main_counts_only_when_its_file_exists() {
    let pkg = r#"{"main":"index.js","dependencies":{"express":"4"}}"#;
    let (_, r) = detect_files(&[
        ("package.json", pkg),
        ("src/index.js", "app.listen(process.env.PORT || 8000)"),
    ]);
    assert_eq!((r.entrypoint.as_str(), r.port), ("src/index.js", 8000));
    assert!(r.facts.get("entrypoint").is_some_and(|f| f.fallback));
}

#[test]
fn a_bun_installed_next_app_installs_on_bun_and_runs_on_node() {
    let pkg =
        r#"{"scripts":{"build":"next build","start":"next start"},"dependencies":{"next":"15"}}"#;
    let (_, r) = detect_files(&[
        ("package.json", pkg),
        ("bun.lock", ""),
        (
            "next.config.js",
            "module.exports = { output: 'standalone' }",
        ),
    ]);
    let df = crate::generate::dockerfile(&r);
    assert!(df.contains("FROM oven/bun:1-alpine AS deps\n"), "{df}");
    assert!(df.contains("RUN bun install --frozen-lockfile\n"), "{df}");
    assert!(df.contains("FROM node:24-alpine\n"), "{df}");
    assert!(!df.contains("/app/public"), "no public/ to copy: {df}");
}

#[test]
fn a_nest_global_prefix_leads_the_health_path() {
    let pkg = r#"{"scripts":{"build":"nest build","start:prod":"node dist/main"},"dependencies":{"@nestjs/core":"10"}}"#;
    let main = "const app = await NestFactory.create(AppModule);\napp.setGlobalPrefix('api');\nawait app.listen(8080);\n";
    let (_, r) = detect_files(&[
        ("package.json", pkg),
        ("src/main.ts", main),
        (
            "src/health/health.controller.ts",
            "@Controller('health')\nexport class H {}\n",
        ),
    ]);
    assert_eq!(
        (r.health_path.as_deref(), r.port, r.entrypoint.as_str()),
        (Some("/api/health"), 8080, "dist/main.js")
    );
}

#[test]
fn an_unreadable_node_version_is_a_check_and_a_contradiction_a_refusal() {
    let pkg = r#"{"engines":{"node":"latest-and-greatest"},"scripts":{"start":"node a.js"},"dependencies":{"express":"4"}}"#;
    let (s, r) = detect_files(&[("package.json", pkg), ("a.js", "")]);
    assert_eq!(
        (s, r.toolchain.map(|t| t.tag)),
        (Strength::Service, Some("24".to_owned()))
    );
    assert!(
        r.checks.iter().any(|c| c.contains("not used")),
        "{:?}",
        r.checks
    );

    let pkg = r#"{"engines":{"node":"<20"},"scripts":{"start":"node a.js"},"dependencies":{"express":"4"}}"#;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("package.json"), pkg).unwrap();
    std::fs::write(dir.path().join(".nvmrc"), "22\n").unwrap();
    let d = detect(&Repo::new(dir.path().canonicalize().unwrap()), "").unwrap();
    assert_eq!(d.strength, Strength::Refusal, "{:?}", d.outcome);
}

#[test]
fn a_workspace_root_is_tooling_and_its_members_code_is_not_scanned() {
    let root = r#"{"private":true,"workspaces":["apps/*"],"scripts":{"start":"turbo run start"}}"#;
    let member = r#"{"scripts":{"start":"node src/index.js"},"dependencies":{"express":"4"}}"#;
    let files = [
        ("package.json", root),
        ("package-lock.json", "{}"),
        ("apps/api/package.json", member),
        ("apps/api/src/index.js", "app.listen(7000)"),
    ];
    assert_eq!(detect_files(&files).0, Strength::Tooling);
    let plain = r#"{"scripts":{"start":"node index.js"}}"#;
    let (_, r) = detect_files(&[
        ("package.json", plain),
        ("index.js", "work();"),
        ("examples/web/package.json", member),
        ("examples/web/index.js", "app.listen(7000)"),
    ]);
    assert_eq!((r.kind, r.port), (ServiceKind::Worker, 0), "{:?}", r.facts);
}

#[test]
fn a_next_app_without_a_build_script_still_builds() {
    let pkg = r#"{"dependencies":{"next":"15","react":"19"}}"#;
    let (_, r) = detect_files(&[
        ("package.json", pkg),
        ("package-lock.json", "{}"),
        (
            "next.config.mjs",
            "export default { output: 'standalone' };",
        ),
    ]);
    let d = details(&r);
    assert_eq!(d.build, "node_modules/.bin/next build");
    assert!(crate::generate::dockerfile(&r).contains("AS build\n"));
}

#[test]
fn built_entries_outside_dist_and_framework_server_binaries() {
    let kit = r#"{"scripts":{"build":"vite build","start":"node build"},"dependencies":{"@sveltejs/adapter-node":"5"}}"#;
    let (_, r) = detect_files(&[
        ("package.json", kit),
        ("package-lock.json", "{}"),
        ("src/app.html", ""),
    ]);
    assert_eq!(
        (r.entrypoint.as_str(), details(&r).build_output.as_str()),
        ("build", "build")
    );
    assert!(crate::generate::dockerfile(&r).contains("COPY --from=build /app/build ./build\n"));

    let remix = r#"{"scripts":{"build":"remix vite:build","start":"remix-serve ./build/server/index.js"},"dependencies":{"@remix-run/serve":"2"}}"#;
    let (_, r) = detect_files(&[("package.json", remix), ("package-lock.json", "{}")]);
    assert_eq!(
        r.start_command,
        "node_modules/.bin/remix-serve ./build/server/index.js"
    );
    assert_eq!((r.kind, r.port), (ServiceKind::Web, 3000));
    assert_eq!(details(&r).build_output, "build");

    let unknown =
        r#"{"scripts":{"build":"gulp","start":"node server.js"},"dependencies":{"express":"4"}}"#;
    let (_, r) = detect_files(&[("package.json", unknown), ("server.js", "app.listen(3000)")]);
    let df = crate::generate::dockerfile(&r);
    assert!(
        df.contains("COPY --from=build /app ./\n") && !df.contains("prod-deps"),
        "{df}"
    );
}
