//! Who gets which message of a run: the job's report (one message per PII
//! profile among its recipients) and, for a job with `digests`, one digest
//! per owner with only the findings of their people, the findings nobody
//! owns to the fallback. Each address gets at most one message per run: an
//! address that gets the report gets no digest (the report has every
//! finding), and a manager who is also in the fallback gets one digest with
//! both sets.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::{Config, JobConfig};
use crate::model::SubjectType;
use crate::report::audience::Key;
use crate::store::{Result, Store};
use crate::support::pii::Profile;

/// An account, as the directory knows it.
#[derive(Debug, Clone, Default)]
pub struct Account {
    pub login: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub person_id: Option<String>,
}

/// A person of the HR roster.
#[derive(Debug, Clone, Default)]
pub struct Person {
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub manager_id: Option<String>,
}

/// The accounts and people of the canonical tables: who a finding is about,
/// who their manager is, and what personal data a masked message hides.
/// (The tables as they are now: people have no history.)
#[derive(Debug, Default)]
pub struct Directory {
    pub accounts: HashMap<String, Account>,
    pub people: HashMap<String, Person>,
    person_by_email: HashMap<String, String>,
    /// Person id → the email of one of their accounts (the lowest id), for
    /// a manager the roster has no email for.
    account_email_of_person: HashMap<String, String>,
    /// Role id → its owner (a person id), and grant id → its role: read only
    /// for role-owner digests (`Directory::with_role_owners`).
    role_owner: HashMap<String, String>,
    grant_role: HashMap<String, String>,
}

impl Directory {
    pub async fn read(store: &Store) -> Result<Directory> {
        let mut d = Directory::default();
        for r in store
            .fetch_all(
                "SELECT id, login, email, display_name, person_id FROM principals ORDER BY id",
                &[],
            )
            .await?
        {
            let a = Account {
                login: r.req_text("login")?,
                email: r.text("email")?.filter(|e| !e.trim().is_empty()),
                display_name: r.text("display_name")?,
                person_id: r.text("person_id")?,
            };
            if let (Some(p), Some(e)) = (&a.person_id, &a.email) {
                d.account_email_of_person
                    .entry(p.clone())
                    .or_insert_with(|| e.clone());
            }
            d.accounts.insert(r.req_text("id")?, a);
        }
        for r in store
            .fetch_all(
                "SELECT id, email, full_name, manager_id FROM people ORDER BY id",
                &[],
            )
            .await?
        {
            let id = r.req_text("id")?;
            let p = Person {
                email: r.text("email")?.filter(|e| !e.trim().is_empty()),
                full_name: r.text("full_name")?,
                manager_id: r.text("manager_id")?.filter(|m| !m.is_empty()),
            };
            if let Some(e) = &p.email {
                d.person_by_email
                    .entry(e.to_ascii_lowercase())
                    .or_insert_with(|| id.clone());
            }
            d.people.insert(id, p);
        }
        Ok(d)
    }

    /// Also reads who owns each role and the role of each grant.
    pub async fn with_role_owners(mut self, store: &Store) -> Result<Directory> {
        for r in store
            .fetch_all(
                "SELECT id, owner_id FROM roles WHERE owner_id IS NOT NULL",
                &[],
            )
            .await?
        {
            if let Some(owner) = r.text("owner_id")?.filter(|o| !o.trim().is_empty()) {
                self.role_owner.insert(r.req_text("id")?, owner);
            }
        }
        for r in store
            .fetch_all("SELECT id, role_id FROM grants", &[])
            .await?
        {
            self.grant_role
                .insert(r.req_text("id")?, r.req_text("role_id")?);
        }
        Ok(self)
    }

    /// The address of the owner of the role a finding is about: a grant's
    /// role, or the role itself.
    pub fn role_owner_address(
        &self,
        subject_type: SubjectType,
        subject_id: &str,
    ) -> Option<String> {
        let role = match subject_type {
            SubjectType::Role => subject_id,
            SubjectType::Grant => self.grant_role.get(subject_id)?.as_str(),
            SubjectType::Principal | SubjectType::Person => return None,
        };
        let owner = self.role_owner.get(role)?;
        let address = self.email_of_person(owner)?;
        crate::config::check_mailbox(address).ok()?;
        Some(address.to_string())
    }

    /// The owner of a finding under a digest rule.
    pub fn owner_address(
        &self,
        by: crate::config::DigestBy,
        subject_type: SubjectType,
        subject_id: &str,
    ) -> Option<String> {
        match by {
            crate::config::DigestBy::Manager => self.manager_address(subject_type, subject_id),
            crate::config::DigestBy::RoleOwner => self.role_owner_address(subject_type, subject_id),
        }
    }

    /// The person a finding's subject is: an account's `person_id`, else
    /// the person with its email (as the rules match them).
    pub fn person_id_of(&self, subject_type: SubjectType, subject_id: &str) -> Option<&str> {
        match subject_type {
            SubjectType::Person => self
                .people
                .get_key_value(subject_id)
                .map(|(k, _)| k.as_str()),
            SubjectType::Principal => {
                let a = self.accounts.get(subject_id)?;
                match &a.person_id {
                    Some(p) => self.people.get_key_value(p).map(|(k, _)| k.as_str()),
                    None => a
                        .email
                        .as_ref()
                        .and_then(|e| self.person_by_email.get(&e.to_ascii_lowercase()))
                        .map(String::as_str),
                }
            }
            SubjectType::Role | SubjectType::Grant => None,
        }
    }

    /// A person's mail address: the roster's, else one of their accounts'.
    pub fn email_of_person(&self, id: &str) -> Option<&str> {
        self.people
            .get(id)
            .and_then(|p| p.email.as_deref())
            .or_else(|| self.account_email_of_person.get(id).map(String::as_str))
    }

    /// The address of the manager of a finding's subject, when there is one.
    pub fn manager_address(&self, subject_type: SubjectType, subject_id: &str) -> Option<String> {
        let person = self.person_id_of(subject_type, subject_id)?;
        let manager = self.people.get(person)?.manager_id.as_deref()?;
        let address = self.email_of_person(manager)?;
        crate::config::check_mailbox(address).ok()?;
        Some(address.to_string())
    }

    /// Names of a subject (its account's display name, its person's full name).
    pub fn names_of(&self, subject_type: SubjectType, subject_id: &str) -> Vec<String> {
        let mut names = Vec::new();
        if subject_type == SubjectType::Principal
            && let Some(n) = self
                .accounts
                .get(subject_id)
                .and_then(|a| a.display_name.clone())
        {
            names.push(n);
        }
        if let Some(n) = self
            .person_id_of(subject_type, subject_id)
            .and_then(|p| self.people.get(p))
            .and_then(|p| p.full_name.clone())
        {
            names.push(n);
        }
        names.retain(|n| !n.trim().is_empty());
        names.sort_by_key(|n| std::cmp::Reverse(n.len()));
        names
    }

    /// Logins and emails of a subject: what a masked message may not show.
    pub fn clear_values_of(&self, subject_type: SubjectType, subject_id: &str) -> Vec<String> {
        let mut v = Vec::new();
        if subject_type == SubjectType::Principal
            && let Some(a) = self.accounts.get(subject_id)
        {
            v.push(a.login.clone());
            v.extend(a.email.clone());
        }
        if let Some(p) = self.person_id_of(subject_type, subject_id) {
            v.extend(self.email_of_person(p).map(str::to_string));
        }
        v.retain(|s| !s.trim().is_empty());
        v
    }

    /// Every login and email (what masking replaces wherever it stands).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.accounts
            .values()
            .flat_map(|a| std::iter::once(a.login.as_str()).chain(a.email.as_deref()))
            .chain(self.people.values().filter_map(|p| p.email.as_deref()))
    }
}

/// One message to render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub recipients: Vec<String>,
    pub profile: Profile,
    /// Only these findings (a digest); `None`: the report.
    pub only: Option<BTreeSet<Key>>,
    /// The Message-ID's prefix; `None` for the job's report in clear, whose
    /// Message-ID stays the run's own.
    pub tag: Option<String>,
    pub subject_note: String,
}

/// A finding of the run, as routing sees it.
pub struct Routed {
    pub key: Key,
    /// Not resolved: a digest is sent only for current findings.
    pub current: bool,
    /// For alert jobs: not alerted yet (only these make an alert digest).
    pub news: bool,
    /// Its owner's address.
    pub owner: Option<String>,
}

/// The job's recipients by PII profile.
pub fn report_audiences(config: &Config, job: &JobConfig) -> BTreeMap<Profile, Vec<String>> {
    let mut by: BTreeMap<Profile, Vec<String>> = BTreeMap::new();
    for a in config.addresses(&job.recipients) {
        by.entry(config.profile_of(&a)).or_default().push(a);
    }
    by
}

/// Every message of a run of `job`.
pub fn plan(config: &Config, job: &JobConfig, findings: &[Routed]) -> Vec<Planned> {
    let mut out = Vec::new();
    let audiences = report_audiences(config, job);
    let reported: BTreeSet<&String> = audiences.values().flatten().collect();
    for (profile, recipients) in &audiences {
        out.push(Planned {
            recipients: recipients.clone(),
            profile: *profile,
            only: None,
            tag: (*profile != Profile::Clear).then(|| format!("pii-{}", profile.as_str())),
            subject_note: String::new(),
        });
    }
    let Some(digests) = &job.digests else {
        return out;
    };
    // Per address: the findings it gets, and whether as owner and/or fallback.
    let mut per: BTreeMap<String, (BTreeSet<Key>, bool, bool)> = BTreeMap::new();
    let fallback = config.addresses(&digests.fallback);
    for f in findings {
        match &f.owner {
            Some(owner) => {
                let e = per.entry(owner.clone()).or_default();
                e.0.insert(f.key.clone());
                e.1 = true;
            }
            None => {
                for a in &fallback {
                    let e = per.entry(a.clone()).or_default();
                    e.0.insert(f.key.clone());
                    e.2 = true;
                }
            }
        }
    }
    let by_key: HashMap<&Key, &Routed> = findings.iter().map(|f| (&f.key, f)).collect();
    let alert = job.send == crate::config::SendPolicy::NewFindings;
    // Addresses with the same findings and profile share one message.
    let mut groups: BTreeMap<(BTreeSet<Key>, Profile, bool, bool), Vec<String>> = BTreeMap::new();
    for (address, (keys, owner, fallback)) in per {
        if reported.contains(&address) {
            continue;
        }
        let worth = keys.iter().any(|k| {
            by_key
                .get(k)
                .is_some_and(|f| f.current && (!alert || f.news))
        });
        if worth {
            let profile = config.profile_of(&address);
            groups
                .entry((keys, profile, owner, fallback))
                .or_default()
                .push(address);
        }
    }
    for ((keys, profile, owner, fallback), recipients) in groups {
        use sha2::Digest;
        let h = sha2::Sha256::digest(recipients.join("\n").as_bytes());
        let yours = match digests.by {
            crate::config::DigestBy::Manager => "your people's findings",
            crate::config::DigestBy::RoleOwner => "findings on the roles you own",
        };
        let note = match (owner, fallback) {
            (true, false) => format!(" — {yours}"),
            (false, true) => " — findings without an owner".to_string(),
            _ => format!(" — {yours} and those without an owner"),
        };
        out.push(Planned {
            recipients,
            profile,
            only: Some(keys),
            tag: Some(format!("digest-{}", crate::support::pii::hex(&h[..6]))),
            subject_note: note,
        });
    }
    out
}
