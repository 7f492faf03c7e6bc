//! hadolint's rules that matter for production images, under hadolint's ids and levels
//! (<https://github.com/hadolint/hadolint#rules>).

use std::collections::{HashMap, HashSet};

use super::model::{copy_args, Inst, Parsed};
use super::shell::{commands, has_pipe, Command};
use super::{finding, Finding, Severity};

use Severity::{Error, Info, Warning};

/// The instructions Docker knows.
const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// Every hadolint rule of ours on `p`.
pub(crate) fn check(p: &Parsed) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut aliases: HashSet<String> = HashSet::new();
    let mut pipefail: HashMap<usize, bool> = HashMap::new();
    let mut seen: HashMap<(usize, String), usize> = HashMap::new();
    let mut previous: Option<&Inst> = None;
    for i in &p.insts {
        let count = seen.entry((i.stage, i.keyword.clone())).or_insert(0);
        *count += 1;
        let count = *count;
        match i.keyword.as_str() {
            "FROM" => from(i, &aliases, &mut out),
            "RUN" => run(i, pipefail.get(&i.stage).copied().unwrap_or(false), &mut out),
            "SHELL" => {
                pipefail.insert(i.stage, i.args.contains("pipefail") || i.args.contains("pwsh"));
            }
            "CMD" | "ENTRYPOINT" => {
                if i.exec.is_none() {
                    out.push(finding("DL3025", Warning, i.line,
                        format!("{} in shell form: the process is not PID 1 and gets no signals", i.keyword),
                        format!("write it in JSON form: {} [\"program\", \"arg\"]", i.keyword)));
                }
                if count > 1 && i.keyword == "CMD" {
                    out.push(finding("DL4003", Warning, i.line, "multiple CMD instructions: only the last takes effect", "keep one CMD"));
                }
                if count > 1 && i.keyword == "ENTRYPOINT" {
                    out.push(finding("DL4004", Error, i.line, "multiple ENTRYPOINT instructions: only the last takes effect", "keep one ENTRYPOINT"));
                }
            }
            "HEALTHCHECK" if count > 1 => out.push(finding("DL3012", Error, i.line,
                "multiple HEALTHCHECK instructions: only the last takes effect", "keep one HEALTHCHECK")),
            "MAINTAINER" => out.push(finding("DL4000", Error, i.line, "MAINTAINER is deprecated",
                "use LABEL maintainer=\"…\"")),
            "WORKDIR" => {
                let d = i.args.trim_matches('"');
                if !d.starts_with('/') && !d.starts_with('$') && d.chars().nth(1).is_none_or(|c| c != ':') {
                    out.push(finding("DL3000", Error, i.line, format!("WORKDIR {d} is relative"), "use an absolute WORKDIR"));
                }
            }
            "ADD" => add(i, &mut out),
            "COPY" => {
                let (_, sources, dest) = copy_args(&i.args);
                if sources.len() > 1 && dest.as_ref().is_some_and(|d| !d.ends_with('/')) {
                    out.push(finding("DL3021", Error, i.line,
                        "COPY with more than one source needs a destination directory ending in /",
                        "end the destination with /"));
                }
            }
            k if !KEYWORDS.contains(&k) => out.push(finding("DL1000", Error, i.line,
                format!("{k} is not a Dockerfile instruction: the build fails here"),
                "fix the line (a keyword such as RUN, COPY, ENV), or join it to the previous one with \\")),
            _ => {}
        }
        // As hadolint: two single-command RUNs in a row, with the same flags.
        if i.keyword == "RUN"
            && previous.is_some_and(|p| {
                p.keyword == "RUN"
                    && p.stage == i.stage
                    && single(p)
                    && single(i)
                    && run_flags(p) == run_flags(i)
            })
        {
            out.push(finding(
                "DL3059",
                Info,
                i.line,
                "multiple consecutive RUN instructions",
                "consider joining them with && (one layer)",
            ));
        }
        if let (Some(alias), "FROM") = (
            i.from.as_ref().and_then(|f| f.alias.clone()),
            i.keyword.as_str(),
        ) {
            aliases.insert(alias.to_ascii_lowercase());
        }
        previous = Some(i);
    }
    if let Some(user) = p.final_stage().filter(|i| i.keyword == "USER").last() {
        let name = user.args.split(':').next().unwrap_or("").trim();
        if name == "root" || name == "0" {
            out.push(finding(
                "DL3002",
                Warning,
                user.line,
                "the last USER is root: the container runs as root",
                "switch to a non-root user (USER 10001) after the steps that need root",
            ));
        }
    }
    out
}

fn from(i: &Inst, aliases: &HashSet<String>, out: &mut Vec<Finding>) {
    let Some(f) = &i.from else { return };
    if f.raw.contains('$')
        || f.raw == "scratch"
        || f.digest.is_some()
        || aliases.contains(&f.raw.to_ascii_lowercase())
    {
        return;
    }
    match f.tag.as_deref() {
        None => out.push(finding(
            "DL3006",
            Warning,
            i.line,
            format!(
                "FROM {} has no tag: the build takes whatever `latest` is that day",
                f.raw
            ),
            "pin a version tag (or a digest)",
        )),
        Some("latest") => out.push(finding(
            "DL3007",
            Warning,
            i.line,
            format!(
                "FROM {} uses `latest`: the build is not reproducible",
                f.raw
            ),
            "pin a version tag (or a digest)",
        )),
        Some(_) => {}
    }
}

fn add(i: &Inst, out: &mut Vec<Finding>) {
    let (_, sources, _) = copy_args(&i.args);
    let local = sources.iter().any(|s| {
        let url = s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@");
        let archive = [
            ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".gz", ".bz2", ".xz",
            ".zip", ".tar.zst",
        ]
        .iter()
        .any(|e| s.ends_with(e));
        !url && !archive
    });
    if local {
        out.push(finding(
            "DL3020",
            Error,
            i.line,
            "ADD for local files and folders",
            "use COPY (ADD also fetches URLs and unpacks archives, which COPY never does)",
        ));
    }
}

fn run(i: &Inst, pipefail: bool, out: &mut Vec<Finding>) {
    if i.exec.is_none() && !pipefail && has_pipe(&i.args) {
        out.push(finding(
            "DL4006",
            Warning,
            i.line,
            "RUN with a pipe, without pipefail: a failure before the pipe is ignored",
            "add SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"] before this RUN",
        ));
    }
    let cmds = match &i.exec {
        Some(e) => vec![Command { words: e.clone() }],
        None => commands(&i.args),
    };
    let mut push =
        |rule: &str, sev, msg: String, fix: &str| out.push(finding(rule, sev, i.line, msg, fix));
    let mut rule_once = HashSet::new();
    for c in &cmds {
        match c.program() {
            "sudo" => push(
                "DL3004",
                Error,
                "sudo in RUN: it has unpredictable behaviour (no tty, setuid)".into(),
                "drop sudo; run the step as root (USER root before it) and switch back after",
            ),
            "cd" => push(
                "DL3003",
                Warning,
                "cd in RUN".into(),
                "use WORKDIR to change directory",
            ),
            "apt" if c.has("install") => push(
                "DL3027",
                Warning,
                "apt is for interactive use".into(),
                "use apt-get",
            ),
            _ => {}
        }
        if matches!(c.program(), "apt-get" | "apt")
            && c.has("update")
            && !i.args.contains("/var/lib/apt/lists")
            && rule_once.insert("DL3009")
        {
            push(
                "DL3009",
                Info,
                "the apt lists are not deleted after apt-get update".into(),
                "end the RUN with && rm -rf /var/lib/apt/lists/*",
            );
        }
        if c.program() == "apt-get" {
            if let Some(args) = c.after("install") {
                if !c.has("--no-install-recommends")
                    && !c
                        .words
                        .iter()
                        .any(|w| w.contains("Install-Recommends=false"))
                {
                    push(
                        "DL3015",
                        Info,
                        "apt-get install without --no-install-recommends".into(),
                        "add --no-install-recommends (fewer packages, a smaller image)",
                    );
                }
                if !c.words.iter().any(|w| is_yes(w)) {
                    push(
                        "DL3014",
                        Warning,
                        "apt-get install without -y".into(),
                        "add -y (the build has no tty)",
                    );
                }
                let unpinned = packages(args, &["-o", "-t", "--target-release"])
                    .filter(|p| !p.contains('=') && !p.ends_with(".deb"))
                    .collect::<Vec<_>>();
                if !unpinned.is_empty() && rule_once.insert("DL3008") {
                    push(
                        "DL3008",
                        Warning,
                        format!(
                            "apt-get install of unpinned packages: {}",
                            unpinned.join(", ")
                        ),
                        "pin versions (apt-get install <package>=<version>)",
                    );
                }
            }
        }
        if c.program() == "apk" {
            if let Some(args) = c.after("add") {
                let unpinned = packages(
                    args,
                    &["-X", "--repository", "-t", "--virtual", "--root", "-p"],
                )
                .filter(|p| !p.contains('='))
                .collect::<Vec<_>>();
                if !unpinned.is_empty() {
                    push(
                        "DL3018",
                        Warning,
                        format!("apk add of unpinned packages: {}", unpinned.join(", ")),
                        "pin versions (apk add <package>=<version>)",
                    );
                }
                if !c.has("--no-cache") {
                    push(
                        "DL3019",
                        Info,
                        "apk add without --no-cache".into(),
                        "add --no-cache (no index left in the image)",
                    );
                }
            }
        }
        if c.program() == "npm" {
            let args = c
                .after("install")
                .or_else(|| c.after("i"))
                .or_else(|| c.after("add"));
            if let Some(args) = args {
                let unpinned = packages(args, &["--prefix", "--registry"])
                    .filter(|p| npm_unpinned(p))
                    .collect::<Vec<_>>();
                if !unpinned.is_empty() {
                    push(
                        "DL3016",
                        Warning,
                        format!("npm install of unpinned packages: {}", unpinned.join(", ")),
                        "pin versions (npm install <package>@<version>)",
                    );
                }
            }
        }
        if is_pip(c) {
            if let Some(args) = c.after("install") {
                let unpinned = packages(
                    args,
                    &[
                        "-r",
                        "--requirement",
                        "-c",
                        "--constraint",
                        "-e",
                        "--editable",
                        "-i",
                        "--index-url",
                        "--extra-index-url",
                        "-t",
                        "--target",
                        "--prefix",
                        "--root",
                        "-f",
                        "--find-links",
                        "--trusted-host",
                        "--platform",
                        "--python-version",
                        "--src",
                    ],
                )
                .filter(|p| pip_unpinned(p))
                .collect::<Vec<_>>();
                let from_file = ["-r", "--requirement"].iter().any(|f| c.has(f));
                if !unpinned.is_empty() && !from_file {
                    push("DL3013", Warning, format!("pip install of unpinned packages: {}", unpinned.join(", ")),
                        "pin versions (pip install <package>==<version>) or install from a requirements file");
                }
                if !c.has("--no-cache-dir") && !i.args.contains("PIP_NO_CACHE_DIR") {
                    push(
                        "DL3042",
                        Warning,
                        "pip install without --no-cache-dir".into(),
                        "add --no-cache-dir (no wheel cache left in the image)",
                    );
                }
            }
        }
    }
}

/// A RUN of one command (no `&&`, `;` or pipe).
fn single(i: &Inst) -> bool {
    i.exec.is_some() || commands(&i.args).len() <= 1
}

/// A RUN's leading `--flag`s (`--mount=…`).
fn run_flags(i: &Inst) -> Vec<&str> {
    i.args
        .split_whitespace()
        .take_while(|w| w.starts_with("--"))
        .collect()
}

fn is_yes(w: &str) -> bool {
    matches!(w, "-y" | "--yes" | "--assume-yes" | "-qq" | "-q=2")
        || (w.starts_with('-') && !w.starts_with("--") && w.contains('y'))
}

/// The package arguments among `args`: no flags, no values of the flags in `valued`.
fn packages<'a>(args: &'a [String], valued: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
    let mut skip = false;
    args.iter().filter_map(move |a| {
        if skip {
            skip = false;
            return None;
        }
        if a.starts_with('-') {
            skip = valued.contains(&a.as_str());
            return None;
        }
        (!a.contains('$')).then_some(a.as_str())
    })
}

fn npm_unpinned(p: &str) -> bool {
    let local = p.starts_with('.')
        || p.starts_with('/')
        || p.contains("://")
        || p.starts_with("git")
        || p.ends_with(".tgz")
        || p.ends_with(".tar.gz");
    let versioned = p.strip_prefix('@').unwrap_or(p).contains('@');
    !local && !versioned
}

fn is_pip(c: &Command) -> bool {
    // pip, pip3, pip3.12 (not pipenv, pipx).
    let pip = |w: &str| {
        let w = w.rsplit('/').next().unwrap_or(w);
        w.strip_prefix("pip")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
    };
    let p = c.program();
    pip(p)
        || (p.rsplit('/').next().unwrap_or(p).starts_with("python")
            && c.words.get(1).is_some_and(|w| w == "-m")
            && c.words.get(2).is_some_and(|w| pip(w)))
}

fn pip_unpinned(p: &str) -> bool {
    let local = p.starts_with('.')
        || p.starts_with('/')
        || p.contains("://")
        || p.ends_with(".whl")
        || p.ends_with(".tar.gz")
        || p.ends_with(".zip");
    let versioned = ["==", ">=", "<=", "~=", "!=", "<", ">", "@"]
        .iter()
        .any(|o| p.contains(o));
    !local && !versioned && p != "install"
}
