//! Reader dispatch: one open source of any kind (SQL, files,
//! Elasticsearch/OpenSearch), read feed by feed in batches.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::outcome::SyncError;
use super::rows::BATCH;
use crate::collect::mapping::{Feed, Mapping};
use crate::collect::readers::elasticsearch::{EsClient, Flavor};
use crate::collect::readers::sql::SqlSource;
use crate::collect::readers::{RawRow, files};
use crate::collect::source::{SourceConfig, SourceKind};

/// An open source.
pub(super) enum Reader {
    Sql(SqlSource),
    Files {
        kind: SourceKind,
        dir: std::path::PathBuf,
    },
    Index(EsClient),
}

impl Reader {
    pub(super) async fn open(
        name: &str,
        source: &SourceConfig,
        mapping: &Mapping,
    ) -> Result<Reader, SyncError> {
        let fail = |message: String| SyncError::Source {
            source_name: name.to_string(),
            message,
        };
        let password = source.password(name).map_err(|e| fail(e.to_string()))?;
        let password = password.as_ref().map(|p| p.expose());
        let url = source.url.as_deref().unwrap_or("");
        Ok(match source.kind {
            SourceKind::Mysql | SourceKind::Postgres | SourceKind::Sqlite => Reader::Sql(
                SqlSource::open(source.kind, url, password, source.timeout.0, mapping.tz())
                    .await
                    .map_err(|e| fail(e.to_string()))?,
            ),
            SourceKind::Csv | SourceKind::Jsonl => Reader::Files {
                kind: source.kind,
                dir: source.path.clone().unwrap_or_default(),
            },
            SourceKind::Elasticsearch | SourceKind::Opensearch => Reader::Index(
                EsClient::new(
                    if source.kind == SourceKind::Opensearch {
                        Flavor::OpenSearch
                    } else {
                        Flavor::Elasticsearch
                    },
                    url,
                    source.username.as_deref(),
                    password,
                    source.timeout.0,
                    source.page_size,
                )
                .map_err(|e| fail(e.to_string()))?,
            ),
        })
    }

    /// Streams a feed's rows to `sink` in batches.
    pub(super) async fn for_each_batch<F>(
        &mut self,
        name: &str,
        feed_name: &str,
        feed: &Feed,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
        sink: F,
    ) -> Result<(), SyncError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), SyncError>,
    {
        let fail = |message: String| SyncError::Source {
            source_name: name.to_string(),
            message: format!("feed `{feed_name}`: {message}"),
        };
        match self {
            Reader::Sql(s) => s
                .for_each_batch(
                    feed.query.as_deref().unwrap_or(""),
                    &feed.dated,
                    since,
                    tz,
                    BATCH,
                    sink,
                )
                .await
                .map_err(|e| fail(e.to_string()))?,
            Reader::Files { kind, dir } => {
                let dir: &Path = dir;
                if *kind == SourceKind::Csv {
                    files::read_csv(dir, feed, since, tz, BATCH, sink).await
                } else {
                    files::read_jsonl(dir, feed, since, tz, BATCH, sink).await
                }
                .map_err(|e| fail(e.to_string()))?
            }
            Reader::Index(es) => es
                .read(feed, since, tz, sink)
                .await
                .map_err(|e| fail(e.to_string()))?,
        }
    }

    pub(super) async fn close(self) {
        if let Reader::Sql(s) = self {
            let _ = s.close().await;
        }
    }
}
