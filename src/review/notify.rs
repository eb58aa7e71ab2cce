//! What a campaign tells reviewers: the invitation, reminders, escalations
//! and delegations, each handed to the outbox once per reviewer
//! (`review_notices`). A reviewer's link is the credential: 256 random bits,
//! minted as the message is sent ([`LinkMinter`]), so that only the mail
//! that went out carries it and the database keeps its SHA-256 alone.

use std::collections::BTreeMap;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use super::open::{People, addresses};
use super::record::{self, Campaign, CampaignStatus};
use super::{Result, ReviewError, Reviewer};
use crate::config::Config;
use crate::deliver::OutgoingMessage;
use crate::deliver::compose::{self, Content};
use crate::deliver::outbox;
use crate::deliver::sender::Finisher;
use crate::model::format_instant;
use crate::report::mime::sha256_hex;
use crate::store::{Store, Tx};
use crate::support::mail::{domain_of, safe_name};
use crate::support::text::html_escape;

/// A new link token and its SHA-256 (hex), the only form stored.
pub fn new_token() -> Result<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ReviewError::Refused(format!("no randomness for a link: {e}")))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

/// A reviewer's page address for a token.
pub fn page_url(config: &Config, token: &str) -> Result<String> {
    let page = config.review_page.as_ref().ok_or_else(|| {
        ReviewError::Refused(
            "no `review_page:` in the configuration: reviewers have no page".into(),
        )
    })?;
    Ok(format!(
        "{}/review/{token}",
        page.public_url.trim_end_matches('/')
    ))
}

/// Mints a link for a reviewer of a campaign and stores its hash.
pub async fn mint_link(
    tx: &mut Tx,
    config: &Config,
    campaign_id: i64,
    reviewer: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    let (token, hash) = new_token()?;
    record::insert_link(tx, &hash, campaign_id, reviewer, now).await?;
    page_url(config, &token)
}

/// A reviewer as people read it: `Name <address>`, or the group's name.
pub fn reviewer_label(key: &str, config: &Config, people: &People) -> String {
    match Reviewer::from_key(key) {
        Some(Reviewer::Person(id)) => match people.by_id.get(&id) {
            Some(p) => match (&p.full_name, &p.email) {
                (Some(n), Some(e)) => format!("{n} <{e}>"),
                (Some(n), None) => n.clone(),
                (None, Some(e)) => e.clone(),
                (None, None) => id,
            },
            None => id,
        },
        Some(Reviewer::Group(g)) => {
            format!(
                "{g} ({})",
                config.addresses(std::slice::from_ref(&g)).join(", ")
            )
        }
        Some(Reviewer::Mail(a)) => a,
        None => key.to_string(),
    }
}

/// Each reviewer's (items, undecided items) in a campaign.
async fn load(tx: &mut Tx, campaign_id: i64) -> Result<BTreeMap<String, (usize, usize)>> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for item in record::items(tx, campaign_id).await? {
        let e = out.entry(item.reviewer.clone()).or_default();
        e.0 += 1;
        if item.decision.is_none() {
            e.1 += 1;
        }
    }
    Ok(out)
}

fn message_id(config: &Config, campaign_id: i64, reviewer: &str, kind: &str) -> String {
    format!(
        "review-{campaign_id}.{}.{}@{}",
        safe_name(kind, '-'),
        &sha256_hex(reviewer.as_bytes())[..16],
        domain_of(&config.mail.from)
    )
}

/// The words of a notice; `link` is None when stored (minted at send).
fn render(
    config: &Config,
    campaign: &Campaign,
    reviewer: &str,
    people: &People,
    kind: &str,
    (items, undecided): (usize, usize),
    link: Option<&str>,
) -> (String, String, String) {
    let tz = config.tz();
    let deadline = campaign
        .deadline
        .with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string();
    let what = match kind {
        "invite" => "You have access to review",
        k if k.starts_with("remind") => "Reminder: access reviews are waiting for you",
        k if k.starts_with("escalat") => "Escalated to you: access reviews nobody decided",
        _ => "Access reviews were handed over to you",
    };
    let subject = format!(
        "{what}: {undecided} of {items} items, by {deadline} ({})",
        campaign.definition
    );
    let who = reviewer_label(reviewer, config, people);
    let link_text = link.unwrap_or("(your personal link is issued when this message is sent)");
    let text = format!(
        "{who},\n\n{what} in the access review \"{def}\" (campaign {id}, population as of {as_of}).\n\n\
         Items: {items}; still to decide: {undecided}.\nDeadline: {deadline}.\n\n\
         For each account, keep the access it needs and revoke what it does not. Open your page:\n\n{link_text}\n\n\
         The link is personal: it signs your decisions. Do not forward it; it expires when the campaign closes.\n\
         What nobody decides by the deadline: {policy}.\n",
        def = campaign.definition,
        id = campaign.id,
        as_of = format_instant(campaign.as_of),
        policy = match campaign.settings.at_deadline {
            crate::config::DeadlineAction::Revoke => "revoked by policy",
            crate::config::DeadlineAction::Keep => "kept by policy",
            crate::config::DeadlineAction::None => "reported as undecided",
        },
    );
    let link_html = match link {
        Some(l) => format!(
            "<p><a href=\"{0}\" style=\"color:#0b5394\">Open your review page</a></p><p style=\"font-size:12px;color:#555\">{0}</p>",
            html_escape(l)
        ),
        None => format!("<p>{}</p>", html_escape(link_text)),
    };
    let html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif;max-width:600px\">\
         <p>{who}</p><p>{what} in the access review <b>{def}</b> (campaign {id}).</p>\
         <table role=\"presentation\" cellpadding=\"4\"><tr><td>Items</td><td>{items}</td></tr>\
         <tr><td>Still to decide</td><td>{undecided}</td></tr><tr><td>Deadline</td><td>{deadline}</td></tr></table>\
         {link_html}<p style=\"font-size:12px;color:#555\">The link is personal: it signs your decisions. Do not forward it; it expires when the campaign closes.</p>\
         </body></html>",
        who = html_escape(&who),
        what = html_escape(what),
        def = html_escape(&campaign.definition),
        id = campaign.id,
        deadline = html_escape(&deadline),
    );
    (subject, text, html)
}

/// Hands a notice for one reviewer to the outbox, once per kind.
#[allow(clippy::too_many_arguments)]
async fn queue(
    tx: &mut Tx,
    config: &Config,
    people: &People,
    campaign: &Campaign,
    reviewer: &str,
    kind: &str,
    counts: (usize, usize),
    now: DateTime<Utc>,
) -> Result<bool> {
    let Some(r) = Reviewer::from_key(reviewer) else {
        return Ok(false);
    };
    let to = addresses(&r, config, people);
    if to.is_empty() {
        tracing::warn!(
            campaign = campaign.id,
            reviewer,
            "a reviewer without an address is not told"
        );
        return Ok(false);
    }
    let mid = message_id(config, campaign.id, reviewer, kind);
    if !record::mark_notice(tx, campaign.id, reviewer, kind, &mid, now).await? {
        return Ok(false);
    }
    let (subject, text, html) = render(config, campaign, reviewer, people, kind, counts, None);
    let job = format!("review:{}", campaign.definition);
    let m = compose::compose(&Content {
        from: &config.mail.from,
        to: &to,
        subject: &subject,
        message_id: &mid,
        date: now,
        text: &text,
        html: Some(&html),
        attachments: &[],
        job: Some(&job),
    })
    .map_err(|e| ReviewError::Refused(e.to_string()))?;
    outbox::enqueue(tx, &m, now).await?;
    Ok(true)
}

/// The step of sending every reviewer's invitation.
pub const INVITATIONS: &str = "invitations";

/// The step of the escalation.
pub const ESCALATION: &str = "escalation";

/// Whether a campaign-wide step was taken (a read).
pub async fn step_taken(store: &Store, campaign_id: i64, step: &str) -> Result<bool> {
    record::notice_exists(store, campaign_id, "*", step).await
}

/// Records a campaign-wide step (a reminder round, the escalation) once;
/// false when it was already taken.
async fn mark_step(tx: &mut Tx, campaign_id: i64, step: &str, now: DateTime<Utc>) -> Result<bool> {
    let id = format!("campaign-{campaign_id}.{}@steps", safe_name(step, '-'));
    record::mark_notice(tx, campaign_id, "*", step, &id, now).await
}

/// Invites every reviewer of a campaign (once: the `invitations` step).
pub async fn invite(
    store: &Store,
    config: &Config,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> Result<usize> {
    round(store, config, campaign_id, INVITATIONS, "invite", now).await
}

/// Reminds every reviewer with undecided items (`kind` names the reminder,
/// e.g. `remind-7d`, so that each round is sent once).
pub async fn remind(
    store: &Store,
    config: &Config,
    campaign_id: i64,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<usize> {
    round(store, config, campaign_id, kind, kind, now).await
}

/// One message of `kind` to every reviewer with undecided items, all of
/// them committed with the mark of `step`: a daemon that fails half-way
/// leaves the step to the next pass, never half of it done.
async fn round(
    store: &Store,
    config: &Config,
    campaign_id: i64,
    step: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut tx = record::begin(store).await?;
    record::lock_campaign(&mut tx, campaign_id).await?;
    let campaign = record::campaign(&mut tx, campaign_id).await?;
    if campaign.status == CampaignStatus::Closed
        || !mark_step(&mut tx, campaign_id, step, now).await?
    {
        tx.rollback().await?;
        return Ok(0);
    }
    let people = People::load(&mut tx).await?;
    let mut n = 0;
    for (reviewer, counts) in load(&mut tx, campaign_id).await? {
        if counts.1 > 0
            && queue(
                &mut tx, config, &people, &campaign, &reviewer, kind, counts, now,
            )
            .await?
        {
            n += 1;
        }
    }
    tx.commit().await?;
    Ok(n)
}

/// Moves every undecided item to the reviewer's manager (or the fallback)
/// and tells the new reviewers. Returns how many items moved.
pub async fn escalate(
    store: &Store,
    config: &Config,
    campaign_id: i64,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut tx = record::begin(store).await?;
    record::lock_campaign(&mut tx, campaign_id).await?;
    let campaign = record::campaign(&mut tx, campaign_id).await?;
    let Some(escalation) = campaign.settings.escalation.clone() else {
        tx.rollback().await?;
        return Ok(0);
    };
    if campaign.status == CampaignStatus::Closed
        || !mark_step(&mut tx, campaign_id, ESCALATION, now).await?
    {
        tx.rollback().await?;
        return Ok(0);
    }
    let people = People::load(&mut tx).await?;
    let fallback = Reviewer::from_config(&campaign.settings.fallback, config);
    let mut moved = 0;
    for item in record::items(&mut tx, campaign_id).await? {
        if item.decision.is_some() || item.assigned_because == "escalated" {
            continue;
        }
        let to = match (escalation.to, Reviewer::from_key(&item.reviewer)) {
            (crate::config::EscalateTo::Manager, Some(Reviewer::Person(id))) => people
                .by_id
                .get(&id)
                .and_then(|p| p.manager_id.as_ref())
                .and_then(|m| people.by_id.get(m))
                .filter(|m| m.email.is_some() && Some(&m.id) != item.person_id.as_ref())
                .map(|m| Reviewer::Person(m.id.clone()))
                .unwrap_or_else(|| fallback.clone()),
            _ => fallback.clone(),
        };
        if to.key() == item.reviewer {
            continue;
        }
        record::assign(&mut tx, item.id, &to, "escalated", now, Some("policy")).await?;
        moved += 1;
    }
    for (reviewer, counts) in load(&mut tx, campaign_id).await? {
        if counts.1 > 0 {
            queue(
                &mut tx,
                config,
                &people,
                &campaign,
                &reviewer,
                "escalation",
                counts,
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(moved)
}

/// Tells a delegate about the items handed to them.
pub async fn delegated(
    tx: &mut Tx,
    config: &Config,
    people: &People,
    campaign: &Campaign,
    delegate: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let counts = load(tx, campaign.id)
        .await?
        .get(delegate)
        .copied()
        .unwrap_or_default();
    let kind = format!("delegated-{}", now.timestamp_micros());
    queue(tx, config, people, campaign, delegate, &kind, counts, now).await?;
    Ok(())
}

/// The sender's last step for review notices: a fresh link, rendered into
/// the message as it goes out.
pub struct LinkMinter<'c> {
    pub config: &'c Config,
}

impl Finisher for LinkMinter<'_> {
    fn finish<'a>(
        &'a self,
        store: &'a Store,
        m: &'a OutgoingMessage,
    ) -> BoxFuture<'a, std::result::Result<Option<OutgoingMessage>, String>> {
        Box::pin(async move { self.mint(store, m).await.map_err(|e| e.to_string()) })
    }
}

impl LinkMinter<'_> {
    async fn mint(&self, store: &Store, m: &OutgoingMessage) -> Result<Option<OutgoingMessage>> {
        if !m.job.as_deref().is_some_and(|j| j.starts_with("review:")) {
            return Ok(None);
        }
        let Some((campaign_id, reviewer, kind)) = record::notice_of(store, &m.message_id).await?
        else {
            return Ok(None);
        };
        let now = Utc::now();
        let mut tx = record::begin(store).await?;
        let campaign = record::campaign(&mut tx, campaign_id).await?;
        let people = People::load(&mut tx).await?;
        let counts = load(&mut tx, campaign_id)
            .await?
            .get(&reviewer)
            .copied()
            .unwrap_or_default();
        let link = mint_link(&mut tx, self.config, campaign_id, &reviewer, now).await?;
        let (subject, text, html) = render(
            self.config,
            &campaign,
            &reviewer,
            &people,
            &kind,
            counts,
            Some(&link),
        );
        let out = compose::compose(&Content {
            from: &m.envelope_from,
            to: &m.recipients,
            subject: &subject,
            message_id: &m.message_id,
            date: now,
            text: &text,
            html: Some(&html),
            attachments: &[],
            job: m.job.as_deref(),
        })
        .map_err(|e| ReviewError::Refused(e.to_string()))?;
        tx.commit().await?;
        Ok(Some(out))
    }
}
