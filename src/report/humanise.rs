//! Evidence as a person reads it: labelled facts with humanised labels,
//! dates in the report's time zone, durations and lists, instead of the
//! rules' snake_case keys and JSON. Generic over every rule (the evidence
//! keys are each rule's own), so a deployment's `sql` rule reads as well.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::parse_instant;

/// One labelled fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// The evidence key as the rule wrote it.
    pub key: String,
    pub label: String,
    pub value: String,
}

/// Words written in capitals, or otherwise than their key spells them.
fn word(w: &str) -> String {
    match w {
        "id" => "ID".into(),
        "ids" => "IDs".into(),
        "mfa" => "MFA".into(),
        "ip" => "IP".into(),
        "ips" => "IPs".into(),
        "hr" => "HR".into(),
        "sql" => "SQL".into(),
        other => other.to_string(),
    }
}

/// `last_activity_at` → "Last activity", `role_ids` → "Role IDs".
pub fn label(key: &str) -> String {
    let mut words: Vec<String> = key
        .split(['_', '-'])
        .filter(|w| !w.is_empty())
        .map(word)
        .collect();
    // A timestamp's `_at` says nothing the value does not.
    if words.len() > 1 && words.last().is_some_and(|w| w == "at") {
        words.pop();
    }
    let text = words.join(" ");
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => key.to_string(),
    }
}

/// Keys whose string values are codes (`records_in_window`) rather than data.
fn is_code_key(key: &str) -> bool {
    matches!(key, "reason" | "reasons" | "escalated_because") || key.ends_with("_source")
}

/// Keys whose integer values count days.
fn is_days_key(key: &str) -> bool {
    key.ends_with("_days") || key.starts_with("days_")
}

/// `90d` → "90 days", `24h` → "24 hours"; None when `s` is not a span.
fn span_words(s: &str) -> Option<String> {
    let unit_at = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(unit_at);
    let n: u64 = n.parse().ok()?;
    let unit = match unit {
        "s" => "second",
        "m" | "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        _ => return None,
    };
    Some(format!("{n} {unit}{}", if n == 1 { "" } else { "s" }))
}

fn number(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_f64()) {
        (Some(i), _) => i.to_string(),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        (None, Some(f)) => format!("{:.2}", f)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
        _ => n.to_string(),
    }
}

/// One value in words; `key` says what it is.
pub fn value(key: &str, v: &Value, tz: chrono_tz::Tz) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
        Value::Number(n) if is_days_key(key) => {
            let s = number(n);
            format!("{s} day{}", if s == "1" { "" } else { "s" })
        }
        Value::Number(n) => number(n),
        Value::String(s) => string(key, s, tz),
        Value::Array(items) if items.is_empty() => "none".into(),
        Value::Array(items) => items
            .iter()
            .map(|i| value(key, i, tz))
            .collect::<Vec<_>>()
            .join(if items.iter().any(Value::is_object) {
                "; "
            } else {
                ", "
            }),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{}: {}", label(k).to_lowercase(), value(k, v, tz)))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn string(key: &str, s: &str, tz: chrono_tz::Tz) -> String {
    if is_code_key(key) {
        return s.replace('_', " ");
    }
    // Timestamps as the rules write them (RFC 3339): in the report's zone.
    if s.len() >= 20
        && s.as_bytes().get(4) == Some(&b'-')
        && s.contains('T')
        && let Ok(t) = parse_instant(s)
    {
        return instant(t, tz);
    }
    if let Some(words) = span_words(s) {
        return words;
    }
    s.to_string()
}

/// An instant in the report's time zone, to the minute.
pub fn instant(t: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string()
}

/// Every key of a finding's evidence as a labelled fact, in the rule's order.
pub fn facts(evidence: &serde_json::Map<String, Value>, tz: chrono_tz::Tz) -> Vec<Fact> {
    evidence
        .iter()
        .map(|(k, v)| Fact {
            key: k.clone(),
            label: label(k),
            value: value(k, v, tz),
        })
        .collect()
}

/// The facts in one line, `Label: value; …` (the CSV's `evidence_text`),
/// written straight into one string: a report writes one per finding.
pub fn facts_line(evidence: &serde_json::Map<String, Value>, tz: chrono_tz::Tz) -> String {
    let mut line = String::new();
    for (k, v) in evidence {
        if !line.is_empty() {
            line.push_str("; ");
        }
        line.push_str(&label(k));
        line.push_str(": ");
        line.push_str(&value(k, v, tz));
    }
    line
}

/// A size as people read it, in decimal units as mail clients show
/// them: `950 bytes`, `14.2 MB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// A sort key that orders `7.2.1` before `10.2.1` and `A.8.2` before
/// `A.8.12`: runs of digits compare as numbers.
pub fn natural_key(s: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                out.push((
                    std::mem::take(&mut text),
                    digits.parse().unwrap_or(u64::MAX),
                ));
                digits.clear();
            }
            text.push(c);
        }
    }
    out.push((text, digits.parse().unwrap_or(0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label("last_activity_at"), "Last activity");
        assert_eq!(label("role_ids"), "Role IDs");
        assert_eq!(label("mfa_enabled"), "MFA enabled");
        assert_eq!(label("at"), "At");
    }

    #[test]
    fn values_read_as_words() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            value("reasons", &json!(["unused", "no_approval"]), tz),
            "unused, no approval"
        );
        assert_eq!(value("approved_by", &Value::Null, tz), "none");
        assert_eq!(value("privileged", &json!(true), tz), "yes");
        assert_eq!(value("idle_days", &json!(134), tz), "134 days");
        assert_eq!(value("max_idle", &json!("90d"), tz), "90 days");
        assert_eq!(value("grace", &json!("24h"), tz), "24 hours");
        assert_eq!(value("peer_share", &json!(0.0), tz), "0");
        assert_eq!(value("peer_share", &json!(0.25), tz), "0.25");
        assert_eq!(
            value("terminated_at", &json!("2026-10-16T18:00:00Z"), tz),
            "2026-10-17 02:00 CST"
        );
        assert_eq!(value("devices", &json!([]), tz), "none");
        assert_eq!(value("actions", &json!({"update": 3}), tz), "update: 3");
        // A login that looks like a span is still a login only when it is not
        // digits-and-unit; a device id stays as it is.
        assert_eq!(value("device_id", &json!("win-7f3a"), tz), "win-7f3a");
    }

    #[test]
    fn the_line_of_facts_is_the_facts_joined() {
        let tz = chrono_tz::Asia::Shanghai;
        let evidence = json!({
            "login": "li.wei",
            "last_sign_in": "2026-07-01T02:03:04Z",
            "idle_days": 123,
            "reasons": ["no_end", "sensitive"],
            "grants": [{"role": "Admin", "expires_at": null}],
        });
        let map = evidence.as_object().expect("an object");
        let joined: Vec<String> = facts(map, tz)
            .iter()
            .map(|f| format!("{}: {}", f.label, f.value))
            .collect();
        assert_eq!(facts_line(map, tz), joined.join("; "));
        assert!(facts_line(map, tz).contains("Idle days: 123 days; "));
        assert_eq!(facts_line(&serde_json::Map::new(), tz), "");
    }

    #[test]
    fn control_ids_sort_as_numbers() {
        let mut ids = vec!["10.2.1", "7.2.1", "8.2.6", "10.2.1.2", "7.2.10"];
        ids.sort_by_key(|s| natural_key(s));
        assert_eq!(ids, ["7.2.1", "7.2.10", "8.2.6", "10.2.1", "10.2.1.2"]);
        let mut iso = vec!["A.8.12", "A.8.2", "A.5.18", "A.8.1"];
        iso.sort_by_key(|s| natural_key(s));
        assert_eq!(iso, ["A.5.18", "A.8.1", "A.8.2", "A.8.12"]);
    }

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(super::bytes(999), "999 bytes");
        assert_eq!(super::bytes(1000), "1.0 kB");
        assert_eq!(super::bytes(14_200_000), "14.2 MB");
        assert_eq!(super::bytes(3_000_000_000), "3.0 GB");
    }
}
