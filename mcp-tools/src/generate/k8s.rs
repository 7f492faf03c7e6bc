//! The Kubernetes manifests of a service, from the analysis's facts: a Deployment and, for a
//! service that listens, a Service (a two-document YAML stream; a worker gets the Deployment
//! alone).
//!
//! What a real cluster needs and the rules here give it:
//! - names and labels are DNS-1035 labels (the API server rejects a Service named `2048`);
//! - `imagePullPolicy: IfNotPresent`, so an image loaded into a local kind cluster is used
//!   instead of being pulled from a registry that does not have it;
//! - startup, readiness and liveness probes: HTTP GET on the analysis's `health_path` when it
//!   knows one, a TCP connect on the port otherwise; a worker listens on nothing and so gets
//!   no port, no Service and no probe at all (a port probe would kill it, and an exec probe
//!   would need a command the image may not have);
//! - requests and limits, and a restricted security context (non-root, no privilege
//!   escalation, no capabilities, the runtime's default seccomp profile), which the
//!   generated Dockerfiles' numeric non-root `USER` satisfies.

use super::render;
use crate::analyze::{sanitize_name, AnalyzeResult, ServiceKind};

/// The Deployment; `{listening}` is [`LISTENING`] for a service that listens, empty for a
/// worker.
const DEPLOYMENT: &str = include_str!("../../templates/k8s/deployment.yaml");
/// The container's port and its three probes; `{check}` is the probe's handler.
const LISTENING: &str = include_str!("../../templates/k8s/listening.yaml");
/// The Service in front of the Deployment's `http` port.
const SERVICE: &str = include_str!("../../templates/k8s/service.yaml");

/// The port a web service whose analysis found none is assumed to listen on (the Dockerfile
/// exposes the same one).
const DEFAULT_PORT: u16 = 8080;

/// The manifests deploying `image` as `app` (sanitized to a DNS-1035 label), shaped by the
/// analysis `a`: its kind (web or worker), port, health path and language (a JVM gets more
/// memory).
pub fn k8s_manifests(a: &AnalyzeResult, app: &str, image: &str) -> String {
    let app = sanitize_name(app);
    let image = yaml_string(image);
    let (memory_request, memory_limit) = match a.language.as_str() {
        "java" => ("256Mi", "1Gi"),
        _ => ("128Mi", "512Mi"),
    };
    let port = if a.port == 0 { DEFAULT_PORT } else { a.port }.to_string();
    let listening = match a.kind {
        ServiceKind::Worker => String::new(),
        ServiceKind::Web => render(
            LISTENING,
            &[
                ("port", &port),
                ("check", &probe_check(a.health_path.as_deref())),
            ],
        ),
    };
    let values = [
        ("app", app.as_str()),
        ("image", &image),
        ("listening", &listening),
        ("memory_request", memory_request),
        ("memory_limit", memory_limit),
        ("port", &port),
    ];
    let mut out = render(DEPLOYMENT, &values);
    if a.kind == ServiceKind::Web {
        out.push_str(&render(SERVICE, &values));
    }
    out
}

/// A probe's handler, indented for [`LISTENING`]: an HTTP GET on `health_path` when it is
/// known, else a TCP connect to the `http` port.
fn probe_check(health_path: Option<&str>) -> String {
    match health_path.map(str::trim).filter(|p| !p.is_empty()) {
        Some(path) => {
            let path = if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            };
            format!(
                "            httpGet:\n              path: {}\n              port: http\n",
                yaml_string(&path)
            )
        }
        None => "            tcpSocket:\n              port: http\n".to_owned(),
    }
}

/// `s` as a double-quoted YAML scalar that reads back as exactly `s`: printable ASCII as it
/// is, `"` and `\` escaped, and every other character as a `\uXXXX` / `\UXXXXXXXX` escape.
/// A JSON string is not enough: JSON leaves DEL, the C1 controls, NEL and the Unicode line
/// separators raw, which YAML refuses or folds into a different value.
fn yaml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08X}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn analysis(kind: ServiceKind, port: u16, health: Option<&str>) -> AnalyzeResult {
        AnalyzeResult {
            language: "python".into(),
            kind,
            port,
            health_path: health.map(str::to_owned),
            ..Default::default()
        }
    }

    fn web(health: Option<&str>) -> AnalyzeResult {
        analysis(ServiceKind::Web, 5000, health)
    }

    /// Compares `actual` with `templates/golden/<name>`; `UPDATE_GOLDEN=1` rewrites it.
    fn check_golden(name: &str, actual: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, actual).unwrap();
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
        assert!(
            actual == expected,
            "{name} differs from its golden:\n{actual}"
        );
    }

    #[test]
    fn manifests_are_byte_identical_to_their_goldens() {
        check_golden(
            "web.k8s.yaml",
            &k8s_manifests(&web(Some("/healthz")), "web", "registry.local/web:v1"),
        );
        check_golden(
            "tcp.k8s.yaml",
            &k8s_manifests(&web(None), "my-app", "my-app:0.1.0"),
        );
        check_golden(
            "worker.k8s.yaml",
            &k8s_manifests(
                &analysis(ServiceKind::Worker, 0, None),
                "worker",
                "worker:0.1.0",
            ),
        );
    }

    #[test]
    fn a_worker_is_one_document_without_service_port_or_probe() {
        let y = k8s_manifests(
            &analysis(ServiceKind::Worker, 0, Some("/healthz")),
            "jobs",
            "jobs:1",
        );
        assert!(!y.contains("---"), "{y}");
        assert!(!y.contains("kind: Service"), "{y}");
        for absent in ["containerPort", "Probe", "tcpSocket", "httpGet"] {
            assert!(!y.contains(absent), "{absent}: {y}");
        }
        assert!(y.contains("kind: Deployment"), "{y}");
    }

    #[test]
    fn a_known_health_path_gives_http_probes_and_none_tcp() {
        let http = k8s_manifests(&web(Some("actuator/health")), "a", "a:1");
        assert_eq!(
            http.matches("path: \"/actuator/health\"").count(),
            3,
            "{http}"
        );
        assert!(!http.contains("tcpSocket"), "{http}");
        let tcp = k8s_manifests(&web(Some("  ")), "a", "a:1");
        assert_eq!(tcp.matches("tcpSocket:").count(), 3, "{tcp}");
        assert!(!tcp.contains("httpGet"), "{tcp}");
        for probe in ["startupProbe:", "readinessProbe:", "livenessProbe:"] {
            assert!(http.contains(probe) && tcp.contains(probe), "{probe}");
        }
    }

    #[test]
    fn a_web_service_has_its_port_a_service_and_the_local_pull_policy() {
        let y = k8s_manifests(&web(None), "api", "api:0.1.0");
        assert_eq!(y.matches("\n---\n").count(), 1, "{y}");
        assert!(
            y.contains("containerPort: 5000") && y.contains("port: 5000"),
            "{y}"
        );
        assert!(y.contains("imagePullPolicy: IfNotPresent"), "{y}");
        assert!(y.contains("image: \"api:0.1.0\""), "{y}");
        assert!(
            y.contains("runAsNonRoot: true") && y.contains("- ALL"),
            "{y}"
        );
        let default_port = k8s_manifests(&analysis(ServiceKind::Web, 0, None), "a", "a:1");
        assert!(
            default_port.contains("containerPort: 8080"),
            "{default_port}"
        );
    }

    #[test]
    fn names_are_dns_1035_labels_and_values_cannot_break_the_yaml() {
        let y = k8s_manifests(&web(None), "2048_Game", "x:1\"\nkind: Pod");
        assert!(y.contains("name: app-2048-game\n"), "{y}");
        assert!(!y.contains("2048_Game"), "{y}");
        assert!(y.contains(r#"image: "x:1\"\u000Akind: Pod""#), "{y}");
        assert!(!y.contains('{'), "{y}");
    }

    #[test]
    fn every_value_reads_back_from_the_yaml_as_it_was() {
        for image in [
            "x:1\"\nkind: Pod",
            "a\u{7f}b\u{85}c\u{2028}d\u{2029}e\u{feff}f\u{1}g\th",
            "back\\slash 'single' é 🐳",
            "registry.local/web:v1",
        ] {
            let y = k8s_manifests(&web(Some("/p\u{85}ath")), "a", image);
            let docs: Vec<serde_json::Value> = y
                .split("\n---\n")
                .map(|d| yaml_serde::from_str(d).unwrap_or_else(|e| panic!("{e}: {y}")))
                .collect();
            let container = &docs[0]["spec"]["template"]["spec"]["containers"][0];
            assert_eq!(container["image"], image, "{y}");
            assert_eq!(
                container["readinessProbe"]["httpGet"]["path"],
                "/p\u{85}ath"
            );
        }
    }
}
