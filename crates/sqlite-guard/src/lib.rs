//! The SQLite guard of accessaudit: an authorizer that confines untrusted SQL
//! (custom rules, source mappings) to reading, and a single-statement check
//! done by SQLite's own parser.
//!
//! sqlx exposes no authorizer, so this crate calls SQLite through
//! `libsqlite3-sys` (the very version sqlx links) on the handle of a locked
//! sqlx connection. It holds the only `unsafe` code of accessaudit; the
//! library crate forbids it. The API is safe: every function takes a
//! `LockedSqliteHandle`, which sqlx hands out only while no other code uses
//! the connection.

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;
use sqlx_sqlite::LockedSqliteHandle;

/// What an authorizer lets a statement do. Policies are `'static`: SQLite
/// keeps a pointer to the policy for as long as the connection lives.
#[derive(Debug)]
pub enum Policy {
    /// For our own statements on read-only connections: everything but
    /// ATTACH and DETACH.
    Trusted,
    /// For SQL written by a deployment: SELECT only, reading the listed
    /// tables (`None`: any table but SQLite's own schema and `pragma_*`
    /// tables), calling only allow-listed functions. No PRAGMA, ATTACH,
    /// DETACH, VACUUM, transaction or savepoint control, no writes.
    Untrusted {
        readable: Option<&'static [&'static str]>,
    },
}

/// Why a statement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("more than one statement: only one SELECT is allowed (the rest starts at `{tail}`)")]
    SeveralStatements { tail: String },
    #[error("the query is empty")]
    Empty,
    #[error("not allowed: {what}")]
    Denied { what: String },
    #[error("{message}")]
    Sqlite { message: String },
    #[error("the query contains a NUL character")]
    Nul,
    /// A row of [`execute_rows`] failed: SQLite's message and extended
    /// result code.
    #[error("{message}")]
    Step { message: String, code: c_int },
}

impl GuardError {
    /// Whether a statement was interrupted (by the connection's progress
    /// handler: the scan deadline).
    pub fn is_interrupt(&self) -> bool {
        matches!(self, GuardError::Step { code, .. } if *code == ffi::SQLITE_INTERRUPT)
    }

    /// Whether this is a primary key or unique violation.
    pub fn is_key_violation(&self) -> bool {
        matches!(
            self,
            GuardError::Step { code, .. }
                if *code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY || *code == ffi::SQLITE_CONSTRAINT_UNIQUE
        )
    }
}

/// Installs `policy` as the authorizer of the connection, replacing any
/// previous one. It applies to statements prepared from now on (sqlx
/// prepares a query when it first runs it).
pub fn install_authorizer(handle: &mut LockedSqliteHandle<'_>, policy: &'static Policy) {
    // SAFETY: the locked handle gives exclusive use of an open connection.
    unsafe { install_raw(handle.as_raw_handle(), policy) }
}

/// Checks that `sql` is exactly one statement by SQLite's own parser: the
/// first statement must prepare (under the connection's authorizer, so a
/// denial is reported here), and whatever follows it must hold no statement
/// (only whitespace, comments or empty `;`).
pub fn single_statement(handle: &mut LockedSqliteHandle<'_>, sql: &str) -> Result<(), GuardError> {
    // SAFETY: as above; the connection stays locked for the whole call.
    unsafe { single_statement_raw(handle.as_raw_handle(), sql) }
}

/// Whether SQLite's tokenizer sees more than one statement in `sql`: a
/// static check that needs no database (for `rules validate`). It follows
/// SQLite's quoting (`'…'`, `"…"`, `[…]`, `` `…` ``, comments), so it may
/// over-report a `;` inside PostgreSQL's `$tag$…$tag$` strings; callers skip
/// such queries. The guard at prepare time is the real boundary.
pub fn several_statements(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b != b';' {
            continue;
        }
        let Ok(head) = CString::new(&bytes[..=i]) else {
            return false;
        };
        // SAFETY: `head` is a NUL-terminated string; sqlite3_complete only
        // reads it and needs no database.
        let complete = unsafe { ffi::sqlite3_complete(head.as_ptr()) } != 0;
        if complete && has_tokens(&sql[i + 1..]) {
            return true;
        }
    }
    false
}

/// Whether `rest` holds anything but whitespace, comments and `;`.
fn has_tokens(rest: &str) -> bool {
    let mut s = rest;
    loop {
        s = s.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
        if let Some(r) = s.strip_prefix("--") {
            s = r.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(r) = s.strip_prefix("/*") {
            s = r.split_once("*/").map_or("", |(_, r)| r);
        } else {
            return !s.is_empty();
        }
    }
}

/// Functions a deployment's query may call: SQLite's core scalar,
/// aggregate, window, date and JSON functions (and math, when compiled in).
/// Anything else — load_extension, fts3_tokenizer, readfile/writefile of
/// the shell, sqlite_* introspection, application-defined functions — is
/// refused.
const ALLOWED_FUNCTIONS: &[&str] = &[
    // scalar
    "abs",
    "char",
    "coalesce",
    "concat",
    "concat_ws",
    "format",
    "glob",
    "hex",
    "ifnull",
    "iif",
    "if",
    "instr",
    "length",
    "like",
    "likelihood",
    "likely",
    "lower",
    "ltrim",
    "max",
    "min",
    "nullif",
    "octet_length",
    "printf",
    "quote",
    "replace",
    "round",
    "rtrim",
    "sign",
    "soundex",
    "substr",
    "substring",
    "trim",
    "typeof",
    "unhex",
    "unicode",
    "unlikely",
    "upper",
    "zeroblob",
    "random",
    "randomblob",
    "unistr",
    "unistr_quote",
    // date and time
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    "current_date",
    "current_time",
    "current_timestamp",
    // aggregate
    "avg",
    "count",
    "group_concat",
    "string_agg",
    "sum",
    "total",
    "median",
    "percentile",
    "percentile_cont",
    "percentile_disc",
    // window
    "row_number",
    "rank",
    "dense_rank",
    "percent_rank",
    "cume_dist",
    "ntile",
    "lag",
    "lead",
    "first_value",
    "last_value",
    "nth_value",
    // JSON (`->` and `->>` are functions too)
    "json",
    "jsonb",
    "json_array",
    "jsonb_array",
    "json_array_length",
    "json_error_position",
    "json_extract",
    "jsonb_extract",
    "->",
    "->>",
    "json_insert",
    "jsonb_insert",
    "json_object",
    "jsonb_object",
    "json_patch",
    "jsonb_patch",
    "json_pretty",
    "json_remove",
    "jsonb_remove",
    "json_replace",
    "jsonb_replace",
    "json_set",
    "jsonb_set",
    "json_type",
    "json_valid",
    "json_quote",
    "json_group_array",
    "jsonb_group_array",
    "json_group_object",
    "jsonb_group_object",
    // math
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atan2",
    "atanh",
    "ceil",
    "ceiling",
    "cos",
    "cosh",
    "degrees",
    "exp",
    "floor",
    "ln",
    "log",
    "log10",
    "log2",
    "mod",
    "pi",
    "pow",
    "power",
    "radians",
    "sin",
    "sinh",
    "sqrt",
    "tan",
    "tanh",
    "trunc",
];

/// Table-valued functions a query may read from (eponymous virtual tables).
const ALLOWED_TABLE_FUNCTIONS: &[&str] = &["json_each", "json_tree", "jsonb_each", "jsonb_tree"];

thread_local! {
    /// The last thing the authorizer refused on this thread: SQLite itself
    /// only says "not authorized". The callback runs on the thread that
    /// prepares, which for `single_statement` is the caller's.
    static LAST_DENIAL: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// # Safety
/// `db` must be an open connection that no other thread uses during the call.
unsafe fn install_raw(db: NonNull<ffi::sqlite3>, policy: &'static Policy) {
    let data = ptr::from_ref(policy).cast_mut().cast::<c_void>();
    // SAFETY: `db` is valid (caller); `policy` outlives the connection
    // ('static) and is only read, through a shared reference, by `authorize`.
    // sqlite3_set_authorizer only fails on a NULL handle (API armor).
    unsafe {
        ffi::sqlite3_set_authorizer(db.as_ptr(), Some(authorize), data);
    }
}

/// # Safety
/// As `install_raw`.
unsafe fn single_statement_raw(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<(), GuardError> {
    let text = CString::new(sql).map_err(|_| GuardError::Nul)?;
    let start = text.as_ptr();
    let len = text.as_bytes().len();
    LAST_DENIAL.with(|d| d.borrow_mut().take());
    let mut at = start;
    let mut statements = 0usize;
    loop {
        // SAFETY: `at` points inside `text` (or at its NUL), which lives
        // until the end of the function.
        let offset = unsafe { at.offset_from(start) } as usize;
        if offset >= len {
            break;
        }
        let mut stmt: *mut ffi::sqlite3_stmt = ptr::null_mut();
        let mut tail: *const c_char = ptr::null();
        // SAFETY: db is valid (caller); text is NUL-terminated; -1 = read to
        // the NUL. On return `tail` points into `text`.
        let rc = unsafe { ffi::sqlite3_prepare_v2(db.as_ptr(), at, -1, &mut stmt, &mut tail) };
        // A query returns columns and writes nothing; VACUUM, which the
        // authorizer never sees, fails this (as would any write).
        // SAFETY: `stmt` is NULL or a statement we prepared; it is finalized
        // here and not used again.
        let query = stmt.is_null()
            || unsafe {
                ffi::sqlite3_stmt_readonly(stmt) != 0 && ffi::sqlite3_column_count(stmt) > 0
            };
        if !stmt.is_null() {
            // SAFETY: as above.
            unsafe { ffi::sqlite3_finalize(stmt) };
        }
        if rc != ffi::SQLITE_OK {
            if statements > 0 {
                // Whatever follows the first statement is refused, whether
                // or not it would prepare.
                return Err(several(&text, offset));
            }
            if let Some(what) = LAST_DENIAL.with(|d| d.borrow_mut().take()) {
                return Err(GuardError::Denied { what });
            }
            // SAFETY: db is valid; the message is copied before any other call.
            let message = unsafe { last_message(db) };
            return Err(GuardError::Sqlite { message });
        }
        if !stmt.is_null() {
            statements += 1;
            if statements > 1 {
                return Err(several(&text, offset));
            }
            if !query {
                return Err(GuardError::Denied {
                    what: "a statement other than a read-only SELECT".into(),
                });
            }
        }
        if tail.is_null() || tail == at {
            break;
        }
        at = tail;
    }
    if statements == 0 {
        return Err(GuardError::Empty);
    }
    Ok(())
}

fn several(text: &CStr, offset: usize) -> GuardError {
    let rest = String::from_utf8_lossy(&text.to_bytes()[offset..]);
    let rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
    GuardError::SeveralStatements {
        tail: rest.chars().take(40).collect(),
    }
}

/// The authorizer. SQLite calls it while preparing, on the preparing thread.
unsafe extern "C" fn authorize(
    data: *mut c_void,
    action: c_int,
    arg1: *const c_char,
    arg2: *const c_char,
    _database: *const c_char,
    _trigger: *const c_char,
) -> c_int {
    // SAFETY: `data` is the `&'static Policy` given to install_raw.
    let policy = unsafe { &*data.cast::<Policy>() };
    // SAFETY: SQLite passes NULL or NUL-terminated strings valid for the call.
    let text = |p: *const c_char| {
        if p.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    match decide(policy, action, &text(arg1), &text(arg2)) {
        Ok(()) => ffi::SQLITE_OK,
        Err(what) => {
            LAST_DENIAL.with(|d| *d.borrow_mut() = Some(what));
            ffi::SQLITE_DENY
        }
    }
}

/// The policy's answer: `Err(what was refused)`.
fn decide(policy: &Policy, action: c_int, arg1: &str, arg2: &str) -> Result<(), String> {
    match action {
        ffi::SQLITE_ATTACH => Err("ATTACH".into()),
        ffi::SQLITE_DETACH => Err("DETACH".into()),
        // VACUUM (and VACUUM INTO, which writes a copy of the database even
        // from a read-only connection) never reaches the authorizer:
        // `single_statement` refuses it as a statement that is not a
        // read-only query.
        _ => match policy {
            Policy::Trusted => Ok(()),
            Policy::Untrusted { readable } => untrusted(*readable, action, arg1, arg2),
        },
    }
}

fn untrusted(
    readable: Option<&'static [&'static str]>,
    action: c_int,
    arg1: &str,
    arg2: &str,
) -> Result<(), String> {
    match action {
        ffi::SQLITE_SELECT | ffi::SQLITE_RECURSIVE => Ok(()),
        ffi::SQLITE_READ => {
            let table = arg1.to_ascii_lowercase();
            let allowed = ALLOWED_TABLE_FUNCTIONS.contains(&table.as_str())
                || match readable {
                    Some(tables) => tables.iter().any(|t| t.eq_ignore_ascii_case(&table)),
                    None => !table.starts_with("sqlite_") && !table.starts_with("pragma_"),
                };
            if allowed {
                Ok(())
            } else {
                Err(format!("reading table `{arg1}`"))
            }
        }
        ffi::SQLITE_FUNCTION => {
            let name = arg2.to_ascii_lowercase();
            if ALLOWED_FUNCTIONS.contains(&name.as_str()) {
                Ok(())
            } else {
                Err(format!("function `{arg2}`"))
            }
        }
        ffi::SQLITE_PRAGMA => Err(format!("PRAGMA {arg1}")),
        ffi::SQLITE_TRANSACTION => Err(format!("transaction control ({arg1})")),
        ffi::SQLITE_SAVEPOINT => Err(format!("savepoint control ({arg1} {arg2})")),
        other => Err(format!("a statement other than SELECT (action {other})")),
    }
}

/// One value bound to a statement by [`execute_rows`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// Runs the one statement `sql` (an `INSERT … VALUES (?, …, ?)` with `width`
/// parameters) once per row of `values` (rows laid end to end), prepared
/// once and bound per row: the path of `sqlite3 .import`, without a worker
/// thread or argument buffers between the caller and SQLite (bulk imports).
/// Returns the rows changed. At the first failing row it stops with SQLite's
/// message; the caller's transaction decides what stays.
pub fn execute_rows(
    handle: &mut LockedSqliteHandle<'_>,
    sql: &str,
    width: usize,
    values: &[Value<'_>],
) -> Result<u64, GuardError> {
    // SAFETY: the locked handle gives exclusive use of an open connection
    // for the whole call.
    unsafe { execute_rows_raw(handle.as_raw_handle(), sql, width, values) }
}

/// A prepared statement, finalized on drop.
struct Stmt(*mut ffi::sqlite3_stmt);

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: a statement we prepared (or NULL, which SQLite ignores),
        // finalized once.
        unsafe { ffi::sqlite3_finalize(self.0) };
    }
}

/// # Safety
/// As `install_raw`.
unsafe fn execute_rows_raw(
    db: NonNull<ffi::sqlite3>,
    sql: &str,
    width: usize,
    values: &[Value<'_>],
) -> Result<u64, GuardError> {
    let error = || GuardError::Sqlite {
        // SAFETY: db is valid; the message is copied before any other call.
        message: unsafe { last_message(db) },
    };
    if width == 0 || !values.len().is_multiple_of(width) {
        return Err(GuardError::Sqlite {
            message: format!("{} values do not make rows of {width}", values.len()),
        });
    }
    // SAFETY: db is valid and ours for the call.
    let stmt = unsafe { prepare_one(db, sql)? };
    // SAFETY: stmt is a valid prepared statement.
    let slots = unsafe { parameter_slots(&stmt, width)? };
    let mut changed = 0u64;
    for row in values.chunks(width) {
        // SAFETY: stmt is valid; `values` outlives every step and each
        // value is rebound (or the statement finalized) before it goes.
        if unsafe { bind(&stmt, &slots, row, ffi::SQLITE_STATIC()) } != ffi::SQLITE_OK {
            return Err(error());
        }
        // SAFETY: stmt is valid with every parameter bound.
        let rc = unsafe { ffi::sqlite3_step(stmt.0) };
        if rc != ffi::SQLITE_DONE {
            let e = GuardError::Step {
                // SAFETY: db is valid; read before any other call.
                code: unsafe { ffi::sqlite3_extended_errcode(db.as_ptr()) },
                message: error().to_string(),
            };
            // SAFETY: as above; reset so that the error is not reported again.
            unsafe { ffi::sqlite3_reset(stmt.0) };
            return Err(e);
        }
        // SAFETY: as above.
        changed += unsafe { ffi::sqlite3_changes64(db.as_ptr()) } as u64;
        // SAFETY: as above; a DONE statement resets without error.
        unsafe { ffi::sqlite3_reset(stmt.0) };
    }
    Ok(changed)
}

/// The connection's message for its last failed call, copied.
///
/// # Safety
/// `db` is an open connection; call before any other call on it.
unsafe fn last_message(db: NonNull<ffi::sqlite3>) -> String {
    // SAFETY: as the function's contract; the message is copied at once.
    unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())) }
        .to_string_lossy()
        .into_owned()
}

/// One column value of a row read by [`Rows`], owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// The rows of one statement, stepped on the connection's own handle: no
/// worker thread and no channel between SQLite and the caller (sqlx hands
/// each row to its worker's channel with a wake-up per row, which cost scans
/// with hundreds of thousands of rows more than SQLite's own work). The
/// connection stays locked until this is dropped; the statement is
/// finalized first.
pub struct Rows<'h> {
    // Declared first: dropped (finalized) before the lock is released.
    stmt: Stmt,
    handle: LockedSqliteHandle<'h>,
    columns: Vec<String>,
    done: bool,
}

// SAFETY: the statement belongs to the connection whose lock `handle`
// holds: nothing else can use either while this exists, whichever thread
// steps it (SQLite is built thread-safe; a connection may move between
// threads when it is not used concurrently).
unsafe impl Send for Rows<'_> {}

impl<'h> Rows<'h> {
    /// Prepares `sql` (exactly one statement: anything but whitespace,
    /// comments and `;` after it is refused) under the connection's
    /// authorizer and binds `values` to its parameters by number
    /// (`$2` the second value), as sqlx does.
    pub fn prepare(
        mut handle: LockedSqliteHandle<'h>,
        sql: &str,
        values: &[Value<'_>],
    ) -> Result<Rows<'h>, GuardError> {
        let db = handle.as_raw_handle();
        // SAFETY: the locked handle gives exclusive use of an open
        // connection for as long as `Rows` lives.
        let stmt = unsafe { prepare_bound(db, sql, values)? };
        // SAFETY: stmt is a valid prepared statement.
        let count = unsafe { ffi::sqlite3_column_count(stmt.0) };
        let mut columns = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        for i in 0..count {
            // SAFETY: i is a column of stmt; the name is copied at once.
            let name = unsafe { ffi::sqlite3_column_name(stmt.0, i) };
            columns.push(if name.is_null() {
                String::new()
            } else {
                // SAFETY: a NUL-terminated name SQLite keeps until finalize.
                unsafe { CStr::from_ptr(name) }
                    .to_string_lossy()
                    .into_owned()
            });
        }
        Ok(Rows {
            stmt,
            handle,
            columns,
            done: false,
        })
    }

    /// The result's column names, in order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The next row, `None` after the last. An error (the progress
    /// handler's interrupt at the scan deadline among them) ends the rows.
    pub fn next_row(&mut self) -> Result<Option<Vec<Cell>>, GuardError> {
        if self.done {
            return Ok(None);
        }
        let db = self.handle.as_raw_handle();
        // SAFETY: a valid statement of the locked connection.
        let rc = unsafe { ffi::sqlite3_step(self.stmt.0) };
        match rc {
            ffi::SQLITE_ROW => {}
            ffi::SQLITE_DONE => {
                self.done = true;
                return Ok(None);
            }
            _ => {
                self.done = true;
                return Err(GuardError::Step {
                    // SAFETY: db is valid; both are read before any other call.
                    code: unsafe { ffi::sqlite3_extended_errcode(db.as_ptr()) },
                    message: unsafe { last_message(db) },
                });
            }
        }
        let mut cells = Vec::with_capacity(self.columns.len());
        for i in 0..self.columns.len() {
            let at = i as c_int; // < sqlite3_column_count, a c_int
            // SAFETY: the statement is on a row and `at` is one of its
            // columns; text and blob pointers are copied before the next
            // call on the statement.
            let cell = unsafe {
                match ffi::sqlite3_column_type(self.stmt.0, at) {
                    ffi::SQLITE_INTEGER => Cell::Int(ffi::sqlite3_column_int64(self.stmt.0, at)),
                    ffi::SQLITE_FLOAT => Cell::Float(ffi::sqlite3_column_double(self.stmt.0, at)),
                    ffi::SQLITE_TEXT => {
                        let p = ffi::sqlite3_column_text(self.stmt.0, at);
                        let n = ffi::sqlite3_column_bytes(self.stmt.0, at);
                        let bytes = if p.is_null() {
                            &[][..]
                        } else {
                            std::slice::from_raw_parts(p, usize::try_from(n).unwrap_or(0))
                        };
                        match std::str::from_utf8(bytes) {
                            Ok(s) => Cell::Text(s.to_owned()),
                            Err(e) => {
                                return Err(GuardError::Sqlite {
                                    message: format!(
                                        "column `{}` is not valid UTF-8: {e}",
                                        self.columns[i]
                                    ),
                                });
                            }
                        }
                    }
                    ffi::SQLITE_BLOB => {
                        let p = ffi::sqlite3_column_blob(self.stmt.0, at);
                        let n = ffi::sqlite3_column_bytes(self.stmt.0, at);
                        Cell::Blob(if p.is_null() {
                            Vec::new()
                        } else {
                            std::slice::from_raw_parts(
                                p.cast::<u8>(),
                                usize::try_from(n).unwrap_or(0),
                            )
                            .to_vec()
                        })
                    }
                    _ => Cell::Null,
                }
            };
            cells.push(cell);
        }
        Ok(Some(cells))
    }
}

/// For each parameter of `stmt` in SQLite's order, the index of its value
/// among `given`. Numbered parameters (`$2`, `?2`) take that value whatever
/// their order in the text (SQLite numbers parameters as they first appear,
/// and a name used twice is one parameter); bare `?` take the next. sqlx
/// binds the same way: binding by order of appearance instead made a rule's
/// query quietly match nothing.
///
/// # Safety
/// `stmt` is a valid prepared statement.
unsafe fn parameter_slots(stmt: &Stmt, given: usize) -> Result<Vec<usize>, GuardError> {
    // SAFETY: stmt is valid.
    let count = unsafe { ffi::sqlite3_bind_parameter_count(stmt.0) };
    let mut slots = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut sequential = 0usize;
    for at in 1..=count {
        // SAFETY: `at` is one of stmt's parameters; the name is read at once.
        let name = unsafe { ffi::sqlite3_bind_parameter_name(stmt.0, at) };
        let number = if name.is_null() {
            sequential += 1;
            sequential
        } else {
            // SAFETY: a NUL-terminated name SQLite keeps until finalize.
            let name = unsafe { CStr::from_ptr(name) }.to_string_lossy();
            name.strip_prefix('$')
                .or_else(|| name.strip_prefix('?'))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| GuardError::Sqlite {
                    message: format!("unsupported parameter `{name}`: use $1, $2, …"),
                })?
        };
        if number == 0 || number > given {
            return Err(GuardError::Sqlite {
                message: format!(
                    "parameter {number} of the statement has no value ({given} given)"
                ),
            });
        }
        slots.push(number - 1);
    }
    Ok(slots)
}

/// Binds `values` to `stmt` by `slots` (from [`parameter_slots`]); the
/// first result code that is not SQLITE_OK, else SQLITE_OK.
///
/// # Safety
/// `stmt` is valid and not being stepped; `slots` came from it and index
/// into `values`; with SQLITE_STATIC, text and blobs outlive every step.
unsafe fn bind(
    stmt: &Stmt,
    slots: &[usize],
    values: &[Value<'_>],
    keep: ffi::sqlite3_destructor_type,
) -> c_int {
    for (i, slot) in slots.iter().enumerate() {
        let at = (i + 1) as c_int; // ≤ sqlite3_bind_parameter_count, a c_int
        // SAFETY: as the function's contract; `at` is one of stmt's parameters.
        let rc = unsafe {
            match values[*slot] {
                Value::Null => ffi::sqlite3_bind_null(stmt.0, at),
                Value::Int(n) => ffi::sqlite3_bind_int64(stmt.0, at, n),
                Value::Float(f) => ffi::sqlite3_bind_double(stmt.0, at, f),
                Value::Text(s) => ffi::sqlite3_bind_text64(
                    stmt.0,
                    at,
                    s.as_ptr().cast::<c_char>(),
                    s.len() as u64,
                    keep,
                    ffi::SQLITE_UTF8 as u8,
                ),
                Value::Blob(b) => ffi::sqlite3_bind_blob64(
                    stmt.0,
                    at,
                    b.as_ptr().cast::<c_void>(),
                    b.len() as u64,
                    keep,
                ),
            }
        };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    ffi::SQLITE_OK
}

/// Prepares exactly one statement and binds `values` (copied: SQLite's
/// TRANSIENT) to its parameters.
///
/// # Safety
/// `db` is an open connection nobody else uses during the call.
unsafe fn prepare_bound(
    db: NonNull<ffi::sqlite3>,
    sql: &str,
    values: &[Value<'_>],
) -> Result<Stmt, GuardError> {
    // SAFETY: as the function's contract.
    let stmt = unsafe { prepare_one(db, sql)? };
    // SAFETY: stmt is a valid prepared statement.
    let slots = unsafe { parameter_slots(&stmt, values.len())? };
    // SAFETY: as above; SQLite copies text and blobs (TRANSIENT).
    if unsafe { bind(&stmt, &slots, values, ffi::SQLITE_TRANSIENT()) } != ffi::SQLITE_OK {
        // SAFETY: db is valid; the message is copied before any other call.
        return Err(GuardError::Sqlite {
            message: unsafe { last_message(db) },
        });
    }
    Ok(stmt)
}

/// Prepares `sql`, which must be exactly one statement: anything but
/// whitespace, comments and `;` after it is refused.
///
/// # Safety
/// `db` is an open connection nobody else uses during the call.
unsafe fn prepare_one(db: NonNull<ffi::sqlite3>, sql: &str) -> Result<Stmt, GuardError> {
    let error = || GuardError::Sqlite {
        // SAFETY: db is valid; the message is copied before any other call.
        message: unsafe { last_message(db) },
    };
    let len = c_int::try_from(sql.len()).map_err(|_| GuardError::Sqlite {
        message: "statement too long".into(),
    })?;
    let mut raw: *mut ffi::sqlite3_stmt = ptr::null_mut();
    let mut tail: *const c_char = ptr::null();
    let start = sql.as_ptr().cast::<c_char>();
    // SAFETY: db is valid; `sql` is read for `len` bytes (no NUL needed);
    // `tail` points into it.
    let rc = unsafe { ffi::sqlite3_prepare_v2(db.as_ptr(), start, len, &mut raw, &mut tail) };
    let stmt = Stmt(raw);
    if rc != ffi::SQLITE_OK {
        return Err(error());
    }
    if stmt.0.is_null() {
        return Err(GuardError::Empty);
    }
    if !tail.is_null() {
        // SAFETY: tail points into `sql`, at or after `start`.
        let offset = unsafe { tail.offset_from(start) } as usize;
        let rest = sql.get(offset..).unwrap_or("");
        if has_tokens(rest) {
            return Err(GuardError::SeveralStatements {
                tail: rest.trim().chars().take(40).collect(),
            });
        }
    }
    Ok(stmt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory connection, closed on drop.
    struct Db(NonNull<ffi::sqlite3>);

    impl Db {
        fn open() -> Db {
            let mut db = ptr::null_mut();
            // SAFETY: a fresh connection handle written into `db`.
            let rc = unsafe { ffi::sqlite3_open(c":memory:".as_ptr(), &mut db) };
            assert_eq!(rc, ffi::SQLITE_OK);
            let db = Db(NonNull::new(db).expect("sqlite3_open returned a handle"));
            db.exec("CREATE TABLE principals (id TEXT, login TEXT); CREATE TABLE outbox (body TEXT); INSERT INTO principals VALUES ('p1', 'a');");
            db
        }
        fn exec(&self, sql: &str) -> c_int {
            let sql = CString::new(sql).unwrap();
            // SAFETY: valid handle, NUL-terminated SQL, no callback.
            unsafe {
                ffi::sqlite3_exec(
                    self.0.as_ptr(),
                    sql.as_ptr(),
                    None,
                    ptr::null_mut(),
                    ptr::null_mut(),
                )
            }
        }
        fn check(&self, sql: &str) -> Result<(), GuardError> {
            // SAFETY: the connection is ours and used by this thread only.
            unsafe { single_statement_raw(self.0, sql) }
        }
        fn guard(&self, policy: &'static Policy) {
            // SAFETY: as above.
            unsafe { install_raw(self.0, policy) }
        }
    }

    impl Drop for Db {
        fn drop(&mut self) {
            // SAFETY: every statement was finalized; the handle is ours.
            unsafe { ffi::sqlite3_close(self.0.as_ptr()) };
        }
    }

    static SCAN: Policy = Policy::Untrusted {
        readable: Some(&["principals"]),
    };
    static SOURCE: Policy = Policy::Untrusted { readable: None };
    static TRUSTED: Policy = Policy::Trusted;

    #[test]
    fn one_statement_passes_with_trailing_comments_and_semicolons() {
        let db = Db::open();
        assert_eq!(db.check("SELECT id FROM principals"), Ok(()));
        assert_eq!(
            db.check("SELECT id FROM principals; -- done\n ; /* x */"),
            Ok(())
        );
        assert_eq!(db.check("  -- nothing\n"), Err(GuardError::Empty));
    }

    #[test]
    fn a_hidden_second_statement_is_refused_whatever_the_quoting() {
        let db = Db::open();
        for sql in [
            "SELECT id AS subject_id, 1 AS [a'b] FROM principals LIMIT 1; COMMIT; VACUUM INTO 'copy.db'; BEGIN; SAVEPOINT rule_eval --'",
            "SELECT id AS subject_id, 1 AS `a'b` FROM principals; SELECT 2 --'",
            "SELECT id AS \"a'b\" FROM principals; SELECT 2 --'",
            "SELECT 'a\"b' AS x FROM principals; SELECT 2 --\"",
            "SELECT 1; ATTACH 'other.db' AS o",
        ] {
            match db.check(sql) {
                Err(GuardError::SeveralStatements { .. }) => {}
                other => panic!("{sql}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_static_check_follows_sqlite_quoting() {
        assert!(several_statements(
            "SELECT 1 AS [a'b] FROM principals; COMMIT; VACUUM INTO 'copy.db' --'"
        ));
        assert!(several_statements("SELECT 1 AS `a'b`; SELECT 2 --'"));
        assert!(!several_statements(
            "SELECT ';' AS a, [x;y], `p;q`, \"r;s\" FROM t;"
        ));
        assert!(!several_statements("SELECT 1; -- trailing\n"));
    }

    #[test]
    fn untrusted_sql_reads_listed_tables_and_core_functions_only() {
        let db = Db::open();
        db.guard(&SCAN);
        assert_eq!(
            db.check("SELECT upper(login), count(*), json_extract('{}', '$.a'), date('now') FROM principals, json_each('[1]') GROUP BY 1"),
            Ok(())
        );
        let denied = |sql: &str| match db.check(sql) {
            Err(GuardError::Denied { what }) => what,
            other => panic!("{sql}: {other:?}"),
        };
        assert_eq!(denied("SELECT body FROM outbox"), "reading table `outbox`");
        assert_eq!(
            denied("SELECT sql FROM sqlite_master"),
            "reading table `sqlite_master`"
        );
        assert_eq!(
            denied("SELECT load_extension('x')"),
            "function `load_extension`"
        );
        assert_eq!(
            denied("SELECT fts3_tokenizer('simple')"),
            "function `fts3_tokenizer`"
        );
        assert_eq!(
            denied("SELECT sqlite_version()"),
            "function `sqlite_version`"
        );
        assert!(denied("ATTACH 'x.db' AS x").contains("ATTACH"));
        assert!(denied("PRAGMA user_version").contains("PRAGMA"));
        assert!(denied("PRAGMA user_version = 3").contains("PRAGMA"));
        assert!(denied("BEGIN").contains("transaction"));
        assert!(denied("COMMIT").contains("transaction"));
        assert!(denied("SAVEPOINT rule_eval").contains("savepoint"));
        assert!(denied("VACUUM").contains("read-only SELECT"));
        let copy = std::env::temp_dir().join(format!("guard-vacuum-{}.db", std::process::id()));
        assert!(denied(&format!("VACUUM INTO '{}'", copy.display())).contains("read-only SELECT"));
        assert!(!copy.exists(), "VACUUM INTO wrote {}", copy.display());
        assert!(denied("DELETE FROM principals").contains("other than SELECT"));
        assert!(denied("CREATE TABLE x (a)").contains("other than SELECT"));
        assert!(denied("SELECT * FROM pragma_table_info('principals')").contains("pragma"));
    }

    #[test]
    fn source_reads_any_table_but_sqlite_internals() {
        let db = Db::open();
        db.guard(&SOURCE);
        assert_eq!(db.check("SELECT body FROM outbox"), Ok(()));
        assert!(matches!(
            db.check("SELECT name FROM sqlite_schema"),
            Err(GuardError::Denied { .. })
        ));
    }

    #[test]
    fn trusted_policy_keeps_transactions_and_refuses_attach() {
        let db = Db::open();
        db.guard(&TRUSTED);
        assert_eq!(
            db.exec("BEGIN; SAVEPOINT rule_eval; RELEASE rule_eval; COMMIT;"),
            ffi::SQLITE_OK
        );
        assert_eq!(db.exec("ATTACH ':memory:' AS o"), ffi::SQLITE_AUTH);
    }

    #[test]
    fn rows_are_bound_per_row_and_the_first_failure_stops() {
        let db = Db::open();
        assert_eq!(
            db.exec("CREATE TABLE t (id TEXT PRIMARY KEY, n INTEGER, f REAL, b BLOB NOT NULL)"),
            ffi::SQLITE_OK
        );
        let sql = "INSERT INTO t (id, n, f, b) VALUES (?, ?, ?, ?) \
                   ON CONFLICT (id) DO UPDATE SET n = excluded.n";
        let rows = [
            Value::Text("a\tb"),
            Value::Int(-7),
            Value::Float(0.5),
            Value::Blob(b"\0x"),
            Value::Text("c"),
            Value::Null,
            Value::Null,
            Value::Blob(b""),
            Value::Text("a\tb"),
            Value::Int(8),
            Value::Null,
            Value::Blob(b"y"),
        ];
        // SAFETY: the test's own connection, used by this thread only.
        let run = |values: &[Value<'_>]| unsafe { execute_rows_raw(db.0, sql, 4, values) };
        assert_eq!(run(&rows), Ok(3));
        // The later row of `a\tb` updated n only; `c` holds NULLs.
        let count = |query: &str| {
            let text = CString::new(query).expect("no NUL");
            let mut stmt = ptr::null_mut();
            // SAFETY: the test's connection; the statement is finalized below.
            unsafe {
                let rc = ffi::sqlite3_prepare_v2(
                    db.0.as_ptr(),
                    text.as_ptr(),
                    -1,
                    &mut stmt,
                    ptr::null_mut(),
                );
                assert_eq!(rc, ffi::SQLITE_OK);
                assert_eq!(ffi::sqlite3_step(stmt), ffi::SQLITE_ROW);
                let n = ffi::sqlite3_column_int64(stmt, 0);
                ffi::sqlite3_finalize(stmt);
                n
            }
        };
        assert_eq!(count("SELECT COUNT(*) FROM t"), 2);
        assert_eq!(
            count(
                "SELECT COUNT(*) FROM t WHERE id = 'a'||char(9)||'b' AND n = 8 AND f = 0.5 AND b = x'0078'"
            ),
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM t WHERE id = 'c' AND n IS NULL AND f IS NULL"),
            1
        );
        let bad = [Value::Text("d"), Value::Int(1), Value::Null, Value::Null];
        assert!(
            matches!(run(&bad), Err(GuardError::Step { ref message, .. }) if message.contains("NOT NULL"))
        );
        assert!(!run(&bad).is_err_and(|e| e.is_key_violation()));
        let again = [
            Value::Text("c"),
            Value::Int(1),
            Value::Null,
            Value::Blob(b""),
        ];
        let insert = "INSERT INTO t (id, n, f, b) VALUES (?, ?, ?, ?)";
        // SAFETY: as above.
        let err = unsafe { execute_rows_raw(db.0, insert, 4, &again) }.expect_err("c exists");
        assert!(err.is_key_violation(), "{err:?}");
        assert!(run(&rows[..3]).is_err(), "a partial row is refused");
    }

    /// Numbered parameters take their value by number whatever their order
    /// in the text, a number used twice is one value, and bare `?` take the
    /// next: binding by position of appearance instead made a rule's query
    /// quietly match nothing.
    #[test]
    fn numbered_parameters_bind_by_number() {
        let db = Db::open();
        let first = |sql: &str, values: &[Value<'_>]| -> Result<Vec<String>, GuardError> {
            // SAFETY: the connection is ours and used by this thread only.
            let stmt = unsafe { prepare_bound(db.0, sql, values) }?;
            // SAFETY: a valid statement of that connection.
            assert_eq!(unsafe { ffi::sqlite3_step(stmt.0) }, ffi::SQLITE_ROW);
            // SAFETY: as above; the statement is on a row.
            let count = unsafe { ffi::sqlite3_column_count(stmt.0) };
            Ok((0..count)
                .map(|i| {
                    // SAFETY: as above; i is one of its columns.
                    let p = unsafe { ffi::sqlite3_column_text(stmt.0, i) };
                    // SAFETY: a NUL-terminated text SQLite owns until the next step.
                    unsafe { CStr::from_ptr(p.cast::<c_char>()) }
                        .to_string_lossy()
                        .into_owned()
                })
                .collect())
        };
        let values = [Value::Text("one"), Value::Int(2), Value::Float(3.5)];
        assert_eq!(
            first("SELECT $3, $1, $2, $1", &values).expect("binds"),
            ["3.5", "one", "2", "one"]
        );
        assert_eq!(
            first("SELECT ?, ?", &values[..2]).expect("binds"),
            ["one", "2"]
        );
        assert!(matches!(
            first("SELECT $4", &values),
            Err(GuardError::Sqlite { ref message }) if message.contains("parameter 4")
        ));
        assert!(matches!(
            first("SELECT :name", &values),
            Err(GuardError::Sqlite { ref message }) if message.contains(":name")
        ));
        assert!(matches!(
            first("SELECT 1; DELETE FROM principals", &[]),
            Err(GuardError::SeveralStatements { .. })
        ));
    }
}
