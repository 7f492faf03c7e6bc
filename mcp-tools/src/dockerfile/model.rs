//! The parser's tree as the rules read it: one [`Inst`] per instruction, with its keyword,
//! line, byte span, arguments (continuations joined, as Docker reads them) and stage.

use dockerfile_parser::{Dockerfile, Instruction, ShellOrExecExpr};

use super::ParseError;

/// One instruction.
#[derive(Clone, Debug)]
pub(crate) struct Inst {
    /// The keyword, upper case (`FROM`, `RUN`, `ADD`, …).
    pub(crate) keyword: String,
    /// 1-based line of its first character.
    pub(crate) line: usize,
    /// Its bytes in the file (keyword to end of arguments).
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The arguments as one line (continuations removed).
    pub(crate) args: String,
    /// The JSON (exec) form's elements, for RUN, CMD, ENTRYPOINT written that way.
    pub(crate) exec: Option<Vec<String>>,
    /// The stage (0 for the first FROM's; instructions before any FROM are stage 0 too).
    pub(crate) stage: usize,
    /// FROM: the image, tag and alias as parsed.
    pub(crate) from: Option<FromImage>,
}

/// A FROM's image reference.
#[derive(Clone, Debug)]
pub(crate) struct FromImage {
    /// The image as written (`node:22-alpine`, `$BASE`).
    pub(crate) raw: String,
    /// The image without registry and tag (`node`, `library/node`).
    pub(crate) image: String,
    pub(crate) tag: Option<String>,
    pub(crate) digest: Option<String>,
    pub(crate) alias: Option<String>,
    /// The byte span of the image reference in the file (for a tag change).
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// A parsed Dockerfile.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) content: String,
    pub(crate) insts: Vec<Inst>,
    /// The number of stages (FROMs).
    pub(crate) stages: usize,
}

impl Parsed {
    pub(crate) fn parse(content: &str) -> Result<Parsed, ParseError> {
        let df = Dockerfile::parse(content).map_err(|e| ParseError(e.to_string()))?;
        let line_of = |at: usize| content[..at.min(content.len())].matches('\n').count() + 1;
        let mut insts = Vec::new();
        let mut stage = 0usize;
        let mut froms = 0usize;
        for ins in &df.instructions {
            let span = ins.span();
            let raw = content.get(span.start..span.end).unwrap_or_default();
            let mut inst = Inst {
                keyword: String::new(),
                line: line_of(span.start),
                start: span.start,
                end: span.end,
                args: String::new(),
                exec: None,
                stage: 0,
                from: None,
            };
            let expr = |e: &ShellOrExecExpr| match e {
                ShellOrExecExpr::Shell(s) => (s.to_string(), None),
                ShellOrExecExpr::Exec(a) => (
                    a.as_str_vec().join(" "),
                    Some(a.elements.iter().map(|s| s.content.clone()).collect()),
                ),
            };
            match ins {
                Instruction::From(f) => {
                    froms += 1;
                    stage = froms - 1;
                    inst.keyword = "FROM".into();
                    inst.args = after_keyword(raw);
                    let image = &f.image_parsed;
                    inst.from = Some(FromImage {
                        raw: f.image.content.clone(),
                        image: image.image.clone(),
                        tag: image.tag.clone(),
                        digest: image.hash.clone(),
                        alias: f.alias.as_ref().map(|a| a.content.clone()),
                        start: f.image.span.start,
                        end: f.image.span.end,
                    });
                }
                Instruction::Run(r) => {
                    inst.keyword = "RUN".into();
                    (inst.args, inst.exec) = expr(&r.expr);
                }
                Instruction::Cmd(c) => {
                    inst.keyword = "CMD".into();
                    (inst.args, inst.exec) = expr(&c.expr);
                }
                Instruction::Entrypoint(c) => {
                    inst.keyword = "ENTRYPOINT".into();
                    (inst.args, inst.exec) = expr(&c.expr);
                }
                Instruction::Misc(m) => {
                    inst.keyword = m.instruction.content.to_ascii_uppercase();
                    inst.args = m.arguments.to_string().trim().to_owned();
                }
                Instruction::Copy(_) => {
                    inst.keyword = "COPY".into();
                    inst.args = joined(raw);
                }
                Instruction::Arg(_) => {
                    inst.keyword = "ARG".into();
                    inst.args = joined(raw);
                }
                Instruction::Label(_) => {
                    inst.keyword = "LABEL".into();
                    inst.args = joined(raw);
                }
                Instruction::Env(_) => {
                    inst.keyword = "ENV".into();
                    inst.args = joined(raw);
                }
            }
            inst.stage = stage;
            insts.push(inst);
        }
        Ok(Parsed {
            content: content.to_owned(),
            insts,
            stages: froms.max(1),
        })
    }

    /// The instructions of the last stage.
    pub(crate) fn final_stage(&self) -> impl Iterator<Item = &Inst> {
        let last = self.stages - 1;
        self.insts.iter().filter(move |i| i.stage == last)
    }

    /// The FROM of the last stage.
    pub(crate) fn final_from(&self) -> Option<&Inst> {
        self.final_stage().find(|i| i.keyword == "FROM")
    }
}

/// The arguments of a raw instruction: the keyword removed, continuations joined.
fn after_keyword(raw: &str) -> String {
    let j = joined(raw);
    j.split_once(char::is_whitespace)
        .map(|(_, rest)| rest.trim().to_owned())
        .unwrap_or_default()
}

/// `raw` on one line: `\` + newline continuations removed, comment lines inside dropped.
fn joined(raw: &str) -> String {
    let mut out = String::new();
    for line in raw.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        let t = t.strip_suffix('\\').unwrap_or(t);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t.trim());
    }
    // COPY/ARG/LABEL/ENV: keep the keyword off.
    match out.split_once(char::is_whitespace) {
        Some((k, rest)) if k.chars().all(|c| c.is_ascii_alphabetic()) && is_keyword(k) => {
            rest.trim().to_owned()
        }
        _ => out,
    }
}

fn is_keyword(k: &str) -> bool {
    matches!(
        k.to_ascii_uppercase().as_str(),
        "FROM" | "COPY" | "ARG" | "LABEL" | "ENV"
    )
}

/// The arguments of a COPY or ADD split into flags (`--from=x`), sources and destination
/// (JSON form understood).
pub(crate) fn copy_args(args: &str) -> (Vec<String>, Vec<String>, Option<String>) {
    let mut flags = Vec::new();
    let mut rest = args.trim();
    while rest.starts_with("--") {
        let (flag, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        flags.push(flag.to_owned());
        rest = after.trim_start();
    }
    let mut words: Vec<String> = if rest.starts_with('[') {
        serde_json::from_str::<Vec<String>>(rest).unwrap_or_default()
    } else {
        rest.split_whitespace().map(str::to_owned).collect()
    };
    let dest = words.pop();
    (flags, words, dest)
}
