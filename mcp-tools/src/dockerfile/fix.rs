//! The mechanical fixes: each one an edit of the user's text at the instruction's bytes, so
//! everything else (comments, the user's CMD arguments, EXPOSE, build steps) stays as it is.
//! Fixed: shell-form CMD/ENTRYPOINT to JSON form (DL3025), the base tag from the declared
//! toolchain (DL3006/DL3007/CK005), COPY for a local ADD (DL3020), a non-root numeric USER
//! (DL3002/CK002), dependency-first ordering where the install directly follows the copy of
//! the sources (CK001), sudo removed (DL3004), MAINTAINER to LABEL (DL4000), an absolute
//! WORKDIR (DL3000), one ENTRYPOINT/CMD/HEALTHCHECK (DL4004/DL4003/DL3012), a directory
//! destination for several sources (DL3021). Everything else is left for a person.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{copy_args, Inst, Parsed};
use super::ours::{install_of, sources_before_install};
use super::shell::commands;
use super::{validate, Context, ParseError, Report};

/// The non-root user the fix switches to (an id no base image gives a name to).
pub(crate) const NON_ROOT: &str = "10001";

/// One change the fix made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    /// The rule it answers.
    pub rule: String,
    /// The line it was on (in the file before this change's pass).
    pub line: usize,
    /// What was changed.
    pub description: String,
}

/// The fixed Dockerfile.
#[derive(Clone, Debug)]
pub(crate) struct Fixed {
    pub(crate) content: String,
    pub(crate) changes: Vec<Change>,
    /// Validation of the fixed content: what is left for a person.
    pub(crate) report: Report,
    /// What a person should check after the changes made.
    pub(crate) notes: Vec<String>,
}

struct Edit {
    start: usize,
    end: usize,
    text: String,
    change: Change,
}

/// Fixes `content`; up to three passes (a fix can uncover another).
pub(crate) fn fix(content: &str, ctx: &Context) -> Result<Fixed, ParseError> {
    let mut text = content.to_owned();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for _ in 0..3 {
        let p = Parsed::parse(&text)?;
        let report = validate(&text, ctx)?;
        let edits = edits(&p, &report, ctx, &mut notes);
        if edits.is_empty() {
            break;
        }
        text = apply(&text, edits, &mut changes);
    }
    notes.sort();
    notes.dedup();
    let report = validate(&text, ctx)?;
    Ok(Fixed {
        content: text,
        changes,
        report,
        notes,
    })
}

fn apply(text: &str, mut edits: Vec<Edit>, changes: &mut Vec<Change>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse((e.start, e.end)));
    let mut out = text.to_owned();
    let mut floor = usize::MAX;
    let mut done = Vec::new();
    for e in edits {
        // An edit overlapping one already applied waits for the next pass.
        if e.end > floor || (e.end == floor && e.start < e.end) {
            continue;
        }
        out.replace_range(e.start..e.end, &e.text);
        floor = e.start;
        done.push(e.change);
    }
    done.reverse();
    changes.extend(done);
    out
}

fn edit(i: &Inst, start: usize, end: usize, text: String, rule: &str, what: String) -> Edit {
    Edit {
        start,
        end,
        text,
        change: Change {
            rule: rule.into(),
            line: i.line,
            description: what,
        },
    }
}

/// The byte range of `i` with its line's newline, for a deletion.
fn whole_line(p: &Parsed, i: &Inst) -> (usize, usize) {
    let start = p.content[..i.start].rfind('\n').map_or(0, |n| n + 1);
    let end = p.content[i.end..]
        .find('\n')
        .map_or(p.content.len(), |n| i.end + n + 1);
    (start, end)
}

fn line_start(p: &Parsed, i: &Inst) -> usize {
    p.content[..i.start].rfind('\n').map_or(0, |n| n + 1)
}

fn edits(p: &Parsed, report: &Report, ctx: &Context, notes: &mut Vec<String>) -> Vec<Edit> {
    let has = |rule: &str, line: usize| {
        report
            .findings
            .iter()
            .any(|f| f.rule == rule && f.line == line)
    };
    let mut out = Vec::new();
    let mut workdir: Vec<String> = vec!["/".into(); p.stages];
    let mut user: Vec<Option<String>> = vec![None; p.stages];
    for (n, i) in p.insts.iter().enumerate() {
        let later = |k: &str| {
            p.insts[n + 1..]
                .iter()
                .any(|j| j.stage == i.stage && j.keyword == k)
        };
        match i.keyword.as_str() {
            "FROM" => base_tag(i, ctx, &has, &mut out),
            "CMD" | "ENTRYPOINT" | "HEALTHCHECK" if later(&i.keyword) => {
                let (s, e) = whole_line(p, i);
                out.push(edit(
                    i,
                    s,
                    e,
                    String::new(),
                    match i.keyword.as_str() {
                        "CMD" => "DL4003",
                        "ENTRYPOINT" => "DL4004",
                        _ => "DL3012",
                    },
                    format!(
                        "removed the earlier {} (only the last one takes effect)",
                        i.keyword
                    ),
                ));
            }
            "CMD" | "ENTRYPOINT" if has("DL3025", i.line) => {
                let kw = &p.content[i.start..i.start + i.keyword.len()];
                out.push(edit(
                    i,
                    i.start,
                    i.end,
                    format!("{kw} {}", exec_form(&i.args)),
                    "DL3025",
                    format!(
                        "{} in JSON form (the process gets signals as PID 1)",
                        i.keyword
                    ),
                ));
            }
            "ADD" if has("DL3020", i.line) => {
                out.push(edit(
                    i,
                    i.start,
                    i.start + 3,
                    "COPY".into(),
                    "DL3020",
                    "COPY instead of ADD for local files".into(),
                ));
            }
            "MAINTAINER" => {
                let v = serde_json::to_string(i.args.trim()).unwrap_or_default();
                out.push(edit(
                    i,
                    i.start,
                    i.end,
                    format!("LABEL maintainer={v}"),
                    "DL4000",
                    "MAINTAINER as LABEL maintainer".into(),
                ));
            }
            "WORKDIR" => {
                let d = i.args.trim_matches('"').to_owned();
                let abs = if has("DL3000", i.line) {
                    let base = workdir[i.stage].trim_end_matches('/').to_owned();
                    let abs = format!("{base}/{d}");
                    out.push(edit(
                        i,
                        i.start,
                        i.end,
                        format!("WORKDIR {abs}"),
                        "DL3000",
                        format!("WORKDIR {d} made absolute: {abs}"),
                    ));
                    abs
                } else {
                    d
                };
                workdir[i.stage] = abs;
            }
            "USER" => {
                let name = i.args.split(':').next().unwrap_or("").trim().to_owned();
                if has("DL3002", i.line) {
                    out.push(edit(
                        i,
                        i.start,
                        i.end,
                        format!("USER {NON_ROOT}"),
                        "DL3002",
                        format!("the last USER is {NON_ROOT}, not root"),
                    ));
                    notes.push(format!("the container now runs as user {NON_ROOT}: check that it can write where the application writes (chown those directories to {NON_ROOT} in the Dockerfile)"));
                }
                user[i.stage] = Some(name);
            }
            "COPY" if has("DL3021", i.line) => {
                let (_, _, dest) = copy_args(&i.args);
                if let Some(d) = dest.filter(|d| p.content[..i.end].ends_with(d.as_str())) {
                    out.push(edit(
                        i,
                        i.end,
                        i.end,
                        "/".into(),
                        "DL3021",
                        format!("destination {d} ends in /"),
                    ));
                }
            }
            "RUN" if has("DL3004", i.line) => {
                sudo(p, i, user[i.stage].as_deref(), &mut out);
            }
            _ => {}
        }
    }
    if report
        .findings
        .iter()
        .any(|f| f.rule == "CK002" && f.message.contains("sets no USER"))
    {
        non_root(p, &mut out, notes);
    }
    for stage in 0..p.stages {
        if let Some((copy, run)) = sources_before_install(p, stage) {
            if let Some(e) = dependency_first(p, copy, run, ctx) {
                out.push(e);
            }
        }
    }
    out
}

/// A JSON-form command for a shell-form one: split at spaces when nothing in it needs a
/// shell, else `/bin/sh -c` with the text unchanged (the same behaviour, now with signals).
pub(crate) fn exec_form(args: &str) -> String {
    let needs_shell = args.chars().any(|c| "$&|;<>*?()`'\"\\~{}[]#=".contains(c));
    let words: Vec<&str> = if needs_shell {
        vec!["/bin/sh", "-c", args.trim()]
    } else {
        args.split_whitespace().collect()
    };
    serde_json::to_string(&words)
        .unwrap_or_default()
        .replace("\",\"", "\", \"")
}

fn base_tag(i: &Inst, ctx: &Context, has: &dyn Fn(&str, usize) -> bool, out: &mut Vec<Edit>) {
    let (Some(f), Some((image, tag, _))) = (&i.from, &ctx.toolchain) else {
        return;
    };
    if f.image.rsplit('/').next() != Some(image.as_str()) {
        return;
    }
    let (rule, new_tag) = match f.tag.as_deref() {
        _ if has("CK005", i.line) => ("CK005", {
            let old = f.tag.as_deref().unwrap_or("");
            let vlen = old
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .count();
            format!("{tag}{}", &old[vlen..])
        }),
        None if has("DL3006", i.line) => ("DL3006", tag.clone()),
        Some("latest") if has("DL3007", i.line) => ("DL3007", tag.clone()),
        _ => return,
    };
    let base = match f.raw.rfind(':') {
        Some(c) if !f.raw[c..].contains('/') => &f.raw[..c],
        _ => f.raw.as_str(),
    };
    out.push(edit(
        i,
        f.start,
        f.end,
        format!("{base}:{new_tag}"),
        rule,
        format!(
            "base image {} → {base}:{new_tag} (the toolchain the repository declares)",
            f.raw
        ),
    ));
}

fn sudo(p: &Parsed, i: &Inst, user: Option<&str>, out: &mut Vec<Edit>) {
    let raw = &p.content[i.start..i.end];
    let mut text = String::new();
    let mut rest = raw;
    // Remove `sudo` (and its flags) where it starts a command.
    while let Some(at) = rest.find("sudo") {
        let before = rest[..at].trim_end();
        let command_start = before.is_empty()
            || before.ends_with("&&")
            || before.ends_with("||")
            || before.ends_with(';')
            || before.ends_with('|')
            || before.ends_with("\\")
            || before.to_ascii_uppercase().ends_with("RUN");
        let after = &rest[at + 4..];
        if command_start && after.starts_with(char::is_whitespace) {
            text.push_str(&rest[..at]);
            let mut a = after.trim_start();
            while a.starts_with('-') {
                let (flag, tail) = a.split_once(char::is_whitespace).unwrap_or((a, ""));
                a = tail.trim_start();
                if flag == "-u" || flag == "-g" {
                    a = a
                        .split_once(char::is_whitespace)
                        .map_or("", |(_, t)| t)
                        .trim_start();
                }
            }
            rest = a;
        } else {
            text.push_str(&rest[..at + 4]);
            rest = after;
        }
    }
    text.push_str(rest);
    let non_root = user.is_some_and(|u| u != "root" && u != "0");
    let (s, e) = (line_start(p, i), i.end);
    let indent = &p.content[s..i.start];
    let text = match user.filter(|_| non_root) {
        Some(u) => format!("{indent}USER root\n{indent}{text}\n{indent}USER {u}"),
        None => format!("{indent}{text}"),
    };
    out.push(edit(
        i,
        s,
        e,
        text,
        "DL3004",
        if non_root {
            "sudo removed; the RUN runs as root between USER root and the previous USER".into()
        } else {
            "sudo removed (the RUN already runs as root)".into()
        },
    ));
}

/// Adds `USER 10001` to the final stage: before its first CMD/ENTRYPOINT/HEALTHCHECK/EXPOSE
/// that no build step follows, else at its end.
fn non_root(p: &Parsed, out: &mut Vec<Edit>, notes: &mut Vec<String>) {
    let fin: Vec<&Inst> = p.final_stage().collect();
    let last_build = fin.iter().rposition(|i| {
        matches!(
            i.keyword.as_str(),
            "RUN" | "COPY" | "ADD" | "WORKDIR" | "FROM"
        )
    });
    let Some(lb) = last_build else { return };
    let text = format!("USER {NON_ROOT}\n");
    let (at, text) = match fin.get(lb + 1) {
        Some(next) => (line_start(p, next), text),
        None => {
            let end = p.content.len();
            (
                end,
                if p.content.ends_with('\n') {
                    text
                } else {
                    format!("\n{text}")
                },
            )
        }
    };
    let i = fin[lb];
    out.push(Edit {
        start: at,
        end: at,
        text,
        change: Change {
            rule: "CK002".into(),
            line: i.line,
            description: format!(
                "added USER {NON_ROOT} to the final stage (a numeric non-root user)"
            ),
        },
    });
    notes.push(format!("the container now runs as user {NON_ROOT}: check that it can write where the application writes (chown those directories to {NON_ROOT} in the Dockerfile)"));
}

/// The install RUN moved before the copy of the sources, after a COPY of its manifests; only
/// when the RUN directly follows that COPY, runs nothing but the install, and every manifest
/// is known to exist in the build context.
fn dependency_first(p: &Parsed, copy: &Inst, run: &Inst, ctx: &Context) -> Option<Edit> {
    let files = ctx.root_files.as_ref()?;
    let n = p.insts.iter().position(|i| i.start == copy.start)?;
    if p.insts.get(n + 1).map(|i| i.start) != Some(run.start) || run.exec.is_some() {
        return None;
    }
    let cmds = commands(&run.args);
    if cmds.len() != 1 {
        return None;
    }
    let mut manifests: Vec<String> = install_of(&run.args)?
        .split(' ')
        .map(str::to_owned)
        .collect();
    if let Some(req) = cmds[0].after("-r").and_then(|a| a.first()) {
        manifests = vec![req.clone()];
    }
    let present = |m: &str| match m.split_once('*') {
        Some((pre, post)) => files
            .iter()
            .any(|f| f.starts_with(pre) && f.ends_with(post)),
        None => files.iter().any(|f| f == m),
    };
    if !manifests.iter().all(|m| present(m)) {
        return None;
    }
    let (_, _, dest) = copy_args(&copy.args);
    let dest = dest?;
    // Several sources (or a wildcard) need a directory destination ending in /.
    let several = manifests.len() > 1 || manifests.iter().any(|m| m.contains('*'));
    let dest = if several && !dest.ends_with('/') {
        format!("{dest}/")
    } else {
        dest
    };
    let (cs, _) = whole_line(p, copy);
    let (rs, re) = whole_line(p, run);
    let copy_text = &p.content[cs..rs];
    let run_text = &p.content[rs..re];
    let run_text = if run_text.ends_with('\n') {
        run_text.to_owned()
    } else {
        format!("{run_text}\n")
    };
    Some(Edit {
        start: cs,
        end: re,
        text: format!("COPY {} {dest}\n{run_text}{copy_text}", manifests.join(" ")),
        change: Change {
            rule: "CK001".into(),
            line: copy.line,
            description: format!(
                "copied {} and ran the install before copying the sources",
                manifests.join(" ")
            ),
        },
    })
}
