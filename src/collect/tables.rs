//! The canonical tables as data: their columns, types and which are required.
//! CSV import and rule-test fixtures both parse rows through these specs, so a
//! value means the same wherever it comes from.

use std::fmt;
use std::str::FromStr;

use crate::model::{
    self, AccountStatus, AccountType, DataScope, EmploymentStatus, Outcome, WorkerType,
};
use crate::store::{Backend, SqlValue};

/// The columns of an account that `principal_history` keeps a version of
/// (all of `principals` but its id): written by the sync, read by the engine
/// for a run as of T.
pub const PRINCIPAL_VERSION_COLUMNS: &str = "login, display_name, email, person_id, department, account_type, status, mfa_enabled, created_at, last_login_at, password_changed_at, application, employee_number";

/// The application of accounts and roles that no source or import names
/// one for (migration 0014: stores from before applications are in it).
pub const DEFAULT_APPLICATION: &str = "default";

/// The user reference of the canonical model (docs/CANONICAL.md, printed
/// by `accessaudit schema`); a test checks it names every table and column
/// of the specs below with its type.
pub const REFERENCE: &str = include_str!("../../docs/CANONICAL.md");

/// The type of a canonical column.
#[derive(Debug, Clone, Copy)]
pub enum ColumnType {
    Text,
    Int,
    Bool,
    Timestamp,
    /// One of the contract's values (checked by the parse function), in
    /// any case: stored in the contract's lower case.
    Enum(fn(&str) -> Result<(), String>),
    /// An event's action: text stored in lower case (`Export` is an export).
    Action,
}

/// A column of a canonical table.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    pub ty: ColumnType,
    /// Must be in the CSV header and never empty.
    pub required: bool,
    /// What an empty cell means for a column that is never NULL.
    pub default: Option<&'static str>,
}

/// A canonical table.
#[derive(Debug)]
pub struct TableSpec {
    pub name: &'static str,
    pub columns: &'static [ColumnSpec],
    /// The columns that identify a row: a re-imported row with the same key
    /// updates the existing one.
    pub key: &'static [&'static str],
}

fn check_enum<T: FromStr<Err = model::UnknownValue>>(s: &str) -> Result<(), String> {
    s.parse::<T>().map(drop).map_err(|e| e.to_string())
}

const fn col(name: &'static str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        required: false,
        default: None,
    }
}
/// An optional column that is never NULL: an empty cell means `default`.
const fn dflt(name: &'static str, ty: ColumnType, default: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        required: false,
        default: Some(default),
    }
}
const fn req(name: &'static str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec {
        name,
        ty,
        required: true,
        default: None,
    }
}

use ColumnType::{Bool, Int, Text, Timestamp};
const EMPLOYMENT: ColumnType = ColumnType::Enum(check_enum::<EmploymentStatus>);
const WORKER_TYPE: ColumnType = ColumnType::Enum(check_enum::<WorkerType>);
const ACCOUNT_TYPE: ColumnType = ColumnType::Enum(check_enum::<AccountType>);
const ACCOUNT_STATUS: ColumnType = ColumnType::Enum(check_enum::<AccountStatus>);
const DATA_SCOPE: ColumnType = ColumnType::Enum(check_enum::<DataScope>);
const OUTCOME: ColumnType = ColumnType::Enum(check_enum::<Outcome>);

pub static PEOPLE: TableSpec = TableSpec {
    name: "people",
    key: &["id"],
    columns: &[
        req("id", Text),
        col("email", Text),
        col("full_name", Text),
        col("department", Text),
        col("title", Text),
        col("manager_id", Text),
        req("employment_status", EMPLOYMENT),
        col("hired_at", Timestamp),
        col("terminated_at", Timestamp),
        col("department_since", Timestamp),
        col("worker_type", WORKER_TYPE),
    ],
};

pub static PRINCIPALS: TableSpec = TableSpec {
    name: "principals",
    key: &["id"],
    columns: &[
        req("id", Text),
        req("login", Text),
        col("display_name", Text),
        col("email", Text),
        col("person_id", Text),
        col("department", Text),
        dflt("account_type", ACCOUNT_TYPE, "human"),
        req("status", ACCOUNT_STATUS),
        col("mfa_enabled", Bool),
        col("created_at", Timestamp),
        col("last_login_at", Timestamp),
        col("password_changed_at", Timestamp),
        dflt("application", Text, DEFAULT_APPLICATION),
        col("employee_number", Text),
    ],
};

pub static ROLES: TableSpec = TableSpec {
    name: "roles",
    key: &["id"],
    columns: &[
        req("id", Text),
        req("name", Text),
        col("description", Text),
        col("data_scope", DATA_SCOPE),
        dflt("privileged", Bool, "false"),
        col("owner_id", Text),
        dflt("application", Text, DEFAULT_APPLICATION),
    ],
};

pub static ROLE_PERMISSIONS: TableSpec = TableSpec {
    name: "role_permissions",
    key: &["role_id", "permission"],
    columns: &[req("role_id", Text), req("permission", Text)],
};

pub static GRANTS: TableSpec = TableSpec {
    name: "grants",
    key: &["id"],
    columns: &[
        req("id", Text),
        req("principal_id", Text),
        req("role_id", Text),
        col("granted_at", Timestamp),
        col("granted_by", Text),
        col("approved_by", Text),
        col("expires_at", Timestamp),
        col("revoked_at", Timestamp),
    ],
};

pub static EVENTS: TableSpec = TableSpec {
    name: "events",
    // The instant is part of an event's identity (migration 0016: PostgreSQL
    // partitions by it, and a unique key must include it): the same id at
    // another instant is another event. An event log is append-only.
    key: &["id", "occurred_at"],
    columns: &[
        req("id", Text),
        req("occurred_at", Timestamp),
        // Optional: sources log failed sign-ins of unknown accounts too.
        col("principal_id", Text),
        req("action", ColumnType::Action),
        col("object_type", Text),
        col("record_count", Int),
        col("ip", Text),
        col("device_id", Text),
        col("outcome", OUTCOME),
    ],
};

/// Where a grant's `granted_at` comes from (migration 0012): written by
/// the sync beside the canonical columns, never imported (NULL for rows
/// written otherwise, whose date is the data's own). A report and
/// `run --as-of` read it to tell a source's date from an inferred one.
pub static GRANTED_AT_BASIS: ColumnSpec = col("granted_at_basis", Text);

/// The values of `grants.granted_at_basis`.
pub mod grant_basis {
    /// The source gave the date.
    pub const SOURCE: &str = "source";
    /// The source gives none: the instant of the sync that first saw it.
    pub const FIRST_SEEN: &str = "first_seen";
    /// The synthetic super-user grant (`privileged.principals`): the
    /// account's own `created_at`.
    pub const ACCOUNT_START: &str = "account_start";
    /// The source's date fell at or before the end of an archived interval
    /// of the same grant (revoked, then granted again): the new interval
    /// starts at the sync that saw the grant again.
    pub const CLAMPED: &str = "clamped";
}

/// All canonical tables, in an order that loads parents before children.
pub static ALL: [&TableSpec; 6] = [
    &PEOPLE,
    &PRINCIPALS,
    &ROLES,
    &ROLE_PERMISSIONS,
    &GRANTS,
    &EVENTS,
];

/// Looks a table up by name.
pub fn table(name: &str) -> Option<&'static TableSpec> {
    ALL.iter().copied().find(|t| t.name == name)
}

/// What closed access reviews asked IT to revoke (written by
/// `review::close`; read by `review-revocation-pending`). Not importable:
/// rule tests fill it as a fixture.
pub static REVIEW_REVOCATIONS: TableSpec = TableSpec {
    name: "review_revocations",
    key: &["item_id"],
    columns: &[
        req("item_id", Int),
        req("campaign_id", Int),
        req("campaign", Text),
        req("grant_id", Text),
        req("principal_id", Text),
        req("role_id", Text),
        req("decided_by", Text),
        req("decided_at", Timestamp),
        req("due_at", Timestamp),
    ],
};

/// The tables a rule test's fixtures may fill: the canonical ones and what
/// the review stage records for rules.
pub static FIXTURES: [&TableSpec; 7] = [
    &PEOPLE,
    &PRINCIPALS,
    &ROLES,
    &ROLE_PERMISSIONS,
    &GRANTS,
    &EVENTS,
    &REVIEW_REVOCATIONS,
];

/// A value that does not fit its column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub column: String,
    pub message: String,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column `{}`: {}", self.column, self.message)
    }
}

impl ColumnSpec {
    /// Parses one cell; an empty cell is NULL; a time without an offset is UTC.
    pub fn parse(&self, raw: &str) -> Result<SqlValue, ValueError> {
        self.parse_in(raw, chrono_tz::UTC)
    }

    /// Parses one cell, taking a time without an offset in `tz`.
    pub fn parse_in(&self, raw: &str, tz: chrono_tz::Tz) -> Result<SqlValue, ValueError> {
        let err = |message: String| ValueError {
            column: self.name.to_string(),
            message,
        };
        // PostgreSQL cannot store U+0000 in text and SQLite would store it
        // silently: both backends refuse it alike, here, with its place.
        if raw.contains('\0') {
            return Err(err(
                "contains a NUL character (U+0000), which no text column can hold".into(),
            ));
        }
        let value = match (raw.trim(), self.default) {
            ("", Some(default)) => default,
            (value, _) => value,
        };
        if value.is_empty() {
            if self.required {
                return Err(err("is required and may not be empty".into()));
            }
            return Ok(self.null());
        }
        Ok(match self.ty {
            Text => SqlValue::text(value),
            Int => SqlValue::int(
                value
                    .parse::<i64>()
                    .map_err(|_| err(format!("`{value}` is not a whole number")))?,
            ),
            // `True`/`FALSE` too: what spreadsheets and Python's csv module write.
            Bool if value.eq_ignore_ascii_case("true") => SqlValue::Bool(Some(true)),
            Bool if value.eq_ignore_ascii_case("false") => SqlValue::Bool(Some(false)),
            Bool => return Err(err(format!("`{value}` is not a boolean (true or false)"))),
            Timestamp => SqlValue::time(model::parse_instant_in(value, tz).map_err(err)?),
            ColumnType::Enum(check) => {
                let value = value.to_ascii_lowercase();
                check(&value).map_err(err)?;
                SqlValue::text(value)
            }
            ColumnType::Action => SqlValue::text(value.to_ascii_lowercase()),
        })
    }

    fn null(&self) -> SqlValue {
        match self.ty {
            Int => SqlValue::Int(None),
            Bool => SqlValue::Bool(None),
            Timestamp => SqlValue::Time(None),
            Text | ColumnType::Enum(..) | ColumnType::Action => SqlValue::Text(None),
        }
    }
}

/// The columns a header names, checked against a table: every required
/// column present, no unknown or repeated column.
#[derive(Debug, Clone)]
pub struct HeaderMap {
    /// For each header position, the spec of its column.
    pub columns: Vec<&'static ColumnSpec>,
}

/// A header problem: which header cell (1-based; 0 when a column is missing) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    pub position: usize,
    pub column: String,
    pub message: String,
}

impl TableSpec {
    pub fn column(&'static self, name: &str) -> Option<&'static ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn map_header<S: AsRef<str>>(
        &'static self,
        header: &[S],
    ) -> Result<HeaderMap, Vec<HeaderError>> {
        let mut errors = Vec::new();
        let mut columns = Vec::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.as_ref().trim();
            match self.column(name) {
                Some(spec) if columns.iter().any(|c: &&ColumnSpec| c.name == spec.name) => errors
                    .push(HeaderError {
                        position: i + 1,
                        column: name.to_string(),
                        message: format!("column `{name}` appears twice"),
                    }),
                Some(spec) => columns.push(spec),
                None => errors.push(HeaderError {
                    position: i + 1,
                    column: name.to_string(),
                    message: format!(
                        "unknown column `{name}` for table {}; its columns are {}",
                        self.name,
                        self.columns
                            .iter()
                            .map(|c| c.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }),
            }
        }
        for spec in self.columns.iter().filter(|c| c.required) {
            if !header.iter().any(|h| h.as_ref().trim() == spec.name) {
                errors.push(HeaderError {
                    position: 0,
                    column: spec.name.to_string(),
                    message: format!("missing required column `{}`", spec.name),
                });
            }
        }
        if errors.is_empty() {
            Ok(HeaderMap { columns })
        } else {
            Err(errors)
        }
    }

    /// `INSERT … VALUES (…), (…) ON CONFLICT (key) DO UPDATE` for `rows` rows
    /// of `columns`: columns a feed does not carry keep their stored values.
    /// SQLite and PostgreSQL spell it the same.
    pub fn upsert_sql(&self, backend: Backend, columns: &[&ColumnSpec], rows: usize) -> String {
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        let mut values = Vec::with_capacity(rows);
        for r in 0..rows {
            let placeholders: Vec<String> = (0..columns.len())
                .map(|i| backend.sequential_param(r * columns.len() + i + 1))
                .collect();
            values.push(format!("({})", placeholders.join(", ")));
        }
        format!(
            "INSERT INTO {} ({}) VALUES {} {}",
            self.name,
            names.join(", "),
            values.join(", "),
            self.on_conflict_sql(&names)
        )
    }

    /// `ON CONFLICT (key) DO UPDATE SET` every given column that is not part
    /// of the key (`DO NOTHING` when there is none).
    pub fn on_conflict_sql(&self, names: &[&str]) -> String {
        let updates: Vec<String> = names
            .iter()
            .filter(|n| !self.key.contains(n))
            .map(|n| format!("{n} = excluded.{n}"))
            .collect();
        let action = if updates.is_empty() {
            "DO NOTHING".to_string()
        } else {
            format!("DO UPDATE SET {}", updates.join(", "))
        };
        format!("ON CONFLICT ({}) {action}", self.key.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_need_required_columns_and_no_unknown_ones() {
        let errors = PRINCIPALS
            .map_header(&["login", "id", "colour", "login"])
            .unwrap_err();
        let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert!(
            messages[0].starts_with("unknown column `colour`"),
            "{messages:?}"
        );
        assert_eq!(errors[0].position, 3);
        assert_eq!(messages[1], "column `login` appears twice");
        assert_eq!(messages[2], "missing required column `status`");
    }

    #[test]
    fn cells_parse_by_type_and_empty_is_null() {
        let spec = EVENTS.column("record_count").unwrap();
        assert_eq!(spec.parse("12"), Ok(SqlValue::int(12)));
        assert_eq!(spec.parse(""), Ok(SqlValue::Int(None)));
        assert!(
            spec.parse("12.5")
                .unwrap_err()
                .message
                .contains("not a whole number")
        );
        let status = PRINCIPALS.column("status").unwrap();
        assert!(
            status
                .parse("enabled")
                .unwrap_err()
                .message
                .contains("expected one of active")
        );
        assert!(status.parse("").is_err());
        let mfa = PRINCIPALS.column("mfa_enabled").unwrap();
        assert_eq!(mfa.parse("true"), Ok(SqlValue::Bool(Some(true))));
        assert_eq!(mfa.parse("False"), Ok(SqlValue::Bool(Some(false))));
        assert_eq!(mfa.parse(""), Ok(SqlValue::Bool(None)));
        let privileged = ROLES.column("privileged").unwrap();
        assert_eq!(
            privileged.parse(""),
            Ok(SqlValue::Bool(Some(false))),
            "NOT NULL column: empty is its default"
        );
        let account_type = PRINCIPALS.column("account_type").unwrap();
        assert_eq!(account_type.parse(" "), Ok(SqlValue::text("human")));
        assert!(mfa.parse("yes").is_err());
        let at = EVENTS.column("occurred_at").unwrap();
        assert!(
            at.parse("01/11/2026")
                .unwrap_err()
                .message
                .contains("RFC 3339")
        );
    }

    #[test]
    fn upserts_update_only_the_columns_a_feed_carries() {
        let cols = [
            PRINCIPALS.column("id").unwrap(),
            PRINCIPALS.column("status").unwrap(),
        ];
        assert_eq!(
            PRINCIPALS.upsert_sql(Backend::Postgres, &cols, 2),
            "INSERT INTO principals (id, status) VALUES ($1, $2), ($3, $4) ON CONFLICT (id) DO UPDATE SET status = excluded.status"
        );
        assert!(
            PRINCIPALS
                .upsert_sql(Backend::Sqlite, &cols, 2)
                .contains("VALUES (?, ?), (?, ?)")
        );
        let cols = [
            ROLE_PERMISSIONS.column("role_id").unwrap(),
            ROLE_PERMISSIONS.column("permission").unwrap(),
        ];
        assert!(
            ROLE_PERMISSIONS
                .upsert_sql(Backend::Sqlite, &cols, 1)
                .ends_with("DO NOTHING")
        );
    }
}
