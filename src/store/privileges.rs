//! What the role that scans run as may do, measured on the server: scans
//! need to read the canonical tables and nothing else. Anything more is
//! reach a deployment's SQL (a `sql` rule) would have — the engine's own
//! tables (report bodies, outbox), server files, other databases — however
//! the SQL itself is checked. `config check` reports it; with
//! `require_least_privilege: true` runs refuse to start.

use serde::Serialize;
use sqlx::Row;
use sqlx::postgres::PgPool;

use super::error::Result;
use super::schema::{ENGINE_TABLES, SCAN_READABLE};

/// The scan role's privileges beyond (or short of) what scans need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanPrivileges {
    /// The role scans run as (PostgreSQL); `None` on SQLite, whose scans
    /// run on a read-only connection under an authorizer that lets a rule
    /// read the canonical tables only.
    pub role: Option<String>,
    /// Whether scans connect as a role apart from the one that writes.
    pub own_role: bool,
    pub superuser: bool,
    /// Of pg_read_server_files, pg_write_server_files,
    /// pg_execute_server_program: those the role has.
    pub server_file_roles: Vec<String>,
    /// Engine tables the role may read (it should read none).
    pub engine_tables_readable: Vec<String>,
    /// Canonical tables the role may write (scans are read-only anyway).
    pub canonical_tables_writable: Vec<String>,
    /// Canonical tables the role cannot read: rules would fail.
    pub canonical_tables_unreadable: Vec<String>,
    /// Functions that reach files or other servers, executable by the role.
    pub functions: Vec<String>,
    /// Foreign tables and foreign-data wrappers the role may use.
    pub foreign: Vec<String>,
}

/// Functions that read or write server files or reach other databases.
const REACHING_FUNCTIONS: [&str; 11] = [
    "pg_read_file",
    "pg_read_binary_file",
    "pg_ls_dir",
    "pg_stat_file",
    "lo_import",
    "lo_export",
    "pg_file_write",
    "dblink",
    "dblink_exec",
    "dblink_connect",
    "dblink_connect_u",
];

impl ScanPrivileges {
    pub fn sqlite() -> ScanPrivileges {
        ScanPrivileges {
            own_role: true,
            ..ScanPrivileges::default()
        }
    }

    /// Every privilege beyond what scans need, in words.
    pub fn excess(&self) -> Vec<String> {
        let role = self.role.as_deref().unwrap_or("?");
        let mut out = Vec::new();
        if self.superuser {
            out.push(format!(
                "scans run as `{role}`, a superuser: a sql rule could read server files \
                 (pg_read_file) and every table, whatever is granted"
            ));
        }
        if !self.superuser && !self.server_file_roles.is_empty() {
            out.push(format!(
                "scans run as `{role}`, a member of {}: a sql rule could read or write \
                 server files",
                self.server_file_roles.join(", ")
            ));
        }
        if !self.engine_tables_readable.is_empty() {
            let how = if self.own_role {
                "revoke SELECT on them from it"
            } else {
                "scans use the role that writes them; give scans a role of their own \
                 (`scan_database`)"
            };
            out.push(format!(
                "scans run as `{role}`, which may read the engine's own tables ({}): a sql \
                 rule could copy report bodies and outgoing mail into findings; {how}",
                self.engine_tables_readable.join(", ")
            ));
        }
        if !self.canonical_tables_writable.is_empty() {
            out.push(format!(
                "scans run as `{role}`, which may write {} (scans only read)",
                self.canonical_tables_writable.join(", ")
            ));
        }
        if !self.functions.is_empty() {
            out.push(format!(
                "scans run as `{role}`, which may execute {}: a sql rule could reach server \
                 files or other databases",
                self.functions.join(", ")
            ));
        }
        if !self.foreign.is_empty() {
            out.push(format!(
                "scans run as `{role}`, which may use {}: a sql rule could read outside the \
                 database",
                self.foreign.join(", ")
            ));
        }
        out
    }

    /// What scans need but lack, in words.
    pub fn missing(&self) -> Vec<String> {
        if self.canonical_tables_unreadable.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "scans run as `{}`, which cannot read {}: rules over them would fail",
            self.role.as_deref().unwrap_or("?"),
            self.canonical_tables_unreadable.join(", ")
        )]
    }
}

/// Measures the role of `scan`; `writes` is the store's own pool (to tell
/// whether scans have a role of their own).
pub(super) async fn postgres(scan: &PgPool, writes: &PgPool) -> Result<ScanPrivileges> {
    let me = sqlx::query(
        "SELECT current_user::text AS role, r.rolsuper AS superuser, \
                ARRAY(SELECT g FROM unnest(ARRAY['pg_read_server_files', \
                      'pg_write_server_files', 'pg_execute_server_program']) AS g \
                      WHERE pg_has_role(current_user, g, 'USAGE')) AS server_file_roles \
           FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(scan)
    .await?;
    let role: String = me.try_get("role")?;
    let writer: String = sqlx::query("SELECT current_user::text AS role")
        .fetch_one(writes)
        .await?
        .try_get("role")?;

    let mut all: Vec<&str> = SCAN_READABLE.to_vec();
    all.extend(ENGINE_TABLES);
    let tables = sqlx::query(
        "SELECT t AS name, c IS NOT NULL AND has_table_privilege(c, 'SELECT') AS can_read, \
                c IS NOT NULL AND has_table_privilege(c, 'INSERT, UPDATE, DELETE, TRUNCATE') \
                  AS can_write \
           FROM unnest($1::text[]) AS t, LATERAL to_regclass(t) AS c",
    )
    .bind(&all)
    .fetch_all(scan)
    .await?;
    let mut p = ScanPrivileges {
        own_role: role != writer,
        superuser: me.try_get("superuser")?,
        server_file_roles: me.try_get("server_file_roles")?,
        role: Some(role),
        ..ScanPrivileges::default()
    };
    for row in tables {
        let name: String = row.try_get("name")?;
        let (read, write): (bool, bool) = (row.try_get("can_read")?, row.try_get("can_write")?);
        let canonical = SCAN_READABLE.contains(&name.as_str());
        match (canonical, read, write) {
            (true, false, _) => p.canonical_tables_unreadable.push(name.clone()),
            (false, true, _) => p.engine_tables_readable.push(name.clone()),
            _ => {}
        }
        if canonical && write {
            p.canonical_tables_writable.push(name);
        }
    }
    p.functions = sqlx::query(
        "SELECT DISTINCT proname::text AS name FROM pg_proc \
          WHERE proname = ANY($1) AND has_function_privilege(oid, 'EXECUTE') ORDER BY 1",
    )
    .bind(REACHING_FUNCTIONS.as_slice())
    .fetch_all(scan)
    .await?
    .iter()
    .map(|r| r.try_get("name"))
    .collect::<Result<_, _>>()?;
    p.foreign = sqlx::query(
        "SELECT 'foreign-data wrapper ' || fdwname AS name FROM pg_foreign_data_wrapper \
          WHERE has_foreign_data_wrapper_privilege(oid, 'USAGE') \
         UNION ALL \
         SELECT 'foreign table ' || relname FROM pg_class \
          WHERE relkind = 'f' AND has_table_privilege(oid, 'SELECT') ORDER BY 1",
    )
    .fetch_all(scan)
    .await?
    .iter()
    .map(|r| r.try_get("name"))
    .collect::<Result<_, _>>()?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_superuser_writer_is_every_excess_at_once() {
        let p = ScanPrivileges {
            role: Some("accessaudit".into()),
            own_role: false,
            superuser: true,
            server_file_roles: vec!["pg_read_server_files".into()],
            engine_tables_readable: vec!["outbox".into(), "reports".into()],
            canonical_tables_writable: vec!["people".into()],
            functions: vec!["pg_read_file".into()],
            ..ScanPrivileges::default()
        };
        let excess = p.excess().join("\n");
        assert!(excess.contains("a superuser"), "{excess}");
        // The superuser line already says it all about server files.
        assert!(!excess.contains("a member of"), "{excess}");
        assert!(excess.contains("(outbox, reports)"), "{excess}");
        assert!(excess.contains("scan_database"), "{excess}");
        assert!(excess.contains("may write people"), "{excess}");
        assert!(excess.contains("pg_read_file"), "{excess}");
        assert!(p.missing().is_empty());
    }

    #[test]
    fn sqlite_and_a_least_privilege_role_have_nothing_to_say() {
        assert!(ScanPrivileges::sqlite().excess().is_empty());
        let p = ScanPrivileges {
            role: Some("scan".into()),
            own_role: true,
            canonical_tables_unreadable: vec!["events".into()],
            ..ScanPrivileges::default()
        };
        assert!(p.excess().is_empty());
        assert!(p.missing()[0].contains("cannot read events"));
    }
}
