//! The resources' names: the URI templates, which resource a URI names, and the shapes a
//! read or a list returns.

use session_core::SessionId;

use super::error::ResourceError;
use crate::state::Step;

/// The scheme and authority every resource URI of this server starts with.
pub const RESOURCE_URI_PREFIX: &str = "container-kit://sessions/";

/// The most sessions one `resources/list` page covers.
pub const LIST_PAGE_SESSIONS: usize = 20;

/// One resource template (RFC 6570 level 1: `{session_id}` and `{file}` are simple
/// expansions, so a `/` inside a value is sent as `%2F`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceTemplateSpec {
    /// The URI template.
    pub uri_template: &'static str,
    /// The programmatic name.
    pub name: &'static str,
    /// A short human title.
    pub title: &'static str,
    /// What the resource holds and which tool produces it.
    pub description: &'static str,
    /// The MIME type of every content it yields.
    pub mime_type: &'static str,
}

const DOCKERFILE_MIME: &str = "text/x-dockerfile";
const YAML_MIME: &str = "application/yaml";
const JSON_MIME: &str = "application/json";

/// The session's resources, one template each, in workflow order.
pub const RESOURCE_TEMPLATES: [ResourceTemplateSpec; 5] = [
    ResourceTemplateSpec {
        uri_template: "container-kit://sessions/{session_id}/dockerfile",
        name: "dockerfile",
        title: "Dockerfile",
        description: "The Dockerfile generate_dockerfile wrote (or kept) for the session, as it is now in the repository.",
        mime_type: DOCKERFILE_MIME,
    },
    ResourceTemplateSpec {
        uri_template: "container-kit://sessions/{session_id}/manifests",
        name: "manifests",
        title: "Kubernetes manifests",
        description: "Every Kubernetes manifest generate_k8s_manifests wrote for the session (with format kustomize: the base and the overlays), one content each with its own manifests/{file} URI.",
        mime_type: YAML_MIME,
    },
    ResourceTemplateSpec {
        uri_template: "container-kit://sessions/{session_id}/manifests/{file}",
        name: "manifest",
        title: "One Kubernetes manifest",
        description: "One of the session's manifests; {file} is its path under the repository's k8s/ directory, with / sent as %2F (the manifests resource lists the URIs).",
        mime_type: YAML_MIME,
    },
    ResourceTemplateSpec {
        uri_template: "container-kit://sessions/{session_id}/scan-report",
        name: "scan-report",
        title: "Vulnerability scan report",
        description: "The report scan_image stored for the session: the image scanned, the findings by severity and the trivy command (JSON).",
        mime_type: JSON_MIME,
    },
    ResourceTemplateSpec {
        uri_template: "container-kit://sessions/{session_id}/workflow",
        name: "workflow",
        title: "Workflow record",
        description: "The session's workflow record as stored: repository, status, completed and failed steps, every step's artifact, the last error (JSON).",
        mime_type: JSON_MIME,
    },
];

/// Which of a session's resources a URI names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionResource {
    /// The Dockerfile.
    Dockerfile,
    /// All the manifests.
    Manifests,
    /// One manifest, by its path under `k8s/`.
    Manifest(String),
    /// The scan step's stored report.
    ScanReport,
    /// The workflow record.
    Workflow,
}

impl SessionResource {
    /// The step whose artifact this is (`None`: the workflow record, which every session
    /// with a workflow has).
    pub(super) fn step(&self) -> Option<Step> {
        match self {
            SessionResource::Dockerfile => Some(Step::GenerateDockerfile),
            SessionResource::Manifests | SessionResource::Manifest(_) => {
                Some(Step::GenerateK8sManifests)
            }
            SessionResource::ScanReport => Some(Step::ScanImage),
            SessionResource::Workflow => None,
        }
    }

    /// Whether reading it reads the repository (and so needs the client's roots): the
    /// Dockerfile and the manifests; the scan report and the workflow are the store's.
    pub fn reads_workspace(&self) -> bool {
        matches!(
            self,
            SessionResource::Dockerfile | SessionResource::Manifests | SessionResource::Manifest(_)
        )
    }

    pub(super) fn spec(&self) -> &'static ResourceTemplateSpec {
        let i = match self {
            SessionResource::Dockerfile => 0,
            SessionResource::Manifests => 1,
            SessionResource::Manifest(_) => 2,
            SessionResource::ScanReport => 3,
            SessionResource::Workflow => 4,
        };
        &RESOURCE_TEMPLATES[i]
    }
}

/// A parsed resource URI: a valid session id and the resource it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceUri {
    /// The session.
    pub session: SessionId,
    /// The resource.
    pub resource: SessionResource,
}

impl ResourceUri {
    /// Parses `container-kit://sessions/{session_id}/{dockerfile|manifests|manifests/{file}|
    /// scan-report|workflow}`. The session id and the file are percent-decoded; a file may
    /// also be written with plain `/`.
    ///
    /// # Errors
    /// [`ResourceError::MalformedUri`] or [`ResourceError::InvalidSessionId`].
    pub fn parse(uri: &str) -> Result<ResourceUri, ResourceError> {
        let malformed = |reason: &str| ResourceError::MalformedUri {
            uri: cut(uri),
            reason: reason.to_owned(),
        };
        let rest = uri.strip_prefix(RESOURCE_URI_PREFIX).ok_or_else(|| {
            malformed("it does not start with container-kit://sessions/ (resources/templates/list gives the forms)")
        })?;
        if rest.contains(['?', '#']) {
            return Err(malformed(
                "it has a query or a fragment, which no resource takes",
            ));
        }
        let (raw_id, what) = rest
            .split_once('/')
            .ok_or_else(|| malformed("it names no resource after the session id"))?;
        let id_text = percent_decode(raw_id).ok_or_else(|| malformed("bad percent-encoding"))?;
        let session = SessionId::new(&id_text).map_err(|e| ResourceError::InvalidSessionId {
            id: cut(&id_text),
            reason: e.to_string(),
        })?;
        let resource = match what {
            "dockerfile" => SessionResource::Dockerfile,
            "manifests" => SessionResource::Manifests,
            "scan-report" => SessionResource::ScanReport,
            "workflow" => SessionResource::Workflow,
            other => match other.strip_prefix("manifests/") {
                Some(file) => {
                    let file =
                        percent_decode(file).ok_or_else(|| malformed("bad percent-encoding"))?;
                    if file.is_empty() || file.len() > 512 {
                        return Err(malformed("the manifest file name is empty or too long"));
                    }
                    SessionResource::Manifest(file)
                }
                None => return Err(malformed(
                    "the resource is none of dockerfile, manifests, manifests/{file}, scan-report, workflow",
                )),
            },
        };
        Ok(ResourceUri { session, resource })
    }

    /// The URI in its canonical form.
    pub fn uri(&self) -> String {
        let base = format!("{RESOURCE_URI_PREFIX}{}", self.session);
        match &self.resource {
            SessionResource::Dockerfile => format!("{base}/dockerfile"),
            SessionResource::Manifests => format!("{base}/manifests"),
            SessionResource::Manifest(file) => format!("{base}/manifests/{}", encode(file)),
            SessionResource::ScanReport => format!("{base}/scan-report"),
            SessionResource::Workflow => format!("{base}/workflow"),
        }
    }
}

/// One content of a read resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceText {
    /// The content's own URI (for `manifests`, each file's `manifests/{file}`).
    pub uri: String,
    /// Its MIME type.
    pub mime_type: &'static str,
    /// The text.
    pub text: String,
}

/// A concrete resource in a `resources/list` page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedResource {
    /// Its URI.
    pub uri: String,
    /// Its template's name.
    pub name: &'static str,
    /// A title naming the session.
    pub title: String,
    /// Its template's description.
    pub description: &'static str,
    /// Its MIME type.
    pub mime_type: &'static str,
}

/// One page of [`list_resources`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourcePage {
    /// The resources of this page's sessions.
    pub resources: Vec<ListedResource>,
    /// Pass back to read the next page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// `s` cut to 200 characters, for error messages.
pub(super) fn cut(s: &str) -> String {
    crate::log_text::log_safe(s, 200).to_string()
}

/// `s` with every byte outside RFC 3986's unreserved set percent-encoded (a simple RFC 6570
/// expansion).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `s` percent-decoded, or `None` for a bad escape or text that is not UTF-8 once decoded.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(super) fn manifest_uri(session: &SessionId, file: &str) -> String {
    ResourceUri {
        session: session.clone(),
        resource: SessionResource::Manifest(file.to_owned()),
    }
    .uri()
}
