//! `sql`: a deployment's own SELECT over the canonical tables. It runs inside
//! the run's read-only snapshot (and its statement timeout), with every
//! parameter bound. Columns map onto the finding: `subject_id` (required),
//! `subject_type`, `severity` and `title` (optional); all others are evidence.

use futures_util::StreamExt;

use super::{Context, EngineError, Evaluation, Result, Sink};
use crate::model::{Finding, Severity, SubjectType};
use crate::rules::{CustomSql, Rule, SqlParam, named_params};
use crate::store::{SqlValue, Tx};

const MAPPED: [&str; 4] = ["subject_id", "subject_type", "severity", "title"];

pub(super) async fn evaluate(
    tx: &mut Tx,
    ctx: &Context,
    rule: &Rule,
    p: &CustomSql,
    sink: &mut Sink,
) -> Result<Evaluation> {
    let fail = |message: String| EngineError::Rule {
        rule: rule.id.clone(),
        message,
    };
    let compiled = named_params::compile(&p.query).map_err(|e| fail(e.to_string()))?;
    let mut params = Vec::with_capacity(compiled.names.len());
    for name in &compiled.names {
        let value = if name == "as_of" {
            SqlValue::time(ctx.as_of)
        } else if let Some(span) = p.before.get(name) {
            SqlValue::time(ctx.before(*span))
        } else {
            match p.params.get(name) {
                Some(SqlParam::Bool(v)) => SqlValue::Bool(Some(*v)),
                Some(SqlParam::Int(v)) => SqlValue::int(*v),
                Some(SqlParam::Float(v)) => SqlValue::Float(Some(*v)),
                Some(SqlParam::Text(v)) => SqlValue::text(v),
                Some(SqlParam::List(v)) => SqlValue::TextList(v.clone()),
                None => return Err(fail(format!("`:{name}` is not set in params"))),
            }
        };
        params.push(value);
    }
    let mut rows = tx.fetch(&compiled.sql, &params);
    let mut checked_columns = false;
    while let Some(row) = rows.next().await {
        let row = row?;
        let columns = row.columns();
        if !checked_columns {
            if !columns.iter().any(|c| c == "subject_id") {
                return Err(fail(format!(
                    "the query must return a `subject_id` column (it returns: {})",
                    columns.join(", ")
                )));
            }
            checked_columns = true;
        }
        let mut finding = Finding {
            rule: rule.id.clone(),
            severity: rule.severity,
            subject_type: p.subject_type,
            subject_id: String::new(),
            title: rule.title.clone(),
            evidence: serde_json::Map::new(),
        };
        for (i, name) in columns.iter().enumerate() {
            let value = row.json(i)?;
            let text = || match &value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match name.as_str() {
                "subject_id" if value.is_null() => {
                    return Err(fail("a row has a NULL subject_id".into()));
                }
                "subject_id" => finding.subject_id = text(),
                "subject_type" if !value.is_null() => {
                    finding.subject_type = text()
                        .parse::<SubjectType>()
                        .map_err(|e| fail(format!("column subject_type: {e}")))?
                }
                "severity" if !value.is_null() => {
                    finding.severity = text()
                        .parse::<Severity>()
                        .map_err(|e| fail(format!("column severity: {e}")))?
                }
                "title" if !value.is_null() => finding.title = text(),
                n if MAPPED.contains(&n) => {}
                _ => {
                    finding.evidence.insert(name.clone(), value);
                }
            }
        }
        sink.push(finding).await?;
    }
    Ok(Evaluation::default())
}
