//! `replace` directives of `go.mod` that point at a directory (`replace example.com/shared
//! => ../shared`): the module builds only with those directories in the build context, so
//! the context widens to the directory holding them all.

use super::super::repo::join;

/// The directories (relative to the repository root) that `go.mod` of module directory
/// `module` replaces modules with; `Err` with the target of one that leaves the repository.
pub(super) fn local_targets(gomod: &str, module: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in gomod.lines() {
        let l = line.split("//").next().unwrap_or_default().trim();
        let spec = if in_block {
            if l == ")" {
                in_block = false;
                continue;
            }
            l
        } else if let Some(rest) = l.strip_prefix("replace") {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let Some((_, target)) = spec.split_once("=>") else {
            continue;
        };
        let target = target.split_whitespace().next().unwrap_or_default();
        if target.starts_with("./") || target.starts_with("../") {
            let dir = normalize(module, target).ok_or_else(|| target.to_owned())?;
            if !out.contains(&dir) {
                out.push(dir);
            }
        }
    }
    Ok(out)
}

/// `rel` joined to `dir` with `.` and `..` resolved; `None` when it leaves the root.
fn normalize(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The deepest directory holding both `a` and `b` (relative paths, `""` the root).
pub(super) fn common_ancestor(a: &str, b: &str) -> String {
    let common: Vec<&str> = a
        .split('/')
        .zip(b.split('/'))
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x)
        .collect();
    common.join("/")
}

/// `path` relative to its ancestor `dir`, empty for `dir` itself.
pub(super) fn below(path: &str, dir: &str) -> String {
    match dir {
        "" => path.to_owned(),
        d if path == d => String::new(),
        d => path
            .strip_prefix(&format!("{d}/"))
            .unwrap_or(path)
            .to_owned(),
    }
}

/// The module files (`go.mod`, `go.sum` when present) of `dirs`, relative to `context`.
pub(super) fn module_files(
    is_file: impl Fn(&str) -> bool,
    dirs: &[String],
    context: &str,
) -> Vec<String> {
    dirs.iter()
        .flat_map(|d| ["go.mod", "go.sum"].map(|f| join(d, f)))
        .filter(|f| is_file(f))
        .map(|f| below(&f, context))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_replaces_are_read_in_both_forms() {
        let gomod = "module a\n\nreplace example.com/x => ../x\n\nreplace (\n\texample.com/y v1.0.0 => ./third_party/y\n\texample.com/z => example.com/z v1.2.0\n)\n";
        assert_eq!(
            local_targets(gomod, "svc/a").unwrap(),
            ["svc/x", "svc/a/third_party/y"]
        );
        assert!(local_targets("replace x => ../../y\n", "a").is_err());
        assert_eq!(common_ancestor("svc/a", "svc/x"), "svc");
        assert_eq!(common_ancestor("a", "b"), "");
        assert_eq!(below("svc/a/go.mod", "svc"), "a/go.mod");
    }
}
