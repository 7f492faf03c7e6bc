//! The application's config under `src/main/resources/`: `application.properties` (`key=value`,
//! `key: value`) and `application.yml` / `.yaml` (nested keys, `server:` then `port:`), read
//! into dotted keys with the line that sets each. The profile files
//! (`application-dev.properties`) are not read: the container runs the default profile.
//! From them, the port and health facts.

use super::{Build, Located};
use crate::analyze::repo::join;
use crate::analyze::{AnalyzeResult, Repo};

/// The config's keys, in file order; the first file that sets a key wins.
#[derive(Debug, Default)]
pub(super) struct Config(Vec<(String, Located<String>)>);

impl Config {
    /// The value of the dotted key `key` (`server.port`), with where it was set.
    pub(super) fn get(&self, key: &str) -> Option<&Located<String>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Reads the config files of the project in `dir`.
pub(super) fn read(repo: &Repo, dir: &str) -> Config {
    let mut c = Config::default();
    for name in [
        "application.properties",
        "application.yml",
        "application.yaml",
    ] {
        let file = format!("src/main/resources/{name}");
        let Some(text) = repo.read(&join(dir, &file)) else {
            continue;
        };
        let pairs = if name.ends_with(".properties") {
            properties(&text)
        } else {
            yaml(&text)
        };
        for (key, value, line) in pairs {
            c.0.push((
                key,
                Located {
                    value,
                    file: file.clone(),
                    line,
                },
            ));
        }
    }
    c
}

/// `key=value` / `key: value` lines, comments (`#`, `!`) skipped.
fn properties(text: &str) -> Vec<(String, String, u32)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with('!') {
                return None;
            }
            let at = l.find(['=', ':'])?;
            let (k, v) = (l[..at].trim(), l[at + 1..].trim());
            Some((k.to_owned(), v.to_owned(), i as u32 + 1))
        })
        .collect()
}

/// A YAML file's scalar mappings as dotted keys: each `key: value` under the keys that
/// enclose it by indentation. Lists, anchors and flow mappings are not followed; a `---`
/// starts a new document (Spring's profile sections come after it, so only the first
/// document is read).
fn yaml(text: &str) -> Vec<(String, String, u32)> {
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.trim_start().starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        if raw.starts_with("---") {
            if out.is_empty() && stack.is_empty() {
                continue;
            }
            break;
        }
        let indent = raw.len() - raw.trim_start().len();
        let line = raw.trim();
        if line.starts_with('-') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.split(" #").next().unwrap_or("").trim();
        while stack.last().is_some_and(|(d, _)| *d >= indent) {
            stack.pop();
        }
        let key = key.trim().trim_matches(['"', '\'']);
        let mut path: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
        path.push(key);
        let dotted = path.join(".");
        if value.is_empty() {
            stack.push((indent, key.to_owned()));
        } else {
            let value = value.trim_matches(['"', '\'']).to_owned();
            out.push((dotted, value, i as u32 + 1));
        }
    }
    out
}

/// A port value: `8081`, or the default of a placeholder (`${PORT:8081}`).
pub(super) fn port_value(v: &str) -> Option<u16> {
    let v = v.trim();
    let v = match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
        Some(inner) => inner.rsplit_once(':')?.1,
        None => v,
    };
    v.trim().parse().ok().filter(|p| *p > 0)
}

/// The port: `server.port` (Spring Boot, Micronaut's `micronaut.server.port`) or
/// `quarkus.http.port` from the application's config, else the framework's 8080.
pub(super) fn port_fact(framework: &str, conf: &Config, r: &mut AnalyzeResult) {
    let keys: &[&str] = match framework {
        "quarkus" => &["quarkus.http.port"],
        "micronaut" => &["micronaut.server.port"],
        _ => &["server.port"],
    };
    let found = keys.iter().find_map(|k| conf.get(k));
    match found.and_then(|p| port_value(&p.value).map(|n| (n, p))) {
        Some((port, at)) => {
            r.port = port;
            r.facts.record(
                "port",
                port,
                at.evidence(&format!("{} in the application's config", keys[0])),
            );
        }
        None => {
            r.port = 8080;
            let rule = format!(
                "no {} in application.properties/.yml: {}'s default 8080",
                keys[0],
                if framework.is_empty() {
                    "the JVM web frameworks"
                } else {
                    framework
                }
            );
            r.facts.fallback("port", 8080, &rule);
        }
    }
}

/// `/actuator/health` with Spring Boot's actuator (under `server.servlet.context-path` and
/// `management.endpoints.web.base-path` when set), `/q/health` with Quarkus' SmallRye
/// Health (under `quarkus.http.root-path` and the non-application root).
pub(super) fn health_fact(build: &Build, conf: &Config, r: &mut AnalyzeResult) {
    let Some(dep) = &build.health_dependency else {
        return;
    };
    let value = |key: &str| {
        conf.get(key)
            .map(|v| v.value.trim_matches('/').to_owned())
            .filter(|v| !v.is_empty() && !v.contains("${"))
    };
    let prefix = |v: Option<String>| v.map_or(String::new(), |v| format!("/{v}"));
    let path = match dep.value {
        "actuator" => {
            // The actuator lives under the servlet context path (same port) and its own
            // base path.
            let context = prefix(value("server.servlet.context-path"));
            let base = value("management.endpoints.web.base-path");
            let base = base.map_or("/actuator".to_owned(), |b| format!("/{b}"));
            if let Some(port) = conf.get("management.server.port") {
                r.checks.push(format!(
                    "{}:{} moves the actuator to port {}: the probes must call that port, not {}",
                    port.file, port.line, port.value, r.port
                ));
            }
            let base = if base == "/" { String::new() } else { base };
            format!("{context}{base}/health")
        }
        _ => {
            // Quarkus: `/q/health`, under `quarkus.http.root-path` and the
            // non-application root (`q`).
            let root = prefix(value("quarkus.http.root-path"));
            let q = value("quarkus.http.non-application-root-path").unwrap_or("q".into());
            format!("{root}/{q}/health")
        }
    };
    r.facts.record(
        "health",
        &path,
        dep.evidence("the health endpoint's dependency"),
    );
    r.health_path = Some(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_nests_and_properties_split() {
        let y = yaml("spring:\n  application:\n    name: x\nserver:\n  port: 9000 # web\nmanagement.server.port: 9001\n");
        let keys: Vec<(&str, &str, u32)> = y
            .iter()
            .map(|(k, v, l)| (k.as_str(), v.as_str(), *l))
            .collect();
        assert_eq!(
            keys,
            [
                ("spring.application.name", "x", 3),
                ("server.port", "9000", 5),
                ("management.server.port", "9001", 6)
            ]
        );
        assert_eq!(properties("# c\nserver.port = 8081\n")[0].1, "8081");
        assert_eq!(port_value("${PORT:8082}"), Some(8082));
        assert_eq!(port_value("${PORT}"), None);
    }

    #[test]
    fn the_health_path_follows_the_context_and_base_paths() {
        let health = |dep: &'static str, props: &str| {
            let conf = Config(
                properties(props)
                    .into_iter()
                    .map(|(k, value, line)| {
                        let file = "application.properties".to_owned();
                        (k, Located { value, file, line })
                    })
                    .collect(),
            );
            let build = Build {
                health_dependency: Some(Located {
                    value: dep,
                    file: "pom.xml".into(),
                    line: 1,
                }),
                ..Build::default()
            };
            let mut r = AnalyzeResult::default();
            health_fact(&build, &conf, &mut r);
            (r.health_path.unwrap_or_default(), r.checks.len())
        };
        assert_eq!(health("actuator", ""), ("/actuator/health".into(), 0));
        let spring = "server.servlet.context-path=/api/\nmanagement.endpoints.web.base-path=/manage\nmanagement.server.port=9001\n";
        assert_eq!(health("actuator", spring), ("/api/manage/health".into(), 1));
        let quarkus = "quarkus.http.root-path=/svc\n";
        assert_eq!(
            health("smallrye-health", quarkus),
            ("/svc/q/health".into(), 0)
        );
    }
}
