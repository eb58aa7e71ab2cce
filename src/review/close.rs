//! Closing a campaign: the deadline's action on what nobody decided
//! (recorded "by policy"), the revocations IT must carry out (each due
//! `remediation_sla` after the close), the links revoked, and the
//! campaign's evidence report rendered, archived with its SHA-256 and
//! handed to the outbox, with the revocations as CSV to IT.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::notify::reviewer_label;
use super::open::People;
use super::record::{self, Campaign, CampaignStatus, HistoryEntry, Item, NewDecision};
use super::{Decision, DecisionSource, Result, ReviewError};
use crate::config::{Config, DeadlineAction};
use crate::deliver::compose::{self, Attached, Content};
use crate::deliver::outbox;
use crate::model::format_instant;
use crate::report::mime::sha256_hex;
use crate::report::output::neutralise_cell;
use crate::store::{Store, Tx};
use crate::support::mail::domain_of;
use crate::support::text::html_escape;

/// What closing did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Closed {
    pub campaign_id: i64,
    pub items: usize,
    pub decided_by_policy: usize,
    pub undecided: usize,
    pub revocations: usize,
    /// SHA-256 of the archived evidence report (.eml).
    pub evidence_sha256: String,
    pub evidence_message_id: String,
}

/// The evidence of a campaign, rendered.
pub struct Evidence {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub items_csv: Vec<u8>,
    pub revocations_csv: Vec<u8>,
}

/// Closes a campaign. Refuses one already closed.
pub async fn close(
    store: &Store,
    config: &Config,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> Result<Closed> {
    let mut tx = record::begin(store).await?;
    record::lock_campaign(&mut tx, campaign_id).await?;
    let campaign = record::campaign(&mut tx, campaign_id).await?;
    if campaign.status == CampaignStatus::Closed {
        return Err(ReviewError::Refused(format!(
            "campaign {campaign_id} is already closed"
        )));
    }
    let action = match campaign.settings.at_deadline {
        DeadlineAction::Revoke => Some(Decision::Revoke),
        DeadlineAction::Keep => Some(Decision::Keep),
        DeadlineAction::None => None,
    };
    let mut by_policy = 0;
    for item in record::items(&mut tx, campaign_id).await? {
        if item.decision.is_some() {
            continue;
        }
        if let Some(decision) = action {
            record::insert_decision(
                &mut tx,
                campaign_id,
                item.id,
                &NewDecision {
                    decision,
                    justification: Some("not decided by the deadline"),
                    decided_by: "policy",
                    source: DecisionSource::Policy,
                    facts: &item.fingerprint,
                },
                now,
            )
            .await?;
            by_policy += 1;
        }
    }
    record::close_campaign(&mut tx, campaign_id, now).await?;
    record::revoke_links(&mut tx, campaign_id, None, now).await?;
    let campaign = record::campaign(&mut tx, campaign_id).await?;
    let items = record::items(&mut tx, campaign_id).await?;
    let due_at = now + campaign.settings.remediation_sla.chrono();
    let mut revocations = 0;
    for item in &items {
        if let Some(d) = &item.decision
            && d.decision == Decision::Revoke
        {
            record::insert_revocation(&mut tx, &campaign, item, d, due_at).await?;
            revocations += 1;
        }
    }
    let people = People::load(&mut tx).await?;
    let evidence = render(&mut tx, config, &people, &campaign, &items, now).await?;
    let message_id = format!(
        "review-{campaign_id}.evidence.{}@{}",
        &sha256_hex(campaign.definition.as_bytes())[..12],
        domain_of(&config.mail.from)
    );
    let to = config.addresses(&campaign.settings.recipients);
    let to_or_from = if to.is_empty() {
        vec![config.mail.from.clone()]
    } else {
        to.clone()
    };
    let job = format!("review:{}", campaign.definition);
    let items_name = format!("review-{campaign_id}-items.csv");
    let revocations_name = format!("review-{campaign_id}-revocations.csv");
    let message = compose::compose(&Content {
        from: &config.mail.from,
        to: &to_or_from,
        subject: &evidence.subject,
        message_id: &message_id,
        date: now,
        text: &evidence.text,
        html: Some(&evidence.html),
        attachments: &[
            Attached {
                name: &items_name,
                content_type: "text/csv; charset=utf-8",
                bytes: &evidence.items_csv,
            },
            Attached {
                name: &revocations_name,
                content_type: "text/csv; charset=utf-8",
                bytes: &evidence.revocations_csv,
            },
        ],
        job: Some(&job),
    })
    .map_err(|e| ReviewError::Refused(e.to_string()))?;
    let sha = sha256_hex(message.body.as_bytes());
    record::insert_report(
        &mut tx,
        campaign_id,
        &message_id,
        &sha,
        message.body.as_bytes(),
        now,
    )
    .await?;
    if !to.is_empty() {
        outbox::enqueue(&mut tx, &message, now).await?;
    }
    let it = config.addresses(&campaign.settings.revocations_to);
    if !it.is_empty() && revocations > 0 {
        let subject = format!(
            "Revoke {revocations} accesses by {} (access review {}, campaign {campaign_id})",
            format_instant(due_at),
            campaign.definition
        );
        let text = format!(
            "The access review \"{}\" (campaign {campaign_id}) closed on {}.\n\n\
             {revocations} accesses are to be revoked by {}: the attached CSV lists them.\n\
             Each one still live after that date is reported as review-revocation-pending.\n",
            campaign.definition,
            format_instant(now),
            format_instant(due_at)
        );
        let it_message = compose::compose(&Content {
            from: &config.mail.from,
            to: &it,
            subject: &subject,
            message_id: &format!(
                "review-{campaign_id}.revocations.{}@{}",
                &sha256_hex(campaign.definition.as_bytes())[..12],
                domain_of(&config.mail.from)
            ),
            date: now,
            text: &text,
            html: None,
            attachments: &[Attached {
                name: &revocations_name,
                content_type: "text/csv; charset=utf-8",
                bytes: &evidence.revocations_csv,
            }],
            job: Some(&job),
        })
        .map_err(|e| ReviewError::Refused(e.to_string()))?;
        outbox::enqueue(&mut tx, &it_message, now).await?;
    }
    tx.commit().await?;
    Ok(Closed {
        campaign_id,
        items: items.len(),
        decided_by_policy: by_policy,
        undecided: items.iter().filter(|i| i.decision.is_none()).count(),
        revocations,
        evidence_sha256: sha,
        evidence_message_id: message_id,
    })
}

fn csv_bytes(header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| ReviewError::Refused(format!("writing CSV: {e}"));
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(r.iter().map(|c| neutralise_cell(c).into_owned()))
            .map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| ReviewError::Refused(format!("writing CSV: {e}")))
}

/// The header of the items CSV (`reviews export` and the evidence): the
/// columns `reviews import-decisions` reads back are `item_id`, `decision`,
/// `justification`, `reviewer`.
pub const ITEM_COLUMNS: [&str; 18] = [
    "item_id",
    "grant_id",
    "account_id",
    "login",
    "person",
    "department",
    "title",
    "role_id",
    "role",
    "sensitive",
    "last_used_at",
    "open_findings",
    "reviewer",
    "assigned_because",
    "decision",
    "justification",
    "decided_by",
    "decided_at",
];

/// One row of the items CSV.
pub fn item_row(item: &Item, config: &Config, people: &People) -> Vec<String> {
    let d = item.decision.as_ref();
    vec![
        item.id.to_string(),
        item.grant_id.clone(),
        item.principal_id.clone(),
        item.fact("login").to_string(),
        item.fact("person_name").to_string(),
        item.fact("department").to_string(),
        item.fact("title").to_string(),
        item.role_id.clone(),
        item.fact("role_name").to_string(),
        if item.sensitive { "yes" } else { "no" }.to_string(),
        item.fact("last_used_at").to_string(),
        item.context
            .get("findings")
            .and_then(|f| f.as_array())
            .map(|f| {
                f.iter()
                    .filter_map(|x| x.get("rule").and_then(|r| r.as_str()))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default(),
        reviewer_label(&item.reviewer, config, people),
        item.assigned_because.clone(),
        d.map(|d| d.decision.as_str().to_string())
            .unwrap_or_default(),
        d.and_then(|d| d.justification.clone()).unwrap_or_default(),
        d.map(|d| d.decided_by.clone()).unwrap_or_default(),
        d.map(|d| format_instant(d.decided_at)).unwrap_or_default(),
    ]
}

/// The items CSV of a campaign.
pub fn items_csv(items: &[Item], config: &Config, people: &People) -> Result<Vec<u8>> {
    csv_bytes(
        &ITEM_COLUMNS,
        items.iter().map(|i| item_row(i, config, people)).collect(),
    )
}

async fn render(
    tx: &mut Tx,
    config: &Config,
    people: &People,
    c: &Campaign,
    items: &[Item],
    now: DateTime<Utc>,
) -> Result<Evidence> {
    let history: Vec<HistoryEntry> = record::history(tx, c.id).await?;
    let notices = record::notices(tx, c.id).await?;
    let revocations = record::revocation_status(tx, c.id, now).await?;
    let label = |k: &str| reviewer_label(k, config, people);

    // Completion per reviewer (the reviewer at the close).
    #[derive(Default)]
    struct Row {
        items: usize,
        by_reviewer: usize,
        by_policy: usize,
        undecided: usize,
    }
    let mut per: BTreeMap<String, Row> = BTreeMap::new();
    let (mut keep, mut revoke, mut policy, mut delta, mut undecided) = (0, 0, 0, 0, 0);
    for i in items {
        let r = per.entry(label(&i.reviewer)).or_default();
        r.items += 1;
        match &i.decision {
            None => {
                r.undecided += 1;
                undecided += 1;
            }
            Some(d) => {
                match d.decision {
                    Decision::Keep => keep += 1,
                    Decision::Revoke => revoke += 1,
                }
                match d.source.as_str() {
                    "policy" => {
                        r.by_policy += 1;
                        policy += 1;
                    }
                    "delta" => {
                        r.by_policy += 1;
                        delta += 1;
                    }
                    _ => r.by_reviewer += 1,
                }
            }
        }
    }
    let subject = format!(
        "Access review evidence: {} (campaign {}), {} items, {} revoked",
        c.definition,
        c.id,
        items.len(),
        revoke
    );
    let closed = c.closed_at.map(format_instant).unwrap_or_default();
    let summary = format!(
        "Campaign {} of \"{}\": population as of {}, opened {}, deadline {}, closed {}.\n\
         Reviewer rule: {:?}; fallback: {}; at the deadline: {:?}; justification: {:?}; remediation SLA: {}.\n\
         Items: {}. Kept: {keep}. Revoked: {revoke}. Decided by policy at the deadline: {policy}. \
         Certified unchanged by policy: {delta}. Undecided: {undecided}.",
        c.id,
        c.definition,
        format_instant(c.as_of),
        format_instant(c.opened_at),
        format_instant(c.deadline),
        closed,
        c.settings.reviewer,
        c.settings.fallback,
        c.settings.at_deadline,
        c.settings.justification,
        c.settings.remediation_sla,
        items.len(),
    );
    let mut text = format!("{subject}\n\n{summary}\n\nCompletion per reviewer\n");
    let mut html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;max-width:960px\"><h1 style=\"font-size:20px\">{}</h1><p>{}</p>\
         <h2 style=\"font-size:16px\">Completion per reviewer</h2><table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\">\
         <tr><th>Reviewer</th><th>Items</th><th>Decided by the reviewer</th><th>By policy</th><th>Undecided</th></tr>",
        html_escape(&subject),
        html_escape(&subject),
        html_escape(&summary).replace('\n', "<br>"),
    );
    for (who, r) in &per {
        text.push_str(&format!(
            "  {who}: {} items, {} decided, {} by policy, {} undecided\n",
            r.items, r.by_reviewer, r.by_policy, r.undecided
        ));
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(who),
            r.items,
            r.by_reviewer,
            r.by_policy,
            r.undecided
        ));
    }
    html.push_str("</table>");

    // Every decision, delegation and escalation, in order.
    text.push_str("\nDecisions, delegations and escalations, in order\n");
    html.push_str("<h2 style=\"font-size:16px\">Decisions, delegations and escalations</h2><table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\"><tr><th>When</th><th>Item</th><th>Account</th><th>Role</th><th>What</th><th>By</th><th>Justification</th></tr>");
    let by_id: BTreeMap<i64, &Item> = items.iter().map(|i| (i.id, i)).collect();
    for h in &history {
        let what = match (h.what.as_str(), h.detail.as_str()) {
            ("decision", source) => format!("{} ({source})", h.value),
            (_, "rule") | (_, "fallback") | (_, "self") => continue,
            (_, reason) => format!("{reason} to {}", label(&h.value)),
        };
        let item = by_id.get(&h.item_id);
        let login = item.map(|i| i.fact("login")).unwrap_or("");
        let role = item.map(|i| i.fact("role_name")).unwrap_or("");
        let by = h.by.clone().map(|b| label(&b)).unwrap_or_default();
        let just = h.justification.clone().unwrap_or_default();
        text.push_str(&format!(
            "  {} item {} {login} / {role}: {what} by {by}{}\n",
            format_instant(h.at),
            h.item_id,
            if just.is_empty() {
                String::new()
            } else {
                format!(" — {}", crate::support::text::for_plain_text(&just))
            }
        ));
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&format_instant(h.at)),
            h.item_id,
            html_escape(login),
            html_escape(role),
            html_escape(&what),
            html_escape(&by),
            html_escape(&just)
        ));
    }
    html.push_str("</table>");

    // Revocations.
    text.push_str(&format!("\nRevocations ({})\n", revocations.len()));
    html.push_str(&format!("<h2 style=\"font-size:16px\">Revocations ({})</h2><table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\"><tr><th>Item</th><th>Grant</th><th>Account</th><th>Role</th><th>Due</th><th>Status</th></tr>", revocations.len()));
    let mut rev_rows = Vec::new();
    for r in &revocations {
        let item = by_id.get(&r.item_id);
        let login = item.map(|i| i.fact("login")).unwrap_or("");
        let role = item.map(|i| i.fact("role_name")).unwrap_or("");
        text.push_str(&format!(
            "  item {} grant {} {login} / {role}: due {}, {}\n",
            r.item_id,
            r.grant_id,
            format_instant(r.due_at),
            r.status
        ));
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.item_id,
            html_escape(&r.grant_id),
            html_escape(login),
            html_escape(role),
            html_escape(&format_instant(r.due_at)),
            html_escape(&r.status)
        ));
        let d = item.and_then(|i| i.decision.as_ref());
        rev_rows.push(vec![
            r.item_id.to_string(),
            r.grant_id.clone(),
            r.principal_id.clone(),
            login.to_string(),
            r.role_id.clone(),
            role.to_string(),
            d.map(|d| label(&d.decided_by)).unwrap_or_default(),
            d.map(|d| format_instant(d.decided_at)).unwrap_or_default(),
            d.and_then(|d| d.justification.clone()).unwrap_or_default(),
            format_instant(r.due_at),
        ]);
    }
    html.push_str("</table>");

    // Messages sent.
    text.push_str(&format!("\nMessages to reviewers ({})\n", notices.len()));
    html.push_str(&format!("<h2 style=\"font-size:16px\">Messages to reviewers ({})</h2><table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\"><tr><th>When</th><th>To</th><th>What</th></tr>", notices.len()));
    for (who, kind, at) in &notices {
        let who = if who == "*" {
            "every reviewer with undecided items".to_string()
        } else {
            label(who)
        };
        text.push_str(&format!("  {} {kind} to {who}\n", format_instant(*at)));
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            html_escape(&format_instant(*at)),
            html_escape(&who),
            html_escape(kind)
        ));
    }
    html.push_str(&format!(
        "</table><p style=\"font-size:12px;color:#555\">accessaudit {} — every item is in the attached CSV with its reviewer and decision.</p></body></html>",
        env!("CARGO_PKG_VERSION")
    ));
    text.push_str(&format!(
        "\nEvery item is in the attached CSV with its reviewer and decision.\naccessaudit {}\n",
        env!("CARGO_PKG_VERSION")
    ));
    Ok(Evidence {
        subject,
        text,
        html,
        items_csv: items_csv(items, config, people)?,
        revocations_csv: csv_bytes(
            &[
                "item_id",
                "grant_id",
                "account_id",
                "login",
                "role_id",
                "role",
                "decided_by",
                "decided_at",
                "justification",
                "due_at",
            ],
            rev_rows,
        )?,
    })
}
