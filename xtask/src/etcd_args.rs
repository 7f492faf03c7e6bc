//! The etcd TLS and auth flags of `cargo xtask load` and `cargo xtask migrate`, the same as
//! the server's (`--etcd-ca`, `--etcd-cert`, `--etcd-key`, `--etcd-user`,
//! `--etcd-password-file`; the password may also come from `MCP_ETCD_PASSWORD`).

use std::path::PathBuf;

use clap::Args;
use store_open::{EtcdTls, OpenOptions};

#[derive(Args, Debug, Clone, Default)]
pub(crate) struct EtcdArgs {
    /// CA bundle (PEM) of the etcd members' certificates; needed for https:// endpoints.
    #[arg(long, env = "MCP_ETCD_CA")]
    pub(crate) etcd_ca: Option<PathBuf>,
    /// Client certificate (PEM) for etcd's mutual TLS.
    #[arg(long, env = "MCP_ETCD_CERT")]
    pub(crate) etcd_cert: Option<PathBuf>,
    /// Private key (PEM) of --etcd-cert.
    #[arg(long, env = "MCP_ETCD_KEY")]
    pub(crate) etcd_key: Option<PathBuf>,
    /// etcd user (auth on); its password from --etcd-password-file or MCP_ETCD_PASSWORD.
    #[arg(long, env = "MCP_ETCD_USER")]
    pub(crate) etcd_user: Option<String>,
    /// File whose first line is the password of --etcd-user.
    #[arg(long, env = "MCP_ETCD_PASSWORD_FILE")]
    pub(crate) etcd_password_file: Option<PathBuf>,
}

impl EtcdArgs {
    /// The open options these flags ask for (no lock wait, no connection check).
    pub(crate) fn options(&self) -> anyhow::Result<OpenOptions> {
        Ok(OpenOptions {
            etcd_tls: EtcdTls {
                ca: self.etcd_ca.clone(),
                cert: self.etcd_cert.clone(),
                key: self.etcd_key.clone(),
            },
            etcd_auth: store_open::etcd_auth(
                self.etcd_user.as_deref(),
                self.etcd_password_file.as_deref(),
            )?,
            ..OpenOptions::default()
        })
    }
}
