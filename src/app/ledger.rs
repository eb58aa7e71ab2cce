//! The check of the whole ledger (`runs verify --chain`): the chain itself
//! (`store::ledger::Walk`), then each entry's record as its owner finds it
//! now, then the records no entry covers. The owners of the kinds
//! (`store::ledger::Owner`: archived reports here, the review records from
//! `review::record`) are handed in by the caller, which sees every layer.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::report::archive;
use crate::store::Store;
use crate::store::ledger::{self, Break, Entry, Owner, Walk};

/// Entries read at a time.
const PAGE: i64 = 1000;

/// What the walk found.
#[derive(Debug, Default)]
pub struct ChainCheck {
    /// Entries walked.
    pub entries: u64,
    /// The last entry: kept elsewhere, its hash pins the chain before it.
    pub head: Option<Entry>,
    /// Every problem, in the order of the chain (the first is the first
    /// place the ledger was tampered with); records no entry covers last.
    pub breaks: Vec<Break>,
    /// Entries of kinds this build does not know: chained, their records
    /// unchecked (a ledger written by a newer version).
    pub unchecked: BTreeMap<String, u64>,
}

impl ChainCheck {
    pub fn intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// Walks the whole ledger and checks every record it covers: the archived
/// reports and the records of every owner in `others`.
pub async fn verify_chain(store: &Store, others: &[&dyn Owner]) -> Result<ChainCheck> {
    let mut owners: Vec<&dyn Owner> = vec![&archive::LEDGERED];
    owners.extend_from_slice(others);
    let mut check = ChainCheck::default();
    let mut walk = Walk::new();
    let mut after = 0;
    loop {
        let page = ledger::page(store, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            check.breaks.extend(walk.step(entry));
            let owner = owners
                .iter()
                .find(|o| o.kinds().contains(&entry.kind.as_str()));
            let Some(owner) = owner else {
                // A kind this build does not know (written by a newer one).
                *check.unchecked.entry(entry.kind.clone()).or_default() += 1;
                continue;
            };
            match owner.content(store, &entry.kind, &entry.subject).await? {
                None => check.breaks.push(Break::ContentRemoved {
                    entry: entry.name(),
                }),
                Some(digests) => {
                    if let Some((what, now)) = digests
                        .into_iter()
                        .find(|(_, d)| *d != entry.content_sha256)
                    {
                        check.breaks.push(Break::ContentChanged {
                            entry: entry.name(),
                            what: what.to_string(),
                            recorded: entry.content_sha256.clone(),
                            now,
                        });
                    }
                }
            }
        }
        check.head = page.into_iter().last();
    }
    check.entries = walk.entries;
    for owner in owners {
        check
            .breaks
            .extend(
                owner
                    .unledgered(store)
                    .await?
                    .into_iter()
                    .map(|u| Break::Unrecorded {
                        kind: u.kind.to_string(),
                        subject: u.subject,
                        at: u.at,
                    }),
            );
    }
    Ok(check)
}
