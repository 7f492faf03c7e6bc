//! A module of a multi-module build: a Maven module that an aggregator POM above lists in
//! `<modules>`, or a Gradle subproject that a settings script above `include`s. Such a
//! module builds only from the build's root (its parent POM, its sibling modules, the
//! wrapper live there): the build context is that root and the build selects the module
//! (`mvn -pl services/api -am`, `gradle :services:api:bootJar`).

use roxmltree::Document;

use crate::analyze::repo::{join, parent};
use crate::analyze::Repo;

/// How far above the module the build's root is looked for.
const MAX_LEVELS: usize = 3;

/// The root of the build that holds a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reactor {
    /// The root directory, relative to the repository's root.
    pub(super) root: String,
    /// The file there that lists the module, for the evidence (`pom.xml`, `settings.gradle.kts`).
    pub(super) file: String,
    /// The module's directory relative to `root` (`services/api`).
    pub(super) module: String,
}

/// The outermost build above `dir` that lists it as a module, if any.
pub(super) fn find(repo: &Repo, dir: &str, maven: bool) -> Option<Reactor> {
    let mut found: Option<Reactor> = None;
    let mut module_dir = dir.to_owned();
    loop {
        let next = (1..=MAX_LEVELS).find_map(|up| {
            let mut root = module_dir.as_str();
            for _ in 0..up {
                if root.is_empty() {
                    return None;
                }
                root = parent(root);
            }
            let module = module_dir
                .strip_prefix(root)
                .unwrap_or(&module_dir)
                .trim_start_matches('/');
            let file = if maven {
                lists_maven_module(repo, root, module)
            } else {
                includes_gradle_project(repo, root, module)
            }?;
            Some((root.to_owned(), file))
        });
        let Some((root, file)) = next else { break };
        let module = dir
            .strip_prefix(root.as_str())
            .unwrap_or(dir)
            .trim_start_matches('/')
            .to_owned();
        found = Some(Reactor {
            root: root.clone(),
            file: join(&root, &file),
            module,
        });
        if root.is_empty() {
            break;
        }
        module_dir = root;
    }
    found
}

/// `Some("pom.xml")` when `root/pom.xml` lists `module` in a `<modules>` (profiles too).
fn lists_maven_module(repo: &Repo, root: &str, module: &str) -> Option<String> {
    let text = repo.read(&join(root, "pom.xml"))?;
    let doc = Document::parse(&text).ok()?;
    let listed = doc.descendants().any(|n| {
        n.has_tag_name("module")
            && n.text()
                .is_some_and(|t| t.trim().trim_start_matches("./").trim_end_matches('/') == module)
    });
    listed.then(|| "pom.xml".to_owned())
}

/// The settings script of `root` when it `include`s the project at `module`
/// (`include("services:api")`, `include ':api'`).
fn includes_gradle_project(repo: &Repo, root: &str, module: &str) -> Option<String> {
    let path = module.replace('/', ":");
    ["settings.gradle.kts", "settings.gradle"]
        .into_iter()
        .find_map(|f| {
            let text = repo.read(&join(root, f))?;
            let included = ['"', '\''].iter().any(|q| {
                text.contains(&format!("{q}{path}{q}")) || text.contains(&format!("{q}:{path}{q}"))
            }) && text.contains("include");
            included.then(|| f.to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gradle_root_lists_its_subprojects_as_the_services() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("settings.gradle.kts", "rootProject.name = \"shop\"\ninclude(\"api\", \"lib\")\n"),
            ("build.gradle.kts", "plugins { id(\"org.springframework.boot\") version \"3.3.0\" apply false }\nallprojects {\n    version = \"1.0\"\n}\n"),
            ("api/build.gradle.kts", "plugins { id(\"org.springframework.boot\") }\n"),
            ("lib/build.gradle.kts", "plugins { `java-library` }\n"),
        ] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let root = dir.path().canonicalize().unwrap();
        let err = crate::analyze::analyze(&root).unwrap_err();
        let c: Vec<&str> = err.candidates().iter().map(|c| c.path.as_str()).collect();
        assert_eq!(c, ["api"], "{err}");
        let api = crate::analyze::analyze_dir(&root, &root.join("api")).unwrap();
        assert_eq!(
            (
                api.build_context.as_str(),
                api.entrypoint.as_str(),
                api.build_command.as_str()
            ),
            (
                "..",
                "api-1.0.jar",
                "gradle :api:bootJar -x test --no-daemon"
            )
        );
    }

    #[test]
    fn the_outermost_aggregator_is_the_root() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            (
                "pom.xml",
                "<project><modules><module>services</module></modules></project>",
            ),
            (
                "services/pom.xml",
                "<project><modules><module>api/</module></modules></project>",
            ),
            ("services/api/pom.xml", "<project/>"),
            ("g/settings.gradle.kts", "include(\":app\")\n"),
            ("g/app/build.gradle.kts", ""),
        ] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let r = find(&repo, "services/api", true).unwrap();
        assert_eq!((r.root.as_str(), r.module.as_str()), ("", "services/api"));
        let g = find(&repo, "g/app", false).unwrap();
        assert_eq!(
            (g.root.as_str(), g.module.as_str(), g.file.as_str()),
            ("g", "app", "g/settings.gradle.kts")
        );
        assert!(find(&repo, "", true).is_none());
    }
}
