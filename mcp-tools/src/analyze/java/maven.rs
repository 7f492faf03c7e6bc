//! `pom.xml`, read as XML (`roxmltree`): the project's own `artifactId` and `version` (not
//! the parent's), `${property}` references resolved from `<properties>`, the framework from
//! the parent, the BOMs, the plugins and the dependencies, the Java release properties.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::{line_of, Build, Located};
use crate::analyze::repo::join;
use crate::analyze::Repo;
use crate::toolchain::{Declared, Evidence as TcEvidence, Source};

/// The properties that declare the Java release, strongest first.
const RELEASE_PROPERTIES: [&str; 4] = [
    "maven.compiler.release",
    "java.version",
    "maven.compiler.source",
    "maven.compiler.target",
];

/// Reads `dir/pom.xml`; `Err` says why it is not a readable POM.
pub(super) fn read(repo: &Repo, dir: &str) -> Result<Build, String> {
    let text = repo
        .read(&join(dir, "pom.xml"))
        .ok_or("pom.xml is unreadable (too large, not UTF-8, or outside the repository)")?;
    let doc = Document::parse(&text).map_err(|e| format!("pom.xml is not well-formed XML: {e}"))?;
    let project = doc.root_element();
    let line = |n: Node| line_of(&text, n.range().start);
    fn located<T>(value: T, line: u32) -> Located<T> {
        Located {
            value,
            file: "pom.xml".to_owned(),
            line,
        }
    }
    let props: HashMap<&str, &str> = child(project, "properties")
        .map(|p| {
            p.children()
                .filter(Node::is_element)
                .map(|e| (e.tag_name().name(), e.text().unwrap_or("").trim()))
                .collect()
        })
        .unwrap_or_default();
    let resolve = |v: &str| -> String {
        let mut out = v.to_owned();
        // A few rounds: a property may name another one.
        for _ in 0..4 {
            let Some(start) = out.find("${") else { break };
            let Some(len) = out[start..].find('}') else {
                break;
            };
            let key = &out[start + 2..start + len];
            let Some(value) = props.get(key) else { break };
            out = format!("{}{value}{}", &out[..start], &out[start + len + 1..]);
        }
        out
    };
    let mut b = Build {
        main_class: text.contains("mainClass") || text.contains("Main-Class"),
        ..Build::default()
    };
    let parent = child(project, "parent");
    if let Some(id) = child(project, "artifactId") {
        b.name = Some(located(resolve(text_of(id)), line(id)));
    }
    let version = child(project, "version")
        .or_else(|| parent.and_then(|p| child(p, "version")))
        .map(|v| resolve(text_of(v)));
    b.version = version.filter(|v| !v.contains("${"));
    let packaging = child(project, "packaging").map_or("jar", text_of);
    // An aggregator or a parent-only POM: it builds no jar of its own.
    b.aggregator = packaging == "pom";
    // Every artifact the POM names: the parent, the BOMs, the plugins, the dependencies.
    let artifacts = project.descendants().filter(|n| {
        n.has_tag_name("artifactId")
            && n.parent().is_some_and(|p| {
                matches!(
                    p.tag_name().name(),
                    "parent" | "dependency" | "plugin" | "extension"
                )
            })
    });
    for a in artifacts {
        let id = resolve(text_of(a));
        let group = a
            .parent()
            .and_then(|p| child(p, "groupId"))
            .map(|g| resolve(text_of(g)))
            .unwrap_or_default();
        let framework = if id.starts_with("spring-boot") || group == "org.springframework.boot" {
            Some("spring-boot")
        } else if id.starts_with("quarkus") || group.starts_with("io.quarkus") {
            Some("quarkus")
        } else if id.starts_with("micronaut") || group.starts_with("io.micronaut") {
            Some("micronaut")
        } else {
            None
        };
        if let (Some(f), None) = (framework, &b.framework) {
            b.framework = Some(located(f, line(a)));
        }
        let health = match id.as_str() {
            "spring-boot-starter-actuator" => Some("actuator"),
            "quarkus-smallrye-health" => Some("smallrye-health"),
            _ => None,
        };
        if let (Some(h), None) = (health, &b.health_dependency) {
            b.health_dependency = Some(located(h, line(a)));
        }
    }
    let plugin = |id: &str| {
        project.descendants().any(|n| {
            n.has_tag_name("plugin") && child(n, "artifactId").is_some_and(|a| text_of(a) == id)
        })
    };
    if b.framework
        .as_ref()
        .is_some_and(|f| f.value == "spring-boot")
        && !plugin("spring-boot-maven-plugin")
    {
        b.warnings.push(
            "pom.xml has no spring-boot-maven-plugin: `mvn package` then builds a plain jar that `java -jar` cannot start; add the plugin (start.spring.io does)".into(),
        );
    }
    if let Some(p) = child(project, "properties") {
        for key in RELEASE_PROPERTIES {
            let Some(e) = child(p, key) else { continue };
            let value = resolve(text_of(e));
            if value.contains("${") {
                // Set by a parent outside the repository or on the command line.
                continue;
            }
            let raw = format!("<{key}>{value}</{key}>");
            let d = Declared::parse(
                Source::MavenProperty,
                &raw,
                TcEvidence::new("pom.xml", line(e)),
            )
            .map_err(|e| e.to_string())?;
            b.toolchain.push((value, d));
        }
    }
    Ok(b)
}

/// The first child element of `n` named `name`.
fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

/// An element's trimmed text, `""` when it has none.
fn text_of<'a>(n: Node<'a, '_>) -> &'a str {
    n.text().unwrap_or("").trim()
}
