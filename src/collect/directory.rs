//! What a directory mapping (a `kind: ldap` source) adds to a mapping file:
//! how an attribute's value becomes a canonical value (`as:`), and the
//! membership feed that turns groups' members into grants (nested groups
//! expanded). Pure logic, no network: `readers::ldap` reads the directory.
//!
//! - Directory timestamps come in two spellings: generalized time
//!   (`20261101080000Z`, `20261101080000.0Z`; OpenLDAP `createTimestamp`,
//!   `pwdChangedTime`, AD `whenCreated`) and Active Directory's FILETIME
//!   (100-ns intervals since 1601-01-01 UTC; `lastLogonTimestamp`,
//!   `pwdLastSet`), where 0 and 2^63-1 mean never.
//! - Disabled state: AD `userAccountControl` bit 0x2 (ACCOUNTDISABLE);
//!   OpenLDAP ppolicy `pwdAccountLockedTime` (present = locked).
//! - DNs are compared normalised (`normalize_dn`): attribute types and
//!   values in lower case, spaces around `=` and after `,` removed. LDAP
//!   matching of the usual naming attributes (cn, ou, dc, uid) is
//!   case-insensitive, which this follows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Deserialize;

/// How an attribute's values become a canonical value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convert {
    /// The first value as text (what a plain attribute name means).
    Text,
    /// Generalized time (`YYYYMMDDHHMMSS[.f](Z|±HHMM)`).
    GeneralizedTime,
    /// Active Directory FILETIME; 0 and 2^63-1 (never) are no value.
    Filetime,
    /// AD `userAccountControl`: `disabled` when bit 0x2 is set, else `active`.
    AccountControl,
    /// `disabled` when the attribute is present (ppolicy
    /// `pwdAccountLockedTime`), else `active`.
    DisabledIfPresent,
    /// AD `objectGUID` (16 bytes) as the usual text form
    /// (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
    Guid,
    /// A DN naming another entry of the same feed (`manager`): that entry's
    /// `id`; a DN outside the feed gives no value.
    DnRef,
}

/// The membership feed of a directory (table `grants`): which feed's
/// entries are the accounts and which the groups, and where membership is
/// written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    /// The feed (table principals) whose entries are the accounts.
    pub accounts: String,
    /// The feed (table roles) whose entries are the groups.
    pub groups: String,
    /// On a group: the DNs of its members, accounts or groups
    /// (`member` of groupOfNames and of AD groups; `uniqueMember`).
    #[serde(default)]
    pub attribute: Option<String>,
    /// Or on an account and on a group: the DNs of the groups it is in
    /// (`memberOf`).
    #[serde(default)]
    pub member_of: Option<String>,
    /// A member of a group that is itself a member of B holds B too
    /// (Active Directory's nesting). Default true.
    #[serde(default = "yes")]
    pub nested: bool,
}

fn yes() -> bool {
    true
}

/// Checks of a membership feed; `table_of` gives a feed's table by name.
pub fn check_members<'a>(
    members: &Members,
    table_of: impl Fn(&str) -> Option<&'a str>,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for (field, feed, table) in [
        ("accounts", &members.accounts, "principals"),
        ("groups", &members.groups, "roles"),
    ] {
        match table_of(feed) {
            None => problems.push((field.to_string(), format!("no feed named `{feed}`"))),
            Some(t) if t != table => problems.push((
                field.to_string(),
                format!("feed `{feed}` fills {t}; this needs a feed of table {table}"),
            )),
            Some(_) => {}
        }
    }
    match (&members.attribute, &members.member_of) {
        (None, None) => problems.push((
            "attribute".to_string(),
            "give `attribute` (the groups' member attribute, e.g. member) or `member_of` (e.g. memberOf)".into(),
        )),
        (Some(_), Some(_)) => problems.push((
            "member_of".to_string(),
            "give `attribute` or `member_of`, not both".into(),
        )),
        _ => {}
    }
    problems
}

/// Checks an LDAP search filter (RFC 4515) as the client will send it.
pub fn check_filter(filter: &str) -> Result<(), String> {
    ldap3::parse_filter(filter).map(|_| ()).map_err(|_| {
        format!("`{filter}` is not an LDAP filter (RFC 4515), e.g. (objectClass=inetOrgPerson)")
    })
}

/// A DN in the form two spellings of it share.
pub fn normalize_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut rdn = String::new();
    let mut escaped = false;
    let flush = |rdn: &mut String, out: &mut String| {
        let (ty, value) = rdn.split_once('=').unwrap_or((rdn.as_str(), ""));
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&ty.trim().to_lowercase());
        out.push('=');
        out.push_str(&value.trim().to_lowercase());
        rdn.clear();
    };
    for c in dn.chars() {
        if escaped {
            rdn.push(c);
            escaped = false;
        } else if c == '\\' {
            rdn.push(c);
            escaped = true;
        } else if c == ',' {
            flush(&mut rdn, &mut out);
        } else {
            rdn.push(c);
        }
    }
    if !rdn.trim().is_empty() {
        flush(&mut rdn, &mut out);
    }
    out
}

/// Generalized time (RFC 4517 3.3.13) as the directories write it: seconds
/// optional, a fraction, and `Z` or an offset.
pub fn parse_generalized_time(s: &str) -> Result<DateTime<Utc>, String> {
    let bad = || format!("`{s}` is not a generalized time (e.g. 20261101080000Z)");
    let s = s.trim();
    let (body, offset_secs) = if let Some(b) = s.strip_suffix('Z') {
        (b, 0)
    } else if let Some(at) = s.rfind(['+', '-']) {
        let (b, off) = s.split_at(at);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let digits = &off[1..];
        if !(digits.len() == 2 || digits.len() == 4) || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let h: i32 = digits[..2].parse().map_err(|_| bad())?;
        let m: i32 = digits
            .get(2..)
            .filter(|d| !d.is_empty())
            .map_or(Ok(0), str::parse)
            .map_err(|_| bad())?;
        (b, sign * (h * 3600 + m * 60))
    } else {
        return Err(bad());
    };
    let (whole, fraction) = match body.split_once(['.', ',']) {
        Some((w, f)) => (w, f),
        None => (body, ""),
    };
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let padded = match whole.len() {
        10 => format!("{whole}0000"),
        12 => format!("{whole}00"),
        14 => whole.to_string(),
        _ => return Err(bad()),
    };
    let naive = NaiveDateTime::parse_from_str(&padded, "%Y%m%d%H%M%S").map_err(|_| bad())?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        let digits: String = fraction
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        digits.parse::<u32>().map_err(|_| bad())?
    };
    let t = Utc.from_utc_datetime(&naive) + chrono::Duration::nanoseconds(i64::from(nanos))
        - chrono::Duration::seconds(i64::from(offset_secs));
    Ok(t)
}

/// Active Directory FILETIME: 100-ns intervals since 1601-01-01 UTC. `None`
/// for 0 and 2^63-1, which AD writes for "never".
pub fn parse_filetime(s: &str) -> Result<Option<DateTime<Utc>>, String> {
    let ticks: i64 = s.trim().parse().map_err(|_| {
        format!("`{s}` is not a FILETIME (a whole number of 100-ns intervals since 1601)")
    })?;
    if ticks == 0 || ticks == i64::MAX {
        return Ok(None);
    }
    // Seconds between 1601-01-01 and 1970-01-01.
    const EPOCH_DIFF: i64 = 11_644_473_600;
    let secs = ticks.div_euclid(10_000_000) - EPOCH_DIFF;
    let nanos = ticks.rem_euclid(10_000_000) * 100;
    DateTime::from_timestamp(secs, nanos as u32)
        .map(Some)
        .ok_or_else(|| format!("`{s}` is out of range as a FILETIME"))
}

/// `userAccountControl`: is ACCOUNTDISABLE (0x2) set?
pub fn account_disabled(s: &str) -> Result<bool, String> {
    // AD writes it as a signed 32-bit number.
    let flags: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a userAccountControl number"))?;
    Ok(flags & 0x2 != 0)
}

/// AD's `objectGUID` bytes in text form: the first three fields are
/// little-endian, the rest as stored.
pub fn guid_text(bytes: &[u8]) -> Result<String, String> {
    let b: &[u8; 16] = bytes
        .try_into()
        .map_err(|_| format!("a GUID is 16 bytes, this value has {}", bytes.len()))?;
    Ok(format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    ))
}

/// Who is in which group, as read: direct memberships of accounts and
/// groups nested in groups, by id.
#[derive(Debug, Default)]
pub struct Memberships {
    /// account id → the groups it is directly in.
    pub direct: BTreeMap<String, BTreeSet<String>>,
    /// group id → the groups it is directly in (its parents).
    pub parents: HashMap<String, BTreeSet<String>>,
}

impl Memberships {
    /// Every (account, group) the accounts hold: directly, and with
    /// `nested` through any chain of parents. A cycle of groups (A in B, B
    /// in A: AD allows it) ends where a group was already reached.
    pub fn expand(&self, nested: bool) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (account, groups) in &self.direct {
            let mut reached: BTreeSet<&str> = groups.iter().map(String::as_str).collect();
            if nested {
                let mut todo: Vec<&str> = reached.iter().copied().collect();
                while let Some(group) = todo.pop() {
                    for parent in self.parents.get(group).into_iter().flatten() {
                        if reached.insert(parent) {
                            todo.push(parent);
                        }
                    }
                }
            }
            out.extend(
                reached
                    .into_iter()
                    .map(|g| (account.clone(), g.to_string())),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        crate::model::parse_instant(s).unwrap()
    }

    #[test]
    fn generalized_times_in_the_spellings_directories_write() {
        assert_eq!(
            parse_generalized_time("20261101080000Z"),
            Ok(utc("2026-11-01T08:00:00Z"))
        );
        assert_eq!(
            parse_generalized_time("20261101080000.0Z"),
            Ok(utc("2026-11-01T08:00:00Z"))
        );
        assert_eq!(
            parse_generalized_time("20261101080000.25Z"),
            Ok(utc("2026-11-01T08:00:00.25Z"))
        );
        assert_eq!(
            parse_generalized_time("202611010800+0800"),
            Ok(utc("2026-11-01T00:00:00Z"))
        );
        assert_eq!(
            parse_generalized_time("2026110108-05"),
            Ok(utc("2026-11-01T13:00:00Z"))
        );
        for bad in ["2026-11-01", "20261301080000Z", "20261101080000", "x"] {
            assert!(parse_generalized_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filetimes_count_from_1601_and_never_is_no_value() {
        // 2026-11-01T08:00:00Z = 1793520000 s since 1970.
        let ticks = (1_793_520_000_i64 + 11_644_473_600) * 10_000_000;
        assert_eq!(
            parse_filetime(&ticks.to_string()),
            Ok(Some(utc("2026-11-01T08:00:00Z")))
        );
        assert_eq!(parse_filetime("0"), Ok(None));
        assert_eq!(parse_filetime("9223372036854775807"), Ok(None));
        assert!(parse_filetime("soon").is_err());
    }

    #[test]
    fn account_control_reads_the_disable_bit_only() {
        assert_eq!(account_disabled("512"), Ok(false)); // NORMAL_ACCOUNT
        assert_eq!(account_disabled("514"), Ok(true)); // + ACCOUNTDISABLE
        assert_eq!(account_disabled("66050"), Ok(true)); // + DONT_EXPIRE_PASSWORD
        assert_eq!(account_disabled("66048"), Ok(false));
        assert!(account_disabled("yes").is_err());
    }

    #[test]
    fn guids_read_like_active_directory_shows_them() {
        let bytes = [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(
            guid_text(&bytes).unwrap(),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
        assert!(guid_text(&bytes[..4]).is_err());
    }

    #[test]
    fn dns_compare_whatever_their_case_and_spacing() {
        assert_eq!(
            normalize_dn("CN=Wang Li, OU=People ,dc=Example,DC=org"),
            normalize_dn("cn=wang li,ou=people,dc=example,dc=org")
        );
        assert_eq!(normalize_dn("cn=a\\, b,dc=x"), "cn=a\\, b,dc=x");
    }

    #[test]
    fn nesting_is_followed_through_cycles() {
        let mut m = Memberships::default();
        m.direct.insert("u1".into(), ["A".to_string()].into());
        m.direct.insert("u2".into(), ["C".to_string()].into());
        m.parents.insert("A".into(), ["B".to_string()].into());
        m.parents
            .insert("B".into(), ["A".to_string(), "C".to_string()].into());
        let all = m.expand(true);
        let held = |u: &str| -> Vec<&str> {
            all.iter()
                .filter(|(a, _)| a == u)
                .map(|(_, g)| g.as_str())
                .collect()
        };
        assert_eq!(held("u1"), ["A", "B", "C"]);
        assert_eq!(held("u2"), ["C"]);
        assert_eq!(m.expand(false).len(), 2);
    }
}
