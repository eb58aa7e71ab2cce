//! The check of the whole ledger (`runs verify --chain`): the chain itself
//! (`store::ledger::Walk`), then each entry's record as its owner finds it
//! now, then the records no entry covers. The one place that knows which
//! module owns which kind of record: a new kind (campaign records, review
//! decisions) adds its arm to `content` and its list to `unrecorded`.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::report::archive;
use crate::store::Store;
use crate::store::ledger::{self, Break, Entry, Walk};

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

/// Walks the whole ledger and checks every record it covers.
pub async fn verify_chain(store: &Store) -> Result<ChainCheck> {
    let mut check = ChainCheck::default();
    let mut walk = Walk::new();
    let mut after = 0;
    loop {
        let page = ledger::page(store, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for entry in &page {
            check.breaks.extend(walk.step(entry));
            match content(store, entry).await? {
                Content::Unknown => *check.unchecked.entry(entry.kind.clone()).or_default() += 1,
                Content::Missing => check.breaks.push(Break::ContentRemoved {
                    entry: entry.name(),
                }),
                Content::Now(digests) => {
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
    check.breaks.extend(unrecorded(store).await?);
    Ok(check)
}

enum Content {
    /// A kind this build does not know.
    Unknown,
    Missing,
    /// What the record's digests are now (each must be the recorded one).
    Now(Vec<(&'static str, String)>),
}

async fn content(store: &Store, entry: &Entry) -> Result<Content> {
    Ok(match entry.kind.as_str() {
        archive::LEDGER_KIND => match archive::ledger_content(store, &entry.subject).await? {
            Some(digests) => Content::Now(digests),
            None => Content::Missing,
        },
        _ => Content::Unknown,
    })
}

async fn unrecorded(store: &Store) -> Result<Vec<Break>> {
    Ok(archive::unledgered(store)
        .await?
        .into_iter()
        .map(|(subject, at)| Break::Unrecorded {
            kind: archive::LEDGER_KIND.to_string(),
            subject,
            at: Some(at),
        })
        .collect())
}
