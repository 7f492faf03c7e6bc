//! The HTTP client of the gateway: rustls on ring (no OpenSSL, no process-wide provider), the
//! CA bundle and the client certificate read from PEM files with errors naming the file, and
//! the account of a failed TLS handshake a user can act on.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use session_core::StoreError;

use crate::config::EtcdTls;

/// The reqwest client for `endpoints`: with a rustls config always (reqwest is built without
/// a default provider), trusting only `tls.ca` for `https://` endpoints.
pub(crate) fn client(
    endpoints: &[String],
    tls: &EtcdTls,
    request_timeout: Duration,
) -> Result<reqwest::Client, StoreError> {
    let https = endpoints.iter().any(|e| e.starts_with("https://"));
    if https && tls.ca.is_none() {
        return Err(StoreError::Invalid(
            "https:// etcd endpoints need the CA bundle that signed the members' certificates: pass --etcd-ca FILE (MCP_ETCD_CA)".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("cannot set up TLS for etcd: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = &tls.ca {
        let certs = read_certs(ca, "CA bundle (--etcd-ca)")?;
        for cert in certs {
            roots.add(cert).map_err(|e| {
                StoreError::Invalid(format!(
                    "the etcd CA bundle {} holds a certificate rustls cannot use: {e}",
                    ca.display()
                ))
            })?;
        }
    }
    let builder = builder.with_root_certificates(roots);
    let config = match (&tls.cert, &tls.key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "client certificate (--etcd-cert)")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                StoreError::Invalid(format!(
                    "cannot read the etcd client key (--etcd-key) {}: {e}; give a PEM private key",
                    key.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                StoreError::Invalid(format!(
                    "the etcd client certificate {} and key do not go together: {e}",
                    cert.display()
                ))
            })?
        }
        _ => {
            return Err(StoreError::Invalid(
                "--etcd-cert and --etcd-key go together: give both (mutual TLS) or neither".into(),
            ))
        }
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(request_timeout)
        .connect_timeout(request_timeout.min(Duration::from_secs(2)))
        .build()
        .map_err(|e| StoreError::Backend(format!("cannot build the etcd HTTP client: {e}")))
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let bad = |e: &dyn std::fmt::Display| {
        StoreError::Invalid(format!(
            "cannot read the etcd {what} {}: {e}",
            path.display()
        ))
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// A reqwest error with its causes (reqwest's own text hides the TLS reason).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// What to do about a failed TLS handshake, or `None` when `text` is no TLS failure. These
/// are final: another try with the same files fails the same way.
pub(crate) fn handshake_hint(text: &str) -> Option<&'static str> {
    if text.contains("invalid peer certificate") {
        Some("the member's certificate is not signed by the CA bundle (--etcd-ca), does not name this host, or has expired: check --etcd-ca and the certificate's SANs and dates")
    } else if text.contains("CertificateRequired")
        || text.contains("BadCertificate")
        || text.contains("UnknownCA")
        || text.contains("CertificateUnknown")
    {
        Some("the member refused this client's TLS handshake: it requires a client certificate signed by a CA it trusts (--etcd-cert and --etcd-key)")
    } else if text.contains("received fatal alert") {
        Some("the member ended the TLS handshake: check --etcd-ca, --etcd-cert and --etcd-key against the member's TLS settings")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::handshake_hint;

    #[test]
    fn handshake_failures_say_which_file_to_check() {
        let hint = |t: &str| handshake_hint(t).unwrap_or("");
        assert!(hint("invalid peer certificate: UnknownIssuer").contains("--etcd-ca"));
        assert!(hint("received fatal alert: BadCertificate").contains("--etcd-cert"));
        assert!(hint("received fatal alert: CertificateRequired").contains("--etcd-cert"));
        assert!(hint("received fatal alert: HandshakeFailure").contains("TLS settings"));
        assert_eq!(
            handshake_hint("tcp connect error: Connection refused"),
            None
        );
    }
}
