//! Java: Maven (`pom.xml`) or Gradle (`build.gradle`, `build.gradle.kts`), with the
//! wrapper script when the repository has one; Spring Boot, Quarkus or Micronaut.

use std::path::Path;

use super::{between, exists, read, AnalyzeResult};

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
