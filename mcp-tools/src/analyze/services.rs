//! The candidates of a refusal: the service directories below a directory that is not one
//! service itself (a monorepo root), found by running the detectors on its subdirectories
//! and by reading the build contexts its compose files name.

use super::repo::{self, Repo};
use super::{compose, detect_at, relative_to, AnalyzeResult, Candidate, Detection, Strength};

/// How deep below `repo_path` the search for services goes when `repo_path` is none.
const SERVICE_SEARCH_DEPTH: usize = 3;

/// The service directories below `dir` (relative to it), sorted: those the detectors
/// recognize (skipping test, docs and example directories and what [`Repo`] skips), and the
/// build contexts compose files in `dir` name.
pub(super) fn candidates(repo: &Repo, dir: &str) -> Vec<Candidate> {
    merge(find_services(repo, dir), compose_contexts(repo, dir))
}

/// The service directories below `dir` (relative to it), breadth first: a directory that
/// is a service is listed and not searched further.
fn find_services(repo: &Repo, dir: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    let mut queue: Vec<(String, usize)> = vec![(dir.to_owned(), 0)];
    while let Some((d, depth)) = (!queue.is_empty()).then(|| queue.remove(0)) {
        for e in repo.list(&d).into_iter().filter(|e| e.is_dir) {
            if repo::skipped_dir(&e.name) || is_test_dir(&e.name) {
                continue;
            }
            match detect_at(repo, &e.path) {
                Some(Detection {
                    strength: Strength::Service,
                    outcome: Ok(r),
                }) => out.push(Candidate {
                    path: relative_to(&e.path, dir),
                    stack: stack_name(&r),
                }),
                _ if depth + 1 < SERVICE_SEARCH_DEPTH => queue.push((e.path, depth + 1)),
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// The build contexts that compose files in `dir` name below it (a compose stack's
/// services), each with the stack detected there (`unknown` when none is).
fn compose_contexts(repo: &Repo, dir: &str) -> Vec<Candidate> {
    compose::files_in(repo, dir)
        .iter()
        .flat_map(|f| compose::built_services(repo, f))
        .filter(|s| match dir {
            "" => !s.context.is_empty(),
            d => s.context.starts_with(&format!("{d}/")),
        })
        .map(|s| Candidate {
            path: relative_to(&s.context, dir),
            stack: match detect_at(repo, &s.context) {
                Some(Detection { outcome: Ok(r), .. }) => stack_name(&r),
                _ => "unknown".into(),
            },
        })
        .collect()
}

/// `a` and the candidates of `b` whose path `a` lacks, sorted by path.
fn merge(mut a: Vec<Candidate>, b: Vec<Candidate>) -> Vec<Candidate> {
    for c in b {
        if !a.iter().any(|x| x.path == c.path) {
            a.push(c);
        }
    }
    a.sort_by(|x, y| x.path.cmp(&y.path));
    a
}

fn is_test_dir(name: &str) -> bool {
    matches!(
        name,
        "test" | "tests" | "testdata" | "spec" | "e2e" | "docs" | "examples" | "fixtures"
    )
}

/// `language` or `language/framework`.
pub(super) fn stack_name(r: &AnalyzeResult) -> String {
    if r.framework.is_empty() {
        r.language.clone()
    } else {
        format!("{}/{}", r.language, r.framework)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_build_contexts_are_candidates_even_without_a_known_stack() {
        let dir = tempfile::tempdir().unwrap();
        let files = [
            ("compose.yaml", "services:\n  api:\n    build: ./api\n  native:\n    build:\n      context: ./native\n  db:\n    image: postgres\n"),
            ("api/requirements.txt", "flask\n"),
            ("native/main.c", "int main(void) { return 0; }\n"),
            ("docs/requirements.txt", "mkdocs\n"),
            (".hidden/requirements.txt", "flask\n"),
        ];
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let got: Vec<(String, String)> = candidates(&repo, "")
            .into_iter()
            .map(|c| (c.path, c.stack))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "api");
        assert!(got[0].1.starts_with("python"), "{got:?}");
        assert_eq!(got[1], ("native".into(), "unknown".into()));
    }
}
