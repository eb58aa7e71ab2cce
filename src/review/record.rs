//! The review tables, read and written: the one module with SQL against
//! review_campaigns, review_items, review_assignments, review_decisions,
//! review_links, review_notices, review_revocations and review_reports.
//! Assignments and decisions are only ever inserted: an item's reviewer and
//! decision are its latest rows.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Decision, DecisionSource, Result, ReviewError, Reviewer};
use crate::model::format_instant;
use crate::store::{DbRow, SqlValue, Store, StoreError, Tx};

mod ledger;

use ledger::Kind;
pub use ledger::{LEDGERED, Ledgered, WriteTx};

/// A transaction that may write review records: the write lock at once
/// (`Store::begin_write`), and each record chained in the ledger at commit.
pub async fn begin(store: &Store) -> Result<WriteTx> {
    Ok(WriteTx::new(store.begin_write().await?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    Open,
    Closed,
}

/// A campaign as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Campaign {
    pub id: i64,
    pub definition: String,
    #[serde(serialize_with = "ser_instant")]
    pub as_of: DateTime<Utc>,
    #[serde(serialize_with = "ser_instant")]
    pub opened_at: DateTime<Utc>,
    #[serde(serialize_with = "ser_instant")]
    pub deadline: DateTime<Utc>,
    pub status: CampaignStatus,
    #[serde(serialize_with = "ser_opt_instant")]
    pub closed_at: Option<DateTime<Utc>>,
    /// The definition as it was at the opening.
    #[serde(skip)]
    pub settings: crate::config::ReviewConfig,
}

fn ser_instant<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_instant(*t))
}
fn ser_opt_instant<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_instant(*t)),
        None => s.serialize_none(),
    }
}

/// The current decision of an item.
#[derive(Debug, Clone, Serialize)]
pub struct CurrentDecision {
    pub decision: Decision,
    pub justification: Option<String>,
    pub decided_by: String,
    #[serde(serialize_with = "ser_instant")]
    pub decided_at: DateTime<Utc>,
    pub source: String,
}

/// An item with its current reviewer and decision.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: i64,
    pub campaign_id: i64,
    pub grant_id: String,
    pub principal_id: String,
    pub role_id: String,
    pub person_id: Option<String>,
    pub sensitive: bool,
    pub fingerprint: String,
    /// The facts shown to the reviewer (see `open::Context`).
    pub context: serde_json::Value,
    /// The reviewer's key (`person:ID`, `group:NAME`, `mail:ADDRESS`).
    pub reviewer: String,
    /// Why this reviewer: `rule`, `fallback`, `self`, `delegated`, `escalated`.
    pub assigned_because: String,
    pub decision: Option<CurrentDecision>,
}

impl Item {
    /// A text field of the context ("" when absent).
    pub fn fact(&self, key: &str) -> &str {
        self.context.get(key).and_then(|v| v.as_str()).unwrap_or("")
    }
}

fn missing(c: &str) -> StoreError {
    StoreError::Decode {
        column: c.to_string(),
        message: "unexpected NULL".into(),
    }
}

fn decode_campaign(r: &DbRow) -> Result<Campaign> {
    let settings_text = r.req_text("settings")?;
    let settings = serde_json::from_str(&settings_text).map_err(|e| StoreError::Decode {
        column: "settings".into(),
        message: e.to_string(),
    })?;
    Ok(Campaign {
        id: r.i64("id")?.ok_or_else(|| missing("id"))?,
        definition: r.req_text("definition")?,
        as_of: r.time("as_of")?.ok_or_else(|| missing("as_of"))?,
        opened_at: r.time("opened_at")?.ok_or_else(|| missing("opened_at"))?,
        deadline: r.time("deadline")?.ok_or_else(|| missing("deadline"))?,
        status: if r.req_text("status")? == "closed" {
            CampaignStatus::Closed
        } else {
            CampaignStatus::Open
        },
        closed_at: r.time("closed_at")?,
        settings,
    })
}

const CAMPAIGN_COLUMNS: &str =
    "id, definition, as_of, opened_at, deadline, status, closed_at, settings";

/// A new campaign in the caller's transaction; `None` when this definition
/// already has the campaign of `slot_at` (another daemon opened it).
pub async fn insert_campaign(
    tx: &mut WriteTx,
    definition: &str,
    settings: &crate::config::ReviewConfig,
    slot_at: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
    opened_at: DateTime<Utc>,
) -> Result<Option<i64>> {
    let deadline = opened_at + settings.duration.chrono();
    let settings = serde_json::to_string(settings)
        .map_err(|e| ReviewError::Refused(format!("the definition cannot be stored: {e}")))?;
    let row = tx
        .fetch_optional(
            "INSERT INTO review_campaigns (definition, slot_at, as_of, opened_at, deadline, status, settings)
             VALUES ($1, $2, $3, $4, $5, 'open', $6)
             ON CONFLICT (definition, slot_at) DO NOTHING
             RETURNING id",
            &[
                SqlValue::text(definition),
                SqlValue::Time(slot_at),
                SqlValue::time(as_of),
                SqlValue::time(opened_at),
                SqlValue::time(deadline),
                SqlValue::text(settings),
            ],
        )
        .await?;
    let id = match row {
        Some(r) => r.i64("id")?.ok_or_else(|| missing("id"))?,
        None => return Ok(None),
    };
    tx.owe(Kind::Campaign, id);
    Ok(Some(id))
}

/// An item to insert.
pub struct NewItem<'a> {
    pub grant_id: &'a str,
    pub principal_id: &'a str,
    pub role_id: &'a str,
    pub person_id: Option<&'a str>,
    pub sensitive: bool,
    pub fingerprint: &'a str,
    pub context: &'a serde_json::Value,
}

pub async fn insert_item(tx: &mut WriteTx, campaign_id: i64, item: &NewItem<'_>) -> Result<i64> {
    let row = tx
        .fetch_optional(
            "INSERT INTO review_items (campaign_id, grant_id, principal_id, role_id, person_id,
                                       sensitive, fingerprint, context)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                SqlValue::int(campaign_id),
                SqlValue::text(item.grant_id),
                SqlValue::text(item.principal_id),
                SqlValue::text(item.role_id),
                SqlValue::Text(item.person_id.map(str::to_string)),
                SqlValue::Bool(Some(item.sensitive)),
                SqlValue::text(item.fingerprint),
                SqlValue::text(item.context.to_string()),
            ],
        )
        .await?
        .ok_or_else(|| missing("id"))?;
    Ok(row.i64("id")?.ok_or_else(|| missing("id"))?)
}

/// Appends an assignment of an item to a reviewer.
pub async fn assign(
    tx: &mut WriteTx,
    item_id: i64,
    reviewer: &Reviewer,
    reason: &str,
    at: DateTime<Utc>,
    by: Option<&str>,
) -> Result<()> {
    let row = tx
        .fetch_optional(
            "INSERT INTO review_assignments (item_id, reviewer, reason, assigned_at, assigned_by)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[
                SqlValue::int(item_id),
                SqlValue::text(reviewer.key()),
                SqlValue::text(reason),
                SqlValue::time(at),
                SqlValue::Text(by.map(str::to_string)),
            ],
        )
        .await?
        .ok_or_else(|| missing("id"))?;
    tx.owe(
        Kind::Assignment,
        row.i64("id")?.ok_or_else(|| missing("id"))?,
    );
    Ok(())
}

/// A decision to append.
pub struct NewDecision<'a> {
    pub decision: Decision,
    pub justification: Option<&'a str>,
    pub decided_by: &'a str,
    pub source: DecisionSource,
    pub facts: &'a str,
}

pub async fn insert_decision(
    tx: &mut WriteTx,
    campaign_id: i64,
    item_id: i64,
    d: &NewDecision<'_>,
    at: DateTime<Utc>,
) -> Result<()> {
    let row = tx.fetch_optional(
        "INSERT INTO review_decisions (item_id, campaign_id, decision, justification, decided_by,
                                       decided_at, source, facts)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        &[
            SqlValue::int(item_id),
            SqlValue::int(campaign_id),
            SqlValue::text(d.decision.as_str()),
            SqlValue::Text(d.justification.map(str::to_string)),
            SqlValue::text(d.decided_by),
            SqlValue::time(at),
            SqlValue::text(d.source.as_str()),
            SqlValue::text(d.facts),
        ],
    )
    .await?
    .ok_or_else(|| missing("id"))?;
    tx.owe(Kind::Decision, row.i64("id")?.ok_or_else(|| missing("id"))?);
    Ok(())
}

/// Takes the item's row lock for the rest of the transaction, so that two
/// submissions of one item (a double click, a second tab, two daemons)
/// decide one after the other and the second sees the first.
pub async fn lock_item(tx: &mut Tx, item_id: i64) -> Result<()> {
    tx.execute(
        "UPDATE review_items SET sensitive = sensitive WHERE id = $1",
        &[SqlValue::int(item_id)],
    )
    .await?;
    Ok(())
}

/// Takes the campaign's row lock for the rest of the transaction: the close
/// and the escalation of one campaign run one at a time, whoever runs them.
pub async fn lock_campaign(tx: &mut Tx, id: i64) -> Result<()> {
    tx.execute(
        "UPDATE review_campaigns SET status = status WHERE id = $1",
        &[SqlValue::int(id)],
    )
    .await?;
    Ok(())
}

pub async fn campaign(tx: &mut Tx, id: i64) -> Result<Campaign> {
    let row = tx
        .fetch_optional(
            &format!("SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns WHERE id = $1"),
            &[SqlValue::int(id)],
        )
        .await?
        .ok_or_else(|| ReviewError::Refused(format!("no campaign {id}")))?;
    decode_campaign(&row)
}

/// Every campaign, the newest first.
pub async fn campaigns(store: &Store) -> Result<Vec<Campaign>> {
    store
        .fetch_all(
            &format!("SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns ORDER BY id DESC"),
            &[],
        )
        .await?
        .iter()
        .map(decode_campaign)
        .collect()
}

/// Open campaigns.
pub async fn open_campaigns(store: &Store) -> Result<Vec<Campaign>> {
    store
        .fetch_all(
            &format!(
                "SELECT {CAMPAIGN_COLUMNS} FROM review_campaigns WHERE status = 'open' ORDER BY id"
            ),
            &[],
        )
        .await?
        .iter()
        .map(decode_campaign)
        .collect()
}

/// The latest campaign of a definition before `before_id` (delta
/// re-certification compares with it).
pub async fn previous_campaign(
    tx: &mut Tx,
    definition: &str,
    before_id: i64,
) -> Result<Option<i64>> {
    let row = tx
        .fetch_optional(
            "SELECT MAX(id) AS id FROM review_campaigns WHERE definition = $1 AND id < $2",
            &[SqlValue::text(definition), SqlValue::int(before_id)],
        )
        .await?;
    Ok(match row {
        Some(r) => r.i64("id")?,
        None => None,
    })
}

const ITEM_SELECT: &str =
    "SELECT i.id, i.campaign_id, i.grant_id, i.principal_id, i.role_id, i.person_id,
        i.sensitive, i.fingerprint, i.context, a.reviewer, a.reason,
        d.decision, d.justification, d.decided_by, d.decided_at, d.source
   FROM review_items i
   JOIN review_assignments a
     ON a.id = (SELECT MAX(a2.id) FROM review_assignments a2 WHERE a2.item_id = i.id)
   LEFT JOIN review_decisions d
     ON d.id = (SELECT MAX(d2.id) FROM review_decisions d2 WHERE d2.item_id = i.id)";

fn decode_item(r: &DbRow) -> Result<Item> {
    let context_text = r.req_text("context")?;
    let decision = match r.text("decision")? {
        Some(d) => Some(CurrentDecision {
            decision: Decision::parse(&d).ok_or_else(|| StoreError::Decode {
                column: "decision".into(),
                message: format!("`{d}` is no decision"),
            })?,
            justification: r.text("justification")?,
            decided_by: r.req_text("decided_by")?,
            decided_at: r.time("decided_at")?.ok_or_else(|| missing("decided_at"))?,
            source: r.req_text("source")?,
        }),
        None => None,
    };
    Ok(Item {
        id: r.i64("id")?.ok_or_else(|| missing("id"))?,
        campaign_id: r
            .i64("campaign_id")?
            .ok_or_else(|| missing("campaign_id"))?,
        grant_id: r.req_text("grant_id")?,
        principal_id: r.req_text("principal_id")?,
        role_id: r.req_text("role_id")?,
        person_id: r.text("person_id")?,
        sensitive: r.bool("sensitive")?.unwrap_or(false),
        fingerprint: r.req_text("fingerprint")?,
        context: serde_json::from_str(&context_text).unwrap_or(serde_json::Value::Null),
        reviewer: r.req_text("reviewer")?,
        assigned_because: r.req_text("reason")?,
        decision,
    })
}

/// A campaign's items with their current reviewer and decision, by id.
pub async fn items(tx: &mut Tx, campaign_id: i64) -> Result<Vec<Item>> {
    tx.fetch_all(
        &format!("{ITEM_SELECT} WHERE i.campaign_id = $1 ORDER BY i.id"),
        &[SqlValue::int(campaign_id)],
    )
    .await?
    .iter()
    .map(decode_item)
    .collect()
}

/// One item of a campaign.
pub async fn item(tx: &mut Tx, campaign_id: i64, item_id: i64) -> Result<Item> {
    let row = tx
        .fetch_optional(
            &format!("{ITEM_SELECT} WHERE i.campaign_id = $1 AND i.id = $2"),
            &[SqlValue::int(campaign_id), SqlValue::int(item_id)],
        )
        .await?
        .ok_or_else(|| {
            ReviewError::Refused(format!("campaign {campaign_id} has no item {item_id}"))
        })?;
    decode_item(&row)
}

/// The latest decision on the same access (account and role) in an
/// earlier campaign: (campaign id, item fingerprint, decision).
pub async fn previous_decisions(
    tx: &mut Tx,
    before_campaign: i64,
) -> Result<std::collections::HashMap<(String, String), PreviousDecision>> {
    let rows = tx
        .fetch_all(
            "SELECT i.principal_id, i.role_id, i.fingerprint, c.definition, c.id AS campaign_id,
                    d.decision, d.decided_by, d.decided_at, d.source
               FROM review_items i
               JOIN review_campaigns c ON c.id = i.campaign_id
               JOIN review_decisions d
                 ON d.id = (SELECT MAX(d2.id) FROM review_decisions d2 WHERE d2.item_id = i.id)
              WHERE i.campaign_id < $1
              ORDER BY i.campaign_id",
            &[SqlValue::int(before_campaign)],
        )
        .await?;
    let mut out = std::collections::HashMap::new();
    for r in rows {
        let Some(decision) = r.text("decision")?.as_deref().and_then(Decision::parse) else {
            continue;
        };
        out.insert(
            (r.req_text("principal_id")?, r.req_text("role_id")?),
            PreviousDecision {
                campaign_id: r.i64("campaign_id")?.unwrap_or_default(),
                definition: r.req_text("definition")?,
                fingerprint: r.req_text("fingerprint")?,
                decision,
                decided_by: r.req_text("decided_by")?,
                decided_at: r.time("decided_at")?.ok_or_else(|| missing("decided_at"))?,
                source: r.req_text("source")?,
            },
        );
    }
    Ok(out)
}

/// A decision of an earlier campaign on the same access.
#[derive(Debug, Clone)]
pub struct PreviousDecision {
    pub campaign_id: i64,
    pub definition: String,
    pub fingerprint: String,
    pub decision: Decision,
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
    pub source: String,
}

/// One row of an item's history (assignments and decisions, in order).
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub item_id: i64,
    /// `assignment` or `decision`.
    pub what: String,
    #[serde(serialize_with = "ser_instant")]
    pub at: DateTime<Utc>,
    /// Assignment: the reviewer; decision: keep / revoke.
    pub value: String,
    /// Assignment: the reason; decision: the source.
    pub detail: String,
    /// Who did it (assigned_by, decided_by).
    pub by: Option<String>,
    pub justification: Option<String>,
}

/// Every assignment and decision of a campaign, in the order they happened.
pub async fn history(tx: &mut Tx, campaign_id: i64) -> Result<Vec<HistoryEntry>> {
    let rows = tx
        .fetch_all(
            "SELECT a.item_id, 'assignment' AS what, a.assigned_at AS at, a.reviewer AS value,
                    a.reason AS detail, a.assigned_by AS by_whom, NULL AS justification, a.id AS seq, 0 AS k
               FROM review_assignments a JOIN review_items i ON i.id = a.item_id
              WHERE i.campaign_id = $1
             UNION ALL
             SELECT d.item_id, 'decision', d.decided_at, d.decision, d.source, d.decided_by,
                    d.justification, d.id, 1
               FROM review_decisions d WHERE d.campaign_id = $1
              ORDER BY at, k, seq",
            &[SqlValue::int(campaign_id)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(HistoryEntry {
                item_id: r.i64("item_id")?.ok_or_else(|| missing("item_id"))?,
                what: r.req_text("what")?,
                at: r.time("at")?.ok_or_else(|| missing("at"))?,
                value: r.req_text("value")?,
                detail: r.req_text("detail")?,
                by: r.text("by_whom")?,
                justification: r.text("justification")?,
            })
        })
        .collect()
}

/// Records that a notice goes to a reviewer; false when it already had.
pub async fn mark_notice(
    tx: &mut Tx,
    campaign_id: i64,
    reviewer: &str,
    kind: &str,
    message_id: &str,
    at: DateTime<Utc>,
) -> Result<bool> {
    let n = tx
        .execute(
            "INSERT INTO review_notices (campaign_id, reviewer, kind, message_id, sent_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (campaign_id, reviewer, kind) DO NOTHING",
            &[
                SqlValue::int(campaign_id),
                SqlValue::text(reviewer),
                SqlValue::text(kind),
                SqlValue::text(message_id),
                SqlValue::time(at),
            ],
        )
        .await?;
    Ok(n == 1)
}

/// Whether a notice (or, with reviewer `*`, a campaign-wide step) is
/// recorded: a read, so that a daemon's pass writes nothing when there is
/// nothing to do.
pub async fn notice_exists(
    store: &Store,
    campaign_id: i64,
    reviewer: &str,
    kind: &str,
) -> Result<bool> {
    Ok(store
        .count(
            "SELECT COUNT(*) AS n FROM review_notices WHERE campaign_id = $1 AND reviewer = $2 AND kind = $3",
            &[
                SqlValue::int(campaign_id),
                SqlValue::text(reviewer),
                SqlValue::text(kind),
            ],
        )
        .await?
        > 0)
}

/// The notice a message is: (campaign id, reviewer key, kind).
pub async fn notice_of(store: &Store, message_id: &str) -> Result<Option<(i64, String, String)>> {
    let rows = store
        .fetch_all(
            "SELECT campaign_id, reviewer, kind FROM review_notices WHERE message_id = $1",
            &[SqlValue::text(message_id)],
        )
        .await?;
    match rows.first() {
        Some(r) => Ok(Some((
            r.i64("campaign_id")?
                .ok_or_else(|| missing("campaign_id"))?,
            r.req_text("reviewer")?,
            r.req_text("kind")?,
        ))),
        None => Ok(None),
    }
}

/// The notices of a campaign: (reviewer, kind, sent_at).
pub async fn notices(
    tx: &mut Tx,
    campaign_id: i64,
) -> Result<Vec<(String, String, DateTime<Utc>)>> {
    let rows = tx
        .fetch_all(
            "SELECT reviewer, kind, sent_at FROM review_notices WHERE campaign_id = $1 ORDER BY sent_at, reviewer, kind",
            &[SqlValue::int(campaign_id)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.req_text("reviewer")?,
                r.req_text("kind")?,
                r.time("sent_at")?.ok_or_else(|| missing("sent_at"))?,
            ))
        })
        .collect()
}

/// Stores a link's hash (never the link).
pub async fn insert_link(
    tx: &mut Tx,
    token_sha256: &str,
    campaign_id: i64,
    reviewer: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO review_links (token_sha256, campaign_id, reviewer, created_at) VALUES ($1, $2, $3, $4)",
        &[
            SqlValue::text(token_sha256),
            SqlValue::int(campaign_id),
            SqlValue::text(reviewer),
            SqlValue::time(at),
        ],
    )
    .await?;
    Ok(())
}

/// A reviewer's link, found by its hash.
#[derive(Debug, Clone)]
pub struct Link {
    pub campaign_id: i64,
    pub reviewer: String,
    /// Revoked by `reviews revoke-links` or by the campaign's close.
    pub revoked: bool,
}

/// The link of a hash, if it was ever issued (revoked ones too: the page
/// tells a reviewer whose campaign has closed so).
pub async fn link(tx: &mut Tx, token_sha256: &str) -> Result<Option<Link>> {
    let row = tx
        .fetch_optional(
            "SELECT campaign_id, reviewer, CAST(CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS revoked
               FROM review_links WHERE token_sha256 = $1",
            &[SqlValue::text(token_sha256)],
        )
        .await?;
    Ok(match row {
        Some(r) => Some(Link {
            campaign_id: r
                .i64("campaign_id")?
                .ok_or_else(|| missing("campaign_id"))?,
            reviewer: r.req_text("reviewer")?,
            revoked: r.i64("revoked")?.ok_or_else(|| missing("revoked"))? != 0,
        }),
        None => None,
    })
}

/// Revokes every link of a reviewer in a campaign (all reviewers: None).
pub async fn revoke_links(
    tx: &mut Tx,
    campaign_id: i64,
    reviewer: Option<&str>,
    at: DateTime<Utc>,
) -> Result<u64> {
    Ok(tx
        .execute(
            "UPDATE review_links SET revoked_at = $3
              WHERE campaign_id = $1 AND ($2 IS NULL OR reviewer = $2) AND revoked_at IS NULL",
            &[
                SqlValue::int(campaign_id),
                SqlValue::Text(reviewer.map(str::to_string)),
                SqlValue::time(at),
            ],
        )
        .await?)
}

/// A revocation IT must carry out by `due_at`.
pub async fn insert_revocation(
    tx: &mut WriteTx,
    campaign: &Campaign,
    item: &Item,
    decision: &CurrentDecision,
    due_at: DateTime<Utc>,
) -> Result<()> {
    let row = tx.fetch_optional(
        "INSERT INTO review_revocations (item_id, campaign_id, campaign, grant_id, principal_id,
                                         role_id, decided_by, decided_at, due_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (item_id) DO NOTHING RETURNING item_id",
        &[
            SqlValue::int(item.id),
            SqlValue::int(campaign.id),
            SqlValue::text(&campaign.definition),
            SqlValue::text(&item.grant_id),
            SqlValue::text(&item.principal_id),
            SqlValue::text(&item.role_id),
            SqlValue::text(&decision.decided_by),
            SqlValue::time(decision.decided_at),
            SqlValue::time(due_at),
        ],
    )
    .await?;
    if let Some(row) = row {
        tx.owe(
            Kind::Revocation,
            row.i64("item_id")?.ok_or_else(|| missing("item_id"))?,
        );
    }
    Ok(())
}

/// Marks a campaign closed; false when it already was.
pub async fn close_campaign(tx: &mut Tx, campaign_id: i64, at: DateTime<Utc>) -> Result<bool> {
    let n = tx
        .execute(
            "UPDATE review_campaigns SET status = 'closed', closed_at = $2 WHERE id = $1 AND status = 'open'",
            &[SqlValue::int(campaign_id), SqlValue::time(at)],
        )
        .await?;
    Ok(n == 1)
}

/// Archives a closed campaign's evidence report.
pub async fn insert_report(
    tx: &mut WriteTx,
    campaign_id: i64,
    message_id: &str,
    sha256: &str,
    eml: &[u8],
    at: DateTime<Utc>,
) -> Result<()> {
    let row = tx
        .fetch_optional(
            "INSERT INTO review_reports (campaign_id, message_id, sha256, eml, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (campaign_id) DO NOTHING RETURNING campaign_id",
            &[
                SqlValue::int(campaign_id),
                SqlValue::text(message_id),
                SqlValue::text(sha256),
                SqlValue::Bytes(Some(eml.to_vec())),
                SqlValue::time(at),
            ],
        )
        .await?;
    if let Some(row) = row {
        tx.owe(
            Kind::Report,
            row.i64("campaign_id")?
                .ok_or_else(|| missing("campaign_id"))?,
        );
    }
    Ok(())
}

/// A campaign's archived evidence report: (sha256 as recorded, bytes).
pub async fn report(store: &Store, campaign_id: i64) -> Result<Option<(String, Vec<u8>)>> {
    let rows = store
        .fetch_all(
            "SELECT sha256, eml FROM review_reports WHERE campaign_id = $1",
            &[SqlValue::int(campaign_id)],
        )
        .await?;
    match rows.first() {
        Some(r) => Ok(Some((
            r.req_text("sha256")?,
            r.bytes("eml")?.ok_or_else(|| missing("eml"))?,
        ))),
        None => Ok(None),
    }
}

/// The state of a campaign's revocations at `at`: done (the grant revoked
/// or the account disabled), pending (not yet due), overdue.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationStatus {
    pub item_id: i64,
    pub grant_id: String,
    pub principal_id: String,
    pub role_id: String,
    #[serde(serialize_with = "ser_instant")]
    pub due_at: DateTime<Utc>,
    /// `done`, `pending` or `overdue`.
    pub status: String,
}

pub async fn revocation_status(
    tx: &mut Tx,
    campaign_id: i64,
    at: DateTime<Utc>,
) -> Result<Vec<RevocationStatus>> {
    let rows = tx
        .fetch_all(
            "SELECT r.item_id, r.grant_id, r.principal_id, r.role_id, r.due_at,
                    CAST(CASE WHEN g.id IS NULL OR (g.revoked_at IS NOT NULL AND g.revoked_at <= $2)
                              OR (g.expires_at IS NOT NULL AND g.expires_at <= $2)
                              OR p.id IS NULL OR p.status = 'disabled'
                         THEN 1 ELSE 0 END AS BIGINT) AS done
               FROM review_revocations r
               LEFT JOIN grants g ON g.id = r.grant_id
               LEFT JOIN principals p ON p.id = r.principal_id
              WHERE r.campaign_id = $1
              ORDER BY r.item_id",
            &[SqlValue::int(campaign_id), SqlValue::time(at)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let due_at = r.time("due_at")?.ok_or_else(|| missing("due_at"))?;
            let done = r.i64("done")?.unwrap_or(0) == 1;
            Ok(RevocationStatus {
                item_id: r.i64("item_id")?.ok_or_else(|| missing("item_id"))?,
                grant_id: r.req_text("grant_id")?,
                principal_id: r.req_text("principal_id")?,
                role_id: r.req_text("role_id")?,
                due_at,
                status: if done {
                    "done"
                } else if due_at <= at {
                    "overdue"
                } else {
                    "pending"
                }
                .to_string(),
            })
        })
        .collect()
}
