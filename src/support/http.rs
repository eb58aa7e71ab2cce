//! The HTTP client the Elasticsearch reader and the webhook transport share:
//! HTTP/1.1 over hyper, TLS by rustls with the system's root certificates,
//! one connection per request.

use std::sync::Arc;

use http_body_util::Full;
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

/// Sends `request` over `io` (a TCP or TLS stream) on a connection of its own.
pub async fn send<S>(
    io: TokioIo<S>,
    request: Request<Full<Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender.send_request(request).await
}

/// A TLS connector that trusts the system's root certificates.
pub fn tls_connector() -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(roots.clone())
                .with_no_client_auth()
        })
        // The provider's defaults are always valid; fall back to the crate
        // default only if that ever changes.
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth()
        });
    TlsConnector::from(Arc::new(config))
}
