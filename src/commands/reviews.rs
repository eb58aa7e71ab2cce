//! `accessaudit reviews …`: access-review campaigns from the command line.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::Utc;

use super::{open_store, print_json};
use crate::app::Settings;
use crate::cli::{DecisionArg, ReviewFormat, ReviewsCommand};
use crate::model::format_instant;
use crate::report::output::printable;
use crate::review::close::{ITEM_COLUMNS, item_row, items_csv};
use crate::review::decide::{self, Ask};
use crate::review::notify::{self, reviewer_label};
use crate::review::open::People;
use crate::review::{self, Decision, DecisionSource, Reviewer, record};

pub async fn command(g: &Settings, cmd: ReviewsCommand) -> Result<ExitCode> {
    let store = open_store(g).await?;
    let config = &g.config;
    let now = Utc::now();
    match cmd {
        ReviewsCommand::Open { name, as_of } => {
            let as_of = as_of.unwrap_or(now);
            let Some(opened) = review::open::open(&store, config, &name, as_of, None, now).await?
            else {
                bail!("campaign `{name}` was not opened");
            };
            let invited = notify::invite(&store, config, opened.campaign_id, now).await?;
            eprintln!(
                "campaign {} of `{name}` opened as of {}: {} items, {} reviewers ({} invited through the outbox){}",
                opened.campaign_id,
                format_instant(as_of),
                opened.items,
                opened.reviewers.len(),
                invited,
                if opened.certified_unchanged > 0 {
                    format!(
                        ", {} unchanged items certified by policy",
                        opened.certified_unchanged
                    )
                } else {
                    String::new()
                }
            );
            println!("{}", opened.campaign_id);
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::List { format } => {
            let mut rows = Vec::new();
            for c in record::campaigns(&store).await? {
                let mut tx = store.begin().await?;
                let items = record::items(&mut tx, c.id).await?;
                let revocations = record::revocation_status(&mut tx, c.id, now).await?;
                tx.rollback().await?;
                let decided = items.iter().filter(|i| i.decision.is_some()).count();
                let count = |s: &str| revocations.iter().filter(|r| r.status == s).count();
                rows.push(serde_json::json!({
                    "id": c.id,
                    "definition": c.definition,
                    "status": c.status,
                    "as_of": format_instant(c.as_of),
                    "opened_at": format_instant(c.opened_at),
                    "deadline": format_instant(c.deadline),
                    "closed_at": c.closed_at.map(format_instant),
                    "items": items.len(),
                    "decided": decided,
                    "revocations": {"done": count("done"), "pending": count("pending"), "overdue": count("overdue")},
                }));
            }
            match format {
                ReviewFormat::Json => print_json(&rows),
                ReviewFormat::Csv => {
                    let mut w = csv::Writer::from_writer(std::io::stdout().lock());
                    w.write_record([
                        "id",
                        "definition",
                        "status",
                        "as_of",
                        "deadline",
                        "items",
                        "decided",
                        "revocations_done",
                        "revocations_pending",
                        "revocations_overdue",
                    ])?;
                    for r in &rows {
                        let f = |k: &str| match &r[k] {
                            serde_json::Value::String(s) => s.clone(),
                            v => v.to_string(),
                        };
                        w.write_record([
                            f("id"),
                            f("definition"),
                            f("status"),
                            f("as_of"),
                            f("deadline"),
                            f("items"),
                            f("decided"),
                            r["revocations"]["done"].to_string(),
                            r["revocations"]["pending"].to_string(),
                            r["revocations"]["overdue"].to_string(),
                        ])?;
                    }
                    w.flush()?;
                    Ok(ExitCode::SUCCESS)
                }
                ReviewFormat::Table => {
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "{:>4}  {:<20} {:<7} {:<20} {:<20} {:>6} {:>7}  REVOCATIONS",
                        "ID", "DEFINITION", "STATUS", "AS OF", "DEADLINE", "ITEMS", "DECIDED"
                    )?;
                    for r in &rows {
                        writeln!(
                            out,
                            "{:>4}  {:<20} {:<7} {:<20} {:<20} {:>6} {:>7}  {} done, {} pending, {} overdue",
                            r["id"],
                            printable(r["definition"].as_str().unwrap_or("")),
                            r["status"].as_str().unwrap_or(""),
                            r["as_of"].as_str().unwrap_or(""),
                            r["deadline"].as_str().unwrap_or(""),
                            r["items"],
                            r["decided"],
                            r["revocations"]["done"],
                            r["revocations"]["pending"],
                            r["revocations"]["overdue"],
                        )?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        ReviewsCommand::Show {
            id,
            reviewer,
            format,
        } => {
            let mut tx = store.begin().await?;
            let campaign = record::campaign(&mut tx, id).await?;
            let people = People::load(&mut tx).await?;
            let mut items = record::items(&mut tx, id).await?;
            let revocations = record::revocation_status(&mut tx, id, now).await?;
            tx.rollback().await?;
            if let Some(who) = &reviewer {
                items.retain(|i| decide::acts_for(&i.reviewer, who, config, &people));
            }
            match format {
                ReviewFormat::Json => print_json(&serde_json::json!({
                    "campaign": campaign,
                    "items": items,
                    "revocations": revocations,
                })),
                ReviewFormat::Csv => {
                    std::io::stdout().write_all(&items_csv(&items, config, &people)?)?;
                    Ok(ExitCode::SUCCESS)
                }
                ReviewFormat::Table => {
                    let mut out = std::io::stdout().lock();
                    writeln!(
                        out,
                        "campaign {} of {}: {}, population as of {}, deadline {}",
                        campaign.id,
                        printable(&campaign.definition),
                        if campaign.status == record::CampaignStatus::Open {
                            "open"
                        } else {
                            "closed"
                        },
                        format_instant(campaign.as_of),
                        format_instant(campaign.deadline)
                    )?;
                    writeln!(
                        out,
                        "{:>5}  {:<16} {:<20} {:<28} {:<8} {:<10} LAST USED / FINDINGS",
                        "ITEM", "ACCOUNT", "ROLE", "REVIEWER", "DECISION", "SOURCE"
                    )?;
                    for i in &items {
                        let row = item_row(i, config, &people);
                        writeln!(
                            out,
                            "{:>5}  {:<16} {:<20} {:<28} {:<8} {:<10} {} {}",
                            i.id,
                            printable(i.fact("login")),
                            printable(i.fact("role_name")),
                            printable(&reviewer_label(&i.reviewer, config, &people)),
                            i.decision.as_ref().map_or("-", |d| d.decision.as_str()),
                            i.decision.as_ref().map_or("", |d| d.source.as_str()),
                            printable(i.fact("last_used_at")),
                            printable(&row[11]),
                        )?;
                    }
                    if !revocations.is_empty() {
                        writeln!(out, "revocations:")?;
                        for r in &revocations {
                            writeln!(
                                out,
                                "  item {} grant {} (account {}, role {}): due {}, {}",
                                r.item_id,
                                printable(&r.grant_id),
                                printable(&r.principal_id),
                                printable(&r.role_id),
                                format_instant(r.due_at),
                                r.status
                            )?;
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        ReviewsCommand::Decide {
            id,
            items,
            decision,
            by,
            justification,
        } => {
            let decision = match decision {
                DecisionArg::Keep => Decision::Keep,
                DecisionArg::Revoke => Decision::Revoke,
            };
            let asks: Vec<Ask> = items
                .iter()
                .map(|&item_id| Ask {
                    item_id,
                    decision,
                    justification: justification.as_deref(),
                    by: &by,
                    source: DecisionSource::Cli,
                })
                .collect();
            let outcomes = decide::decide(&store, config, id, &asks, now).await?;
            let recorded = outcomes
                .iter()
                .filter(|o| **o == decide::Outcome::Recorded)
                .count();
            eprintln!(
                "{recorded} decision(s) recorded, {} unchanged",
                outcomes.len() - recorded
            );
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::Delegate { id, items, by, to } => {
            let mut tx = record::begin(&store).await?;
            let campaign = record::campaign(&mut tx, id).await?;
            let people = People::load(&mut tx).await?;
            let target =
                decide::delegate_in(&mut tx, config, &people, &campaign, &items, &by, &to, now)
                    .await?;
            notify::delegated(&mut tx, config, &people, &campaign, &target.key(), now).await?;
            tx.commit().await?;
            eprintln!("{} item(s) delegated to {}", items.len(), target.key());
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::ImportDecisions { id, file, by } => {
            let imported =
                review::sheet::import(&store, config, id, &file, by.as_deref(), now).await?;
            eprintln!(
                "{}: {} decision(s) recorded, {} unchanged, {} row(s) left undecided",
                file.display(),
                imported.recorded,
                imported.unchanged,
                imported.blank
            );
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::Export { id, format } => {
            let mut tx = store.begin().await?;
            record::campaign(&mut tx, id).await?;
            let people = People::load(&mut tx).await?;
            let items = record::items(&mut tx, id).await?;
            tx.rollback().await?;
            match format {
                ReviewFormat::Json => print_json(&items),
                ReviewFormat::Csv => {
                    std::io::stdout().write_all(&items_csv(&items, config, &people)?)?;
                    Ok(ExitCode::SUCCESS)
                }
                ReviewFormat::Table => {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{}", ITEM_COLUMNS.join("\t"))?;
                    for i in &items {
                        let row: Vec<String> = item_row(i, config, &people)
                            .iter()
                            .map(|c| printable(c))
                            .collect();
                        writeln!(out, "{}", row.join("\t"))?;
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        ReviewsCommand::Close { id, out } => {
            let closed = review::close::close(&store, config, id, now).await?;
            if let Some(dir) = out {
                let (_, eml) = record::report(&store, id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("campaign {id} has no evidence report"))?;
                std::fs::create_dir_all(&dir)?;
                let path = dir.join(format!("review-{id}-evidence.eml"));
                crate::support::atomic_file::write(&path, &eml)?;
                eprintln!("evidence report written to {}", path.display());
            }
            eprintln!(
                "campaign {id} closed: {} items, {} decided by policy, {} undecided, {} revocation(s); evidence SHA-256 {}",
                closed.items,
                closed.decided_by_policy,
                closed.undecided,
                closed.revocations,
                closed.evidence_sha256
            );
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::Page {
            id,
            reviewer,
            listen,
        } => {
            let mut local = config.clone();
            local.review_page = Some(crate::config::ReviewPageConfig {
                listen,
                public_url: format!("http://{listen}"),
            });
            let url = issue_link(&store, &local, id, &reviewer, now).await?;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
            eprintln!("serving the review page of {reviewer} until interrupted (Ctrl-C); open:");
            println!("{url}");
            let state = std::sync::Arc::new(review::web::PageState {
                store: store.clone(),
                config: local,
            });
            tokio::select! {
                r = review::web::serve(listener, state) => r?,
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::Link { id, reviewer } => {
            let url = issue_link(&store, config, id, &reviewer, now).await?;
            println!("{url}");
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::RevokeLinks { id, reviewer } => {
            let mut tx = store.begin_write().await?;
            let people = People::load(&mut tx).await?;
            let key = reviewer.map(|r| match people.find(&r) {
                Some(p) => Reviewer::Person(p.id.clone()).key(),
                None => Reviewer::from_config(&r, config).key(),
            });
            let n = record::revoke_links(&mut tx, id, key.as_deref(), now).await?;
            tx.commit().await?;
            eprintln!("{n} link(s) revoked");
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::Remind { id } => {
            let kind = format!("remind-{}", now.format("%Y%m%dT%H%M%S"));
            let n = notify::remind(&store, config, id, &kind, now).await?;
            eprintln!("{n} reviewer(s) reminded");
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::Escalate { id } => {
            let n = notify::escalate(&store, config, id, now).await?;
            eprintln!("{n} item(s) escalated");
            Ok(ExitCode::SUCCESS)
        }
        ReviewsCommand::Verify { id, file } => {
            let Some((sha, eml)) = record::report(&store, id).await? else {
                bail!("campaign {id} has no evidence report (it is not closed)");
            };
            let actual = crate::report::mime::sha256_hex(&eml);
            let mut ok = actual == sha;
            println!(
                "campaign {id}: archived evidence {} (recorded {sha}, now {actual})",
                if ok { "intact" } else { "CHANGED" }
            );
            if let Some(f) = file {
                let bytes = std::fs::read(&f)?;
                let theirs = crate::report::mime::sha256_hex(&bytes);
                let same = theirs == sha;
                ok &= same;
                println!(
                    "{}: {} ({theirs})",
                    f.display(),
                    if same {
                        "the archived report"
                    } else {
                        "NOT the archived report"
                    }
                );
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

/// A new link for a reviewer who has items in an open campaign.
async fn issue_link(
    store: &crate::store::Store,
    config: &crate::config::Config,
    id: i64,
    reviewer: &str,
    now: chrono::DateTime<Utc>,
) -> Result<String> {
    let mut tx = store.begin_write().await?;
    let campaign = record::campaign(&mut tx, id).await?;
    decide::check_open(&campaign, now)?;
    let people = People::load(&mut tx).await?;
    let key = match people.find(reviewer) {
        Some(p) => Reviewer::Person(p.id.clone()),
        None => Reviewer::from_config(reviewer, config),
    }
    .key();
    let items = record::items(&mut tx, id).await?;
    if !items.iter().any(|i| i.reviewer == key) {
        bail!("{reviewer} reviews no item of campaign {id}");
    }
    let url = notify::mint_link(&mut tx, config, id, &key, now).await?;
    tx.commit().await?;
    Ok(url)
}
