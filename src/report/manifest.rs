//! Signed reports: a manifest of what a report is made of — the SHA-256 of
//! every part of the message and of the files written beside it, the rule
//! digests the footer shows, the data proof (rows per table, the newest
//! event, each rule's outcome) — and a detached Ed25519 signature over the
//! manifest's bytes (`support::signing`). Both travel inside the .eml as two
//! attachments (`<stem>.manifest.json`, `<stem>.manifest.json.sig`) and
//! beside the files. A recipient checks a report with the public key alone,
//! offline (`verify_eml`, `verify_file`): no database, no configuration.
//!
//! Parts are hashed as a MIME parser decodes them (mail-parser, on both
//! sides), not as encoded: a relay that re-encodes a part leaves it
//! verifiable, a changed byte of content does not. Signing is
//! deterministic (Ed25519), so a run still renders to the same bytes.

use serde::{Deserialize, Serialize};

use super::mime::sha256_hex;
use crate::support::signing::{PublicKey, SIGNATURE_LENGTH};

/// The manifest format; a later one gets a new name.
pub const FORMAT: &str = "accessaudit-report-manifest/1";
/// File name suffixes of the manifest and its signature (after the stem).
pub const MANIFEST_SUFFIX: &str = ".manifest.json";
pub const SIGNATURE_SUFFIX: &str = ".manifest.json.sig";

/// What a report is made of, signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub tool: Tool,
    /// Who signed: the fingerprint of the public key (`keys public` prints it).
    pub key: KeyInfo,
    pub run: RunInfo,
    pub message: MessageInfo,
    /// Every part of the message but the manifest and its signature, in
    /// message order, as decoded.
    pub parts: Vec<Digest>,
    /// The files written beside the .eml (`report --out`).
    pub files: Vec<Digest>,
    /// Each rule of the run: the SHA-256 of the rule as loaded (as in the
    /// report's footer) and its outcome.
    pub rules: Vec<RuleInfo>,
    /// What the run saw: rows per canonical table at its instant, the
    /// newest event.
    pub data: DataInfo,
    pub findings: super::lifecycle::Counts,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub algorithm: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub id: i64,
    pub job: Option<String>,
    pub as_of: String,
    pub finished_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageInfo {
    /// Without the angle brackets.
    pub message_id: String,
    pub subject: String,
    pub from: String,
    /// The Date header, RFC 3339 UTC.
    pub date: String,
}

/// A part or a file: its type (parts), its name (a file name, a
/// Content-ID, or empty), its size and SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Digest {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content_type: String,
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    pub id: String,
    pub sha256: String,
    pub status: String,
    pub findings: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    pub tables: Vec<TableRows>,
    pub newest_event: Option<String>,
    /// Each source's latest sync before the run: rows read per feed and the
    /// source's own count (absent in manifests written before they were).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceRows>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceRows {
    pub source: String,
    pub synced_at: String,
    /// What the source's account could write, as checked at the sync.
    #[serde(default)]
    pub write_check: String,
    pub feeds: Vec<FeedRows>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedRows {
    pub feed: String,
    pub table: String,
    pub read: u64,
    pub kept: u64,
    pub source_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableRows {
    pub table: String,
    pub rows: i64,
}

impl Manifest {
    /// The bytes that are signed and shipped.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// A file beside the message (the standalone HTML, the CSV), by the
/// size and SHA-256 its spool counted as it was written.
pub fn spooled_digest(name: &str, file: &super::spool::Spooled) -> Digest {
    Digest {
        content_type: String::new(),
        name: name.to_string(),
        bytes: file.size,
        sha256: file.sha256.clone(),
    }
}

/// Why a report does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("not a MIME message")]
    NotAMessage,
    #[error(
        "unsigned: the message carries no manifest and signature (the deployment had no \
         `report.signing_key_file` when it was rendered)"
    )]
    Unsigned,
    #[error("the signature is incomplete: {0}")]
    Incomplete(String),
    #[error(
        "wrong key: the report was signed by the key {signed_by}, not by the key given \
         ({given}); or its manifest was changed"
    )]
    WrongKey { signed_by: String, given: String },
    #[error(
        "the signature does not verify with the key given ({0}): the manifest was changed \
         after it was signed"
    )]
    BadSignature(String),
    #[error("the manifest is not one this version reads: {0}")]
    BadManifest(String),
    #[error("the {header} header was changed: it is now {now:?}, signed {signed:?}")]
    Header {
        header: &'static str,
        now: String,
        signed: String,
    },
    #[error("{0}")]
    Parts(String),
    #[error(
        "{name} (sha256 {sha256}) is none of the files this manifest signs: it was changed, \
         or belongs to another report"
    )]
    File { name: String, sha256: String },
}

/// The parts of a message as the manifest lists them, and the manifest and
/// signature it carries (if any).
pub struct MessageParts {
    pub parts: Vec<Digest>,
    pub manifest: Option<Vec<u8>>,
    pub signature: Option<Vec<u8>>,
    pub message_id: String,
    pub subject: String,
    pub from: String,
    pub date: String,
}

/// Reads a message's leaf parts (every part that is not a multipart
/// container), in order, and its headers.
pub fn message_parts(eml: &[u8]) -> Result<MessageParts, VerifyError> {
    use mail_parser::{MessageParser, MimeHeaders, PartType};
    let message = MessageParser::default()
        .parse(eml)
        .ok_or(VerifyError::NotAMessage)?;
    let mut out = MessageParts {
        parts: Vec::new(),
        manifest: None,
        signature: None,
        message_id: message.message_id().unwrap_or_default().to_string(),
        subject: message.subject().unwrap_or_default().to_string(),
        from: message
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_string(),
        date: message
            .date()
            .and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0))
            .map(crate::model::format_instant)
            .unwrap_or_default(),
    };
    let mut manifests = 0;
    let mut signatures = 0;
    for part in &message.parts {
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let name = part
            .attachment_name()
            .map(str::to_string)
            .or_else(|| part.content_id().map(|c| format!("cid:{c}")))
            .unwrap_or_default();
        let content = match &part.body {
            PartType::Message(m) => m.raw_message().to_vec(),
            _ => part.contents().to_vec(),
        };
        if name.ends_with(SIGNATURE_SUFFIX) {
            signatures += 1;
            out.signature = Some(content);
            continue;
        }
        if name.ends_with(MANIFEST_SUFFIX) {
            manifests += 1;
            out.manifest = Some(content);
            continue;
        }
        let content_type = part
            .content_type()
            .map(|c| {
                format!("{}/{}", c.ctype(), c.subtype().unwrap_or_default()).to_ascii_lowercase()
            })
            .unwrap_or_else(|| "text/plain".to_string());
        out.parts.push(Digest {
            content_type,
            name,
            bytes: content.len() as u64,
            sha256: sha256_hex(&content),
        });
    }
    if manifests > 1 || signatures > 1 {
        return Err(VerifyError::Incomplete(
            "the message carries more than one manifest or signature".into(),
        ));
    }
    Ok(out)
}

/// Checks the signature of `manifest` with `key` and reads it.
fn signed_manifest(
    manifest: &[u8],
    signature: &[u8],
    key: &PublicKey,
) -> Result<Manifest, VerifyError> {
    let parsed: Result<Manifest, _> = serde_json::from_slice(manifest);
    if signature.len() != SIGNATURE_LENGTH {
        return Err(VerifyError::Incomplete(format!(
            "the signature is {} bytes, not {SIGNATURE_LENGTH}",
            signature.len()
        )));
    }
    if !key.verify(manifest, signature) {
        return Err(match &parsed {
            Ok(m) if m.key.fingerprint != key.fingerprint() => VerifyError::WrongKey {
                signed_by: m.key.fingerprint.clone(),
                given: key.fingerprint(),
            },
            _ => VerifyError::BadSignature(key.fingerprint()),
        });
    }
    let m = parsed.map_err(|e| VerifyError::BadManifest(e.to_string()))?;
    if m.format != FORMAT {
        return Err(VerifyError::BadManifest(format!(
            "format `{}`, this version reads `{FORMAT}`",
            m.format
        )));
    }
    Ok(m)
}

/// Checks a received report (.eml) against its signed manifest: the
/// signature with `key`, the headers the manifest names, and every part.
pub fn verify_eml(eml: &[u8], key: &PublicKey) -> Result<Manifest, VerifyError> {
    let got = message_parts(eml)?;
    let (manifest, signature) = match (&got.manifest, &got.signature) {
        (None, None) => return Err(VerifyError::Unsigned),
        (Some(_), None) => {
            return Err(VerifyError::Incomplete(
                "a manifest without its signature".into(),
            ));
        }
        (None, Some(_)) => {
            return Err(VerifyError::Incomplete(
                "a signature without its manifest".into(),
            ));
        }
        (Some(m), Some(s)) => (m, s),
    };
    let m = signed_manifest(manifest, signature, key)?;
    let headers = [
        ("Message-ID", &got.message_id, &m.message.message_id),
        ("Subject", &got.subject, &m.message.subject),
        ("From", &got.from, &m.message.from),
        ("Date", &got.date, &m.message.date),
    ];
    for (header, now, signed) in headers {
        if now != signed {
            return Err(VerifyError::Header {
                header,
                now: now.clone(),
                signed: signed.clone(),
            });
        }
    }
    compare_parts(&got.parts, &m.parts)?;
    Ok(m)
}

fn describe(d: &Digest, i: usize) -> String {
    match d.name.as_str() {
        "" => format!("part {} ({})", i + 1, d.content_type),
        name => format!("part {} ({}, {name})", i + 1, d.content_type),
    }
}

fn compare_parts(now: &[Digest], signed: &[Digest]) -> Result<(), VerifyError> {
    for (i, (n, s)) in now.iter().zip(signed).enumerate() {
        if n.content_type != s.content_type || n.name != s.name {
            return Err(VerifyError::Parts(format!(
                "{} is where the signed {} was: the message's parts were changed",
                describe(n, i),
                describe(s, i)
            )));
        }
        if n.sha256 != s.sha256 {
            return Err(VerifyError::Parts(format!(
                "{} was changed: its content is sha256 {} ({} bytes), signed {} ({} bytes)",
                describe(n, i),
                n.sha256,
                n.bytes,
                s.sha256,
                s.bytes
            )));
        }
    }
    match now.len().cmp(&signed.len()) {
        std::cmp::Ordering::Greater => Err(VerifyError::Parts(format!(
            "{} was added: the manifest signs {} part(s)",
            describe(&now[signed.len()], signed.len()),
            signed.len()
        ))),
        std::cmp::Ordering::Less => Err(VerifyError::Parts(format!(
            "{} was removed: the message has {} part(s)",
            describe(&signed[now.len()], now.len()),
            now.len()
        ))),
        std::cmp::Ordering::Equal => Ok(()),
    }
}

/// Checks a file written beside a report (its .html or CSV) against the
/// signed manifest written with it: the signature with `key`, and that the
/// file's SHA-256 is one the manifest signs (by content: a renamed copy
/// verifies). Returns the manifest and the name the file was signed under.
pub fn verify_file(
    name: &str,
    bytes: &[u8],
    manifest: &[u8],
    signature: &[u8],
    key: &PublicKey,
) -> Result<(Manifest, String), VerifyError> {
    let m = signed_manifest(manifest, signature, key)?;
    let sha256 = sha256_hex(bytes);
    match m.files.iter().find(|f| f.sha256 == sha256) {
        Some(f) => {
            let signed_as = f.name.clone();
            Ok((m, signed_as))
        }
        None => Err(VerifyError::File {
            name: name.to_string(),
            sha256,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(t: &str, name: &str, content: &[u8]) -> Digest {
        Digest {
            content_type: t.into(),
            name: name.into(),
            bytes: content.len() as u64,
            sha256: sha256_hex(content),
        }
    }

    #[test]
    fn parts_changed_added_removed_or_moved_are_named() {
        let signed = vec![
            digest("text/plain", "", b"text"),
            digest("text/html", "", b"<p>html</p>"),
        ];
        assert_eq!(compare_parts(&signed, &signed), Ok(()));
        let mut changed = signed.clone();
        changed[1] = digest("text/html", "", b"<p>HTML</p>");
        let e = compare_parts(&changed, &signed).unwrap_err().to_string();
        assert!(e.starts_with("part 2 (text/html) was changed"), "{e}");
        let mut added = signed.clone();
        added.push(digest("application/octet-stream", "invoice.exe", b"MZ"));
        let e = compare_parts(&added, &signed).unwrap_err().to_string();
        assert!(
            e.contains("part 3 (application/octet-stream, invoice.exe) was added"),
            "{e}"
        );
        let e = compare_parts(&signed[..1], &signed)
            .unwrap_err()
            .to_string();
        assert!(e.contains("part 2 (text/html) was removed"), "{e}");
        let swapped = vec![signed[1].clone(), signed[0].clone()];
        let e = compare_parts(&swapped, &signed).unwrap_err().to_string();
        assert!(
            e.contains("where the signed part 1 (text/plain) was"),
            "{e}"
        );
    }
}
