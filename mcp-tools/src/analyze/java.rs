//! Java: Maven (`pom.xml`) or Gradle (`build.gradle`, `build.gradle.kts`), with the
//! wrapper script when the repository has one; Spring Boot, Quarkus or Micronaut.
//!
//! `maven.rs` and `gradle.rs` read the build file into a [`Build`] (framework, artifact,
//! toolchain declarations, each with its line); `config.rs` reads the port and the
//! actuator's base path from `application.properties` / `application.yml`. This file turns
//! that into the facts: the jar the Dockerfile copies and `java -jar` starts, the port
//! (configured, else the framework's 8080 as a fallback), the health path (Spring Boot's
//! actuator, Quarkus' SmallRye Health) and the Temurin release.

mod config;
mod gradle;
mod maven;
mod reactor;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::repo::join;
use super::{AnalyzeError, AnalyzeResult, Detection, Evidence, Repo, ServiceKind, ToolchainFact};
use crate::toolchain::{self, Declared, Ecosystem};

/// What a Java on Maven or Gradle Dockerfile needs beyond the common facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct JavaDetails {
    /// The wrapper script (`mvnw`, `gradlew`) builds, not the image's own Maven or Gradle.
    pub wrapper: bool,
    /// The build files to copy before the sources, so the dependency download is a cached
    /// layer (`pom.xml`, `.mvn`, `build.gradle.kts`, `settings.gradle.kts`, `gradle`).
    pub build_files: Vec<String>,
    /// What the build leaves for the runtime stage, relative to the build context: a jar
    /// (`target/petclinic-3.4.0-SNAPSHOT.jar`) or Quarkus' `target/quarkus-app` directory.
    pub artifact: String,
    /// The build's arguments after the tool (`-B package -DskipTests`, `bootJar -x test`).
    pub build_args: String,
    /// The module's directory relative to the build's root when the service is one module
    /// of a multi-module build (`services/api`), `""` otherwise: the Dockerfile then copies
    /// the whole build and caches the dependencies in a BuildKit cache mount instead.
    pub module: String,
    /// Gradle's version from `gradle/wrapper/gradle-wrapper.properties` (`8.11.1`), for the
    /// `gradle:<version>-jdk<N>` builder when the wrapper script itself is missing.
    pub gradle_version: Option<String>,
    /// The port the health path answers on when it is not the service's
    /// (`management.server.port`), else 0.
    pub health_port: u16,
    /// The artifact is a directory (Quarkus' fast-jar `quarkus-app`): copied whole, and
    /// `entrypoint` names the jar inside it.
    pub artifact_is_dir: bool,
}

/// One fact read from a file: the value and the 1-based line that says it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Located<T> {
    value: T,
    file: String,
    line: u32,
}

impl<T> Located<T> {
    fn evidence(&self, rule: &str) -> Evidence {
        Evidence::at(&self.file, Some(self.line), rule)
    }
}

/// What a build file says, read by `maven.rs` or `gradle.rs`.
#[derive(Debug, Default)]
struct Build {
    /// `spring-boot`, `quarkus`, `micronaut`, or `""`, with the line that says it.
    framework: Option<Located<&'static str>>,
    /// The project's name (`artifactId`, `rootProject.name`) and version, as the jar's name.
    name: Option<Located<String>>,
    version: Option<String>,
    /// Spring Boot's actuator or Quarkus' SmallRye Health among the dependencies.
    health_dependency: Option<Located<&'static str>>,
    /// Toolchain declarations: the declared value (`21`) and the parsed declaration.
    toolchain: Vec<(String, Declared)>,
    /// A main class is configured (`mainClass`, `Main-Class`, Gradle's `application`
    /// plugin): without a framework, that is what makes the jar runnable.
    main_class: bool,
    /// What the build file itself warns of, for the checks (a Spring Boot POM without
    /// the plugin that makes its jar executable).
    warnings: Vec<String>,
    /// An aggregator or parent (`<packaging>pom</packaging>`, a Gradle root that includes
    /// subprojects and has no `src/main`): no service itself.
    aggregator: bool,
}

/// Reads directory `dir` of `repo` as a Java on Maven or Gradle project.
pub(super) fn detect(repo: &Repo, dir: &str) -> Option<Detection> {
    let (manager, build) = if repo.is_file(&join(dir, "pom.xml")) {
        ("maven", maven::read(repo, dir))
    } else if let Some(file) = ["build.gradle.kts", "build.gradle"]
        .into_iter()
        .find(|f| repo.is_file(&join(dir, f)))
    {
        ("gradle", gradle::read(repo, dir, file))
    } else {
        return None;
    };
    let build = match build {
        Ok(b) => b,
        Err(detail) => {
            return Detection::refusal(AnalyzeError::Unsupported {
                path: repo.root().join(dir).display().to_string(),
                detail,
            })
        }
    };
    let mut r = AnalyzeResult {
        language: "java".into(),
        build_tool: manager.into(),
        ..AnalyzeResult::default()
    };
    let manifest = if manager == "maven" {
        "pom.xml".to_owned()
    } else if repo.is_file(&join(dir, "build.gradle.kts")) {
        "build.gradle.kts".to_owned()
    } else {
        "build.gradle".to_owned()
    };
    r.evidence.push(manifest.clone());
    r.facts.record(
        "manager",
        manager,
        Evidence::at(&manifest, None, "the build file"),
    );
    if build.aggregator {
        // The modules are the services; building one needs this parent (`-pl <module> -am`).
        return Detection::tooling(r);
    }
    if build.framework.is_none() && !build.main_class {
        return Detection::refusal(AnalyzeError::Library {
            path: repo.root().join(dir).display().to_string(),
            detail: format!(
                "{manifest} names no Spring Boot, Quarkus or Micronaut and no main class"
            ),
        });
    }
    if let Err(detail) = facts(repo, dir, manager, &manifest, &build, &mut r) {
        return Detection::refusal(AnalyzeError::Unsupported {
            path: repo.root().join(dir).display().to_string(),
            detail,
        });
    }
    Detection::service(r)
}

/// Every fact of a Java service from its `build`.
fn facts(
    repo: &Repo,
    dir: &str,
    manager: &str,
    manifest: &str,
    build: &Build,
    r: &mut AnalyzeResult,
) -> Result<(), String> {
    let framework = build.framework.as_ref().map_or("", |f| f.value);
    match &build.framework {
        Some(f) => r
            .facts
            .record("framework", f.value, f.evidence("a dependency or plugin")),
        None => r.facts.record(
            "framework",
            "",
            Evidence::rule("no Spring Boot, Quarkus or Micronaut"),
        ),
    }
    r.framework = framework.into();
    toolchain_fact(build, r)?;
    r.checks.extend(build.warnings.iter().cloned());
    let wrapper_file = if manager == "maven" {
        "mvnw"
    } else {
        "gradlew"
    };
    let reactor = reactor::find(repo, dir, manager == "maven");
    let root = reactor.as_ref().map_or(dir, |x| x.root.as_str());
    let wrapper = repo.is_file(&join(root, wrapper_file));
    let tool = match (wrapper, manager) {
        (true, _) => format!("./{wrapper_file}"),
        (false, "maven") => "mvn".to_owned(),
        (false, _) => "gradle".to_owned(),
    };
    let (name, name_rule) = match &build.name {
        Some(n) => (n.value.clone(), "the project's name"),
        None => (
            repo.root()
                .join(dir)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("app")
                .to_owned(),
            "the directory's name",
        ),
    };
    let version = build.version.clone().or_else(|| {
        // A subproject's version is often set once for all in the root build script.
        let root_build = ["build.gradle.kts", "build.gradle"]
            .into_iter()
            .find(|f| reactor.is_some() && manager == "gradle" && repo.is_file(&join(root, f)))?;
        gradle::read(repo, root, root_build).ok()?.version
    });
    let jar = match &version {
        Some(v) => format!("{name}-{v}"),
        None => name.clone(),
    };
    let module = reactor.as_ref().map_or("", |x| x.module.as_str());
    let (out, args) = if manager == "maven" {
        let select = match module {
            "" => String::new(),
            m => format!(" -pl {m} -am"),
        };
        ("target", format!("-B{select} package -DskipTests"))
    } else {
        let task = match framework {
            "spring-boot" => "bootJar",
            "micronaut" => "shadowJar",
            _ => "build",
        };
        let task = match module {
            "" => task.to_owned(),
            m => format!(":{}:{task}", m.replace('/', ":")),
        };
        ("build/libs", format!("{task} -x test --no-daemon"))
    };
    let (artifact, entrypoint, is_dir) = match framework {
        "quarkus" => {
            let base = if manager == "maven" {
                "target"
            } else {
                "build"
            };
            (
                format!("{base}/quarkus-app"),
                "quarkus-app/quarkus-run.jar".to_owned(),
                true,
            )
        }
        "micronaut" if manager == "gradle" => (
            format!("{out}/{jar}-all.jar"),
            format!("{jar}-all.jar"),
            false,
        ),
        _ => (format!("{out}/{jar}.jar"), format!("{jar}.jar"), false),
    };
    // A Maven version that cannot be resolved here (`${revision}` set on the command line,
    // a parent outside the repository): the one jar the build leaves, by a pattern.
    let artifact = if manager == "maven" && version.is_none() && !is_dir {
        format!("{out}/*.jar")
    } else {
        artifact
    };
    let entry_evidence = match &build.name {
        Some(n) => n.evidence(&format!(
            "{name_rule} and version: the jar `{tool} {args}` builds"
        )),
        None => Evidence::rule(format!("{name_rule}: the jar `{tool} {args}` builds")),
    };
    r.facts.record("entrypoint", &entrypoint, entry_evidence);
    if !is_dir && (build.name.is_none() || version.is_none()) {
        r.checks.push(format!(
            "the jar name {entrypoint} is not fully declared (name or version missing): check the build's output in {out}"
        ));
    }
    r.entrypoint = entrypoint;
    r.app_name = name;
    r.build_command = format!("{tool} {args}");
    r.start_command = if is_dir {
        "java -jar /app/quarkus-run.jar".into()
    } else {
        "java -jar /app/app.jar".into()
    };
    let conf = config::read(repo, dir);
    config::port_fact(framework, &conf, r);
    config::health_fact(build, &conf, r);
    r.kind = ServiceKind::Web;
    if framework.is_empty() {
        r.facts.fallback(
            "kind",
            "web",
            "a main class without a known web framework: assumed to listen",
        );
    } else {
        r.facts.record(
            "kind",
            "web",
            Evidence::rule(format!("{framework} serves HTTP")),
        );
    }
    let mut build_files = vec![manifest.to_owned()];
    let extra: &[&str] = if manager == "maven" {
        &[".mvn"]
    } else {
        &[
            "settings.gradle.kts",
            "settings.gradle",
            "gradle.properties",
            "gradle",
        ]
    };
    for f in extra {
        let p = join(dir, f);
        if repo.is_file(&p) || repo.is_dir(&p) {
            build_files.push((*f).to_owned());
        }
    }
    if wrapper {
        build_files.push(wrapper_file.to_owned());
    }
    if let Some(x) = &reactor {
        let up = vec![".."; module.split('/').count()].join("/");
        r.facts.record(
            "context",
            &up,
            Evidence::at(
                &format!("{up}/{}", x.file.rsplit('/').next().unwrap_or(&x.file)),
                None,
                format!("the build's root lists {module} as a module"),
            ),
        );
        r.build_context = up;
    }
    let artifact = match module {
        "" => artifact,
        m => format!("{m}/{artifact}"),
    };
    r.details = super::Details::Java(JavaDetails {
        module: module.to_owned(),
        gradle_version: repo
            .read(&join(root, "gradle/wrapper/gradle-wrapper.properties"))
            .and_then(|t| {
                let url = t
                    .lines()
                    .find(|l| l.trim_start().starts_with("distributionUrl"))?;
                let name = url.rsplit('/').next()?;
                let v = name.strip_prefix("gradle-")?.split("-bin").next()?;
                let v = v.split("-all").next()?;
                v.chars()
                    .all(|c| c.is_ascii_digit() || c == '.')
                    .then(|| v.to_owned())
            }),
        health_port: conf
            .get("management.server.port")
            .and_then(|p| config::port_value(&p.value))
            .unwrap_or(0),
        wrapper,
        build_files,
        artifact,
        build_args: args,
        artifact_is_dir: is_dir,
    });
    Ok(())
}

/// The Temurin release from the declarations (the deciding one recorded), else the
/// policy's default as a fallback.
fn toolchain_fact(build: &Build, r: &mut AnalyzeResult) -> Result<(), String> {
    let decls: Vec<Declared> = build.toolchain.iter().map(|(_, d)| d.clone()).collect();
    let choice = toolchain::choose(Ecosystem::Java, &decls).map_err(|e| e.to_string())?;
    if choice.has(toolchain::Flag::NewerThanKnown) {
        r.checks.push(format!(
            "{}: check that the image tag {} is published",
            choice.reason, choice.tag
        ));
    }
    let deciding = build
        .toolchain
        .iter()
        .find(|(_, d)| Some(d.evidence()) == choice.evidence.as_ref())
        .or(build.toolchain.first());
    let fact = match deciding {
        Some((value, d)) => {
            let e = d.evidence();
            r.facts.record(
                "toolchain",
                &choice.tag,
                Evidence::at(&e.file, Some(e.line), choice.reason.clone()),
            );
            ToolchainFact::from_choice(&choice, &[value])
        }
        None => {
            r.facts.fallback("toolchain", &choice.tag, &choice.reason);
            ToolchainFact::from_choice(&choice, &[])
        }
    };
    r.toolchain = Some(fact);
    Ok(())
}

/// The 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> u32 {
    text[..at.min(text.len())].matches('\n').count() as u32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyze(files: &[(&str, &str)]) -> AnalyzeResult {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        detect(&repo, "").unwrap().outcome.unwrap()
    }

    #[test]
    fn a_bare_pom_falls_back_to_the_defaults_and_says_so() {
        let r = analyze(&[("pom.xml", "<project><artifactId>orders</artifactId><version>1.0</version><dependencies><dependency><groupId>org.springframework.boot</groupId><artifactId>spring-boot-starter-web</artifactId></dependency></dependencies></project>")]);
        assert_eq!(r.framework, "spring-boot");
        assert_eq!(r.entrypoint, "orders-1.0.jar");
        assert!(
            r.checks
                .iter()
                .any(|c| c.contains("spring-boot-maven-plugin")),
            "{:?}",
            r.checks
        );
        assert_eq!(r.port, 8080);
        assert!(r.facts.get("port").is_some_and(|p| p.fallback));
        let tc = r.toolchain.unwrap();
        assert_eq!((tc.tag.as_str(), tc.declared.as_str()), ("21", ""));
    }

    #[test]
    fn gradle_groovy_reads_source_compatibility_and_yaml_port() {
        let r = analyze(&[
            (
                "build.gradle",
                "plugins { id 'org.springframework.boot' version '3.3.0' }\nversion = '2.0'\nsourceCompatibility = '11'\ndependencies { implementation 'org.springframework.boot:spring-boot-starter-actuator' }\n",
            ),
            ("settings.gradle", "rootProject.name = 'billing'\n"),
            ("src/main/resources/application.yaml", "server:\n  # the port\n  port: ${PORT:7070}\n"),
        ]);
        assert_eq!(r.entrypoint, "billing-2.0.jar");
        assert_eq!(r.port, 7070);
        assert_eq!(r.health_path.as_deref(), Some("/actuator/health"));
        assert_eq!(r.toolchain.unwrap().tag, "11");
        assert_eq!(r.build_command, "gradle bootJar -x test --no-daemon");
    }

    #[test]
    fn a_release_newer_than_the_policy_knows_is_named_in_the_checks() {
        let r = analyze(&[("pom.xml", "<project><artifactId>a</artifactId><version>1</version><properties><java.version>26</java.version></properties><build><plugins><plugin><artifactId>spring-boot-maven-plugin</artifactId></plugin></plugins></build></project>")]);
        assert_eq!(r.toolchain.unwrap().tag, "26");
        assert!(
            r.checks.iter().any(|c| c.contains("is published")),
            "{:?}",
            r.checks
        );
    }

    #[test]
    fn a_broken_pom_is_refused_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pom.xml"), "<project><artifactId>").unwrap();
        let repo = Repo::new(dir.path().canonicalize().unwrap());
        let d = detect(&repo, "").unwrap();
        assert_eq!(d.outcome.unwrap_err().kind(), "unsupported");
    }
}
