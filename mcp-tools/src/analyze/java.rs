//! Java: Maven (`pom.xml`) or Gradle (`build.gradle`, `build.gradle.kts`), with the
//! wrapper script when the repository has one; Spring Boot, Quarkus or Micronaut.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{between, exists, read, AnalyzeResult};
use super::{Detection, Repo};

/// What a Java on Maven or Gradle Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct JavaDetails {}

/// Reads directory `dir` of `repo` as a Java on Maven or Gradle project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let root = repo.root().join(dir);
    let mut r = AnalyzeResult::default();
    if repo.is_file(&super::repo::join(dir, "pom.xml")) {
        maven(&root, &mut r);
    } else if repo.is_file(&super::repo::join(dir, "build.gradle"))
        || repo.is_file(&super::repo::join(dir, "build.gradle.kts"))
    {
        gradle(&root, &mut r);
    } else {
        return None;
    }
    super::legacy_port(&root, &mut r);
    Detection::service(r)
}

/// A Maven project: framework from `pom.xml`, the project's own `artifactId` (not the
/// parent's) as the name, `mvnw` when present.
pub(super) fn maven(root: &Path, r: &mut AnalyzeResult) {
    r.language = "java".into();
    r.build_tool = "maven".into();
    r.evidence.push("pom.xml".into());
    let pom = read(root, "pom.xml").unwrap_or_default();
    java_framework(&pom, r);
    if let Some(id) = between(&pom, "<artifactId>", "</artifactId>") {
        // The first artifactId may be the parent's; prefer the one after </parent>.
        let after_parent = pom
            .split("</parent>")
            .nth(1)
            .and_then(|p| between(p, "<artifactId>", "</artifactId>"));
        r.app_name = after_parent.unwrap_or(id).to_owned();
    }
    r.build_command = if exists(root, "mvnw") {
        "./mvnw -B package -DskipTests"
    } else {
        "mvn -B package -DskipTests"
    }
    .into();
    r.start_command = "java -jar /app/app.jar".into();
}

/// A Gradle project (Kotlin or Groovy build file): framework from the build file, `gradlew`
/// when present.
pub(super) fn gradle(root: &Path, r: &mut AnalyzeResult) {
    r.language = "java".into();
    r.build_tool = "gradle".into();
    let file = if exists(root, "build.gradle.kts") {
        "build.gradle.kts"
    } else {
        "build.gradle"
    };
    r.evidence.push(file.into());
    let text = read(root, file).unwrap_or_default();
    java_framework(&text, r);
    r.build_command = if exists(root, "gradlew") {
        "./gradlew build -x test"
    } else {
        "gradle build -x test"
    }
    .into();
    r.start_command = "java -jar /app/app.jar".into();
}

fn java_framework(build_file: &str, r: &mut AnalyzeResult) {
    r.framework = if build_file.contains("spring-boot") {
        "spring-boot"
    } else if build_file.contains("quarkus") {
        "quarkus"
    } else if build_file.contains("micronaut") {
        "micronaut"
    } else {
        ""
    }
    .into();
    r.port = 8080;
}
