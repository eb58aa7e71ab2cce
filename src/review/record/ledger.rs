//! The review records in the ledger. Every campaign (its frozen settings and
//! population), assignment, decision, revocation and evidence report is
//! chained in the transaction that writes it: the writes go through a
//! [`WriteTx`], which owes each record its entry and appends them all at
//! [`WriteTx::commit`]. The digest of a record is computed from the row as
//! the database holds it, at commit and again by `runs verify --chain`
//! ([`LEDGERED`]): the same function both times.

use std::collections::HashSet;
use std::ops::{Deref, DerefMut};

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

use crate::store::ledger::{self, Owner, Unrecorded};
use crate::store::{DbRow, SqlValue, Store, StoreError, Tx};

type StoreResult<T> = std::result::Result<T, StoreError>;

/// A kind of review record the ledger covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// A campaign as opened: its settings and its whole population.
    Campaign,
    Assignment,
    Decision,
    Revocation,
    /// A closed campaign's evidence report.
    Report,
}

const KINDS: [Kind; 5] = [
    Kind::Campaign,
    Kind::Assignment,
    Kind::Decision,
    Kind::Revocation,
    Kind::Report,
];
const KIND_NAMES: [&str; 5] = [
    "review-campaign",
    "review-assignment",
    "review-decision",
    "review-revocation",
    "review-report",
];

/// A column of a record's content, by type.
#[derive(Clone, Copy)]
enum Col {
    Int(&'static str),
    Text(&'static str),
    Time(&'static str),
    Bool(&'static str),
}

struct Shape {
    table: &'static str,
    /// The record's id: the entry's subject.
    key: &'static str,
    /// When it was written (for a record no entry covers).
    at: &'static str,
    columns: &'static [Col],
}

impl Kind {
    fn name(self) -> &'static str {
        KIND_NAMES[self as usize]
    }

    fn from_name(name: &str) -> Option<Kind> {
        KIND_NAMES.iter().position(|n| *n == name).map(|i| KINDS[i])
    }

    fn shape(self) -> Shape {
        use Col::*;
        match self {
            Kind::Campaign => Shape {
                table: "review_campaigns",
                key: "id",
                at: "opened_at",
                columns: &[
                    Text("definition"),
                    Time("slot_at"),
                    Time("as_of"),
                    Time("opened_at"),
                    Time("deadline"),
                    Text("settings"),
                ],
            },
            Kind::Assignment => Shape {
                table: "review_assignments",
                key: "id",
                at: "assigned_at",
                columns: &[
                    Int("item_id"),
                    Text("reviewer"),
                    Text("reason"),
                    Time("assigned_at"),
                    Text("assigned_by"),
                ],
            },
            Kind::Decision => Shape {
                table: "review_decisions",
                key: "id",
                at: "decided_at",
                columns: &[
                    Int("item_id"),
                    Int("campaign_id"),
                    Text("decision"),
                    Text("justification"),
                    Text("decided_by"),
                    Time("decided_at"),
                    Text("source"),
                    Text("facts"),
                ],
            },
            Kind::Revocation => Shape {
                table: "review_revocations",
                key: "item_id",
                at: "decided_at",
                columns: &[
                    Int("campaign_id"),
                    Text("campaign"),
                    Text("grant_id"),
                    Text("principal_id"),
                    Text("role_id"),
                    Text("decided_by"),
                    Time("decided_at"),
                    Time("due_at"),
                ],
            },
            Kind::Report => Shape {
                table: "review_reports",
                key: "campaign_id",
                at: "created_at",
                columns: &[Text("message_id"), Text("sha256")],
            },
        }
    }
}

/// The items of a campaign, in the campaign's digest.
const ITEM_COLUMNS: &[Col] = &[
    Col::Int("id"),
    Col::Text("grant_id"),
    Col::Text("principal_id"),
    Col::Text("role_id"),
    Col::Text("person_id"),
    Col::Bool("sensitive"),
    Col::Text("fingerprint"),
    Col::Text("context"),
];

fn names(columns: &[Col]) -> String {
    columns
        .iter()
        .map(|c| match c {
            Col::Int(n) | Col::Text(n) | Col::Time(n) | Col::Bool(n) => *n,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row's columns as a JSON array: the canonical encoding hashed.
fn encode(row: &DbRow, columns: &[Col]) -> StoreResult<serde_json::Value> {
    let mut out = Vec::with_capacity(columns.len());
    for c in columns {
        out.push(match *c {
            Col::Int(n) => serde_json::json!(row.i64(n)?),
            Col::Text(n) => serde_json::json!(row.text(n)?),
            Col::Time(n) => serde_json::json!(row.time(n)?.map(|t| t.timestamp_micros())),
            Col::Bool(n) => serde_json::json!(row.bool(n)?),
        });
    }
    Ok(serde_json::Value::Array(out))
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Reads for the digests, in a transaction (at commit) or from the store
/// (when verifying): the same statements either way.
enum Reader<'a> {
    Tx(&'a mut Tx),
    Store(&'a Store),
}

impl Reader<'_> {
    async fn fetch_all(&mut self, sql: &str, params: &[SqlValue]) -> StoreResult<Vec<DbRow>> {
        match self {
            Reader::Tx(tx) => tx.fetch_all(sql, params).await,
            Reader::Store(store) => store.fetch_all(sql, params).await,
        }
    }
}

/// The (what, SHA-256) digests of the records of `kind` with the given ids,
/// by id; an id without a row is absent.
async fn digests(
    reader: &mut Reader<'_>,
    kind: Kind,
    ids: &[i64],
) -> StoreResult<Vec<(i64, Vec<(&'static str, String)>)>> {
    let shape = kind.shape();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let placeholders = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let extra = if kind == Kind::Report { ", eml" } else { "" };
        let sql = format!(
            "SELECT {key}, {columns}{extra} FROM {table} WHERE {key} IN ({placeholders}) ORDER BY {key}",
            key = shape.key,
            columns = names(shape.columns),
            table = shape.table,
        );
        let params: Vec<SqlValue> = chunk.iter().map(|&id| SqlValue::int(id)).collect();
        let rows = reader.fetch_all(&sql, &params).await?;
        for row in &rows {
            let id = row.i64(shape.key)?.unwrap_or(0);
            let mut content = encode(row, shape.columns)?;
            let digests = match kind {
                Kind::Report => vec![
                    (
                        "its content",
                        sha256_hex(&row.bytes("eml")?.unwrap_or_default()),
                    ),
                    ("its recorded SHA-256", row.req_text("sha256")?),
                ],
                Kind::Campaign => {
                    let items = reader
                        .fetch_all(
                            &format!(
                                "SELECT {} FROM review_items WHERE campaign_id = $1 ORDER BY id",
                                names(ITEM_COLUMNS)
                            ),
                            &[SqlValue::int(id)],
                        )
                        .await?;
                    let items = items
                        .iter()
                        .map(|r| encode(r, ITEM_COLUMNS))
                        .collect::<StoreResult<Vec<_>>>()?;
                    content = serde_json::json!([content, items]);
                    vec![(
                        "its settings and population",
                        sha256_hex(content.to_string().as_bytes()),
                    )]
                }
                _ => vec![("its content", sha256_hex(content.to_string().as_bytes()))],
            };
            out.push((id, digests));
        }
    }
    Ok(out)
}

/// A transaction that writes review records (begin it with
/// [`super::begin`]). Reads go through it as through a [`Tx`]; every record
/// written is owed its ledger entry, appended by [`WriteTx::commit`].
pub struct WriteTx {
    tx: Tx,
    owed: Vec<(Kind, i64)>,
}

impl Deref for WriteTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

impl WriteTx {
    pub(super) fn new(tx: Tx) -> WriteTx {
        WriteTx {
            tx,
            owed: Vec::new(),
        }
    }

    /// Notes a record this transaction wrote.
    pub(super) fn owe(&mut self, kind: Kind, id: i64) {
        self.owed.push((kind, id));
    }

    /// Ends the transaction, nothing written.
    pub async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await
    }

    /// Chains every record written, in the order written (a campaign's own
    /// entry after its population), then commits: records and entries
    /// together or not at all.
    pub async fn commit(mut self) -> StoreResult<()> {
        let mut by_kind: Vec<(Kind, Vec<i64>)> = Vec::new();
        let mut seen = HashSet::new();
        for &(kind, id) in &self.owed {
            if !seen.insert((kind, id)) {
                continue;
            }
            match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, ids)) => ids.push(id),
                None => by_kind.push((kind, vec![id])),
            }
        }
        let mut entries: Vec<(Kind, String, String)> = Vec::with_capacity(seen.len());
        for (kind, ids) in &by_kind {
            let found = digests(&mut Reader::Tx(&mut self.tx), *kind, ids).await?;
            if found.len() != ids.len() {
                return Err(StoreError::Decode {
                    column: kind.shape().table.into(),
                    message: format!(
                        "{} of {} records written are not there to be chained",
                        ids.len() - found.len(),
                        ids.len()
                    ),
                });
            }
            for (id, digests) in found {
                let first = digests.into_iter().next().map(|(_, d)| d);
                entries.push((*kind, id.to_string(), first.unwrap_or_default()));
            }
        }
        // Campaigns last: their entry covers the population written before.
        entries.sort_by_key(|(kind, _, _)| *kind == Kind::Campaign);
        let records: Vec<(&str, &str, &str)> = entries
            .iter()
            .map(|(kind, subject, sha)| (kind.name(), subject.as_str(), sha.as_str()))
            .collect();
        ledger::append_all(&mut self.tx, &records).await?;
        self.tx.commit().await
    }
}

/// The owner of the review kinds of ledger entries.
pub struct Ledgered;
pub const LEDGERED: Ledgered = Ledgered;

impl Owner for Ledgered {
    fn kinds(&self) -> &'static [&'static str] {
        &KIND_NAMES
    }

    fn content<'a>(
        &'a self,
        store: &'a Store,
        kind: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<ledger::Digests>>> {
        Box::pin(async move {
            let (Some(kind), Ok(id)) = (Kind::from_name(kind), subject.parse::<i64>()) else {
                return Ok(None);
            };
            let found = digests(&mut Reader::Store(store), kind, &[id]).await?;
            Ok(found.into_iter().next().map(|(_, d)| d))
        })
    }

    fn unledgered<'a>(&'a self, store: &'a Store) -> BoxFuture<'a, StoreResult<Vec<Unrecorded>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for kind in KINDS {
                let shape = kind.shape();
                let rows = store
                    .fetch_all(
                        &format!(
                            "SELECT r.{key} AS subject, r.{at} AS at FROM {table} r
                              WHERE NOT EXISTS (SELECT 1 FROM ledger l
                                                 WHERE l.kind = $1
                                                   AND l.subject = CAST(r.{key} AS TEXT))
                              ORDER BY r.{key}",
                            key = shape.key,
                            at = shape.at,
                            table = shape.table,
                        ),
                        &[SqlValue::text(kind.name())],
                    )
                    .await?;
                for r in &rows {
                    out.push(Unrecorded {
                        kind: kind.name(),
                        subject: r.i64("subject")?.unwrap_or(0).to_string(),
                        at: r.time("at")?,
                    });
                }
            }
            Ok(out)
        })
    }
}
