//! Deciding and delegating items: the checks every way of deciding shares
//! (the page, `reviews decide`, an imported sheet). A decision is appended
//! under the item's row lock; the same decision again records nothing, a
//! changed mind is a new record that supersedes the old one.

use chrono::{DateTime, Utc};

use super::open::{People, addresses, reviews_own};
use super::record::WriteTx;
use super::record::{self, Campaign, CampaignStatus, Item, NewDecision};
use super::{Decision, DecisionSource, Result, ReviewError, Reviewer};
use crate::config::{Config, JustificationRule};
use crate::store::Store;

/// What deciding did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// A new decision was recorded.
    Recorded,
    /// The item already had this very decision: nothing recorded.
    Unchanged,
}

/// A decision asked for.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub item_id: i64,
    pub decision: Decision,
    pub justification: Option<&'a str>,
    /// Who decides: a reviewer key (the page) or an address / people id
    /// (the command line, a sheet).
    pub by: &'a str,
    pub source: DecisionSource,
}

/// Whether `who` (a reviewer key, an address or a people id) acts for the
/// reviewer `reviewer_key`.
pub fn acts_for(reviewer_key: &str, who: &str, config: &Config, people: &People) -> bool {
    if who == reviewer_key {
        return true;
    }
    let Some(reviewer) = Reviewer::from_key(reviewer_key) else {
        return false;
    };
    let who_lower = who.trim().to_ascii_lowercase();
    if let Reviewer::Person(id) = &reviewer
        && id == who
    {
        return true;
    }
    addresses(&reviewer, config, people)
        .iter()
        .any(|a| a.trim().to_ascii_lowercase() == who_lower)
}

/// The campaign, refusing one that no longer takes decisions.
pub fn check_open(c: &Campaign, now: DateTime<Utc>) -> Result<()> {
    if c.status == CampaignStatus::Closed {
        return Err(ReviewError::Refused(format!(
            "campaign {} is closed: it takes no more decisions",
            c.id
        )));
    }
    if now >= c.deadline {
        return Err(ReviewError::Refused(format!(
            "campaign {} passed its deadline ({}): it takes no more decisions",
            c.id,
            crate::model::format_instant(c.deadline)
        )));
    }
    Ok(())
}

/// Whether an item needs a justification under the campaign's rule.
pub fn justification_required(c: &Campaign, item: &Item) -> bool {
    match c.settings.justification {
        JustificationRule::Always => true,
        JustificationRule::Sensitive => item.sensitive,
        JustificationRule::Never => false,
    }
}

/// Records a decision in the caller's transaction.
pub async fn decide_in(
    tx: &mut WriteTx,
    config: &Config,
    people: &People,
    campaign: &Campaign,
    ask: &Ask<'_>,
    now: DateTime<Utc>,
) -> Result<Outcome> {
    check_open(campaign, now)?;
    record::lock_item(tx, ask.item_id).await?;
    let item = record::item(tx, campaign.id, ask.item_id).await?;
    if !acts_for(&item.reviewer, ask.by, config, people) {
        return Err(ReviewError::Refused(format!(
            "item {} is reviewed by {}, not by {}",
            item.id, item.reviewer, ask.by
        )));
    }
    let justification = ask.justification.map(str::trim).filter(|j| !j.is_empty());
    if justification.is_none() && justification_required(campaign, &item) {
        return Err(ReviewError::Refused(format!(
            "item {} ({} holds {}) needs a justification",
            item.id,
            item.fact("login"),
            item.fact("role_name")
        )));
    }
    // The same decision again (a double submit, a second tab, a sheet
    // imported twice) is not a new record, whoever of the reviewer's
    // spellings sent it.
    if let Some(current) = &item.decision
        && current.decision == ask.decision
        && current.justification.as_deref() == justification
        && !matches!(current.source.as_str(), "policy" | "delta")
    {
        return Ok(Outcome::Unchanged);
    }
    record::insert_decision(
        tx,
        campaign.id,
        item.id,
        &NewDecision {
            decision: ask.decision,
            justification,
            decided_by: ask.by,
            source: ask.source,
            facts: &item.fingerprint,
        },
        now,
    )
    .await?;
    Ok(Outcome::Recorded)
}

/// Records several decisions, all or nothing.
pub async fn decide(
    store: &Store,
    config: &Config,
    campaign_id: i64,
    asks: &[Ask<'_>],
    now: DateTime<Utc>,
) -> Result<Vec<Outcome>> {
    let mut tx = record::begin(store).await?;
    let campaign = record::campaign(&mut tx, campaign_id).await?;
    let people = People::load(&mut tx).await?;
    let mut out = Vec::with_capacity(asks.len());
    for ask in asks {
        out.push(decide_in(&mut tx, config, &people, &campaign, ask, now).await?);
    }
    tx.commit().await?;
    Ok(out)
}

/// Hands items over to another reviewer (recorded as `delegated`, by
/// whom). Nobody is delegated their own access.
#[allow(clippy::too_many_arguments)] // the transaction, who is who, and the request
pub async fn delegate_in(
    tx: &mut WriteTx,
    config: &Config,
    people: &People,
    campaign: &Campaign,
    item_ids: &[i64],
    by: &str,
    to: &str,
    now: DateTime<Utc>,
) -> Result<Reviewer> {
    check_open(campaign, now)?;
    let target = match people.find(to) {
        Some(p) if p.email.is_some() => Reviewer::Person(p.id.clone()),
        Some(p) => {
            return Err(ReviewError::Refused(format!(
                "{} has no email address: a delegate must be reachable",
                p.id
            )));
        }
        None if config.recipients.contains_key(to) => Reviewer::Group(to.to_string()),
        None => {
            crate::config::check_mailbox(to).map_err(ReviewError::Refused)?;
            Reviewer::Mail(to.trim().to_ascii_lowercase())
        }
    };
    for &id in item_ids {
        record::lock_item(tx, id).await?;
        let item = record::item(tx, campaign.id, id).await?;
        if !acts_for(&item.reviewer, by, config, people) {
            return Err(ReviewError::Refused(format!(
                "item {} is reviewed by {}, not by {by}",
                item.id, item.reviewer
            )));
        }
        let holder = item.person_id.as_deref().and_then(|p| people.by_id.get(p));
        let account_email = Some(item.fact("account_email")).filter(|e| !e.is_empty());
        let own = reviews_own(&target, holder, account_email, config, people);
        if own {
            return Err(ReviewError::Refused(format!(
                "item {} is {}'s own access: it cannot be delegated to them",
                item.id, to
            )));
        }
        if item.reviewer == target.key() {
            continue;
        }
        record::assign(tx, id, &target, "delegated", now, Some(by)).await?;
    }
    Ok(target)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use super::*;
    use crate::review::open::Person;

    #[test]
    fn a_reviewer_acts_by_key_id_or_address() {
        let config = Config::parse(Path::new("c.yaml"), "recipients:\n  it: [it@x.org]\n").unwrap();
        let mut by_id = HashMap::new();
        by_id.insert(
            "m1".to_string(),
            Person {
                id: "m1".into(),
                email: Some("Boss@X.org".into()),
                ..Person::default()
            },
        );
        let people = People {
            by_id,
            by_email: HashMap::from([("boss@x.org".to_string(), "m1".to_string())]),
        };
        assert!(acts_for("person:m1", "person:m1", &config, &people));
        assert!(acts_for("person:m1", "m1", &config, &people));
        assert!(acts_for("person:m1", "boss@x.org", &config, &people));
        assert!(!acts_for("person:m1", "other@x.org", &config, &people));
        assert!(acts_for("group:it", "IT@x.org", &config, &people));
        assert!(!acts_for("group:it", "boss@x.org", &config, &people));
    }
}
