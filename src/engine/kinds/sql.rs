//! `sql`: a deployment's own SELECT over the canonical tables. It runs inside
//! the run's read-only snapshot (and its statement timeout), with every
//! parameter bound. Columns map onto the finding: `subject_id` (required),
//! `subject_type`, `severity` and `title` (optional); all others are evidence.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use futures_util::StreamExt;

use crate::engine::context::{Context, Evaluation, RuleMeta, instant_before};
use crate::engine::error::{EngineError, Result};
use crate::engine::named_params;
use crate::engine::sink::Sink;
use crate::model::{Finding, Severity, Span, SubjectType};
use crate::store::{SqlValue, StoreError, Tx};

use crate::engine::kind::{Kind, invalid};

/// A scalar parameter of a custom SQL rule, bound to `:name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SqlParam {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<String>),
}

/// `sql`: a SELECT over the canonical tables, run read-only. Columns map onto
/// the finding: `subject_id` (required), `subject_type`, `severity`, `title`;
/// every other column goes into the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomSql {
    /// One SELECT (or WITH … SELECT) statement; `:as_of` and `:name` of the
    /// params below are bound, never spliced.
    pub query: String,
    /// Values bound to `:name` placeholders.
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, SqlParam>,
    /// Instants bound to `:name` as T minus the duration (e.g. `idle_since: 90d`).
    #[serde(default)]
    pub before: std::collections::BTreeMap<String, Span>,
    /// The subject type when the query has no `subject_type` column.
    #[serde(default = "default_subject")]
    pub subject_type: SubjectType,
}

fn default_subject() -> SubjectType {
    SubjectType::Principal
}

impl Kind for CustomSql {
    const NAME: &'static str = "sql";

    async fn probe(&self, tx: &mut Tx, as_of: DateTime<Utc>) -> std::result::Result<(), String> {
        self.prepare_probe(tx, as_of).await
    }

    fn subject_type(&self) -> SubjectType {
        self.subject_type
    }

    fn defaults() -> Result<Self, &'static str> {
        Err("a `sql` rule needs `params` with a `query`")
    }

    fn check(&self) -> Result<(), (String, String)> {
        let compiled =
            named_params::compile(&self.query).map_err(|e| ("query".to_string(), e.to_string()))?;
        for name in &compiled.names {
            if name != "as_of" && !self.params.contains_key(name) && !self.before.contains_key(name)
            {
                return invalid(
                    "query",
                    &format!("`:{name}` is not set in params or before (`:as_of` is built in)"),
                );
            }
        }
        Ok(())
    }

    async fn evaluate(
        &self,
        tx: &mut Tx,
        ctx: &Context,
        rule: &RuleMeta<'_>,
        sink: &mut Sink,
    ) -> Result<Evaluation> {
        let p = self;
        let fail = |message: String| EngineError::Rule {
            rule: rule.id.to_string(),
            message,
        };
        let compiled = named_params::compile(&p.query).map_err(|e| fail(e.to_string()))?;
        let params = p.bind(&compiled.names, ctx.as_of).map_err(fail)?;
        // Exactly one read-only SELECT over the canonical tables: the store
        // checks it as it prepares it (on SQLite under a strict authorizer,
        // which stays on while the rows are read).
        tx.begin_untrusted(&compiled.sql)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let read = read_rows(tx, rule, p, &compiled.sql, &params, sink).await;
        // Our own statements (the savepoint's release or rollback) run next.
        let ended = tx.end_untrusted().await;
        let evaluation = read.map_err(|e| match e {
            EngineError::Store(StoreError::Refused(message)) => fail(message),
            other => other,
        })?;
        ended?;
        Ok(evaluation)
    }
}

impl CustomSql {
    /// The values of the query's `:name` parameters, in order, as of `as_of`.
    fn bind(
        &self,
        names: &[String],
        as_of: DateTime<Utc>,
    ) -> std::result::Result<Vec<SqlValue>, String> {
        names
            .iter()
            .map(|name| {
                if name == "as_of" {
                    return Ok(SqlValue::time(as_of));
                }
                if let Some(span) = self.before.get(name) {
                    return Ok(SqlValue::time(instant_before(as_of, *span)));
                }
                match self.params.get(name) {
                    Some(SqlParam::Bool(v)) => Ok(SqlValue::Bool(Some(*v))),
                    Some(SqlParam::Int(v)) => Ok(SqlValue::int(*v)),
                    Some(SqlParam::Float(v)) => Ok(SqlValue::Float(Some(*v))),
                    Some(SqlParam::Text(v)) => Ok(SqlValue::text(v)),
                    Some(SqlParam::List(v)) => Ok(SqlValue::TextList(v.clone())),
                    None => Err(format!("`:{name}` is not set in params")),
                }
            })
            .collect()
    }

    /// Prepares the query over the canonical tables of `tx` (a read-only
    /// scan) without reading a row, under the same guard as a run: a
    /// misspelt table or column, a query without a `subject_id` column, or
    /// a second statement is found before the rule is deployed.
    async fn prepare_probe(
        &self,
        tx: &mut Tx,
        as_of: DateTime<Utc>,
    ) -> std::result::Result<(), String> {
        let compiled = named_params::compile(&self.query).map_err(|e| e.to_string())?;
        let params = self.bind(&compiled.names, as_of)?;
        // The query on lines of its own, so that a trailing comment in it
        // cannot swallow the wrapper.
        let probe = format!(
            "SELECT q.subject_id FROM (\n{}\n) AS q LIMIT 0",
            compiled.sql
        );
        let explain = |e: StoreError| {
            let e = e.to_string();
            if e.contains("subject_id") {
                format!("{e} (the query must return a `subject_id` column)")
            } else {
                e
            }
        };
        tx.begin_untrusted(&probe).await.map_err(explain)?;
        let probed = tx.fetch_all(&probe, &params).await;
        let ended = tx.end_untrusted().await;
        probed.map_err(explain)?;
        ended.map_err(|e| e.to_string())
    }
}

/// The rows of the rule's query, as findings.
async fn read_rows(
    tx: &mut Tx,
    rule: &RuleMeta<'_>,
    p: &CustomSql,
    sql: &str,
    params: &[SqlValue],
    sink: &mut Sink,
) -> Result<Evaluation> {
    let fail = |message: String| EngineError::Rule {
        rule: rule.id.to_string(),
        message,
    };
    {
        let mut rows = tx.fetch(sql, params);
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
                application: None,
                rule: rule.id.to_string(),
                severity: rule.severity,
                subject_type: p.subject_type,
                subject_id: String::new(),
                title: rule.title.to_string(),
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
}

const MAPPED: [&str; 4] = ["subject_id", "subject_type", "severity", "title"];
