//! The Java (Maven or Gradle) Dockerfile, from the analysis's facts: the build files (and
//! the wrapper) first and the dependencies downloaded in their own layer, then the sources
//! and the build (one module of a multi-module build: the whole build, dependencies in a
//! BuildKit cache mount); the jar (or Quarkus' `quarkus-app` directory) on a Temurin JRE, run by a
//! numeric non-root user created in the image; a `HEALTHCHECK` calling the health path with
//! the image's curl when one is known.

use super::{exec_form, render, template};
use crate::analyze::{AnalyzeResult, Details};

/// The Java Dockerfile for `a`, exposing `port`.
pub(super) fn dockerfile(a: &AnalyzeResult, port: &str) -> String {
    let d = match &a.details {
        Details::Java(d) => d.clone(),
        _ => Default::default(),
    };
    let maven = a.build_tool != "gradle";
    let tag = a
        .toolchain
        .as_ref()
        .map_or("21".to_owned(), |t| t.tag.clone());
    let (tool, build_args) = match (maven, d.wrapper) {
        (true, true) => ("./mvnw", d.build_args.as_str()),
        (true, false) => ("mvn", d.build_args.as_str()),
        (false, true) => ("./gradlew", d.build_args.as_str()),
        (false, false) => ("gradle", d.build_args.as_str()),
    };
    let build_args = if build_args.is_empty() {
        if maven {
            "-B package -DskipTests"
        } else {
            "build -x test --no-daemon"
        }
    } else {
        build_args
    };
    let build_files = if d.build_files.is_empty() {
        vec![if maven { "pom.xml" } else { "build.gradle" }.to_owned()]
    } else {
        d.build_files.clone()
    };
    let artifact = if d.artifact.is_empty() {
        if maven {
            "target/*.jar"
        } else {
            "build/libs/*.jar"
        }
        .to_owned()
    } else {
        d.artifact.clone()
    };
    let artifact_copy = if d.artifact_is_dir {
        format!("/src/{artifact}/ /app/")
    } else {
        format!("/src/{artifact} /app/app.jar")
    };
    let start = if a.start_command.is_empty() {
        "java -jar /app/app.jar"
    } else {
        &a.start_command
    };
    let builder = if d.wrapper {
        format!("eclipse-temurin:{tag}-jdk")
    } else {
        match &d.gradle_version {
            Some(v) => format!("gradle:{v}-jdk{tag}"),
            None => format!("gradle:jdk{tag}"),
        }
    };
    let (prepare, build) = if d.module.is_empty() {
        let fetch = if maven {
            format!("RUN {tool} -B dependency:go-offline\n")
        } else {
            format!("RUN {tool} dependencies --no-daemon\n")
        };
        (
            format!("{}{fetch}COPY src ./src\n", copy_lines(&build_files)),
            format!("{tool} {build_args}"),
        )
    } else {
        // One module of a multi-module build: its siblings' sources are part of the build,
        // so the whole build is copied and the dependencies live in a cache mount.
        let cache = match (maven, d.wrapper) {
            (true, _) => "/root/.m2",
            (false, true) => "/root/.gradle",
            (false, false) => "/home/gradle/.gradle",
        };
        (
            "COPY . .\n".to_owned(),
            format!("--mount=type=cache,target={cache} {tool} {build_args}"),
        )
    };
    // The Ubuntu-based Temurin images carry curl (adoptium/containers#255).
    let healthcheck = match &a.health_path {
        Some(path) => {
            let port = if d.health_port == 0 {
                port.to_owned()
            } else {
                d.health_port.to_string()
            };
            format!(
                "HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 CMD {}\n",
                exec_form(&format!("curl -fsS http://127.0.0.1:{port}{path}"))
            )
        }
        None => String::new(),
    };
    let t = if maven {
        template::MAVEN
    } else {
        template::GRADLE
    };
    render(
        t,
        &[
            ("tag", &tag),
            ("builder", &builder),
            ("prepare", &prepare),
            ("build", &build),
            ("artifact_copy", &artifact_copy),
            ("port", port),
            ("healthcheck", &healthcheck),
            ("entrypoint", &exec_form(start)),
        ],
    )
}

/// `COPY` lines for the build files: the plain files in one line, each directory (`.mvn`,
/// `gradle`) in its own, the wrapper script made executable.
fn copy_lines(files: &[String]) -> String {
    let is_dir = |f: &str| matches!(f, ".mvn" | "gradle");
    let is_wrapper = |f: &str| matches!(f, "mvnw" | "gradlew");
    let plain: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| !is_dir(f) && !is_wrapper(f))
        .collect();
    let mut out = format!("COPY {} ./\n", plain.join(" "));
    for f in files.iter().filter(|f| is_dir(f)) {
        out.push_str(&format!("COPY {f} ./{f}\n"));
    }
    for f in files.iter().filter(|f| is_wrapper(f)) {
        out.push_str(&format!("COPY --chmod=0755 {f} ./\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::analyze::analyze;
    use crate::generate::dockerfile;
    use crate::generate::tests::check_golden;

    /// One module of a Maven reactor builds from the reactor's root, selecting the module.
    #[test]
    fn a_maven_module_builds_from_the_reactors_root() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("pom.xml", "<project><groupId>g</groupId><artifactId>shop</artifactId><version>1.2</version><packaging>pom</packaging><modules><module>common</module><module>services/api</module></modules></project>"),
            ("mvnw", "#!/bin/sh\n"),
            ("common/pom.xml", "<project><parent><artifactId>shop</artifactId><version>1.2</version></parent><artifactId>common</artifactId></project>"),
            ("services/api/pom.xml", "<project><parent><artifactId>shop</artifactId><version>1.2</version><relativePath>../../pom.xml</relativePath></parent><artifactId>api</artifactId><dependencies><dependency><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-web</artifactId></dependency></dependencies></project>"),
        ] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let root = dir.path().canonicalize().unwrap();
        // `common` is a library module: only the service is a candidate.
        let err = crate::analyze::analyze(&root).unwrap_err();
        let candidates: Vec<&str> = err.candidates().iter().map(|c| c.path.as_str()).collect();
        assert_eq!(candidates, ["services/api"], "{err}");
        let a = crate::analyze::analyze_dir(&root, &root.join("services/api")).unwrap();
        assert_eq!(
            (a.build_context.as_str(), a.entrypoint.as_str()),
            ("../..", "api-1.2.jar")
        );
        let d = dockerfile(&a);
        if let Some(out) = std::env::var_os("DUMP_DOCKERFILE") {
            std::fs::write(out, &d).unwrap();
        }
        assert!(d.contains("COPY . .\nRUN --mount=type=cache,target=/root/.m2 ./mvnw -B -pl services/api -am package -DskipTests\n"), "{d}");
        assert!(
            d.contains("COPY --from=build /src/services/api/target/api-1.2.jar /app/app.jar"),
            "{d}"
        );
    }

    /// Without the wrapper script, the Gradle image of the wrapper's version builds.
    #[test]
    fn gradle_without_its_script_uses_the_wrappers_gradle_version() {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in [
            ("build.gradle.kts", "plugins { id(\"org.springframework.boot\") }\n"),
            ("gradle/wrapper/gradle-wrapper.properties", "distributionUrl=https\\://services.gradle.org/distributions/gradle-8.11.1-bin.zip\n"),
        ] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let a = analyze(&dir.path().canonicalize().unwrap()).unwrap();
        let d = dockerfile(&a);
        assert!(d.contains("FROM gradle:8.11.1-jdk21 AS build\n"), "{d}");
        assert!(
            d.contains("COPY gradle ./gradle\nRUN gradle dependencies --no-daemon\n"),
            "{d}"
        );
    }

    /// The fixtures' Dockerfiles, byte for byte (`UPDATE_GOLDEN=1` rewrites them).
    #[test]
    fn the_fixtures_dockerfiles_match_their_goldens() {
        let repos = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/repos");
        for fixture in [
            "spring-maven-actuator",
            "spring-gradle-kts",
            "quarkus-maven",
        ] {
            let root = repos.join(fixture).canonicalize().unwrap();
            let a = analyze(&root).unwrap();
            check_golden(&format!("{fixture}.Dockerfile"), &dockerfile(&a));
        }
    }
}
