//! `people show`: one person's access across every application, as text
//! or JSON (app::people builds it).

use std::process::ExitCode;

use anyhow::Result;

use super::open_store;
use crate::app::Settings;
use crate::app::people::{self, PersonAccess};
use crate::cli::{PeopleCommand, PeopleFormat};

pub(super) async fn command(g: &Settings, cmd: PeopleCommand) -> Result<ExitCode> {
    let PeopleCommand::Show { who, as_of, format } = cmd;
    let store = open_store(g).await?;
    let as_of = as_of.unwrap_or_else(chrono::Utc::now);
    let access = people::show(&store, &who, as_of, &g.config.identity.methods).await?;
    match format {
        PeopleFormat::Json => println!("{}", serde_json::to_string_pretty(&access)?),
        PeopleFormat::Text => print!("{}", text(&access)),
    }
    Ok(ExitCode::SUCCESS)
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

/// The text form: the person, then each account with its roles, then the
/// findings.
fn text(a: &PersonAccess) -> String {
    let p = &a.person;
    let mut out = format!(
        "person {} ({}), {}, {}{}\nas of {}; accounts linked by {}\n",
        p.id,
        or_dash(&p.full_name),
        or_dash(&p.email),
        or_dash(&p.employment_status),
        p.terminated_at
            .as_deref()
            .map_or(String::new(), |t| format!(" since {t}")),
        a.as_of,
        a.identity.join(", "),
    );
    out.push_str(&format!("\naccounts ({}):\n", a.accounts.len()));
    for acc in &a.accounts {
        out.push_str(&format!(
            "  {} {}: login {}, {}, {}, last login {}, linked by {}\n",
            acc.application,
            acc.native_id,
            acc.login,
            acc.status,
            acc.account_type,
            or_dash(&acc.last_login_at),
            acc.linked_by,
        ));
        if acc.roles.is_empty() {
            out.push_str("    no live roles\n");
        }
        for r in &acc.roles {
            out.push_str(&format!(
                "    role {} {} ({}){}: {}\n",
                r.application,
                r.native_id,
                or_dash(&r.name),
                if r.privileged { ", privileged" } else { "" },
                if r.permissions.is_empty() {
                    "no permissions".to_string()
                } else {
                    r.permissions.join(", ")
                },
            ));
        }
    }
    match (a.findings.run_id, &a.findings.run_as_of) {
        (Some(id), Some(t)) => out.push_str(&format!(
            "\nfindings in run {id} (as of {t}): {}\n",
            a.findings.items.len()
        )),
        _ => out.push_str("\nfindings: no succeeded run at or before this instant\n"),
    }
    for f in &a.findings.items {
        out.push_str(&format!(
            "  {} {} {} {}{}: {}\n",
            f.severity,
            f.rule,
            f.subject_type,
            f.application
                .as_deref()
                .map_or(String::new(), |a| format!("{a} ")),
            f.native_id,
            f.title,
        ));
    }
    out
}
