//! The canonical model (docs/CANONICAL.md): the enums every stage shares, and the finding.
//!
//! Enums parse from the exact lower-case strings of the contract ("parse, don't
//! validate"): once a value is one of these types it is known to be valid.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// Declares a string-backed enum with `as_str`, `FromStr`, `Display` and serde
/// impls that use the contract's spelling, so the spelling lives in one place.
macro_rules! contract_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The accepted spellings, for error messages.
            pub fn expected() -> String {
                [$($text),+].join(" | ")
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { value: s.to_string(), expected: Self::expected() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A string that is not one of an enum's contract values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value `{value}`, expected one of {expected}")]
pub struct UnknownValue {
    pub value: String,
    pub expected: String,
}

contract_enum!(
    /// How serious a finding is; ordered from least to most severe.
    Severity { Info => "info", Low => "low", Medium => "medium", High => "high", Critical => "critical" }
);

impl Severity {
    /// One level more severe (critical stays critical): a finding in a
    /// critical application.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

contract_enum!(
    /// `people.employment_status`.
    EmploymentStatus { Active => "active", OnLeave => "on_leave", Terminated => "terminated" }
);

contract_enum!(
    /// `people.worker_type` (NULL means an employee).
    WorkerType { Employee => "employee", Contractor => "contractor", Intern => "intern", Vendor => "vendor" }
);

contract_enum!(
    /// `principals.account_type`.
    AccountType { Human => "human", Service => "service", Shared => "shared", External => "external" }
);

contract_enum!(
    /// `principals.status`.
    AccountStatus { Active => "active", Pending => "pending", Disabled => "disabled", Locked => "locked" }
);

contract_enum!(
    /// `roles.data_scope`.
    DataScope {
        SelfOnly => "self",
        Subordinates => "subordinates",
        Department => "department",
        DepartmentTree => "department_tree",
        Custom => "custom",
        All => "all",
    }
);

contract_enum!(
    /// `events.outcome`.
    Outcome { Success => "success", Failure => "failure" }
);

contract_enum!(
    /// What a finding is about.
    SubjectType { Principal => "principal", Role => "role", Grant => "grant", Person => "person" }
);

/// What identifies a finding across runs: its rule and its subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FindingKey {
    pub rule: String,
    pub subject_type: String,
    pub subject_id: String,
}

/// One finding of one rule about one subject. `(rule, subject_type, subject_id)`
/// is its key: the same key in two runs is the same finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub subject_type: SubjectType,
    pub subject_id: String,
    pub title: String,
    /// The facts that made it a finding (a JSON object).
    pub evidence: serde_json::Map<String, serde_json::Value>,
    /// The application of the account, role or grant it is about, as the
    /// store knows it when the finding is read (None for a person, and
    /// while a rule evaluates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
}

impl Finding {
    /// The key that identifies the same finding across runs.
    pub fn key(&self) -> (&str, SubjectType, &str) {
        (&self.rule, self.subject_type, &self.subject_id)
    }
}

/// Applications (issue 17): every account and role is in one; an
/// explicitly named application stores its ids as `APPLICATION:NATIVE`.
pub mod application {
    /// Between an application's name and a native id in a namespaced id.
    pub const SEPARATOR: char = ':';

    /// The stored id of `native` in the namespace of `application`.
    pub fn namespaced(application: &str, native: &str) -> String {
        format!("{application}{SEPARATOR}{native}")
    }

    /// The id as the application itself knows it: the stored id without
    /// its `APPLICATION:` prefix (ids stored as given have none).
    pub fn native_id<'a>(application: &str, id: &'a str) -> &'a str {
        id.strip_prefix(application)
            .and_then(|rest| rest.strip_prefix(SEPARATOR))
            .unwrap_or(id)
    }

    /// An application's name: letters, digits, `.`, `_` and `-` (no
    /// separator, nothing a report or a file name must escape).
    pub fn check_name(name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("an application name cannot be empty".into());
        }
        match name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            Some(c) => Err(format!(
                "`{name}` is not an application name: `{c}` is not a letter, digit, `.`, `_` or `-`"
            )),
            None => Ok(()),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn native_ids_lose_only_their_own_prefix() {
            assert_eq!(namespaced("crm", "1"), "crm:1");
            assert_eq!(native_id("crm", "crm:1"), "1");
            assert_eq!(native_id("crm", "crm:a:b"), "a:b");
            assert_eq!(native_id("crm", "erp:1"), "erp:1");
            assert_eq!(native_id("crm", "crm1"), "crm1");
            assert_eq!(native_id("default", "7"), "7");
        }

        #[test]
        fn names_are_plain() {
            assert!(check_name("crm-eu_2.prod").is_ok());
            assert!(check_name("").is_err());
            let e = check_name("crm:eu").unwrap_err();
            assert!(e.contains("`:`"), "{e}");
            assert!(check_name("客户").is_err());
        }
    }
}

/// Formats an instant the way the contract writes them (RFC 3339, UTC, `Z`),
/// with sub-second digits only when there are any.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Parses an instant as the contract accepts it: RFC 3339, or a date alone
/// meaning midnight UTC.
///
/// ```
/// use accessaudit::model::{format_instant, parse_instant};
/// let t = parse_instant("2026-11-01T09:00:00+01:00").unwrap();
/// assert_eq!(format_instant(t), "2026-11-01T08:00:00Z");
/// assert_eq!(format_instant(parse_instant("2026-11-01").unwrap()), "2026-11-01T00:00:00Z");
/// assert!(parse_instant("01/11/2026").is_err());
/// ```
pub fn parse_instant(s: &str) -> Result<DateTime<Utc>, String> {
    parse_instant_in(s, chrono_tz::UTC)
}

/// The same, where a date or a time without an offset (`2026-11-01`,
/// `2026-11-01 08:00:00`, `2026-11-01T08:00:00.5`) is wall-clock time in
/// `tz`; RFC 3339 values carry their own offset.
pub fn parse_instant_in(s: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    use chrono::Datelike;
    let t = parse_any_instant(s.trim(), tz)?;
    // chrono reads `-1260-2-10` as a date; an instant outside RFC 3339's
    // years is a typo, and could not be written back (found by fuzzing).
    if !(1..=9999).contains(&t.year()) {
        return Err(format!("`{}` is outside the years 1 to 9999", s.trim()));
    }
    Ok(t)
}

fn parse_any_instant(s: &str, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = if s.len() == 10 {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    } else {
        [
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
    };
    if let Some(naive) = naive {
        return Ok(local_to_utc(naive, tz));
    }
    Err(format!(
        "`{s}` is not an RFC 3339 timestamp (e.g. 2026-11-01T08:00:00Z), a date (2026-11-01) \
         or a time without offset (2026-11-01 08:00:00, taken in {tz})"
    ))
}

/// A wall-clock time of `tz` as UTC: where a daylight-saving change repeats
/// it, the earlier instant; where it skips it, the hour after the gap.
pub fn local_to_utc(t: chrono::NaiveDateTime, tz: chrono_tz::Tz) -> DateTime<Utc> {
    use chrono::TimeZone;
    match tz.from_local_datetime(&t).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(t + chrono::Duration::hours(1)))
            .earliest()
            .map_or_else(|| t.and_utc(), |t| t.with_timezone(&Utc)),
    }
}

/// The actions the shipped rules read, in the contract's spelling; a
/// deployment makes more known with `actions:` in its configuration.
pub const KNOWN_ACTIONS: [&str; 12] = [
    "login",
    "login_failed",
    "logout",
    "view",
    "create",
    "update",
    "delete",
    "export",
    "import",
    "grant",
    "revoke",
    "password_change",
];

/// A duration written the way people write them: `90d`, `24h`, `30 days`, `1h 30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub struct Span(pub Duration);

impl Span {
    pub const fn days(n: u64) -> Span {
        Span(Duration::from_secs(n * 86_400))
    }
    pub const fn hours(n: u64) -> Span {
        Span(Duration::from_secs(n * 3_600))
    }
    pub fn chrono(self) -> chrono::Duration {
        chrono::Duration::from_std(self.0).unwrap_or(chrono::Duration::MAX)
    }
}

/// Shown the way people write durations: whole days above one day (`90d`),
/// otherwise hours, minutes and seconds (`24h`, `1h30m`, `45s`); never
/// months, whose length varies (`90d` is not `2months 29days 2h 52m 48s`).
///
/// ```
/// use accessaudit::model::Span;
/// use std::time::Duration;
/// assert_eq!(Span::days(90).to_string(), "90d");
/// assert_eq!(Span::hours(24).to_string(), "24h");
/// assert_eq!(Span(Duration::from_secs(5400)).to_string(), "1h30m");
/// assert_eq!(Span(Duration::from_millis(1500)).to_string(), "1s500ms");
/// ```
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAY: u64 = 86_400;
        let secs = self.0.as_secs();
        let millis = self.0.subsec_millis();
        if secs > DAY && secs.is_multiple_of(DAY) && millis == 0 {
            return write!(f, "{}d", secs / DAY);
        }
        let parts = [
            (secs / 3600, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
            (u64::from(millis), "ms"),
        ];
        let mut wrote = false;
        for (n, unit) in parts {
            if n > 0 {
                write!(f, "{n}{unit}")?;
                wrote = true;
            }
        }
        if !wrote {
            f.write_str("0s")?;
        }
        Ok(())
    }
}

impl From<Span> for String {
    fn from(s: Span) -> String {
        s.to_string()
    }
}

impl std::str::FromStr for Span {
    type Err = String;

    /// humantime's units, plus `mo` for months (`18mo`): like humantime's
    /// `months`, a month is 30.44 days (a twelfth of 365.25 days).
    fn from_str(text: &str) -> Result<Span, String> {
        let parsed = humantime::parse_duration(&months_spelled_out(text.trim())).map_err(|e| {
            format!("bad duration `{text}` ({e}); write e.g. 90d, 24h, 30m, 18mo or `1h 30m`")
        })?;
        if parsed.is_zero() {
            return Err(format!("duration `{text}` must be greater than zero"));
        }
        Ok(Span(parsed))
    }
}

/// `mo` (after a number) as humantime's `months`; other text unchanged.
fn months_spelled_out(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(i) = rest.find("mo") {
        let before = rest[..i].trim_end();
        let after = &rest[i + 2..];
        let unit_alone = before.ends_with(|c: char| c.is_ascii_digit())
            && !after.starts_with(|c: char| c.is_ascii_alphabetic());
        out.push_str(&rest[..i]);
        out.push_str(if unit_alone { "months" } else { "mo" });
        rest = after;
    }
    out.push_str(rest);
    out
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_take_months_as_mo() {
        const MONTH: u64 = 2_630_016; // 30.44 days, humantime's month
        assert_eq!(
            "18mo".parse::<Span>(),
            Ok(Span(Duration::from_secs(18 * MONTH)))
        );
        assert_eq!(
            "18 mo".parse::<Span>(),
            Ok(Span(Duration::from_secs(18 * MONTH)))
        );
        assert_eq!(
            "1y 6mo".parse::<Span>(),
            Ok(Span(Duration::from_secs(31_557_600 + 6 * MONTH)))
        );
        assert_eq!(
            "2months".parse::<Span>(),
            Ok(Span(Duration::from_secs(2 * MONTH)))
        );
        assert_eq!("90d".parse::<Span>(), Ok(Span::days(90)));
        // `mo` only as a unit after a number; `m` stays minutes.
        assert_eq!("30m".parse::<Span>(), Ok(Span(Duration::from_secs(1800))));
        let bad = "18moons".parse::<Span>().unwrap_err();
        assert!(bad.contains("bad duration `18moons`"), "{bad}");
        assert!(
            "0mo"
                .parse::<Span>()
                .unwrap_err()
                .contains("greater than zero")
        );
        assert!("mo".parse::<Span>().is_err());
    }

    #[test]
    fn severities_order_from_info_to_critical() {
        assert!(Severity::Info < Severity::Low);
        assert!(Severity::High < Severity::Critical);
        assert_eq!("critical".parse::<Severity>(), Ok(Severity::Critical));
    }

    #[test]
    fn unknown_enum_value_names_the_expected_ones() {
        let err = "admin".parse::<AccountType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown value `admin`, expected one of human | service | shared | external"
        );
    }

    #[test]
    fn instants_parse_rfc3339_and_bare_dates() {
        let t = parse_instant("2026-11-01T09:00:00+01:00").unwrap();
        assert_eq!(format_instant(t), "2026-11-01T08:00:00Z");
        assert_eq!(
            format_instant(parse_instant("2026-11-01").unwrap()),
            "2026-11-01T00:00:00Z"
        );
        // Times without an offset, as spreadsheets write them: UTC here,
        // the import's --timezone there.
        assert_eq!(
            format_instant(parse_instant("2026-11-01 08:00").unwrap()),
            "2026-11-01T08:00:00Z"
        );
        assert_eq!(
            format_instant(
                parse_instant_in("2026-11-01 08:00:00", chrono_tz::Asia::Shanghai).unwrap()
            ),
            "2026-11-01T00:00:00Z"
        );
        assert!(parse_instant("2026-11-01 25:00").is_err());
        // Found by fuzzing: a negative year read as a date.
        assert!(parse_instant("-1260-2-10").is_err());
        assert!(parse_instant("0000-01-01").is_err());
        assert!(parse_instant("2026-13-01").is_err());
        assert!(parse_instant("yesterday").is_err());
    }

    #[test]
    fn sub_second_precision_is_kept() {
        let t = parse_instant("2026-11-01T08:00:00.250Z").unwrap();
        assert_eq!(format_instant(t), "2026-11-01T08:00:00.250Z");
    }
}
