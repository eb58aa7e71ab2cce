//! Reader dispatch: one open source of any kind (SQL, files,
//! Elasticsearch/OpenSearch, LDAP), read feed by feed in batches.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::outcome::SyncError;
use super::rows::BATCH;
use crate::collect::mapping::{Feed, Mapping};
use crate::collect::readers::elasticsearch::{EsClient, Flavor};
use crate::collect::readers::ldap::{LdapSettings, LdapSource};
use crate::collect::readers::sql::{SqlSource, WriteCheck};
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
    Directory(LdapSource),
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
            SourceKind::Ldap => Reader::Directory(
                LdapSource::open(
                    &LdapSettings {
                        url,
                        bind_dn: source.bind_dn.as_deref().unwrap_or(""),
                        password: password.unwrap_or(""),
                        base_dn: source.base_dn.as_deref().unwrap_or(""),
                        starttls: source.starttls,
                        ca_file: source.ca_file.as_deref(),
                        timeout: source.timeout.0,
                        page_size: source.page_size,
                    },
                    &mapping.feeds,
                )
                .await
                .map_err(|e| fail(e.to_string()))?,
            ),
        })
    }

    /// Streams a feed's rows to `sink` in batches, then returns the
    /// source's own count of them, read in the same snapshot where the
    /// source has one (`None`: no count could be had; a file feed filtered
    /// by its watermark).
    pub(super) async fn for_each_batch<F>(
        &mut self,
        name: &str,
        feed_name: &str,
        feed: &Feed,
        since: Option<DateTime<Utc>>,
        tz: chrono_tz::Tz,
        sink: F,
    ) -> Result<Option<u64>, SyncError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), SyncError>,
    {
        let fail = |message: String| SyncError::Source {
            source_name: name.to_string(),
            message: format!("feed `{feed_name}`: {message}"),
        };
        match self {
            Reader::Sql(s) => {
                let query = feed.query.as_deref().unwrap_or("");
                s.for_each_batch(query, &feed.dated, since, tz, BATCH, sink)
                    .await
                    .map_err(|e| fail(e.to_string()))??;
                let count = s
                    .count(query, feed.count.as_deref(), since, tz)
                    .await
                    .map_err(|e| fail(format!("counting: {e}")))?;
                Ok(Some(count))
            }
            Reader::Files { kind, dir } => {
                let dir: &Path = dir;
                let csv = *kind == SourceKind::Csv;
                if csv {
                    files::read_csv(dir, feed, since, tz, BATCH, sink).await
                } else {
                    files::read_jsonl(dir, feed, since, tz, BATCH, sink).await
                }
                .map_err(|e| fail(e.to_string()))??;
                if since.is_some() {
                    return Ok(None);
                }
                let count =
                    files::count_records(dir, feed, csv).map_err(|e| fail(e.to_string()))?;
                Ok(Some(count))
            }
            Reader::Index(es) => {
                let count = es
                    .read(feed, since, tz, sink)
                    .await
                    .map_err(|e| fail(e.to_string()))??;
                Ok(Some(count))
            }
            Reader::Directory(ldap) => {
                // The directory's entries are read whole each sync; no
                // second count is taken of them (said so in the report).
                ldap.read(feed_name, feed, sink)
                    .await
                    .map_err(|e| fail(e.to_string()))??;
                Ok(None)
            }
        }
    }

    /// What the source's account may write (see `SqlSource::write_check`).
    pub(super) async fn write_check(&mut self, name: &str) -> Result<WriteCheck, SyncError> {
        Ok(match self {
            Reader::Sql(s) => s.write_check().await.map_err(|e| SyncError::Source {
                source_name: name.to_string(),
                message: format!("checking its write privileges: {e}"),
            })?,
            Reader::Files { .. } => WriteCheck::NotChecked {
                why: "files: accessaudit only opens them for reading".into(),
            },
            Reader::Index(_) => WriteCheck::NotChecked {
                why: "Elasticsearch/OpenSearch: the account's privileges are not inspected".into(),
            },
            Reader::Directory(_) => WriteCheck::NotChecked {
                why: "LDAP: the bind account's access controls are not inspected".into(),
            },
        })
    }

    pub(super) async fn close(self) {
        match self {
            Reader::Sql(s) => {
                let _ = s.close().await;
            }
            Reader::Directory(ldap) => ldap.close().await,
            Reader::Files { .. } | Reader::Index(_) => {}
        }
    }
}
