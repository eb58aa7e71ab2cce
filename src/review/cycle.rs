//! A campaign's life in the daemon: opened on its schedule, reminders and
//! the escalation when they fall due, closed at its deadline. Each step is
//! kept exactly once by the database, not by the process, so that several
//! daemons and restarts neither skip nor repeat one: a scheduled opening is
//! unique per (definition, slot); each notice per (campaign, reviewer,
//! kind); the escalation and the close run under the campaign's row lock
//! and look at what is recorded before acting.

use chrono::{DateTime, Utc};

use super::record;
use super::{Result, close, notify, open};
use crate::config::Config;
use crate::store::Store;

/// What one pass did (for the log).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    pub opened: Vec<i64>,
    pub reminded: usize,
    pub escalated: usize,
    pub closed: Vec<i64>,
}

/// Does whatever is due at `now`. `catch_up`: how old a missed opening may
/// be and still happen (a daemon that was down).
pub async fn tick(
    store: &Store,
    config: &Config,
    now: DateTime<Utc>,
    catch_up: chrono::Duration,
) -> Result<Pass> {
    let mut pass = Pass::default();
    for (name, def) in &config.reviews {
        let Some(text) = &def.schedule else { continue };
        let Ok(schedule) = crate::schedule::Schedule::parse(text, config.tz()) else {
            continue; // checked at load
        };
        let Some(slot) = schedule.latest_at_or_before(now) else {
            continue;
        };
        if now - slot > catch_up {
            continue;
        }
        if let Some(opened) = open::open(store, config, name, slot, Some(slot), now).await? {
            tracing::info!(
                campaign = opened.campaign_id,
                definition = %name,
                items = opened.items,
                reviewers = opened.reviewers.len(),
                "access review opened"
            );
            pass.opened.push(opened.campaign_id);
        }
    }
    for c in record::open_campaigns(store).await? {
        if c.deadline <= now {
            match close::close(store, config, c.id, now).await {
                Ok(closed) => {
                    tracing::info!(
                        campaign = c.id,
                        revocations = closed.revocations,
                        by_policy = closed.decided_by_policy,
                        "access review closed at its deadline"
                    );
                    pass.closed.push(c.id);
                }
                // Another daemon closed it first.
                Err(super::ReviewError::Refused(_)) => {}
                Err(e) => return Err(e),
            }
            continue;
        }
        // Each step is looked at with a read first, so that a pass with
        // nothing to do writes nothing; a step that failed half-way (its
        // transaction rolled back) is taken again by the next pass.
        if !notify::step_taken(store, c.id, notify::INVITATIONS).await? {
            notify::invite(store, config, c.id, now).await?;
        }
        for offset in &c.settings.reminders {
            let kind = format!("remind-{offset}");
            if c.deadline - offset.chrono() <= now
                && !notify::step_taken(store, c.id, &kind).await?
            {
                pass.reminded += notify::remind(store, config, c.id, &kind, now).await?;
            }
        }
        if let Some(e) = &c.settings.escalation
            && c.opened_at + e.after.chrono() <= now
            && !notify::step_taken(store, c.id, notify::ESCALATION).await?
        {
            pass.escalated += notify::escalate(store, config, c.id, now).await?;
        }
    }
    Ok(pass)
}
