//! The store's errors, and database URLs made safe to print.

/// Errors of the store: connecting, migrating, reading and writing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL `{0}`: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// A command that only reads an existing store was pointed at a SQLite
    /// file that does not exist (a typo in the path, most often).
    #[error(
        "no database at {0}: nothing was created (`accessaudit migrate`, `import`, `sync` or \
         `demo` create one; is the path right?)"
    )]
    Missing(String),
    /// The database exists but holds no accessaudit schema.
    #[error(
        "{0} holds no accessaudit schema: nothing was changed (`accessaudit migrate` creates \
         it; is this the right database?)"
    )]
    NoSchema(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// A write on SQLite's own handle (bulk loads) failed: SQLite's message,
    /// and whether it was a primary key or unique violation.
    #[error("database error: {message}")]
    Write {
        message: String,
        key_violation: bool,
    },
    /// A read on SQLite's own handle (`Tx::fetch`) failed: SQLite's message.
    #[error("database error: {0}")]
    Read(String),
    #[error("column `{column}`: {message}")]
    Decode { column: String, message: String },
    #[error("scan_database: {0}")]
    ScanDatabase(String),
    /// Untrusted SQL (a custom rule) refused before or while it was prepared.
    #[error("{0}")]
    Refused(String),
    /// A file being stored (an archived report's CSV) could not be read.
    #[error("reading {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    /// A bulk load's row does not have one value per column (a caller's
    /// defect: said, never loaded shifted).
    #[error("bulk load into {table}: a row has {got} value(s) for {expected} column(s)")]
    RowShape {
        table: String,
        expected: usize,
        got: usize,
    },
}

impl StoreError {
    /// A transaction used while a scan's thread has it (`Tx::Lent`).
    pub(super) fn lent() -> StoreError {
        StoreError::Read(
            "the transaction is not available: a scan of it did not end (its stream was leaked or its thread failed)"
                .into(),
        )
    }
}

/// PostgreSQL's refusal of a string of several statements in a prepared
/// statement (the extended protocol runs exactly one), in our words.
pub(super) fn refuse_several(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.message().contains("multiple commands") => {
            StoreError::Refused(format!(
                "more than one statement: only one SELECT is allowed ({})",
                db.message()
            ))
        }
        _ => StoreError::Sql(e),
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A database URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_appear_in_redacted_urls() {
        assert_eq!(
            redact_url("postgres://audit:s3cr%40t@db.example:5432/crm"),
            "postgres://audit:***@db.example:5432/crm"
        );
        assert_eq!(
            redact_url("sqlite://accessaudit.db"),
            "sqlite://accessaudit.db"
        );
        assert_eq!(
            redact_url("postgres://audit@db/crm"),
            "postgres://audit@db/crm"
        );
    }
}
