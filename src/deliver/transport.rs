//! Where messages go: an SMTP server (lettre, rustls) or, as the embedded
//! default, `.eml` files in a directory.
//!
//! The file transport is ours, not lettre's: lettre names files by a fresh
//! UUID and writes them in place, so a retry would leave a second copy and a
//! reader could see half a file. Here a message's file is named by its
//! Message-ID and written through a temporary file and a rename: delivering
//! it twice leaves one whole file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::outbox::OutgoingMessage;
use crate::config::{SmtpConfig, SmtpTls, Transport as TransportConfig};
use crate::support::secrets::SecretRef;
use crate::support::{atomic_file, mail};

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("mail transport: {0}")]
    Config(String),
    /// Worth another attempt later (connection refused, 4xx, timeout).
    #[error("{0}")]
    Transient(String),
    /// The server refused the message for good (5xx).
    #[error("{0}")]
    Permanent(String),
    /// The server refused our set-up, not the message: authentication
    /// (530, 534, 535, 538) or TLS. Fixing the configuration (or the
    /// server) lets the message through, so it is retried like a transient
    /// failure, and reported at error level and in the metrics.
    #[error("{0} (the mail set-up is refused: check the SMTP credentials and TLS settings)")]
    Setup(String),
}

/// SMTP replies that refuse the client's set-up rather than the message.
const SETUP_REPLIES: [&str; 4] = ["530", "534", "535", "538"];

/// How a failure of lettre's SMTP client is handled.
fn classify(e: lettre::transport::smtp::Error) -> TransportError {
    let setup = e.is_tls()
        || e.status()
            .is_some_and(|code| SETUP_REPLIES.contains(&code.to_string().as_str()));
    let message = format!("SMTP: {e}");
    if setup {
        TransportError::Setup(message)
    } else if e.is_permanent() {
        TransportError::Permanent(message)
    } else {
        TransportError::Transient(message)
    }
}

pub enum Transport {
    Files {
        dir: PathBuf,
    },
    Smtp {
        mailer: AsyncSmtpTransport<Tokio1Executor>,
        /// lettre's own timeout only covers connecting (upstream issue 1027).
        timeout: Duration,
        describe: String,
    },
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Transport {
    pub fn from_config(config: &TransportConfig) -> Result<Transport, TransportError> {
        match config {
            TransportConfig::File { dir } => Ok(Transport::Files { dir: dir.clone() }),
            TransportConfig::Smtp(smtp) => smtp_transport(smtp),
        }
    }

    /// For logs: never includes credentials.
    pub fn describe(&self) -> String {
        match self {
            Transport::Files { dir } => format!("files in {}", dir.display()),
            Transport::Smtp { describe, .. } => describe.clone(),
        }
    }

    /// Delivers one stored message.
    pub async fn deliver(&self, m: &OutgoingMessage) -> Result<(), TransportError> {
        match self {
            Transport::Files { dir } => write_eml(dir, m),
            Transport::Smtp {
                mailer, timeout, ..
            } => {
                let envelope = envelope(m)?;
                match tokio::time::timeout(*timeout, mailer.send_raw(&envelope, m.body.as_bytes()))
                    .await
                {
                    Err(_) => Err(TransportError::Transient(format!(
                        "SMTP send timed out after {}",
                        crate::model::Span(*timeout)
                    ))),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(classify(e)),
                }
            }
        }
    }
}

fn smtp_transport(c: &SmtpConfig) -> Result<Transport, TransportError> {
    let config_err = |e: lettre::transport::smtp::Error| TransportError::Config(e.to_string());
    let tls_parameters = || -> Result<TlsParameters, TransportError> {
        let mut params = TlsParameters::builder(c.host.clone());
        if let Some(path) = &c.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                TransportError::Config(format!("cannot read ca_file {}: {e}", path.display()))
            })?;
            let cert = Certificate::from_pem(&pem)
                .map_err(|e| TransportError::Config(format!("ca_file {}: {e}", path.display())))?;
            params = params.add_root_certificate(cert);
        }
        params.build_rustls().map_err(config_err)
    };
    let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&c.host);
    let mut builder = match c.tls {
        // STARTTLS is required, never opportunistic: a relay that does not
        // offer it does not get the report in clear.
        SmtpTls::Starttls => builder.port(587).tls(Tls::Required(tls_parameters()?)),
        SmtpTls::Implicit => builder.port(465).tls(Tls::Wrapper(tls_parameters()?)),
        SmtpTls::None => builder.port(25),
    };
    if let Some(port) = c.port {
        builder = builder.port(port);
    }
    builder = builder.timeout(Some(c.timeout.0));
    if let Some(user) = &c.username {
        let password = read_password(c)?;
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    let port = c.port.unwrap_or(match c.tls {
        SmtpTls::Starttls => 587,
        SmtpTls::Implicit => 465,
        SmtpTls::None => 25,
    });
    Ok(Transport::Smtp {
        mailer: builder.build(),
        timeout: c.timeout.0,
        describe: format!("SMTP {}:{} ({:?})", c.host, port, c.tls).to_lowercase(),
    })
}

/// The SMTP password, from a file (a systemd credential) or a variable.
fn read_password(c: &SmtpConfig) -> Result<String, TransportError> {
    let secret = SecretRef {
        what: "the SMTP password",
        env: c.password_env.as_deref(),
        file: c.password_file.as_deref(),
    }
    .read()
    .map_err(|e| TransportError::Config(e.to_string()))?;
    Ok(secret.map(|s| s.expose().to_string()).unwrap_or_default())
}

fn envelope(m: &OutgoingMessage) -> Result<Envelope, TransportError> {
    let address = |text: &str| -> Result<Address, TransportError> {
        mail::mailbox(text)
            .map(|mb| mb.email)
            .map_err(|e| TransportError::Permanent(e.to_string()))
    };
    let from = address(&m.envelope_from)?;
    let to = m
        .recipients
        .iter()
        .map(|r| address(r))
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(Some(from), to).map_err(|e| TransportError::Permanent(e.to_string()))
}

/// The file a message is delivered to: its Message-ID, made a safe name.
pub fn eml_path(dir: &Path, message_id: &str) -> PathBuf {
    let name: String = message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    dir.join(format!("{name}.eml"))
}

fn write_eml(dir: &Path, m: &OutgoingMessage) -> Result<(), TransportError> {
    let io = |what: &str, e: std::io::Error| {
        TransportError::Transient(format!("{what} {}: {e}", dir.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io("creating", e))?;
    atomic_file::write(&eml_path(dir, &m.message_id), m.body.as_bytes())
        .map_err(|e| io("writing into", e))
}
