//! The ledger: an append-only, hash-chained list of the records that must
//! not change or vanish unnoticed — every archived report today, campaign
//! records and review decisions next. Each entry names its record (`kind`
//! and `subject`), the SHA-256 of the record's content, and the hash of the
//! entry before it; its own hash covers all of that. So a record changed
//! (its content hash), an entry changed (its own hash), removed (a gap in
//! `seq`, which has none by construction) or inserted (the next entry's
//! `prev_hash`) is found by walking the chain (`Walk`).
//!
//! Appending (`append`, `append_all`) happens inside the caller's transaction, so a
//! record and its entry commit together or not at all. Appends are
//! serialized so that two processes never fork the chain: on PostgreSQL the
//! table is locked against other writers until the transaction ends; on
//! SQLite the transaction holds the database's one write lock (begin it
//! with `Store::begin_write`). `seq` is computed under that lock, never
//! taken from a sequence, which would leave gaps on a rollback.
//!
//! What the chain cannot show alone: the last entries removed together with
//! their records, or the whole chain rewritten by someone who can write the
//! database. `runs verify --chain` prints the head (seq and hash); kept
//! elsewhere, it pins everything before it.

use std::collections::VecDeque;

use chrono::{DateTime, Timelike, Utc};
use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

use super::error::{Result, StoreError};
use super::tx::Tx;
use super::value::{DbRow, SqlValue};
use super::{Backend, Store};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Names the hashing scheme inside every entry hash: a later scheme gets a
/// new name, and old entries keep verifying under theirs.
const SCHEME: &str = "accessaudit-ledger/1";

/// One entry of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1, 2, 3, … with no gap.
    pub seq: i64,
    /// What the record is (`report`, …): the module that owns the records
    /// of a kind knows how to find one and hash its content.
    pub kind: String,
    /// Which record of its kind (e.g. the report's id).
    pub subject: String,
    /// Lower-case hex SHA-256 of the record's content when recorded.
    pub content_sha256: String,
    pub prev_hash: String,
    pub entry_hash: String,
    pub recorded_at: DateTime<Utc>,
}

impl Entry {
    /// The hash this entry's fields give now.
    pub fn computed_hash(&self) -> String {
        entry_hash(
            self.seq,
            &self.kind,
            &self.subject,
            &self.content_sha256,
            &self.prev_hash,
            self.recorded_at,
        )
    }

    /// `ledger entry 3 (report 12, recorded 2026-11-01T08:00:00.000000Z)`.
    pub fn name(&self) -> String {
        format!(
            "ledger entry {} ({} {}, recorded {})",
            self.seq,
            self.kind,
            self.subject,
            instant(self.recorded_at)
        )
    }
}

fn instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn sha256_hex(bytes: &[u8]) -> String {
    crate::support::pii::hex(&Sha256::digest(bytes))
}

/// The hash of an entry: SHA-256 of a JSON array of the scheme's name and
/// the fields, so that no two different entries encode alike.
pub fn entry_hash(
    seq: i64,
    kind: &str,
    subject: &str,
    content_sha256: &str,
    prev_hash: &str,
    recorded_at: DateTime<Utc>,
) -> String {
    let text = serde_json::json!([
        SCHEME,
        seq,
        kind,
        subject,
        content_sha256,
        prev_hash,
        instant(recorded_at)
    ])
    .to_string();
    sha256_hex(text.as_bytes())
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn invalid(message: String) -> StoreError {
    StoreError::Decode {
        column: "ledger".into(),
        message,
    }
}

/// Appends an entry for a record inside the caller's transaction (which
/// must have written the record already, or write it before committing):
/// both commit together. `kind` is lower-case letters, digits, `-` and `_`;
/// `content_sha256` lower-case hex. Waits for any other append in flight
/// (see the module's comment) and returns the entry as recorded.
pub async fn append(tx: &mut Tx, kind: &str, subject: &str, content_sha256: &str) -> Result<Entry> {
    append_at(tx, kind, subject, content_sha256, Utc::now()).await
}

async fn append_at(
    tx: &mut Tx,
    kind: &str,
    subject: &str,
    content_sha256: &str,
    when: DateTime<Utc>,
) -> Result<Entry> {
    let mut entries = append_all_at(tx, &[(kind, subject, content_sha256)], when).await?;
    entries
        .pop()
        .ok_or_else(|| invalid("nothing was appended".into()))
}

/// Appends one entry per `(kind, subject, content_sha256)`, in order, in
/// the caller's transaction: the tail is read once and the entries are
/// written in one statement per batch (a campaign opening chains thousands
/// of assignments). The same checks and serialization as [`append`].
pub async fn append_all(tx: &mut Tx, records: &[(&str, &str, &str)]) -> Result<Vec<Entry>> {
    append_all_at(tx, records, Utc::now()).await
}

async fn append_all_at(
    tx: &mut Tx,
    records: &[(&str, &str, &str)],
    when: DateTime<Utc>,
) -> Result<Vec<Entry>> {
    for &(kind, subject, content_sha256) in records {
        if kind.is_empty()
            || !kind
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
        {
            return Err(invalid(format!(
                "kind `{kind}`: lower-case letters, digits, `-` and `_` only"
            )));
        }
        if subject.is_empty() {
            return Err(invalid(format!("a `{kind}` entry needs a subject")));
        }
        if !is_sha256_hex(content_sha256) {
            return Err(invalid(format!(
                "`{content_sha256}` is not a lower-case hex SHA-256"
            )));
        }
    }
    if records.is_empty() {
        return Ok(Vec::new());
    }
    if tx.backend() == Backend::Postgres {
        // Conflicts with itself and with every other writer of the table,
        // not with readers: the next appender waits here until this
        // transaction ends, then reads the tail this one wrote.
        tx.execute("LOCK TABLE ledger IN SHARE ROW EXCLUSIVE MODE", &[])
            .await?;
    }
    let tail = tx
        .fetch_optional(
            "SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1",
            &[],
        )
        .await?;
    let (mut seq, mut prev_hash) = match tail {
        Some(row) => (row.i64("seq")?.unwrap_or(0), row.req_text("entry_hash")?),
        None => (0, GENESIS.to_string()),
    };
    // Microseconds: what both backends store, so the hash is recomputed
    // from exactly the instant that was hashed.
    let recorded_at = micros(when);
    let mut entries = Vec::with_capacity(records.len());
    for &(kind, subject, content_sha256) in records {
        seq += 1;
        let entry_hash = entry_hash(seq, kind, subject, content_sha256, &prev_hash, recorded_at);
        entries.push(Entry {
            seq,
            kind: kind.to_string(),
            subject: subject.to_string(),
            content_sha256: content_sha256.to_string(),
            prev_hash: std::mem::replace(&mut prev_hash, entry_hash.clone()),
            entry_hash,
            recorded_at,
        });
    }
    let rows: Vec<Vec<SqlValue>> = entries
        .iter()
        .map(|e| {
            vec![
                SqlValue::int(e.seq),
                SqlValue::text(&e.kind),
                SqlValue::text(&e.subject),
                SqlValue::text(&e.content_sha256),
                SqlValue::text(&e.prev_hash),
                SqlValue::text(&e.entry_hash),
                SqlValue::time(e.recorded_at),
            ]
        })
        .collect();
    tx.bulk_insert(
        "ledger",
        &[
            "seq",
            "kind",
            "subject",
            "content_sha256",
            "prev_hash",
            "entry_hash",
            "recorded_at",
        ],
        &rows,
    )
    .await?;
    Ok(entries)
}

/// An instant as both backends store it (microseconds): what a record's
/// content hash must be computed from, so that it is recomputed alike.
pub fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.with_nanosecond(t.nanosecond() / 1000 * 1000).unwrap_or(t)
}

/// What a record is now: (what, SHA-256) pairs, each of which must be the
/// recorded digest (`its content`, `its recorded SHA-256`, …).
pub type Digests = Vec<(&'static str, String)>;

/// The module that owns a kind of record the ledger covers: how to find a
/// record of its kinds now, and which of its records no entry covers. Its
/// owner implements it; `runs verify --chain` asks every owner it is given
/// (owners sit in layers above the store, so the check is handed them).
pub trait Owner: Sync {
    /// The kinds this owner writes.
    fn kinds(&self) -> &'static [&'static str];
    /// What the record is now: (what, SHA-256) pairs, each of which must be
    /// the recorded digest; `None` when the record is gone.
    fn content<'a>(
        &'a self,
        store: &'a Store,
        kind: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<Digests>>>;
    /// Records of its kinds that no entry covers: (kind, subject, when).
    fn unledgered<'a>(&'a self, store: &'a Store) -> BoxFuture<'a, Result<Vec<Unrecorded>>>;
}

/// A record no ledger entry covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecorded {
    pub kind: &'static str,
    pub subject: String,
    pub at: Option<DateTime<Utc>>,
}

/// Chains the records a migration listed in `ledger_adopt` (those archived
/// before the ledger existed), in their original order and with their own
/// times, once: the rows are taken in the same transaction. Called after
/// the migrations; a no-op when nothing is pending.
pub(super) async fn adopt(store: &Store) -> Result<u64> {
    // Every command that opens the store comes here: a read first, so that
    // the write lock is taken only when there is something to adopt.
    if store
        .count("SELECT COUNT(*) AS n FROM ledger_adopt", &[])
        .await?
        == 0
    {
        return Ok(0);
    }
    let mut tx = store.begin_write().await?;
    // Deleting first takes the write lock (SQLite) and the rows (another
    // process adopting at once finds them gone when it gets them).
    let rows = tx
        .fetch_all(
            "DELETE FROM ledger_adopt RETURNING ordinal, kind, subject, content_sha256, recorded_at",
            &[],
        )
        .await?;
    let mut pending = Vec::with_capacity(rows.len());
    for r in &rows {
        pending.push((
            r.i64("ordinal")?.unwrap_or(0),
            r.req_text("kind")?,
            r.req_text("subject")?,
            r.req_text("content_sha256")?,
            r.time("recorded_at")?.unwrap_or_else(Utc::now),
        ));
    }
    pending.sort_by_key(|p| p.0);
    for (_, kind, subject, content, at) in &pending {
        append_at(&mut tx, kind, subject, content, *at).await?;
    }
    tx.commit().await?;
    Ok(pending.len() as u64)
}

fn decode(r: &DbRow) -> Result<Entry> {
    Ok(Entry {
        seq: r.i64("seq")?.unwrap_or(0),
        kind: r.req_text("kind")?,
        subject: r.req_text("subject")?,
        content_sha256: r.req_text("content_sha256")?,
        prev_hash: r.req_text("prev_hash")?,
        entry_hash: r.req_text("entry_hash")?,
        recorded_at: r.time("recorded_at")?.ok_or_else(|| StoreError::Decode {
            column: "ledger.recorded_at".into(),
            message: "unexpected NULL".into(),
        })?,
    })
}

const COLUMNS: &str = "seq, kind, subject, content_sha256, prev_hash, entry_hash, recorded_at";

/// Up to `limit` entries after `after_seq`, in order: the walk reads the
/// ledger a page at a time.
pub async fn page(store: &Store, after_seq: i64, limit: i64) -> Result<Vec<Entry>> {
    store
        .fetch_all(
            &format!("SELECT {COLUMNS} FROM ledger WHERE seq > $1 ORDER BY seq LIMIT $2"),
            &[SqlValue::int(after_seq), SqlValue::int(limit)],
        )
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// What is wrong with the ledger or a record it covers, naming the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// Entries missing from the sequence.
    Removed {
        first_missing: i64,
        count: i64,
        before: Option<String>,
        after: String,
    },
    /// Entries the entry after them does not name as its predecessor: it
    /// names the entry before them.
    Inserted {
        first: String,
        count: usize,
        next: String,
    },
    /// An entry that names no entry before it as its predecessor: it, or
    /// the one before it, was put there in place of another.
    Unlinked {
        entry: String,
        previous: Option<String>,
    },
    /// An entry whose fields no longer give its hash.
    Changed { entry: String },
    /// The record an entry covers is not what was recorded.
    ContentChanged {
        entry: String,
        what: String,
        recorded: String,
        now: String,
    },
    /// The record an entry covers is gone.
    ContentRemoved { entry: String },
    /// A record no entry covers: put there outside accessaudit.
    Unrecorded {
        kind: String,
        subject: String,
        at: Option<DateTime<Utc>>,
    },
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Break::Removed {
                first_missing,
                count,
                before,
                after,
            } => {
                let which = match count {
                    1 => format!("ledger entry {first_missing} was removed"),
                    n => format!(
                        "ledger entries {first_missing}..{} were removed",
                        first_missing + n - 1
                    ),
                };
                match before {
                    Some(b) => write!(f, "{which}: the sequence goes from {b} to {after}"),
                    None => write!(f, "{which}: the ledger starts at {after}"),
                }
            }
            Break::Inserted { first, count, next } => write!(
                f,
                "{first} was inserted{}: {next} names the entry before it as its predecessor",
                match count {
                    1 => String::new(),
                    n => format!(" (with {} more after it)", n - 1),
                }
            ),
            Break::Unlinked { entry, previous } => match previous {
                Some(p) => write!(
                    f,
                    "{entry} does not chain to {p}: one of the two was inserted or replaced"
                ),
                None => write!(f, "{entry} is the first entry but names a predecessor"),
            },
            Break::Changed { entry } => {
                write!(f, "{entry} was changed: its fields no longer give its hash")
            }
            Break::ContentChanged {
                entry,
                what,
                recorded,
                now,
            } => write!(
                f,
                "the record of {entry} was changed: {what} is sha256 {now}, recorded {recorded}"
            ),
            Break::ContentRemoved { entry } => {
                write!(f, "the record of {entry} was removed")
            }
            Break::Unrecorded { kind, subject, at } => write!(
                f,
                "{kind} {subject}{} is in no ledger entry: it was inserted outside accessaudit",
                at.map(|t| format!(" (dated {})", instant(t)))
                    .unwrap_or_default()
            ),
        }
    }
}

/// How far back an inserted run of entries is looked for.
const LOOKBACK: usize = 1024;

/// The walk over the chain, one entry at a time in `seq` order: what a
/// gap, a broken link or a changed entry looks like, and nothing about
/// records (their owners check those).
#[derive(Debug, Default)]
pub struct Walk {
    /// The last entries seen, newest last: (entry_hash, name).
    recent: VecDeque<(String, String)>,
    last_seq: i64,
    pub entries: u64,
}

impl Walk {
    pub fn new() -> Walk {
        Walk::default()
    }

    /// Checks the next entry against those before it.
    pub fn step(&mut self, e: &Entry) -> Vec<Break> {
        let mut breaks = Vec::new();
        let previous = self.recent.back().cloned();
        let gap = e.seq != self.last_seq + 1;
        if gap {
            breaks.push(Break::Removed {
                first_missing: self.last_seq + 1,
                count: e.seq - self.last_seq - 1,
                before: previous.as_ref().map(|p| p.1.clone()),
                after: e.name(),
            });
        }
        let expected = previous.as_ref().map_or(GENESIS, |(hash, _)| hash.as_str());
        // After a gap the link names the removed entry: already reported.
        if !gap && e.prev_hash != expected {
            let named = self
                .recent
                .iter()
                .rposition(|(hash, _)| *hash == e.prev_hash);
            match named {
                Some(k) if k + 1 < self.recent.len() => breaks.push(Break::Inserted {
                    first: self.recent[k + 1].1.clone(),
                    count: self.recent.len() - k - 1,
                    next: e.name(),
                }),
                _ => breaks.push(Break::Unlinked {
                    entry: e.name(),
                    previous: previous.map(|p| p.1),
                }),
            }
        }
        if e.computed_hash() != e.entry_hash {
            breaks.push(Break::Changed { entry: e.name() });
        }
        self.last_seq = e.seq;
        self.entries += 1;
        self.recent.push_back((e.entry_hash.clone(), e.name()));
        if self.recent.len() > LOOKBACK {
            self.recent.pop_front();
        }
        breaks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for seq in 1..=n {
            let prev = out
                .last()
                .map_or(GENESIS.to_string(), |e| e.entry_hash.clone());
            let at = DateTime::from_timestamp(1_790_000_000 + seq, 123_456_000).unwrap();
            let content = sha256_hex(format!("report {seq}").as_bytes());
            out.push(Entry {
                seq,
                kind: "report".into(),
                subject: seq.to_string(),
                entry_hash: entry_hash(seq, "report", &seq.to_string(), &content, &prev, at),
                content_sha256: content,
                prev_hash: prev,
                recorded_at: at,
            });
        }
        out
    }

    fn walk(entries: &[Entry]) -> Vec<Break> {
        let mut w = Walk::new();
        entries.iter().flat_map(|e| w.step(e)).collect()
    }

    #[test]
    fn an_intact_chain_has_no_break() {
        assert_eq!(walk(&chain(5)), vec![]);
    }

    #[test]
    fn a_removed_entry_is_named() {
        let mut c = chain(5);
        c.remove(2);
        let b = walk(&c);
        assert_eq!(b.len(), 1, "{b:?}");
        let text = b[0].to_string();
        assert!(
            text.starts_with(
                "ledger entry 3 was removed: the sequence goes from ledger entry 2 (report 2"
            ),
            "{text}"
        );
        let mut c = chain(3);
        c.remove(0);
        assert!(
            walk(&c)[0]
                .to_string()
                .contains("the ledger starts at ledger entry 2")
        );
    }

    #[test]
    fn an_entry_inserted_and_renumbered_around_is_named() {
        let c = chain(4);
        // A forged entry 3 with a valid hash and link; the old 3 and 4
        // renumbered to 4 and 5.
        let mut forged = c[..2].to_vec();
        let at = c[2].recorded_at;
        let content = sha256_hex(b"forged");
        forged.push(Entry {
            seq: 3,
            kind: "report".into(),
            subject: "99".into(),
            entry_hash: entry_hash(3, "report", "99", &content, &c[1].entry_hash, at),
            content_sha256: content,
            prev_hash: c[1].entry_hash.clone(),
            recorded_at: at,
        });
        for e in &c[2..] {
            forged.push(Entry {
                seq: e.seq + 1,
                ..e.clone()
            });
        }
        let b = walk(&forged);
        assert!(
            matches!(&b[0], Break::Inserted { first, count: 1, .. } if first.starts_with("ledger entry 3 (report 99")),
            "{b:?}"
        );
    }

    #[test]
    fn changed_and_unlinked_entries_are_named() {
        let mut c = chain(4);
        c[1].subject = "7".into();
        let b = walk(&c);
        assert_eq!(b, vec![Break::Changed { entry: c[1].name() }]);
        let mut c = chain(4);
        c[3].prev_hash = sha256_hex(b"elsewhere");
        c[3].entry_hash = c[3].computed_hash();
        let b = walk(&c);
        assert!(
            matches!(&b[..], [Break::Unlinked { entry, previous: Some(_) }] if entry.starts_with("ledger entry 4")),
            "{b:?}"
        );
    }

    #[test]
    fn the_hash_covers_every_field() {
        let e = &chain(1)[0];
        let h = e.computed_hash();
        for changed in [
            Entry {
                seq: 2,
                ..e.clone()
            },
            Entry {
                kind: "decision".into(),
                ..e.clone()
            },
            Entry {
                subject: "2".into(),
                ..e.clone()
            },
            Entry {
                content_sha256: sha256_hex(b"x"),
                ..e.clone()
            },
            Entry {
                prev_hash: sha256_hex(b"y"),
                ..e.clone()
            },
            Entry {
                recorded_at: e.recorded_at + chrono::Duration::microseconds(1),
                ..e.clone()
            },
        ] {
            assert_ne!(changed.computed_hash(), h, "{changed:?}");
        }
    }
}
