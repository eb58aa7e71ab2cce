//! `retention --keep SPAN [--dry-run]`: events older than now − keep
//! removed (store::retention), refused when a configured rule reads further
//! back (unless `--force`), and said in text or JSON.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Result, bail};
use chrono::{SubsecRound, Utc};
use serde_json::json;

use crate::app::{Loaded, Settings};
use crate::cli::{RetentionArgs, RetentionFormat};
use crate::model::{Span, format_instant};
use crate::store::Backend;
use crate::store::retention::{self, Applied, Plan};

pub(super) async fn retention(g: &Settings, args: RetentionArgs) -> Result<ExitCode> {
    let loaded = Loaded::from_settings(g.clone())?;
    if !args.force
        && let Some((rule, needs)) = longest_reach(&loaded)
        && needs.0 > args.keep.span.0
    {
        bail!(
            "--keep {} is shorter than the {needs} of event history rule `{rule}` reads \
             (its lookback or window): it would judge on partial history. Keep at least \
             {needs}, or give --force",
            args.keep.text
        );
    }
    let store = g.open_store().await?;
    // Whole seconds: the cutoff is printed and recorded as people read it.
    let now = Utc::now().trunc_subsecs(0);
    let Some(cutoff) = now.checked_sub_signed(args.keep.span.chrono()) else {
        bail!(
            "--keep {}: reaches before the earliest instant there is",
            args.keep.text
        );
    };
    let backend = store.backend();
    if args.dry_run {
        let plan = retention::plan(&store, cutoff).await?;
        print(args.format, &args.keep.text, backend, &plan, None)?;
    } else {
        let applied = retention::apply(&store, cutoff, &args.keep.text, now).await?;
        print(
            args.format,
            &args.keep.text,
            backend,
            &applied.plan,
            Some(&applied),
        )?;
        tracing::info!(rows = applied.rows_removed, partitions = applied.partitions_dropped.len(), cutoff = %format_instant(cutoff), "retention applied");
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured rule that reads the most event history, and how much:
/// every enabled rule and every rule a job names.
fn longest_reach(loaded: &Loaded) -> Option<(String, Span)> {
    let mut rules: Vec<&crate::engine::Rule> = loaded.rules.enabled().collect();
    for job in loaded.settings.config.jobs.keys() {
        if let Ok(of_job) = loaded.rules_for(Some(job), &[]) {
            rules.extend(of_job);
        }
    }
    rules
        .into_iter()
        .filter_map(|r| r.kind.event_reach().needs().map(|s| (r.id.clone(), s)))
        .max_by_key(|(id, s)| (s.0, std::cmp::Reverse(id.clone())))
}

fn print(
    format: RetentionFormat,
    keep: &str,
    backend: Backend,
    plan: &Plan,
    applied: Option<&Applied>,
) -> Result<()> {
    match format {
        RetentionFormat::Json => {
            let value = json!({
                "dry_run": applied.is_none(),
                "backend": backend.name(),
                "partitioned": plan.partitioned,
                "keep": keep,
                "cutoff": format_instant(plan.cutoff),
                "months": plan.months.iter().map(|m| json!({
                    "partition": m.partition,
                    "from": format_instant(m.from),
                    "to": format_instant(m.to),
                    "rows": m.rows,
                })).collect::<Vec<_>>(),
                "deleted": {
                    "rows": plan.deleted.rows,
                    "oldest": plan.deleted.oldest.map(format_instant),
                    "newest": plan.deleted.newest.map(format_instant),
                },
                "kept_older": plan.kept_older.as_ref().map(|m| json!({
                    "partition": m.partition, "rows": m.rows, "dropped_after": format_instant(m.to),
                })),
                "rows": applied.map_or(plan.rows(), |a| a.rows_removed),
                "partitions_dropped": applied.map(|a| a.partitions_dropped.clone()),
                "space": applied.and_then(|a| a.space),
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        RetentionFormat::Text => print!("{}", text(keep, plan, applied)),
    }
    Ok(())
}

fn text(keep: &str, plan: &Plan, applied: Option<&Applied>) -> String {
    let mut out = String::new();
    let (verb_drop, verb_delete) = match applied {
        None => ("would drop", "would delete"),
        Some(_) => ("dropped", "deleted"),
    };
    if applied.is_none() {
        out.push_str("dry run: nothing is changed\n");
    }
    let _ = writeln!(
        out,
        "keep {keep}: events before {} go",
        format_instant(plan.cutoff)
    );
    for m in &plan.months {
        let _ = writeln!(
            out,
            "{verb_drop} partition {} ({} to {}): {} rows",
            m.partition,
            format_instant(m.from),
            format_instant(m.to),
            m.rows
        );
    }
    let from = match plan.partitioned {
        true => " from events_default (months never created)",
        false => "",
    };
    let deleted = applied.map_or(plan.deleted.rows, |a| {
        a.rows_removed - plan.months.iter().map(|m| m.rows).sum::<i64>()
    });
    match (plan.deleted.oldest, plan.deleted.newest) {
        (Some(oldest), Some(newest)) => {
            let _ = writeln!(
                out,
                "{verb_delete} {deleted} events{from} (oldest {}, newest {})",
                format_instant(oldest),
                format_instant(newest)
            );
        }
        _ if !plan.partitioned => {
            let _ = writeln!(out, "{verb_delete} 0 events: none is older");
        }
        _ => {}
    }
    if let Some(k) = &plan.kept_older {
        let _ = writeln!(
            out,
            "kept: partition {} holds {} events older than the cutoff; a month goes whole, \
             once the cutoff passes its end ({})",
            k.partition,
            k.rows,
            format_instant(k.to)
        );
    }
    let total = applied.map_or(plan.rows(), |a| a.rows_removed);
    match applied {
        None => {
            let _ = writeln!(out, "total: {total} events would be removed");
        }
        Some(a) => {
            let _ = writeln!(
                out,
                "total: {total} events removed, {} partition(s) dropped",
                a.partitions_dropped.len()
            );
            if let Some(s) = a.space {
                let _ = writeln!(
                    out,
                    "space: file {} -> {} pages of {} bytes ({} KiB handed back); free pages in the file {} -> {}",
                    s.pages_before,
                    s.pages_after,
                    s.page_size,
                    (s.pages_before - s.pages_after).max(0) * s.page_size / 1024,
                    s.freelist_before,
                    s.freelist_after
                );
                if !s.incremental {
                    out.push_str(
                        "note: this store's auto_vacuum is not incremental (it was created before \
                         accessaudit set it): freed pages stay in the file and are reused. To hand \
                         them back, once, with nothing else using the file: \
                         sqlite3 FILE 'PRAGMA auto_vacuum = INCREMENTAL; VACUUM;'\n",
                    );
                }
            }
        }
    }
    out
}
