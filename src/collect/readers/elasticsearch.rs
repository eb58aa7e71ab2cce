//! Elasticsearch and OpenSearch indices over their HTTP search API.
//!
//! A feed reads an index, alias or pattern (`wk-login-log-*`) through a
//! point in time (so that paging sees one consistent view), a range query
//! on `time_field` from the watermark, sorted by that field, and pages with
//! `search_after` (the `sort` values of the last hit; Elasticsearch adds the
//! `_shard_doc` tie-breaker to a point-in-time search). The request and
//! response shapes are those of Elasticsearch 7.10+/8 and OpenSearch 2.4+;
//! they differ only in how a point in time is opened and closed.
//!
//! HTTP/1.1 is hyper's client connection over a tokio socket, TLS rustls
//! with the system's roots: no OpenSSL, and crates the build already has.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::support::http::{send, tls_connector};
use tokio_rustls::rustls::pki_types::ServerName;

use super::files::document_row;
use super::{RawRow, utc_to_local};
use crate::collect::mapping::Feed;

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("bad URL `{0}`: expected http(s)://host[:port][/prefix]")]
    Url(String),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: unexpected response: {message}")]
    Shape { url: String, message: String },
    #[error("document {id}: {message}")]
    Document { id: String, message: String },
}

/// Which API family: they open and close points in time differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Elasticsearch,
    OpenSearch,
}

pub struct EsClient {
    flavor: Flavor,
    tls: bool,
    host: String,
    port: u16,
    prefix: String,
    authorization: Option<String>,
    timeout: Duration,
    page_size: u32,
}

impl EsClient {
    pub fn new(
        flavor: Flavor,
        url: &str,
        username: Option<&str>,
        password: Option<&str>,
        timeout: Duration,
        page_size: u32,
    ) -> Result<EsClient, EsError> {
        let uri: Uri = url.parse().map_err(|_| EsError::Url(url.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(EsError::Url(url.to_string())),
        };
        let host = uri
            .host()
            .ok_or_else(|| EsError::Url(url.to_string()))?
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let authorization = username.map(|u| {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("{u}:{}", password.unwrap_or("")));
            format!("Basic {token}")
        });
        Ok(EsClient {
            flavor,
            tls,
            host,
            port,
            prefix: uri.path().trim_end_matches('/').to_string(),
            authorization,
            timeout,
            page_size,
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}://{}:{}{}{path}",
            if self.tls { "https" } else { "http" },
            self.host,
            self.port,
            self.prefix
        )
    }

    /// One request, one connection: paging makes few requests, and a fresh
    /// connection never inherits a half-read response.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, EsError> {
        let url = self.url(path);
        let http = |message: String| EsError::Http {
            url: url.clone(),
            message,
        };
        let work = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| http(format!("cannot connect: {e}")))?;
            let request = Request::builder()
                .method(method)
                .uri(format!("{}{path}", self.prefix))
                .header("host", format!("{}:{}", self.host, self.port))
                .header("content-type", "application/json")
                .header("accept", "application/json");
            let request = match &self.authorization {
                Some(a) => request.header("authorization", a),
                None => request,
            };
            let bytes = body.map(|b| b.to_string()).unwrap_or_default();
            let request = request
                .body(Full::new(Bytes::from(bytes)))
                .map_err(|e| http(e.to_string()))?;
            let response = if self.tls {
                let tls = tls_connector()
                    .connect(
                        ServerName::try_from(self.host.clone())
                            .map_err(|e| http(format!("bad TLS name: {e}")))?,
                        tcp,
                    )
                    .await
                    .map_err(|e| http(format!("TLS: {e}")))?;
                send(TokioIo::new(tls), request).await
            } else {
                send(TokioIo::new(tcp), request).await
            }
            .map_err(|e| http(e.to_string()))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| http(e.to_string()))?
                .to_bytes();
            if !(200..300).contains(&status) {
                return Err(EsError::Status {
                    url: url.clone(),
                    status,
                    body: String::from_utf8_lossy(&body).chars().take(500).collect(),
                });
            }
            serde_json::from_slice(&body).map_err(|e| EsError::Shape {
                url: url.clone(),
                message: format!("not JSON: {e}"),
            })
        };
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| http(format!("no answer within {:?}", self.timeout)))?
    }

    /// Reads a feed: every document at or after `since` (events), or all;
    /// each page goes to `sink` (whose error, if any, comes back inside `Ok`).
    ///
    /// When every page was read, also returns the index's own count of the
    /// documents the query matches, in the same point in time: what the
    /// rows read are reconciled against.
    pub async fn read<E, F>(
        &self,
        feed: &Feed,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
        sink: F,
    ) -> Result<Result<u64, E>, EsError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), E>,
    {
        let index = feed.index.as_deref().unwrap_or("");
        let keep_alive = "2m";
        let pit = self.open_pit(index, keep_alive).await?;
        let result = match self.page(feed, &pit, keep_alive, since, tz, sink).await {
            Ok(Ok(pit)) => self.count(feed, &pit, keep_alive, since, tz).await.map(Ok),
            Ok(Err(e)) => Ok(Err(e)),
            Err(e) => Err(e),
        };
        // Close even after a failure; a failed close only wastes the server
        // a little memory until keep_alive passes.
        let _ = self.close_pit(&pit).await;
        result
    }

    /// The documents the query matches in the point in time.
    async fn count(
        &self,
        feed: &Feed,
        pit: &str,
        keep_alive: &str,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
    ) -> Result<u64, EsError> {
        let body = json!({
            "size": 0,
            "query": {"bool": {"filter": filters(feed, since, tz)}},
            "pit": {"id": pit, "keep_alive": keep_alive},
            "track_total_hits": true,
        });
        let response = self.call(Method::POST, "/_search", Some(&body)).await?;
        response
            .pointer("/hits/total/value")
            .and_then(Value::as_u64)
            .ok_or_else(|| EsError::Shape {
                url: self.url("/_search"),
                message: "no hits.total.value in a counting search".into(),
            })
    }

    /// Returns the point in time's latest id.
    async fn page<E, F>(
        &self,
        feed: &Feed,
        pit: &str,
        keep_alive: &str,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
        mut sink: F,
    ) -> Result<Result<String, E>, EsError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), E>,
    {
        let filters = filters(feed, since, tz);
        let sort = match feed.time_field.as_deref() {
            Some(field) => json!([{ field: {"order": "asc"} }]),
            None => json!(["_shard_doc"]),
        };
        let mut pit_id = pit.to_string();
        let mut search_after: Option<Value> = None;
        loop {
            let mut rows = Vec::new();
            let mut body = json!({
                "size": self.page_size,
                "query": {"bool": {"filter": filters}},
                "sort": sort,
                "pit": {"id": pit_id, "keep_alive": keep_alive},
                "track_total_hits": false,
            });
            if let Some(after) = &search_after {
                body["search_after"] = after.clone();
            }
            let url = self.url("/_search");
            let response = self.call(Method::POST, "/_search", Some(&body)).await?;
            // A search may hand back a newer point-in-time id.
            if let Some(id) = response.get("pit_id").and_then(Value::as_str) {
                pit_id = id.to_string();
            }
            let hits = response
                .pointer("/hits/hits")
                .and_then(Value::as_array)
                .ok_or_else(|| EsError::Shape {
                    url: url.clone(),
                    message: "no hits.hits array".into(),
                })?;
            for hit in hits {
                let id = hit.get("_id").and_then(Value::as_str).unwrap_or("?");
                if let Some(row) =
                    document_row(feed, hit, since, tz).map_err(|message| EsError::Document {
                        id: id.to_string(),
                        message,
                    })?
                {
                    rows.push(row);
                }
            }
            let full = hits.len() >= self.page_size as usize;
            let next = hits.last().and_then(|h| h.get("sort")).cloned();
            if let Err(e) = sink(rows).await {
                return Ok(Err(e));
            }
            if !full {
                return Ok(Ok(pit_id));
            }
            search_after = match next {
                Some(sort) => Some(sort),
                None => {
                    return Err(EsError::Shape {
                        url,
                        message: "hits carry no `sort` values for search_after".into(),
                    });
                }
            };
        }
    }

    async fn open_pit(&self, index: &str, keep_alive: &str) -> Result<String, EsError> {
        let (path, field) = match self.flavor {
            Flavor::Elasticsearch => (format!("/{index}/_pit?keep_alive={keep_alive}"), "id"),
            Flavor::OpenSearch => (
                format!("/{index}/_search/point_in_time?keep_alive={keep_alive}"),
                "pit_id",
            ),
        };
        let response = self.call(Method::POST, &path, None).await?;
        response
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| EsError::Shape {
                url: self.url(&path),
                message: format!("no `{field}` in the point-in-time response"),
            })
    }

    async fn close_pit(&self, pit: &str) -> Result<(), EsError> {
        match self.flavor {
            Flavor::Elasticsearch => {
                self.call(Method::DELETE, "/_pit", Some(&json!({"id": pit})))
                    .await?
            }
            Flavor::OpenSearch => {
                self.call(
                    Method::DELETE,
                    "/_search/point_in_time",
                    Some(&json!({"pit_id": [pit]})),
                )
                .await?
            }
        };
        Ok(())
    }
}
/// The query's filters: the watermark's range on the time field (in the
/// source's wall-clock time: zone-less dates in an index are stored as
/// written, so they compare with the same text) and the feed's own filter.
fn filters(feed: &Feed, since: Option<DateTime<Utc>>, tz: chrono_tz::Tz) -> Vec<Value> {
    let mut filters = Vec::new();
    if let (Some(since), Some(field)) = (since, feed.time_field.as_deref()) {
        let local = utc_to_local(since, tz).format("%Y-%m-%dT%H:%M:%S%.3f");
        filters.push(json!({"range": {field: {"gte": local.to_string(), "format": "strict_date_optional_time"}}}));
    }
    if let Some(extra) = &feed.filter {
        filters.push(extra.clone());
    }
    filters
}
