//! etcd's user/password authentication for the gateway: `/v3/auth/authenticate` at each
//! member (simple tokens are the member's own), the token in the `Authorization` header of
//! every request, and a new token when a member refuses the old one (it expires after
//! `--auth-token-ttl` unused, and with every change of users or roles).

use serde::{Deserialize, Serialize};

use crate::gateway::{read_answer, CallError, Gateway, Step, GATEWAY_CN};
use crate::tls;

#[derive(Serialize)]
struct AuthenticateRequest<'a> {
    name: &'a str,
    password: &'a str,
}

#[derive(Deserialize)]
struct AuthenticateResponse {
    #[serde(default)]
    token: String,
}

impl Gateway {
    /// Endpoint `i`'s token (`None` with auth off), fetched when there is none yet.
    pub(crate) async fn token(&self, i: usize) -> Result<Option<String>, Step> {
        let Some(auth) = &self.auth else {
            return Ok(None);
        };
        let mut slot = self.tokens[i].lock().await;
        if let Some(token) = slot.as_ref() {
            return Ok(Some(token.clone()));
        }
        let body = serde_json::to_vec(&AuthenticateRequest {
            name: &auth.user,
            password: &auth.password,
        })
        .map_err(|e| Step::Retry(format!("cannot encode the etcd authentication: {e}")))?;
        let url = &self.endpoints()[i];
        let resp = match self
            .request(i, "/v3/auth/authenticate", body, None)
            .send()
            .await
        {
            Ok(resp) => resp,
            Err(e) => {
                let text = tls::describe(&e);
                return Err(match tls::handshake_hint(&text) {
                    Some(hint) => final_error(format!("etcd {url}: {text}: {hint}")),
                    None => Step::Retry(format!("etcd {url}: {text}")),
                });
            }
        };
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| Step::Retry(format!("etcd {url}: {}", tls::describe(&e))))?;
        match read_answer(status, &text) {
            Ok(()) => {
                let answer: AuthenticateResponse = serde_json::from_str(&text).map_err(|e| {
                    Step::Retry(format!(
                        "etcd {url} answered an authentication with ({e}): {text}"
                    ))
                })?;
                if answer.token.is_empty() {
                    return Err(Step::Retry(format!(
                        "etcd {url} answered an authentication without a token"
                    )));
                }
                *slot = Some(answer.token.clone());
                Ok(Some(answer.token))
            }
            Err((code, message)) => {
                if message.contains("invalid user ID or password") {
                    return Err(final_error(format!(
                        "etcd {url} refused user {:?}: {message}: check --etcd-user and the password (--etcd-password-file or MCP_ETCD_PASSWORD)",
                        auth.user
                    )));
                }
                if message.contains("authentication is not enabled") {
                    return Err(final_error(format!(
                        "etcd {url}: {message}: the cluster has auth off; drop --etcd-user and the password"
                    )));
                }
                if message.contains(GATEWAY_CN) {
                    if let Some(e) =
                        self.final_refusal("/v3/auth/authenticate", status, code, &message)
                    {
                        return Err(Step::Final(e));
                    }
                }
                if status.is_server_error() || status.is_success() {
                    Err(Step::Retry(format!("etcd {url}: {message}")))
                } else {
                    Err(final_error(format!(
                        "etcd {url} refused the authentication of user {:?}: {message}",
                        auth.user
                    )))
                }
            }
        }
    }

    /// Drops endpoint `i`'s token if it is still `stale` (another request may have fetched
    /// a new one meanwhile).
    pub(crate) async fn forget_token(&self, i: usize, stale: &str) {
        let mut slot = self.tokens[i].lock().await;
        if slot.as_deref() == Some(stale) {
            *slot = None;
        }
    }
}

fn final_error(message: String) -> Step {
    Step::Final(CallError {
        message,
        code: None,
        maybe_applied: false,
    })
}
