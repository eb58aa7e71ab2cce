//! The few SQL spellings that differ between SQLite and PostgreSQL.

use std::time::Duration;

/// Which database a store talks to; decides the few SQL spellings that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// SQL that is true when `expr` is one of the strings of the list bound
    /// at placeholder `$n` (a `SqlValue::TextList`).
    pub fn in_list(self, expr: &str, n: usize) -> String {
        match self {
            Backend::Sqlite => format!("{expr} IN (SELECT value FROM json_each(${n}))"),
            Backend::Postgres => format!("{expr} = ANY(${n}::text[])"),
        }
    }

    /// `in_list` for a list whose length is known as the SQL is written and
    /// small (a rule's account statuses, account types, worker types). On
    /// SQLite each item is compared directly, read from the bound JSON by
    /// `json_extract` — a function of a bound value, which SQLite evaluates
    /// once per statement — instead of probing `json_each`'s temporary table
    /// for every row: initial-password-unchanged's scan of 1M accounts took
    /// 0.17 s against 0.21 s. Longer lists keep the table.
    pub fn in_short_list(self, expr: &str, n: usize, len: usize) -> String {
        const SHORT: usize = 8;
        match self {
            Backend::Sqlite if len <= SHORT => {
                let items: Vec<String> = (0..len)
                    .map(|i| format!("json_extract(${n}, '$[{i}]')"))
                    .collect();
                format!("{expr} IN ({})", items.join(", "))
            }
            _ => self.in_list(expr, n),
        }
    }

    /// An ORDER BY term the database sorts by rather than walks an index
    /// for. A full scan of `principals` or `grants` ordered by their text
    /// key makes SQLite read every row through the key's index, one table
    /// seek per row; reading the table in storage order and sorting what
    /// passes is cheaper (initial-password-unchanged at 1M: 0.18 s against
    /// 0.22 s). SQLite's unary `+` hides the column from the planner;
    /// PostgreSQL costs the two plans itself (and has no `+` for text).
    pub fn sorted_by(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!("+{expr}"),
            Backend::Postgres => expr.to_string(),
        }
    }

    /// The placeholder of the `n`th parameter in a statement whose
    /// placeholders appear in binding order (bulk INSERTs). SQLite resolves a
    /// named `$n` by a linear search of the statement's names, so a statement
    /// with thousands of them costs quadratic time to prepare; a plain `?` is
    /// positional and free.
    pub fn sequential_param(self, n: usize) -> String {
        match self {
            Backend::Sqlite => "?".to_string(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// A duration in the unit timestamps are compared in: SQLite stores
    /// microseconds, PostgreSQL takes an interval.
    pub fn interval(self, d: Duration) -> String {
        match self {
            Backend::Sqlite => format!("{}", d.as_micros()),
            Backend::Postgres => format!("INTERVAL '{} microseconds'", d.as_micros()),
        }
    }

    /// A derived table of `(k, v)` rows from a JSON object of string arrays
    /// bound at `$n` as text: `{"r1": ["export", "delete"]}` gives two rows.
    /// Give it an alias (`FROM … m`): PostgreSQL before 16 requires one.
    pub fn json_map_rows(self, n: usize) -> String {
        match self {
            Backend::Sqlite => format!(
                "(SELECT m.key AS k, a.value AS v FROM json_each(${n}) m, json_each(m.value) a)"
            ),
            Backend::Postgres => {
                format!(
                    "(SELECT m.key AS k, a.v FROM jsonb_each(${n}::jsonb) m, jsonb_array_elements_text(m.value) AS a(v))"
                )
            }
        }
    }

    /// `expr` with ASCII letters lower-cased, the same on both backends:
    /// SQLite's `lower` folds only ASCII, PostgreSQL's folds all of Unicode,
    /// and a rule must give the same findings on both. (The indexes on
    /// emails use this same expression.)
    pub fn fold_case(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!("lower({expr})"),
            Backend::Postgres => format!("translate({expr}, '{ASCII_UPPER}', '{ASCII_LOWER}')"),
        }
    }

    /// The part of the email `expr` before its first `@`, ASCII-folded like
    /// [`Backend::fold_case`] (identity match `login_is_mail_local_part`;
    /// the index `people_mail_local_ci`, migration 0015, is on this same
    /// expression).
    pub fn mail_local_part_folded(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!("lower(substr({expr}, 1, instr({expr}, '@') - 1))"),
            Backend::Postgres => self.fold_case(&format!("split_part({expr}, '@', 1)")),
        }
    }

    /// An instant as an SQL literal, for the few places where a statement
    /// cannot take it as a parameter (see engine::principals_at). Only ever
    /// given a formatted `DateTime`, never user text.
    pub fn time_literal(self, t: chrono::DateTime<chrono::Utc>) -> String {
        match self {
            Backend::Sqlite => t.timestamp_micros().to_string(),
            Backend::Postgres => format!("TIMESTAMPTZ '{}'", t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
        }
    }

    /// An aggregate giving, as JSON text, the array of one JSON array per
    /// row (`elements` are its items), in no particular order; an empty
    /// group gives NULL on PostgreSQL and `[]` on SQLite. It lets one row
    /// carry an account's grants, so a query needs no `ORDER BY` to keep
    /// them together and its rows stream (see non_employee_access).
    pub fn json_rows_agg(self, elements: &[&str]) -> String {
        let items = elements.join(", ");
        match self {
            Backend::Sqlite => format!("json_group_array(json_array({items}))"),
            Backend::Postgres => format!("json_agg(json_build_array({items}))::text"),
        }
    }

    /// A timestamp column as microseconds since the epoch (how SQLite
    /// stores it), for JSON built by the database that Rust reads back with
    /// `from_micros`.
    pub fn micros(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => expr.to_string(),
            // EXTRACT gives numeric (exact) since PostgreSQL 14.
            Backend::Postgres => format!("(EXTRACT(EPOCH FROM {expr}) * 1000000)::bigint"),
        }
    }

    /// The part of a login before `@` (the whole login where there is none).
    pub fn local_part(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!(
                "(CASE WHEN instr({expr}, '@') > 0 THEN substr({expr}, 1, instr({expr}, '@') - 1) ELSE {expr} END)"
            ),
            Backend::Postgres => format!("split_part({expr}, '@', 1)"),
        }
    }
}

const ASCII_UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ASCII_LOWER: &str = "abcdefghijklmnopqrstuvwxyz";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_folding_is_ascii_on_both_backends() {
        assert_eq!(Backend::Sqlite.fold_case("p.email"), "lower(p.email)");
        assert_eq!(
            Backend::Postgres.fold_case("p.email"),
            "translate(p.email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
        );
    }

    #[test]
    fn short_lists_compare_each_item_on_sqlite() {
        assert_eq!(
            Backend::Sqlite.in_short_list("p.status", 3, 2),
            "p.status IN (json_extract($3, '$[0]'), json_extract($3, '$[1]'))"
        );
        assert_eq!(
            Backend::Sqlite.in_short_list("p.status", 3, 9),
            Backend::Sqlite.in_list("p.status", 3)
        );
        assert_eq!(
            Backend::Postgres.in_short_list("p.status", 3, 2),
            Backend::Postgres.in_list("p.status", 3)
        );
    }

    #[test]
    fn lists_bind_as_json_on_sqlite_and_arrays_on_postgres() {
        assert_eq!(
            Backend::Sqlite.in_list("p.status", 2),
            "p.status IN (SELECT value FROM json_each($2))"
        );
        assert_eq!(
            Backend::Postgres.in_list("p.status", 2),
            "p.status = ANY($2::text[])"
        );
    }
}
