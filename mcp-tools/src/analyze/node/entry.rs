//! What starts a Node.js or Bun service: the file `scripts.start` runs, Next.js's
//! `server.js` (standalone output) or `next start`, NestJS's built `dist/main.js`, the
//! TypeScript compiler's output, `main` only when that file exists, `bin`, or a
//! conventional file name.

use super::super::repo::join;
use super::super::Repo;
use super::Package;

/// The entrypoint and the rule and `package.json` line that gave it.
#[derive(Debug, Clone)]
pub(super) struct Entrypoint {
    /// The script path (`src/index.js`), `server.js` for a standalone Next.js build, or
    /// `next start`.
    pub(super) path: String,
    /// The `package.json` line that says it, when one does.
    pub(super) line: Option<u32>,
    pub(super) rule: String,
    /// True when nothing said it and a conventional name was taken.
    pub(super) fallback: bool,
    /// The runtime flags of the start script (`--enable-source-maps`), kept in the command.
    pub(super) flags: Vec<String>,
    /// `tsx` or `ts-node` when the start script runs TypeScript without a build: the image
    /// runs it through `node_modules/.bin/<runner>` and keeps the dev dependencies.
    pub(super) runner: Option<String>,
    /// True when the runtime needs the dev dependencies (a TypeScript runner).
    pub(super) needs_dev: bool,
    /// The whole start command when the start script runs a framework's own server binary
    /// (`remix-serve build/server/index.js`, `nuxt start`): `node_modules/.bin/<binary> …`.
    pub(super) command: Option<String>,
}

/// Conventional entry files, tried last.
const CONVENTIONAL: [&str; 10] = [
    "server.js",
    "index.js",
    "app.js",
    "main.js",
    "src/index.js",
    "src/server.js",
    "src/app.js",
    "src/main.js",
    "index.ts",
    "src/index.ts",
];

/// What a start script runs: the runner (`node`, `bun`, `tsx`, `ts-node`), its flags
/// (`--enable-source-maps`, `-r dotenv/config`) and the file, after any `VAR=value`
/// assignments and up to the last `&&`; `None` for anything else (`next start`,
/// `nest start`, `nodemon`).
fn script_command(script: &str) -> Option<(&str, Vec<&str>, &str)> {
    let mut words = script
        .split("&&")
        .last()?
        .split_whitespace()
        .skip_while(|w| w.contains('=') && !w.starts_with('-'));
    let runner = words.next()?;
    if !matches!(runner, "node" | "bun" | "tsx" | "ts-node") {
        return None;
    }
    let mut flags = Vec::new();
    while let Some(w) = words.next() {
        if w == "run" && runner == "bun" {
            continue;
        }
        if !w.starts_with('-') {
            return Some((runner, flags, w));
        }
        flags.push(w);
        // Flags whose value is the next word.
        if matches!(
            w,
            "-r" | "--require" | "--import" | "--loader" | "--env-file"
        ) {
            flags.extend(words.next());
        }
    }
    None
}

/// The file a start script runs (see [`script_command`]).
#[cfg(test)]
fn script_file(script: &str) -> Option<&str> {
    script_command(script).map(|(_, _, f)| f)
}

/// A start script that runs a package's own server binary (`remix-serve build/server/index.js`,
/// `astro preview`): the binary and the command from it on; `None` for managers, watchers
/// and what [`script_command`] reads.
fn server_binary(script: &str) -> Option<(String, String)> {
    let last = script.split("&&").last()?.trim();
    let mut words = last
        .split_whitespace()
        .skip_while(|w| w.contains('=') && !w.starts_with('-'));
    let bin = words.next()?;
    let skipped = [
        "node",
        "bun",
        "tsx",
        "ts-node",
        "npm",
        "npx",
        "yarn",
        "pnpm",
        "bunx",
        "nodemon",
        "next",
        "nest",
        "serve",
        "http-server",
        "echo",
        "exit",
        "vite",
        "cross-env",
    ];
    if skipped.contains(&bin)
        || bin.contains('/')
        || !bin.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return None;
    }
    let rest: Vec<&str> = words.collect();
    let command = std::iter::once(bin)
        .chain(rest)
        .collect::<Vec<_>>()
        .join(" ");
    Some((bin.to_owned(), command))
}

/// `src/server.ts`, run by tsx or ts-node, as the file `tsc` writes to `out` (`dist/server.js`):
/// the first directory (the `rootDir`, usually `src`) is replaced by `out`.
fn compiled(file: &str, out: &str) -> String {
    let file = file.trim_start_matches("./");
    let rest = file.split_once('/').map_or(file, |(_, r)| r);
    let stem = rest.rsplit_once('.').map_or(rest, |(s, _)| s);
    format!("{out}/{stem}.js")
}

/// `X` as a file of `dir`: itself, or with `.js`/`.mjs`/`.cjs` added when it names none
/// (`node dist/main` runs `dist/main.js`); `built` accepts a file under the build output
/// that does not exist before the build.
fn resolve(repo: &Repo, dir: &str, x: &str, built: Option<&str>) -> Option<String> {
    let x = x.trim_start_matches("./");
    if x.is_empty() || x == "." {
        return None;
    }
    let has_ext = x.rsplit('/').next().is_some_and(|n| n.contains('.'));
    // `bin/www` (express-generator) is a file without an extension.
    let mut tries = vec![x.to_owned()];
    if !has_ext {
        tries.extend(
            ["js", "mjs", "cjs", "ts"]
                .iter()
                .map(|e| format!("{x}.{e}")),
        );
    }
    if let Some(found) = tries.iter().find(|t| repo.is_file(&join(dir, t))) {
        return Some(found.clone());
    }
    let out = built?;
    let built_file = if has_ext {
        x.to_owned()
    } else {
        format!("{x}.js")
    };
    if x.starts_with(&format!("{out}/")) {
        return Some(built_file);
    }
    // Written by the build somewhere else (SvelteKit's `build`, Nuxt's `.output/…`): node
    // resolves it as written.
    Some(x.to_owned())
}

/// The entrypoint of `pkg` in `dir`; `next` is `Some(standalone)` for a Next.js app,
/// `nest` true for NestJS, `out_dir` the build output when there is a build.
pub(super) fn find(
    repo: &Repo,
    dir: &str,
    pkg: &Package,
    next: Option<bool>,
    nest: bool,
    out_dir: Option<&str>,
) -> Option<Entrypoint> {
    let said = |path: String, key: &str, rule: &str| Entrypoint {
        path,
        line: pkg.line_of(&format!("\"{key}\"")),
        rule: rule.to_owned(),
        fallback: false,
        flags: Vec::new(),
        runner: None,
        needs_dev: false,
        command: None,
    };
    match next {
        Some(true) => {
            return Some(Entrypoint {
                path: "server.js".into(),
                line: None,
                rule: "next.config: output 'standalone' builds .next/standalone/server.js".into(),
                ..said(String::new(), "", "")
            })
        }
        Some(false) => {
            return Some(said(
                "next start".into(),
                "start",
                "a Next.js app runs next start",
            ))
        }
        None => {}
    }
    for key in ["start:prod", "start"] {
        let Some(script) = pkg.script(key) else {
            continue;
        };
        if key == "start:prod" && !nest {
            continue;
        }
        let Some((runner, flags, x)) = script_command(script) else {
            continue;
        };
        let typescript_runner = matches!(runner, "tsx" | "ts-node");
        if let (true, Some(out)) = (typescript_runner, out_dir) {
            let rule = format!("scripts.{key} runs {x} with {runner}; the build compiles it");
            return Some(said(compiled(x, out), key, &rule));
        }
        let x = match x {
            "." | "./" => pkg.str_field("main").unwrap_or("index.js"),
            x => x,
        };
        if let Some(file) = resolve(repo, dir, x, out_dir) {
            let mut e = said(file, key, &format!("scripts.{key} runs it"));
            e.flags = flags.into_iter().map(str::to_owned).collect();
            e.needs_dev = typescript_runner;
            if typescript_runner {
                e.runner = Some(runner.to_owned());
            }
            return Some(e);
        }
    }
    if let Some((bin, script)) = pkg.script("start").and_then(server_binary) {
        let mut e = said(
            script.clone(),
            "start",
            &format!("scripts.start runs {bin}"),
        );
        e.command = Some(format!("node_modules/.bin/{script}"));
        if !nest {
            return Some(e);
        }
    }
    if nest {
        let out = out_dir.unwrap_or("dist");
        return Some(said(
            format!("{out}/main.js"),
            "build",
            "NestJS builds src/main.ts to main.js",
        ));
    }
    for key in ["main", "module"] {
        if let Some(file) = pkg
            .str_field(key)
            .and_then(|m| resolve(repo, dir, m, out_dir))
        {
            return Some(said(file, key, &format!("{key} names an existing file")));
        }
    }
    let bin = pkg.value.get("bin");
    let bin = bin
        .and_then(|b| b.as_str())
        .or_else(|| bin.and_then(|b| b.as_object()?.values().next()?.as_str()));
    if let Some(file) = bin.and_then(|b| resolve(repo, dir, b, out_dir)) {
        return Some(said(file, "bin", "bin names it"));
    }
    CONVENTIONAL
        .iter()
        .find(|f| repo.is_file(&join(dir, f)))
        .map(|f| Entrypoint {
            path: (*f).to_owned(),
            line: None,
            rule: "a conventional entry file name".into(),
            fallback: true,
            ..said(String::new(), "", "")
        })
}

#[cfg(test)]
mod tests {
    use super::{compiled, script_command, script_file, server_binary};

    #[test]
    fn start_scripts_name_their_file() {
        assert_eq!(script_file("node src/index.js"), Some("src/index.js"));
        assert_eq!(
            script_file("NODE_ENV=production node --enable-source-maps dist/main"),
            Some("dist/main")
        );
        assert_eq!(script_file("bun run index.ts"), Some("index.ts"));
        assert_eq!(
            script_file("npm run build && node server.js"),
            Some("server.js")
        );
        assert_eq!(script_file("next start"), None);
        assert_eq!(script_file("nest start"), None);
        assert_eq!(
            script_command("node -r dotenv/config --enable-source-maps dist/index.js"),
            Some((
                "node",
                vec!["-r", "dotenv/config", "--enable-source-maps"],
                "dist/index.js"
            ))
        );
        assert_eq!(compiled("src/server.ts", "dist"), "dist/server.js");
        assert_eq!(
            server_binary("remix-serve ./build/server/index.js"),
            Some((
                "remix-serve".into(),
                "remix-serve ./build/server/index.js".into()
            ))
        );
        assert_eq!(server_binary("npm run serve"), None);
        assert_eq!(server_binary("node index.js"), None);
        assert_eq!(compiled("./src/api/main.ts", "build"), "build/api/main.js");
    }
}
