//! `pii reveal`: an auditor holding the pseudonym key maps a pseudonym of a
//! masked report back to the account or person it stands for.

use std::process::ExitCode;

use anyhow::{Result, bail};

use super::open_store;
use crate::app::Settings;
use crate::deliver::routing::Directory;
use crate::support::pii::{TOKEN_PREFIX, pseudonym};

pub(super) async fn reveal(g: &Settings, tokens: &[String]) -> Result<ExitCode> {
    let Some(key) = g.config.pii.key_ref().read()? else {
        bail!("the PII pseudonym key is not configured (pii.key_file or pii.key_env)");
    };
    for t in tokens {
        if !t.starts_with(TOKEN_PREFIX) {
            bail!("`{t}` is not a pseudonym (they start with `{TOKEN_PREFIX}`)");
        }
    }
    let store = open_store(g).await?;
    let directory = Directory::read(&store).await?;
    // Pseudonyms are not stored: every value that could have been one is
    // hashed again with the key, so nothing but the key re-identifies.
    let mut candidates: Vec<(String, String)> = Vec::new();
    let mut ids: Vec<&String> = directory.accounts.keys().collect();
    ids.sort();
    for id in ids {
        let a = &directory.accounts[id];
        let what = format!("principal {id}");
        candidates.push((id.clone(), format!("{what} id {id}")));
        candidates.push((a.login.clone(), format!("{what} login {}", a.login)));
        for (field, v) in [("email", &a.email), ("display_name", &a.display_name)] {
            if let Some(v) = v {
                candidates.push((v.clone(), format!("{what} {field} {v}")));
            }
        }
    }
    let mut ids: Vec<&String> = directory.people.keys().collect();
    ids.sort();
    for id in ids {
        let p = &directory.people[id];
        let what = format!("person {id}");
        candidates.push((id.clone(), format!("{what} id {id}")));
        for (field, v) in [("email", &p.email), ("full_name", &p.full_name)] {
            if let Some(v) = v {
                candidates.push((v.clone(), format!("{what} {field} {v}")));
            }
        }
    }
    let mut unknown = 0;
    for t in tokens {
        let found: Vec<&str> = candidates
            .iter()
            .filter(|(value, _)| pseudonym(&key, value.trim()) == *t)
            .map(|(_, what)| what.as_str())
            .collect();
        if found.is_empty() {
            unknown += 1;
            eprintln!("{t}: no account or person of the store has this pseudonym under this key");
        }
        for what in found {
            println!("{t}\t{what}");
        }
    }
    tracing::info!(tokens = tokens.len(), unknown, "pseudonyms revealed");
    Ok(if unknown == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
