//! A Gradle build (Kotlin or Groovy DSL), read line by line: the plugins and dependencies
//! that name the framework, `version`, the Java toolchain (`JavaLanguageVersion.of(N)`,
//! `jvmToolchain(N)`, `sourceCompatibility`), and `rootProject.name` from the settings file.
//! A Gradle script is a program; these are the spellings start.spring.io, code.quarkus.io
//! and Micronaut Launch write.

use super::{Build, Located};
use crate::analyze::repo::join;
use crate::analyze::Repo;
use crate::toolchain::{Declared, Evidence as TcEvidence, Source};

/// Reads `dir/file` (the build script) and the settings script beside it.
pub(super) fn read(repo: &Repo, dir: &str, file: &str) -> Result<Build, String> {
    let text = repo
        .read(&join(dir, file))
        .ok_or_else(|| format!("{file} is unreadable (too large or not UTF-8)"))?;
    let mut b = Build {
        main_class: text.contains("mainClass")
            || text.contains("Main-Class")
            || text.lines().any(|l| {
                let l = l.trim();
                l == "application" || l == "id(\"application\")" || l == "id 'application'"
            }),
        ..Build::default()
    };
    let at = |value, line: usize| Located {
        value,
        file: file.to_owned(),
        line: line as u32 + 1,
    };
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with("//") {
            continue;
        }
        // Plugin ids and coordinates, or their version-catalog aliases
        // (`alias(libs.plugins.spring.boot)`, `libs.spring.boot.starter.web`).
        let framework = if l.contains("org.springframework.boot")
            || l.contains("libs.plugins.spring.boot")
            || l.contains("libs.spring.boot")
        {
            Some("spring-boot")
        } else if l.contains("io.quarkus") || l.contains("libs.plugins.quarkus") {
            Some("quarkus")
        } else if l.contains("io.micronaut") || l.contains("libs.plugins.micronaut") {
            Some("micronaut")
        } else {
            None
        };
        if let (Some(f), None) = (framework, &b.framework) {
            b.framework = Some(at(f, i));
        }
        let health = if l.contains("spring-boot-starter-actuator")
            || l.contains("spring.boot.starter.actuator")
        {
            Some("actuator")
        } else if l.contains("quarkus-smallrye-health") || l.contains("quarkus.smallrye.health") {
            Some("smallrye-health")
        } else {
            None
        };
        if let (Some(h), None) = (health, &b.health_dependency) {
            b.health_dependency = Some(at(h, i));
        }
        if let Some(v) = assignment(l, "version") {
            b.version.get_or_insert(v);
        }
        let toolchain = l.contains("JavaLanguageVersion.of(")
            || l.contains("jvmToolchain(")
            || l.starts_with("sourceCompatibility")
            || l.starts_with("targetCompatibility")
            || l.starts_with("java.sourceCompatibility");
        if toolchain {
            let evidence = TcEvidence::new(file, i as u32 + 1);
            let d = Declared::parse(Source::Gradle, l, evidence).map_err(|e| e.to_string())?;
            b.toolchain.push((gradle_value(l), d));
        }
    }
    if b.version.is_none() {
        b.version = repo
            .read(&join(dir, "gradle.properties"))
            .and_then(|p| p.lines().find_map(|l| assignment(l.trim(), "version")));
    }
    for settings in ["settings.gradle.kts", "settings.gradle"] {
        let Some(text) = repo.read(&join(dir, settings)) else {
            continue;
        };
        // A root that includes subprojects and has no sources of its own builds them only.
        let includes = text.lines().any(|l| l.trim_start().starts_with("include"));
        b.aggregator = includes && !repo.is_dir(&join(dir, "src/main"));
        if let Some((i, name)) = text
            .lines()
            .enumerate()
            .find_map(|(i, l)| assignment(l.trim(), "rootProject.name").map(|n| (i, n)))
        {
            b.name = Some(Located {
                value: name,
                file: settings.to_owned(),
                line: i as u32 + 1,
            });
        }
        break;
    }
    Ok(b)
}

/// The quoted value of `key = "v"` / `key = 'v'` / `key 'v'` on line `l`.
fn assignment(l: &str, key: &str) -> Option<String> {
    let rest = l.strip_prefix(key)?;
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
    let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = &rest[1..];
    let end = inner.find(quote)?;
    let v = &inner[..end];
    (!v.is_empty() && !v.contains('$')).then(|| v.to_owned())
}

/// The release as the line writes it: `JavaLanguageVersion.of(17)` → `17`,
/// `JavaVersion.VERSION_1_8` → `1.8`, `sourceCompatibility = '11'` → `11`.
fn gradle_value(l: &str) -> String {
    if let Some((_, after)) = l.split_once("VERSION_") {
        let v: String = after
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '_')
            .collect();
        return v.replace('_', ".");
    }
    let after = l
        .rsplit_once('(')
        .map(|(_, a)| a)
        .or_else(|| l.split_once('=').map(|(_, a)| a))
        .unwrap_or(l);
    after
        .split(')')
        .next()
        .unwrap_or(after)
        .trim()
        .trim_matches(['"', '\''])
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_the_build_writes_them() {
        assert_eq!(
            gradle_value("languageVersion = JavaLanguageVersion.of(17)"),
            "17"
        );
        assert_eq!(
            gradle_value("languageVersion.set(JavaLanguageVersion.of(21))"),
            "21"
        );
        assert_eq!(
            gradle_value("sourceCompatibility = JavaVersion.VERSION_1_8"),
            "1.8"
        );
        assert_eq!(gradle_value("sourceCompatibility = '11'"), "11");
        assert_eq!(
            assignment("version = \"0.1\"", "version"),
            Some("0.1".into())
        );
        assert_eq!(assignment("version '0.2'", "version"), Some("0.2".into()));
        assert_eq!(assignment("versionCode = 3", "version"), None);
    }
}
