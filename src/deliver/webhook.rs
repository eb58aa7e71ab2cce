//! Webhooks: a job's findings as one JSON POST (Slack, Teams, Mattermost or
//! a ticketing system), through the same outbox as mail. The outbox row's
//! only recipient is `webhook:NAME`; the URL and the signing secret are
//! read from the configuration when the message is sent, so neither is
//! stored. The body is signed with HMAC-SHA256 under the secret
//! (`X-Accessaudit-Signature: sha256=HEX`), and `X-Accessaudit-Delivery`
//! carries the message's stable id, so a receiver can drop a repeat.
//!
//! HTTP/1.1 over hyper with rustls (the client the Elasticsearch reader
//! uses), one connection per request.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::support::http::{send, tls_connector};
use tokio_rustls::rustls::pki_types::ServerName;

use super::outbox::OutgoingMessage;
use super::transport::TransportError;
use crate::config::WebhookConfig;
use crate::support::pii::{hex, hmac_sha256};
use crate::support::secrets::{Secret, SecretRef};

/// The recipient an outbox row of a webhook carries.
pub const PREFIX: &str = "webhook:";

pub const SIGNATURE_HEADER: &str = "x-accessaudit-signature";
pub const DELIVERY_HEADER: &str = "x-accessaudit-delivery";

/// The webhook a message goes to, when it is one.
pub fn target(m: &OutgoingMessage) -> Option<&str> {
    match m.recipients.as_slice() {
        [one] => one.strip_prefix(PREFIX),
        _ => None,
    }
}

struct Webhook {
    tls: bool,
    host: String,
    port: u16,
    path: String,
    secret: Option<Secret>,
    timeout: Duration,
}

/// The configured webhooks, ready to post.
#[derive(Default)]
pub struct Webhooks(BTreeMap<String, Webhook>);

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: a URL may carry a token (Slack's do).
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Webhooks {
    /// Checks each URL and reads each secret now, so that a daemon does
    /// not start (or reload) with a webhook it cannot sign for.
    pub fn from_config(
        config: &BTreeMap<String, WebhookConfig>,
    ) -> Result<Webhooks, TransportError> {
        let mut out = BTreeMap::new();
        for (name, c) in config {
            let bad = || TransportError::Config(format!("webhook `{name}`: bad url"));
            let uri: Uri = c.url.parse().map_err(|_| bad())?;
            let tls = match uri.scheme_str() {
                Some("https") => true,
                Some("http") => false,
                _ => return Err(bad()),
            };
            let host = uri.host().ok_or_else(bad)?.to_string();
            let secret = SecretRef {
                what: "the webhook secret",
                env: c.secret_env.as_deref(),
                file: c.secret_file.as_deref(),
            }
            .read()
            .map_err(|e| TransportError::Config(format!("webhook `{name}`: {e}")))?;
            out.insert(
                name.clone(),
                Webhook {
                    tls,
                    port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
                    host,
                    path: uri
                        .path_and_query()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_else(|| "/".into()),
                    secret,
                    timeout: c.timeout.0,
                },
            );
        }
        Ok(Webhooks(out))
    }

    /// The longest a post may take (for the outbox's claim lease).
    pub fn longest_timeout(&self) -> Duration {
        self.0.values().map(|w| w.timeout).max().unwrap_or_default()
    }

    /// Posts one stored message to webhook `name`.
    pub async fn deliver(&self, name: &str, m: &OutgoingMessage) -> Result<(), TransportError> {
        let w = self.0.get(name).ok_or_else(|| {
            TransportError::Config(format!("webhook `{name}` is no longer configured"))
        })?;
        let failed =
            |message: String| TransportError::Transient(format!("webhook {name}: {message}"));
        let mut request = Request::post(&w.path)
            .header("host", format!("{}:{}", w.host, w.port))
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("accessaudit/", env!("CARGO_PKG_VERSION")),
            )
            .header(DELIVERY_HEADER, &m.message_id);
        if let Some(secret) = &w.secret {
            let mac = hmac_sha256(secret.expose().as_bytes(), m.body.as_bytes());
            request = request.header(SIGNATURE_HEADER, format!("sha256={}", hex(&mac)));
        }
        let request = request
            .body(Full::new(Bytes::from(m.body.clone())))
            .map_err(|e| TransportError::Permanent(format!("webhook {name}: {e}")))?;
        let work = async {
            let tcp = TcpStream::connect((w.host.as_str(), w.port))
                .await
                .map_err(|e| failed(format!("cannot connect to {}: {e}", w.host)))?;
            let response = if w.tls {
                let server = ServerName::try_from(w.host.clone())
                    .map_err(|e| TransportError::Config(format!("webhook {name}: {e}")))?;
                let tls = tls_connector()
                    .connect(server, tcp)
                    .await
                    .map_err(|e| TransportError::Setup(format!("webhook {name}: TLS: {e}")))?;
                send(TokioIo::new(tls), request).await
            } else {
                send(TokioIo::new(tcp), request).await
            }
            .map_err(|e| failed(e.to_string()))?;
            let status = response.status().as_u16();
            // Read the answer whole, so the receiver sees a clean close.
            let body = response
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let said: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            let message = format!("webhook {name}: HTTP {status} {said}");
            match status {
                200..=299 => Ok(()),
                401 | 403 => Err(TransportError::Setup(message)),
                408 | 425 | 429 | 500..=599 => Err(TransportError::Transient(message)),
                _ => Err(TransportError::Permanent(message)),
            }
        };
        tokio::time::timeout(w.timeout, work).await.map_err(|_| {
            failed(format!(
                "no answer within {}",
                crate::model::Span(w.timeout)
            ))
        })?
    }
}
