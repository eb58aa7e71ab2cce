//! Which application the rows a sync or an import writes are in, and the
//! ids they are stored under (docs/CANONICAL.md, "Applications and ids"):
//! one place for sources and CSV files alike.

use super::tables::{self, ColumnSpec, TableSpec};
use crate::model::application;
use crate::store::SqlValue;

/// The application of what one source or file writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The application of accounts and roles (None: as the rows say, else
    /// the table's default).
    application: Option<String>,
    /// Whether ids are stored as `APPLICATION:NATIVE`.
    prefixed: bool,
}

impl Namespace {
    /// Rows as given: the application is the rows' own `application`
    /// column, else `default`; ids are not namespaced.
    pub fn as_given() -> Namespace {
        Namespace {
            application: None,
            prefixed: false,
        }
    }

    /// An application named explicitly (`import --application`, a source's
    /// `application:`): its ids are namespaced.
    pub fn named(application: &str) -> Namespace {
        Namespace {
            application: Some(application.to_string()),
            prefixed: true,
        }
    }

    /// A source: in its `application:` (ids namespaced), else in the
    /// application named like the source (ids as given, as before
    /// applications existed).
    pub fn of_source(source: &str, application: Option<&str>) -> Namespace {
        match application {
            Some(a) => Namespace::named(a),
            None => Namespace {
                application: Some(source.to_string()),
                prefixed: false,
            },
        }
    }

    /// The stored id of a native id of this application.
    pub fn id(&self, native: &str) -> String {
        match (&self.application, self.prefixed) {
            (Some(a), true) => application::namespaced(a, native),
            _ => native.to_string(),
        }
    }

    /// The columns written for rows of `columns`: `application` is added to
    /// accounts and roles when the rows do not give it.
    pub fn columns(
        &self,
        spec: &'static TableSpec,
        columns: &[&'static ColumnSpec],
    ) -> Vec<&'static ColumnSpec> {
        let mut out = columns.to_vec();
        if self.application.is_some()
            && !columns.iter().any(|c| c.name == APPLICATION)
            && let Some(c) = spec.column(APPLICATION)
        {
            out.push(c);
        }
        out
    }

    /// Makes a row of the feed's columns a row of `self.columns(…)`: the
    /// application added where it is missing, ids namespaced.
    pub fn apply(&self, spec: &TableSpec, written: &[&ColumnSpec], row: &mut Vec<SqlValue>) {
        if row.len() < written.len()
            && let Some(a) = &self.application
        {
            row.push(SqlValue::text(a.clone()));
        }
        // A row that names no application of its own is in this one.
        if let Some(at) = written.iter().position(|c| c.name == APPLICATION)
            && let Some(SqlValue::Text(value @ None)) = row.get_mut(at)
        {
            *value = Some(
                self.application
                    .clone()
                    .unwrap_or_else(|| tables::DEFAULT_APPLICATION.to_string()),
            );
        }
        if !self.prefixed {
            return;
        }
        let ids = id_columns(spec);
        for (column, value) in written.iter().zip(row.iter_mut()) {
            if ids.contains(&column.name)
                && let SqlValue::Text(Some(native)) = value
            {
                *native = self.id(native);
            }
        }
    }
}

const APPLICATION: &str = "application";

/// The columns of a table that hold an account, role, grant or event id of
/// the application (people are never namespaced: one person, many
/// applications).
fn id_columns(spec: &TableSpec) -> &'static [&'static str] {
    match spec.name {
        n if n == tables::PRINCIPALS.name || n == tables::ROLES.name => &["id"],
        n if n == tables::ROLE_PERMISSIONS.name => &["role_id"],
        n if n == tables::GRANTS.name => &["id", "principal_id", "role_id"],
        n if n == tables::EVENTS.name => &["id", "principal_id"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(spec: &'static TableSpec, names: &[&str]) -> Vec<&'static ColumnSpec> {
        names.iter().map(|n| spec.column(n).unwrap()).collect()
    }

    #[test]
    fn a_named_application_namespaces_every_id_and_reference() {
        let ns = Namespace::named("erp");
        let c = cols(
            &tables::GRANTS,
            &["id", "principal_id", "role_id", "granted_by"],
        );
        let written = ns.columns(&tables::GRANTS, &c);
        assert_eq!(written.len(), 4, "grants have no application column");
        let mut row = vec![
            SqlValue::text("g1"),
            SqlValue::text("1"),
            SqlValue::text("7"),
            SqlValue::text("boss"),
        ];
        ns.apply(&tables::GRANTS, &written, &mut row);
        assert_eq!(
            row,
            [
                SqlValue::text("erp:g1"),
                SqlValue::text("erp:1"),
                SqlValue::text("erp:7"),
                SqlValue::text("boss"),
            ]
        );

        let c = cols(&tables::PRINCIPALS, &["id", "login", "person_id", "status"]);
        let written = ns.columns(&tables::PRINCIPALS, &c);
        assert_eq!(written.last().unwrap().name, "application");
        let mut row = vec![
            SqlValue::text("1"),
            SqlValue::text("li"),
            SqlValue::text("P1"),
            SqlValue::text("active"),
        ];
        ns.apply(&tables::PRINCIPALS, &written, &mut row);
        assert_eq!(row[0], SqlValue::text("erp:1"));
        assert_eq!(row[2], SqlValue::text("P1"), "people are not namespaced");
        assert_eq!(row[4], SqlValue::text("erp"));
        let mut event = vec![SqlValue::text("e1"), SqlValue::Text(None)];
        let c = cols(&tables::EVENTS, &["id", "principal_id"]);
        ns.apply(&tables::EVENTS, &c, &mut event);
        assert_eq!(event, [SqlValue::text("erp:e1"), SqlValue::Text(None)]);
    }

    #[test]
    fn a_source_without_application_keeps_its_ids_in_its_own_application() {
        let ns = Namespace::of_source("wukong", None);
        let c = cols(&tables::ROLES, &["id", "name"]);
        let written = ns.columns(&tables::ROLES, &c);
        let mut row = vec![SqlValue::text("3"), SqlValue::text("admin")];
        ns.apply(&tables::ROLES, &written, &mut row);
        assert_eq!(row[0], SqlValue::text("3"));
        assert_eq!(row[2], SqlValue::text("wukong"));
    }

    #[test]
    fn rows_that_name_their_application_keep_it() {
        let ns = Namespace::of_source("sso", None);
        let c = cols(&tables::ROLES, &["id", "name", "application"]);
        let written = ns.columns(&tables::ROLES, &c);
        assert_eq!(written.len(), 3);
        let mut row = vec![
            SqlValue::text("3"),
            SqlValue::text("admin"),
            SqlValue::text("crm"),
        ];
        ns.apply(&tables::ROLES, &written, &mut row);
        assert_eq!(row[2], SqlValue::text("crm"));
        let as_given = Namespace::as_given();
        assert_eq!(as_given.columns(&tables::ROLES, &c[..2]).len(), 2);
    }
}
