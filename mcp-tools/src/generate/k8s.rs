//! The Kubernetes manifests of a service: a Deployment and, for a web service, a Service.

use super::{render, template};

/// The Kubernetes manifests for `image`: a Deployment and a Service, as one YAML document
/// stream.
pub fn k8s_manifests(app: &str, image: &str, port: u16) -> String {
    let port = if port == 0 { 8080 } else { port }.to_string();
    render(
        template::K8S,
        &[("app", app), ("image", image), ("port", &port)],
    )
}
