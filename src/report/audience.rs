//! Who a rendering of a run's report is for, when it is not the job's own
//! recipients in clear: a digest (only some findings) and/or a PII profile
//! (personal data masked or pseudonymised). Applied to each finding as the
//! report reads it (`tally`), before the view and the CSV, so every part of
//! the message (HTML, text, CSV) comes from the narrowed, masked findings;
//! then the rendered parts are checked (each CSV row as it is written), so
//! a field that shows a subject's login or email in clear stops the
//! message instead of sending it.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::error::ReportError;
use super::lifecycle::{Entry, Frame};
use crate::model::SubjectType;
use crate::support::pii::{self, Masker};

pub type Key = (String, SubjectType, String);

pub struct Audience {
    /// Only these findings (digests); `None`: all of them.
    pub only: Option<BTreeSet<Key>>,
    pub masker: Option<Masker>,
    /// Per subject id: its names (display name, full name), replaced as
    /// phrases within its own findings.
    pub names: BTreeMap<String, Vec<String>>,
    /// Logins and emails of the subjects (lower case): none may show in a
    /// masked message.
    pub clear_values: HashSet<String>,
    /// Prefix of the Message-ID, so that each variant is its own message.
    pub tag: String,
    /// Appended to the subject (` (digest)`).
    pub subject_note: String,
}

fn key(e: &Entry) -> Key {
    let f = &e.finding;
    (f.rule.clone(), f.subject_type, f.subject_id.clone())
}

impl Audience {
    /// Whether a finding is in this rendering (a digest has some only).
    pub fn admits(&self, e: &Entry) -> bool {
        self.only.as_ref().is_none_or(|only| only.contains(&key(e)))
    }

    /// A digest's totals of the previous run are those of its own findings
    /// (still open or accepted from before, or resolved since), which the
    /// tally counts; a full rendering keeps the run's.
    pub fn is_digest(&self) -> bool {
        self.only.is_some()
    }

    /// Masks one finding as the profile says.
    pub fn mask(&self, e: &mut Entry) {
        let Some(m) = &self.masker else { return };
        let none = Vec::new();
        let names = self.names.get(&e.finding.subject_id).unwrap_or(&none);
        let f = &mut e.finding;
        let id = f.subject_id.clone();
        f.title = m.text(&f.title, names);
        for v in f.evidence.values_mut() {
            m.json(v, names);
        }
        // Account and person ids lead straight to the person.
        let personal = matches!(f.subject_type, SubjectType::Principal | SubjectType::Person);
        if personal {
            f.subject_id = m.replacement(&id);
        }
        if let Some(x) = &mut e.exception {
            mask_exception(m, x, names);
            if personal && x.subject == id {
                x.subject = m.replacement(&id);
            }
        }
    }

    /// Masks what the report shows besides the findings: the expired
    /// exceptions.
    pub fn mask_frame(&self, frame: &mut Frame) {
        let Some(m) = &self.masker else { return };
        for x in &mut frame.expired_exceptions {
            mask_exception(m, x, &[]);
        }
    }

    pub fn message_id(&self, base: &str) -> String {
        format!("{}.{base}", self.tag)
    }

    /// Refuses rendered parts that show a subject's login or email.
    pub fn check(&self, parts: &[&str]) -> Result<(), ReportError> {
        if self.masker.is_none() {
            return Ok(());
        }
        if parts.iter().any(|p| pii::shows_any(p, &self.clear_values)) {
            // The value itself is personal data: not in the error.
            return Err(ReportError::Masking(self.tag.clone()));
        }
        Ok(())
    }
}

fn mask_exception(m: &Masker, x: &mut super::exceptions::Exception, names: &[String]) {
    x.subject = m.text(&x.subject, names);
    x.approved_by = m.text(&x.approved_by, names);
    x.reason = m.text(&x.reason, names);
}
