//! LDAP directories (OpenLDAP, Active Directory) through the `ldap3` crate.
//!
//! Read-only: a simple bind, then subtree searches, nothing else. TLS is
//! rustls (aws-lc-rs): `ldaps://`, or `ldap://` upgraded by StartTLS; the
//! server's certificate must chain to `ca_file` when given, else to the
//! system's roots. Every operation has the source's timeout (ldap3 resets
//! it for each entry of a search); connecting and binding too.
//!
//! A feed is one search (`filter`, under `base`), paged with simple paged
//! results (RFC 2696) of `page_size` entries; referrals are skipped (AD
//! returns them for its other partitions). Each entry becomes a row through
//! the feed's `columns` (`directory::Convert`). A `members` feed searches
//! the accounts' and the groups' feeds again for their ids and membership
//! attributes and makes one grant per (account, group), nested groups
//! expanded in Rust (`directory::Memberships`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, ResultEntry, Scope};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

use super::{RawRow, RawValue};
use crate::collect::directory::{self, Convert, Members, Memberships, normalize_dn};
use crate::collect::mapping::{ColumnSource, Feed};

#[derive(Debug, thiserror::Error)]
pub enum LdapSourceError {
    #[error("ca_file {}: {message}", path.display())]
    CaFile { path: PathBuf, message: String },
    #[error("{url}: cannot connect: {message}")]
    Connect { url: String, message: String },
    #[error("bind as `{dn}` refused: {message}")]
    Bind { dn: String, message: String },
    #[error("search under `{base}` with {filter}: {message}")]
    Search {
        base: String,
        filter: String,
        message: String,
    },
    #[error("entry `{dn}`, attribute `{attribute}`: {message}")]
    Entry {
        dn: String,
        attribute: String,
        message: String,
    },
    #[error("{0}")]
    Mapping(String),
}

/// Where and how to reach the directory (from the source's configuration).
pub struct LdapSettings<'a> {
    pub url: &'a str,
    pub bind_dn: &'a str,
    pub password: &'a str,
    pub base_dn: &'a str,
    pub starttls: bool,
    pub ca_file: Option<&'a Path>,
    pub timeout: Duration,
    pub page_size: u32,
}

/// A bound connection and the mapping's feeds (a `members` feed reads the
/// accounts' and groups' feeds).
pub struct LdapSource {
    ldap: Ldap,
    base_dn: String,
    timeout: Duration,
    page_size: i32,
    feeds: BTreeMap<String, Feed>,
}

/// An entry as read: its DN and attribute values as bytes (an attribute
/// may be binary, like AD's objectGUID).
struct Entry {
    dn: String,
    attrs: Vec<(String, Vec<Vec<u8>>)>,
}

impl Entry {
    fn values(&self, attribute: &str) -> Option<&[Vec<u8>]> {
        self.attrs
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .map(|(_, v)| v.as_slice())
    }

    fn err(&self, attribute: &str, message: impl Into<String>) -> LdapSourceError {
        LdapSourceError::Entry {
            dn: self.dn.clone(),
            attribute: attribute.to_string(),
            message: message.into(),
        }
    }

    /// The values of `attribute` as text (`dn` is the entry's DN).
    fn texts(&self, attribute: &str) -> Result<Vec<String>, LdapSourceError> {
        if attribute.eq_ignore_ascii_case("dn") {
            return Ok(vec![self.dn.clone()]);
        }
        self.values(attribute)
            .unwrap_or_default()
            .iter()
            .map(|v| {
                String::from_utf8(v.clone()).map_err(|_| {
                    self.err(
                        attribute,
                        "a binary value where text was expected (for objectGUID use `as: guid`)",
                    )
                })
            })
            .collect()
    }

    fn first_text(&self, attribute: &str) -> Result<Option<String>, LdapSourceError> {
        Ok(self.texts(attribute)?.into_iter().next())
    }

    /// The raw value of a column (a `dn_ref` gives the DN, resolved later).
    fn raw(&self, source: &ColumnSource) -> Result<RawValue, LdapSourceError> {
        let text = |t: Option<String>| t.map_or(RawValue::Null, RawValue::Text);
        Ok(match source {
            ColumnSource::Constant { value } => RawValue::Text(value.clone()),
            ColumnSource::Field(a) => text(self.first_text(a)?),
            ColumnSource::Attribute {
                attribute: a,
                convert,
            } => match convert {
                Convert::Text | Convert::DnRef => text(self.first_text(a)?),
                Convert::GeneralizedTime => match self.first_text(a)? {
                    None => RawValue::Null,
                    Some(s) => RawValue::Utc(
                        directory::parse_generalized_time(&s).map_err(|m| self.err(a, m))?,
                    ),
                },
                Convert::Filetime => match self.first_text(a)? {
                    None => RawValue::Null,
                    Some(s) => directory::parse_filetime(&s)
                        .map_err(|m| self.err(a, m))?
                        .map_or(RawValue::Null, RawValue::Utc),
                },
                Convert::AccountControl => match self.first_text(a)? {
                    None => RawValue::Null,
                    Some(s) => status(directory::account_disabled(&s).map_err(|m| self.err(a, m))?),
                },
                Convert::DisabledIfPresent => status(self.values(a).is_some_and(|v| !v.is_empty())),
                Convert::Guid => match self.values(a).and_then(|v| v.first()) {
                    None => RawValue::Null,
                    Some(bytes) => {
                        RawValue::Text(directory::guid_text(bytes).map_err(|m| self.err(a, m))?)
                    }
                },
            },
        })
    }
}

fn status(disabled: bool) -> RawValue {
    RawValue::Text(if disabled { "disabled" } else { "active" }.to_string())
}

/// A search result entry without ldap3's `SearchEntry::construct`, which
/// panics on a malformed reply: a server's bytes must not end the process.
fn parse_entry(re: ResultEntry) -> Option<Entry> {
    let mut parts = re.0.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
    let mut attrs = Vec::new();
    for attribute in parts.next()?.expect_constructed()? {
        let mut pair = attribute.expect_constructed()?.into_iter();
        let name = String::from_utf8(pair.next()?.expect_primitive()?).ok()?;
        let values = pair
            .next()?
            .expect_constructed()?
            .into_iter()
            .map(|v| v.expect_primitive())
            .collect::<Option<Vec<_>>>()?;
        attrs.push((name, values));
    }
    Some(Entry { dn, attrs })
}

/// The TLS configuration: trust `ca_file` only when given, else the
/// system's roots.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, LdapSourceError> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |message: String| LdapSourceError::CaFile {
                path: path.to_path_buf(),
                message,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| bad(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| bad(e.to_string()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapSourceError::Mapping(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

impl LdapSource {
    /// Connects (TLS), binds, and keeps the mapping's feeds.
    pub async fn open(
        s: &LdapSettings<'_>,
        feeds: &BTreeMap<String, Feed>,
    ) -> Result<LdapSource, LdapSourceError> {
        let connect_err = |message: String| LdapSourceError::Connect {
            url: s.url.to_string(),
            message,
        };
        let settings = LdapConnSettings::new()
            .set_conn_timeout(s.timeout)
            .set_starttls(s.starttls)
            .set_config(tls_config(s.ca_file)?);
        let (conn, mut ldap) =
            tokio::time::timeout(s.timeout, LdapConnAsync::with_settings(settings, s.url))
                .await
                .map_err(|_| connect_err(format!("no answer within {:?}", s.timeout)))?
                .map_err(|e| connect_err(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::warn!(error = %e, "LDAP connection ended");
            }
        });
        let bind_err = |message: String| LdapSourceError::Bind {
            dn: s.bind_dn.to_string(),
            message,
        };
        ldap.with_timeout(s.timeout)
            .simple_bind(s.bind_dn, s.password)
            .await
            .map_err(|e| bind_err(e.to_string()))?
            .success()
            .map_err(|e| bind_err(e.to_string()))?;
        Ok(LdapSource {
            ldap,
            base_dn: s.base_dn.to_string(),
            timeout: s.timeout,
            page_size: i32::try_from(s.page_size).unwrap_or(1000),
            feeds: feeds.clone(),
        })
    }

    pub async fn close(mut self) {
        let _ = self.ldap.unbind().await;
    }

    /// Where a feed searches: its `base` (absolute, or relative to the
    /// source's base DN), else the base DN.
    fn base_of(&self, feed: &Feed) -> String {
        match &feed.base {
            None => self.base_dn.clone(),
            Some(b) if normalize_dn(b).ends_with(&normalize_dn(&self.base_dn)) => b.clone(),
            Some(b) => format!("{b},{}", self.base_dn),
        }
    }

    /// Every entry under `base` matching `filter`, with `attributes`.
    async fn search(
        &mut self,
        base: &str,
        filter: &str,
        attributes: Vec<String>,
    ) -> Result<Vec<Entry>, LdapSourceError> {
        let err = |message: String| LdapSourceError::Search {
            base: base.to_string(),
            filter: filter.to_string(),
            message,
        };
        // "1.1": no attributes, only DNs (RFC 4511 4.5.1.8).
        let attributes = if attributes.is_empty() {
            vec!["1.1".to_string()]
        } else {
            attributes
        };
        let adapters: Vec<Box<dyn Adapter<'static, String, Vec<String>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(self.page_size)),
        ];
        let mut stream = self
            .ldap
            .with_timeout(self.timeout)
            .streaming_search_with(adapters, base, Scope::Subtree, filter, attributes)
            .await
            .map_err(|e| err(e.to_string()))?;
        let mut entries = Vec::new();
        while let Some(re) = stream.next().await.map_err(|e| err(e.to_string()))? {
            let entry =
                parse_entry(re).ok_or_else(|| err("a malformed entry in the reply".into()))?;
            // AD hands a large multi-valued attribute out in ranges
            // (`member;range=0-1499`): reading only the first range would
            // silently lose members.
            if let Some((name, _)) = entry.attrs.iter().find(|(n, _)| n.contains(";range=")) {
                return Err(entry.err(name, "the directory returned this attribute in ranges (more values than its MaxValRange); ranged retrieval is not supported: read memberships with `member_of: memberOf`"));
            }
            entries.push(entry);
        }
        stream
            .finish()
            .await
            .success()
            .map_err(|e| err(e.to_string()))?;
        Ok(entries)
    }

    /// The search of a feed with the attributes its columns (and `extra`) read.
    async fn search_feed(
        &mut self,
        feed_name: &str,
        extra: &[&str],
    ) -> Result<Vec<Entry>, LdapSourceError> {
        let feed = self
            .feeds
            .get(feed_name)
            .cloned()
            .ok_or_else(|| LdapSourceError::Mapping(format!("no feed named `{feed_name}`")))?;
        let filter = match &feed.filter {
            Some(serde_json::Value::String(f)) => f.clone(),
            _ => {
                return Err(LdapSourceError::Mapping(format!(
                    "feed `{feed_name}` has no LDAP filter"
                )));
            }
        };
        let mut attributes: Vec<String> = Vec::new();
        let fields = feed.columns.values().filter_map(ColumnSource::field);
        for a in fields.chain(extra.iter().copied()) {
            if !a.eq_ignore_ascii_case("dn")
                && !attributes.iter().any(|x| x.eq_ignore_ascii_case(a))
            {
                attributes.push(a.to_string());
            }
        }
        let base = self.base_of(&feed);
        self.search(&base, &filter, attributes).await
    }

    /// Reads a feed; its rows go to `sink` in pages (the sink's error, if
    /// any, comes back inside `Ok`).
    pub async fn read<E, F>(
        &mut self,
        feed_name: &str,
        feed: &Feed,
        mut sink: F,
    ) -> Result<Result<(), E>, LdapSourceError>
    where
        F: AsyncFnMut(Vec<RawRow>) -> Result<(), E>,
    {
        let rows = match &feed.members {
            Some(members) => self.memberships(members).await?,
            None => {
                let entries = self.search_feed(feed_name, &[]).await?;
                rows_of(feed, &entries)?
            }
        };
        let size = usize::try_from(self.page_size).unwrap_or(1000).max(1);
        let mut rows = rows.into_iter().peekable();
        // An empty feed still reaches the sink once (the snapshot diff must
        // see that everything is gone).
        loop {
            let page: Vec<RawRow> = rows.by_ref().take(size).collect();
            if let Err(e) = sink(page).await {
                return Ok(Err(e));
            }
            if rows.peek().is_none() {
                return Ok(Ok(()));
            }
        }
    }

    /// One grant per (account, group) the accounts hold.
    async fn memberships(&mut self, members: &Members) -> Result<Vec<RawRow>, LdapSourceError> {
        let id_source = |feed_name: &str| -> Result<ColumnSource, LdapSourceError> {
            self.feeds
                .get(feed_name)
                .and_then(|f| f.columns.get("id"))
                .cloned()
                .ok_or_else(|| LdapSourceError::Mapping(format!("feed `{feed_name}` maps no `id`")))
        };
        let account_id = id_source(&members.accounts)?;
        let group_id = id_source(&members.groups)?;
        let member_of: Vec<&str> = members.member_of.as_deref().into_iter().collect();
        let member_attr: Vec<&str> = members
            .attribute
            .as_deref()
            .into_iter()
            .chain(member_of.iter().copied())
            .collect();
        let accounts = self.search_feed(&members.accounts, &member_of).await?;
        let groups = self.search_feed(&members.groups, &member_attr).await?;
        let ids = |entries: &[Entry],
                   source: &ColumnSource|
         -> Result<HashMap<String, String>, LdapSourceError> {
            let mut map = HashMap::with_capacity(entries.len());
            for e in entries {
                if let RawValue::Text(id) = e.raw(source)? {
                    map.insert(normalize_dn(&e.dn), id);
                }
            }
            Ok(map)
        };
        let account_ids = ids(&accounts, &account_id)?;
        let group_ids = ids(&groups, &group_id)?;
        let mut m = Memberships::default();
        // A DN that is neither one of the accounts nor one of the groups (a
        // contact, a foreign security principal, an entry outside the
        // feeds' filters) is not followed.
        let link = |m: &mut Memberships, member_dn: &str, group: &str| {
            let key = normalize_dn(member_dn);
            if let Some(account) = account_ids.get(&key) {
                m.direct
                    .entry(account.clone())
                    .or_default()
                    .insert(group.to_string());
            } else if let Some(child) = group_ids.get(&key) {
                m.parents
                    .entry(child.clone())
                    .or_default()
                    .insert(group.to_string());
            }
        };
        if let Some(attribute) = &members.attribute {
            for g in &groups {
                let Some(group) = group_ids.get(&normalize_dn(&g.dn)) else {
                    continue;
                };
                for member in g.texts(attribute)? {
                    link(&mut m, &member, group);
                }
            }
        }
        if let Some(attribute) = &members.member_of {
            for e in accounts.iter().chain(groups.iter()) {
                let Some(member) = account_ids
                    .get(&normalize_dn(&e.dn))
                    .or_else(|| group_ids.get(&normalize_dn(&e.dn)))
                else {
                    continue;
                };
                let member = member.clone();
                for parent in e.texts(attribute)? {
                    if let Some(group) = group_ids.get(&normalize_dn(&parent)) {
                        if account_ids.contains_key(&normalize_dn(&e.dn)) {
                            m.direct
                                .entry(member.clone())
                                .or_default()
                                .insert(group.clone());
                        } else {
                            m.parents
                                .entry(member.clone())
                                .or_default()
                                .insert(group.clone());
                        }
                    }
                }
            }
        }
        Ok(m.expand(members.nested)
            .into_iter()
            .map(|(account, group)| {
                vec![
                    (
                        "id".to_string(),
                        RawValue::Text(format!("{account}:{group}")),
                    ),
                    ("principal_id".to_string(), RawValue::Text(account)),
                    ("role_id".to_string(), RawValue::Text(group)),
                ]
            })
            .collect())
    }
}

/// The rows of a feed's entries; `dn_ref` columns resolved to the id of
/// the entry of the same feed that the DN names.
fn rows_of(feed: &Feed, entries: &[Entry]) -> Result<Vec<RawRow>, LdapSourceError> {
    let mut rows = Vec::with_capacity(entries.len());
    let mut id_by_dn = HashMap::new();
    for entry in entries {
        let mut row = Vec::with_capacity(feed.columns.len());
        for (column, source) in &feed.columns {
            let value = entry.raw(source)?;
            if column == "id"
                && let RawValue::Text(id) = &value
            {
                id_by_dn.insert(normalize_dn(&entry.dn), id.clone());
            }
            row.push((column.clone(), value));
        }
        rows.push(row);
    }
    let refs: Vec<&String> = feed
        .columns
        .iter()
        .filter(|(_, s)| {
            matches!(
                s,
                ColumnSource::Attribute {
                    convert: Convert::DnRef,
                    ..
                }
            )
        })
        .map(|(c, _)| c)
        .collect();
    if !refs.is_empty() {
        for row in &mut rows {
            for (column, value) in row.iter_mut() {
                if refs.contains(&&*column)
                    && let RawValue::Text(dn) = value
                {
                    *value = id_by_dn
                        .get(&normalize_dn(dn))
                        .cloned()
                        .map_or(RawValue::Null, RawValue::Text);
                }
            }
        }
    }
    Ok(rows)
}
