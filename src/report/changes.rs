//! What changed between two runs of a job in what was in force for them
//! (`Loaded::in_force`, recorded with each run): rules added, removed or
//! changed (with the fields that changed), exceptions added, removed or
//! expired (with their approver), the job's schedule, recipients and
//! template, and the config file. The auditor's question "who changed the
//! checks themselves, and when".

use std::collections::BTreeMap;

use serde_json::Value;

/// One change, in words.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// `config`, `rule`, `exception` or `job`.
    pub area: &'static str,
    pub text: String,
}

/// The changes from `previous` to `current` (two runs' recorded settings).
pub fn between(previous: &Value, current: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    if text(previous, "config_sha256") != text(current, "config_sha256") {
        out.push(Change {
            area: "config",
            text: format!(
                "the config file {} changed (SHA-256 {} → {})",
                text(current, "config_file"),
                short(&text(previous, "config_sha256")),
                short(&text(current, "config_sha256"))
            ),
        });
    }
    rules(previous, current, &mut out);
    exceptions(previous, current, &mut out);
    job(previous, current, &mut out);
    out
}

fn short(sha: &str) -> String {
    sha.chars().take(12).collect()
}

fn object(v: &Value, key: &str) -> serde_json::Map<String, Value> {
    v.get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

fn rules(previous: &Value, current: &Value, out: &mut Vec<Change>) {
    let before = object(previous, "rules");
    let after = object(current, "rules");
    for (id, rule) in &after {
        match before.get(id) {
            None => out.push(Change {
                area: "rule",
                text: format!("rule {id} added ({})", files(rule)),
            }),
            Some(old) if old.get("sha256") != rule.get("sha256") => {
                let mut fields = Vec::new();
                let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
                flatten("", old.get("definition").unwrap_or(&Value::Null), &mut a);
                flatten("", rule.get("definition").unwrap_or(&Value::Null), &mut b);
                for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                    let (x, y) = (a.get(key), b.get(key));
                    if x != y {
                        fields.push(format!(
                            "{key}: {} → {}",
                            x.map_or("(none)".to_string(), shown),
                            y.map_or("(none)".to_string(), shown)
                        ));
                    }
                }
                out.push(Change {
                    area: "rule",
                    text: format!(
                        "rule {id} changed ({}): {}",
                        files(rule),
                        if fields.is_empty() {
                            "its definition".to_string()
                        } else {
                            fields.join("; ")
                        }
                    ),
                });
            }
            Some(_) => {}
        }
    }
    for id in before.keys().filter(|id| !after.contains_key(*id)) {
        out.push(Change {
            area: "rule",
            text: format!("rule {id} removed (or disabled, or no longer in the job)"),
        });
    }
}

fn files(rule: &Value) -> String {
    let files: Vec<&str> = rule
        .get("files")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if files.is_empty() {
        "shipped".to_string()
    } else {
        files.join(", ")
    }
}

/// A value as a short text: strings bare, the rest as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Objects flattened to `a.b.c` keys; arrays and scalars are leaves.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn exceptions(previous: &Value, current: &Value, out: &mut Vec<Change>) {
    let by_id = |v: &Value| -> BTreeMap<i64, Value> {
        v.get("exceptions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| Some((e.get("id")?.as_i64()?, e.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (before, after) = (by_id(previous), by_id(current));
    let describe = |e: &Value| {
        let f = |k: &str| e.get(k).map(shown).unwrap_or_default();
        format!(
            "#{} on {} for {}, approved by {}, until {}",
            f("id"),
            f("rule"),
            f("subject"),
            f("approved_by"),
            f("expires_at")
        )
    };
    for (id, e) in &after {
        if !before.contains_key(id) {
            out.push(Change {
                area: "exception",
                text: format!("exception {} added", describe(e)),
            });
        }
    }
    for (id, e) in &before {
        if !after.contains_key(id) {
            // Gone from what was in force: expired by the new run's date, or
            // removed by someone.
            let expired = match (
                e.get("expires_at").and_then(Value::as_str),
                current.get("as_of").and_then(Value::as_str),
            ) {
                (Some(until), Some(as_of)) => until <= as_of,
                _ => false,
            };
            out.push(Change {
                area: "exception",
                text: format!(
                    "exception {} {}",
                    describe(e),
                    if expired { "expired" } else { "removed" }
                ),
            });
        }
    }
}

fn job(previous: &Value, current: &Value, out: &mut Vec<Change>) {
    let (before, after) = (
        previous.get("job").unwrap_or(&Value::Null),
        current.get("job").unwrap_or(&Value::Null),
    );
    for key in ["schedule", "template"] {
        if before.get(key) != after.get(key) {
            out.push(Change {
                area: "job",
                text: format!(
                    "the job's {key}: {} → {}",
                    before.get(key).map_or("(none)".to_string(), shown),
                    after.get(key).map_or("(none)".to_string(), shown)
                ),
            });
        }
    }
    let list = |v: &Value| -> Vec<String> {
        v.get("recipients")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(shown).collect())
            .unwrap_or_default()
    };
    let (was, is) = (list(before), list(after));
    let added: Vec<&String> = is.iter().filter(|r| !was.contains(r)).collect();
    let removed: Vec<&String> = was.iter().filter(|r| !is.contains(r)).collect();
    if !added.is_empty() || !removed.is_empty() {
        let names = |l: &[&String]| l.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        out.push(Change {
            area: "job",
            text: format!(
                "the job's recipients: added {}; removed {}",
                if added.is_empty() {
                    "none".to_string()
                } else {
                    names(&added)
                },
                if removed.is_empty() {
                    "none".to_string()
                } else {
                    names(&removed)
                }
            ),
        });
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::between;

    fn settings(
        max_idle: i64,
        exceptions: serde_json::Value,
        recipients: &[&str],
    ) -> serde_json::Value {
        json!({
            "config_file": "/etc/accessaudit/config.yaml",
            "config_sha256": format!("{max_idle:064}"),
            "as_of": "2026-12-01T00:00:00Z",
            "rules": {
                "idle-accounts": {"sha256": format!("{max_idle}"), "files": [],
                                  "definition": {"severity": "medium", "params": {"max_idle_days": max_idle}}},
            },
            "exceptions": exceptions,
            "job": {"schedule": "0 8 1 * *", "recipients": recipients, "template": "monthly"},
        })
    }

    #[test]
    fn nothing_changed_is_no_change() {
        let a = settings(90, json!([]), &["it@x.org"]);
        assert!(between(&a, &a).is_empty());
    }

    #[test]
    fn each_change_is_named_with_what_it_was() {
        let exception = json!({"id": 3, "rule": "idle-accounts", "subject": "principal:p1",
                               "approved_by": "ciso@x.org", "expires_at": "2026-11-15T00:00:00Z"});
        let a = settings(90, json!([exception]), &["it@x.org"]);
        let b = settings(60, json!([]), &["it@x.org", "audit@x.org"]);
        let texts: Vec<String> = between(&a, &b).into_iter().map(|c| c.text).collect();
        assert!(
            texts[0].starts_with("the config file /etc/accessaudit/config.yaml changed"),
            "{texts:?}"
        );
        assert!(
            texts.contains(
                &"rule idle-accounts changed (shipped): params.max_idle_days: 90 → 60".to_string()
            ),
            "{texts:?}"
        );
        assert!(texts.contains(&"exception #3 on idle-accounts for principal:p1, approved by ciso@x.org, until 2026-11-15T00:00:00Z expired".to_string()), "{texts:?}");
        assert!(
            texts.contains(&"the job's recipients: added audit@x.org; removed none".to_string()),
            "{texts:?}"
        );
        let back: Vec<String> = between(&b, &a).into_iter().map(|c| c.text).collect();
        assert!(
            back.iter()
                .any(|t| t.starts_with("exception #3") && t.ends_with("added")),
            "{back:?}"
        );
    }
}
