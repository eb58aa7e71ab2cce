//! `accessaudit import TABLE FILE.csv`: streaming, validated, all-or-nothing.
//!
//! A reader thread parses and checks rows and hands batches over a bounded
//! channel to the writer, which writes them in one transaction: appended by
//! the database's bulk loader while every key is new, upserted from the
//! first key that is not (large files build the table's indexes once at the
//! end: see [`Writer`]). Memory is a
//! few batches whatever the file size. At the first bad cell the writer stops
//! inserting, the reader goes on checking the rest of the file so that every
//! error is reported at once, and the transaction is rolled back.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::namespace::Namespace;
use super::tables::{ColumnSpec, TableSpec};
use crate::store::{Appended, Backend, IndexDef, SqlValue, Store, StoreError, Tx};
use crate::support::csv_lines::LineCounting;

/// How many errors are listed before the rest are only counted.
const MAX_LISTED_ERRORS: usize = 50;
/// Bound parameters per statement: under SQLite's limit (32766) and PostgreSQL's (65535).
const PARAMS_PER_STATEMENT: usize = 30_000;
const MAX_ROWS_PER_STATEMENT: usize = 2_000;

/// One bad value (or line) of a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub file: PathBuf,
    pub line: u64,
    /// 1-based; 0 when the error is about the whole line or a missing column.
    pub column: usize,
    pub column_name: String,
    pub message: String,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.column_name.is_empty() {
            write!(f, "column `{}`: ", self.column_name)?;
        }
        f.write_str(&self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has {total} error(s); nothing was imported:\n{}{}", file.display(),
        errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"),
        if *total > errors.len() { format!("\n… and {} more", total - errors.len()) } else { String::new() })]
    Invalid {
        file: PathBuf,
        errors: Vec<CsvError>,
        total: usize,
    },
    #[error("importing {}: {source}; nothing was imported", file.display())]
    Store {
        file: PathBuf,
        #[source]
        source: StoreError,
    },
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub table: &'static str,
    pub rows: u64,
    /// Actions no rule knows (`events` only), with how many rows had each.
    pub unknown_actions: Vec<(String, u64)>,
    /// Rows whose key an earlier row of the same file had (the later row
    /// wins): the total, and the first few as (line, earlier line, key).
    pub repeated_keys: u64,
    pub repeated_examples: Vec<(u64, u64, String)>,
    /// How the rows reached the table.
    pub path: LoadPath,
}

/// How an import's rows reached the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadPath {
    /// All appended by the database's bulk loader (PostgreSQL `COPY`,
    /// SQLite a prepared `INSERT`): every key was new.
    Append,
    /// Appended until a key was already in the table or repeated in the
    /// file (`appended` rows), upserted from the batch that held it on.
    Upsert { appended: u64 },
}

/// How a CSV file is read.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The field separator (`,` unless the file uses `;` or a tab).
    pub delimiter: u8,
    /// The zone of times without an offset (`2026-11-01 08:00:00`).
    pub timezone: chrono_tz::Tz,
    /// Actions known besides `model::KNOWN_ACTIONS` (the config's `actions:`).
    pub extra_actions: Vec<String>,
    /// The application of the file's rows and the ids they are stored
    /// under (`--application`: namespaced; default: as given).
    pub namespace: Namespace,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            delimiter: b',',
            timezone: chrono_tz::UTC,
            extra_actions: Vec::new(),
            namespace: Namespace::as_given(),
        }
    }
}

/// What the reader noticed besides errors.
#[derive(Debug, Default)]
struct Notes {
    unknown_actions: std::collections::BTreeMap<String, u64>,
    repeated_keys: u64,
    repeated_examples: Vec<(u64, u64, String)>,
}

/// How many repeated keys an import names; the rest are counted.
const MAX_LISTED_REPEATS: usize = 5;

struct Batch {
    rows: Vec<Vec<SqlValue>>,
}

/// Imports `file` into `table`, or nothing at all.
pub async fn import_csv(
    store: &Store,
    table: &'static TableSpec,
    file: &Path,
) -> Result<ImportSummary, ImportError> {
    import_csv_with(store, table, file, &ImportOptions::default()).await
}

/// The same, read as `options` say.
pub async fn import_csv_with(
    store: &Store,
    table: &'static TableSpec,
    file: &Path,
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError> {
    let reader = std::fs::File::open(file).map_err(|source| ImportError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    let size = reader.metadata().ok().map(|m| m.len());
    import_reader_with(store, table, file, reader, size, options).await
}

/// Imports CSV text from any reader; `file` names it in errors. `size_hint`
/// (the bytes to come, when known) lets a large load take the bulk path.
pub async fn import_reader<R>(
    store: &Store,
    table: &'static TableSpec,
    file: &Path,
    reader: R,
    size_hint: Option<u64>,
) -> Result<ImportSummary, ImportError>
where
    R: std::io::Read + Send + 'static,
{
    import_reader_with(
        store,
        table,
        file,
        reader,
        size_hint,
        &ImportOptions::default(),
    )
    .await
}

/// The same, read as `options` say.
pub async fn import_reader_with<R>(
    store: &Store,
    table: &'static TableSpec,
    file: &Path,
    reader: R,
    size_hint: Option<u64>,
    options: &ImportOptions,
) -> Result<ImportSummary, ImportError>
where
    R: std::io::Read + Send + 'static,
{
    let (csv, file_columns) = open_csv(table, file, reader, options)?;
    let columns = options.namespace.columns(table, &file_columns);
    let rows_per_batch =
        (PARAMS_PER_STATEMENT / columns.len().max(1)).clamp(1, MAX_ROWS_PER_STATEMENT);

    // The reader may run a whole chunk ahead: while the database loads one
    // chunk, the next is parsed and checked. With 4 batches (8,000 events)
    // it stopped early in each 32,768-row `COPY` and the server then waited
    // ~35 ms per chunk for the rest (1M events: 6.5 s against `psql`'s 5.5).
    let read_ahead = MAX_ROWS_PER_APPEND.div_ceil(rows_per_batch).max(4);
    let (tx, mut rx) = mpsc::channel::<Batch>(read_ahead);
    let reader_columns = (file_columns, columns.clone());
    let reader_file = file.to_path_buf();
    let reader_options = options.clone();
    let reader = tokio::task::spawn_blocking(move || {
        read_rows(
            csv,
            table,
            &reader_columns,
            &reader_file,
            &reader_options,
            rows_per_batch,
            |rows| tx.blocking_send(Batch { rows }).is_ok(),
        )
    });

    let store_err = |source| ImportError::Store {
        file: file.to_path_buf(),
        source,
    };
    let mut db = store.begin().await.map_err(store_err)?;
    let mut writer = match Writer::start(&mut db, table, &columns, rows_per_batch, size_hint).await
    {
        Ok(writer) => writer,
        Err(source) => {
            let _ = db.rollback().await;
            drop(rx); // the reader stops at its next batch
            let _ = reader.await;
            return Err(store_err(source));
        }
    };
    let mut write_error = None;
    while let Some(batch) = rx.recv().await {
        if write_error.is_some() {
            continue; // keep draining so the reader can finish checking
        }
        if let Err(e) = writer.write(&mut db, batch.rows).await {
            write_error = Some(e);
        }
    }
    let (errors, total, notes) = match reader.await {
        Ok(result) => result,
        Err(join) => (
            vec![CsvError {
                file: file.to_path_buf(),
                line: 0,
                column: 0,
                column_name: String::new(),
                message: format!("reader failed: {join}"),
            }],
            1,
            Notes::default(),
        ),
    };
    if total > 0 {
        let _ = db.rollback().await;
        return Err(ImportError::Invalid {
            file: file.to_path_buf(),
            errors,
            total,
        });
    }
    let written = match write_error {
        None => writer.finish(&mut db).await,
        Some(e) => Err(e),
    };
    let (written, path) = match written {
        Ok(done) => done,
        Err(source) => {
            let _ = db.rollback().await;
            return Err(store_err(source));
        }
    };
    db.commit().await.map_err(store_err)?;
    Ok(ImportSummary {
        table: table.name,
        rows: written,
        unknown_actions: notes.unknown_actions.into_iter().collect(),
        repeated_keys: notes.repeated_keys,
        repeated_examples: notes.repeated_examples,
        path,
    })
}

/// Below this many expected rows an import never rebuilds indexes.
const MIN_ROWS_FOR_REBUILD: u64 = 50_000;
/// Bytes per CSV row assumed when estimating a file's rows from its size:
/// larger than any real row of the canonical tables, so the estimate errs low.
const BYTES_PER_ROW_ESTIMATE: u64 = 200;

/// How the checked rows reach the table, inside the import's transaction.
///
/// While every key is new, batches are gathered into chunks (growing from
/// one batch to [`MAX_ROWS_PER_APPEND`] rows, so that a re-import of known
/// keys wastes little) and each chunk is appended by the database's bulk
/// loader under a savepoint ([`Tx::append_new`]: PostgreSQL `COPY`, which
/// cannot upsert; SQLite a prepared `INSERT` bound per row). When a chunk
/// holds a key the table already has (or an earlier row of the file had),
/// the savepoint undoes that chunk and it and every later batch are upserted
/// (`INSERT … ON CONFLICT DO UPDATE`, in file order, so the later row wins).
/// The rows appended before are what upserts would have written: their keys
/// were new. No input is read twice, so stdin works the same.
///
/// A load that is large next to what the table already holds first drops
/// the table's secondary indexes and builds each once at the end (a sort per
/// index instead of a B-tree insert per row and index). DDL is transactional
/// on both backends, so a failed import leaves them as they were; on
/// PostgreSQL the drop locks the table until commit, which a bulk load may do.
///
/// Measured and rejected for PostgreSQL: `COPY` into a temporary staging
/// table, then one `INSERT … SELECT DISTINCT ON (key) … ON CONFLICT` — 29.0 s
/// for 1M events against 25.6 s for multi-row upserts (BENCHMARKS.md).
struct Writer {
    table: &'static TableSpec,
    columns: Vec<&'static ColumnSpec>,
    names: Vec<&'static str>,
    rows_per_batch: usize,
    /// The upsert of a full batch (PostgreSQL) or of one row (SQLite).
    full_sql: String,
    written: u64,
    rebuilt: Vec<IndexDef>,
    /// Whether batches are still appended (no key has been seen twice).
    appending: bool,
    appended: u64,
    pending: Vec<Vec<Vec<SqlValue>>>,
    pending_rows: usize,
    chunk_rows: usize,
}

/// The largest chunk appended at once: the rows the writer holds to upsert
/// them instead when the chunk turns out to hold a known key.
const MAX_ROWS_PER_APPEND: usize = 32_768;

impl Writer {
    async fn start(
        db: &mut Tx,
        table: &'static TableSpec,
        columns: &[&'static ColumnSpec],
        rows_per_batch: usize,
        size_hint: Option<u64>,
    ) -> Result<Writer, StoreError> {
        let expected_rows = size_hint.map_or(0, |bytes| bytes / BYTES_PER_ROW_ESTIMATE);
        let mut rebuilt = Vec::new();
        if expected_rows >= MIN_ROWS_FOR_REBUILD
            && table_smaller_than(db, table.name, expected_rows).await?
        {
            rebuilt = db.secondary_indexes(table.name).await?;
            db.drop_indexes(&rebuilt).await?;
        }
        // SQLite binds row by row on its own handle: one row per statement
        // is its fastest form (`.import`'s). PostgreSQL: a round trip per batch.
        let statement_rows = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => rows_per_batch,
        };
        Ok(Writer {
            table,
            columns: columns.to_vec(),
            names: columns.iter().map(|c| c.name).collect(),
            rows_per_batch,
            full_sql: table.upsert_sql(db.backend(), columns, statement_rows),
            written: 0,
            rebuilt,
            appending: true,
            appended: 0,
            pending: Vec::new(),
            pending_rows: 0,
            chunk_rows: rows_per_batch,
        })
    }

    async fn write(&mut self, db: &mut Tx, rows: Vec<Vec<SqlValue>>) -> Result<(), StoreError> {
        if !self.appending {
            return self.upsert(db, rows).await;
        }
        self.pending_rows += rows.len();
        self.pending.push(rows);
        if self.pending_rows >= self.chunk_rows {
            self.flush(db).await?;
        }
        Ok(())
    }

    /// Appends the pending chunk, or upserts it (and all that follows) when
    /// one of its keys is not new.
    async fn flush(&mut self, db: &mut Tx) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        if pending.is_empty() {
            return Ok(());
        }
        match db
            .append_new(self.table.name, &self.names, &pending)
            .await?
        {
            Appended::Rows(n) => {
                self.written += n;
                self.appended += n;
                self.chunk_rows = (self.chunk_rows * 2).min(MAX_ROWS_PER_APPEND);
                // Freeing a chunk's ~400k values takes ~10 ms, in which the
                // server would wait for the next `COPY`: free it aside.
                tokio::task::spawn_blocking(move || drop(pending));
            }
            Appended::KeyExists => {
                tracing::debug!(
                    table = self.table.name,
                    appended = self.appended,
                    "a key is already in the table or repeats: upserting from here"
                );
                self.appending = false;
                for rows in pending {
                    self.upsert(db, rows).await?;
                }
            }
        }
        Ok(())
    }

    async fn upsert(&mut self, db: &mut Tx, rows: Vec<Vec<SqlValue>>) -> Result<(), StoreError> {
        let n = rows.len();
        if self.table.name == super::tables::EVENTS.name {
            crate::store::partitions::cover(db, &self.names, &rows).await?;
        }
        match db.backend() {
            Backend::Sqlite => {
                db.execute_each(&self.full_sql, self.columns.len(), &rows)
                    .await?;
            }
            Backend::Postgres => {
                let params: Vec<SqlValue> = rows.into_iter().flatten().collect();
                // Every batch but the last is full: its statement is built once.
                let sql: std::borrow::Cow<'_, str> = if n == self.rows_per_batch {
                    self.full_sql.as_str().into()
                } else {
                    self.table.upsert_sql(db.backend(), &self.columns, n).into()
                };
                db.execute(&sql, &params).await?;
            }
        }
        self.written += n as u64;
        Ok(())
    }

    /// Writes what is pending and builds the dropped indexes again; returns
    /// the rows written and how.
    async fn finish(mut self, db: &mut Tx) -> Result<(u64, LoadPath), StoreError> {
        if self.appending {
            self.flush(db).await?;
        }
        db.create_indexes(&self.rebuilt).await?;
        let path = if self.appending {
            LoadPath::Append
        } else {
            LoadPath::Upsert {
                appended: self.appended,
            }
        };
        Ok((self.written, path))
    }
}

/// Whether `table` holds fewer than `rows` rows (counting at most that many).
async fn table_smaller_than(db: &mut Tx, table: &str, rows: u64) -> Result<bool, StoreError> {
    let limit = i64::try_from(rows).unwrap_or(i64::MAX);
    let row = db
        .fetch_optional(
            &format!("SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table} LIMIT $1) AS t"),
            &[SqlValue::int(limit)],
        )
        .await?;
    let n = match row {
        Some(row) => row.i64("n")?.unwrap_or(0),
        None => 0,
    };
    Ok(n < limit)
}

/// Checks CSV text for `table` as an import would, writing nothing: every
/// error with its file, line and column, or the number of rows. What the
/// fuzz targets drive (no database involved).
pub fn check_reader<R: std::io::Read>(
    table: &'static TableSpec,
    file: &Path,
    reader: R,
    options: &ImportOptions,
) -> Result<u64, ImportError> {
    let (csv, columns) = open_csv(table, file, reader, options)?;
    let written = options.namespace.columns(table, &columns);
    let mut rows = 0u64;
    let (errors, total, _) = read_rows(
        csv,
        table,
        &(columns, written),
        file,
        options,
        MAX_ROWS_PER_STATEMENT,
        |b| {
            rows += b.len() as u64;
            true
        },
    );
    if total > 0 {
        return Err(ImportError::Invalid {
            file: file.to_path_buf(),
            errors,
            total,
        });
    }
    Ok(rows)
}

/// A CSV reader over a buffered input that names records by their lines.
type CsvReader<R> = csv::Reader<LineCounting<std::io::BufReader<R>>>;

/// The CSV reader past its header, and the canonical columns the header names.
fn open_csv<R: std::io::Read>(
    table: &'static TableSpec,
    file: &Path,
    reader: R,
    options: &ImportOptions,
) -> Result<(CsvReader<R>, Vec<&'static ColumnSpec>), ImportError> {
    use std::io::BufRead;
    let mut input = std::io::BufReader::with_capacity(1 << 16, reader);
    let head = input.fill_buf().map_err(|source| ImportError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    // Excel's "CSV UTF-8" starts with a byte-order mark; its "Unicode text"
    // is UTF-16, which is no CSV this reads.
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        input.consume(3);
    } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        return Err(invalid(
            file,
            vec![CsvError {
                file: file.to_path_buf(),
                line: 1,
                column: 0,
                column_name: String::new(),
                message:
                    "the file is UTF-16 (Excel's \"Unicode text\"): save it as \"CSV UTF-8\", \
                          or convert it with `iconv -f UTF-16 -t UTF-8`"
                        .into(),
            }],
        ));
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(options.delimiter)
        .from_reader(LineCounting::new(input));
    let header: Vec<String> = match csv.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => return Err(invalid(file, vec![csv_error(file, &e, 1)])),
    };
    let columns = table.map_header(&header).map_err(|errors| {
        invalid(
            file,
            errors
                .into_iter()
                .map(|e| CsvError {
                    file: file.to_path_buf(),
                    line: 1,
                    column: e.position,
                    column_name: e.column,
                    message: e.message,
                })
                .collect(),
        )
    })?;
    Ok((csv, columns.columns))
}

/// The reader side: parse, check, batch; each full batch goes to `deliver`,
/// which returns false when nobody takes more. Returns the listed errors and
/// their total.
fn read_rows<R: std::io::Read>(
    mut csv: csv::Reader<LineCounting<R>>,
    table: &'static TableSpec,
    (columns, written): &(Vec<&'static ColumnSpec>, Vec<&'static ColumnSpec>),
    file: &Path,
    options: &ImportOptions,
    rows_per_batch: usize,
    mut deliver: impl FnMut(Vec<Vec<SqlValue>>) -> bool,
) -> (Vec<CsvError>, usize, Notes) {
    let mut notes = Notes::default();
    let action_at = columns.iter().position(|c| c.name == "action");
    // Each key's first line, by a 64-bit hash of the key: a few bytes per
    // row whatever the keys, so memory stays bounded on large files.
    let mut first_line: HashMap<u64, u64, KeyHashed> = HashMap::default();
    let key_positions: Vec<usize> = table
        .key
        .iter()
        .filter_map(|k| columns.iter().position(|c| c.name == *k))
        .collect();
    let mut errors = Vec::new();
    let mut total = 0usize;
    let mut batch: Vec<Vec<SqlValue>> = Vec::with_capacity(rows_per_batch);
    // Within one statement a key may appear once (PostgreSQL refuses to update
    // a row twice); the later row of the file wins, as it would across batches.
    // Keyed by the key's hash, checked against the row found; keys whose
    // hashes collide with another key of the batch (never seen in practice)
    // go by their text in `collided`.
    let mut batch_keys: HashMap<u64, usize, KeyHashed> = HashMap::default();
    let mut collided: HashMap<String, usize> = HashMap::new();
    let (mut key, mut other_key) = (String::new(), String::new());
    let mut record = csv::StringRecord::new();
    let push = |e: CsvError, errors: &mut Vec<CsvError>, total: &mut usize| {
        *total += 1;
        if errors.len() < MAX_LISTED_ERRORS {
            errors.push(e);
        }
    };
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| csv.get_ref().line_of(p) as u64);
                push(csv_error(file, &e, line), &mut errors, &mut total);
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    break; // the reader cannot go on after an I/O error
                }
                continue;
            }
        }
        let line = record
            .position()
            .map_or(0, |p| csv.get_ref().line_of(p) as u64);
        let mut row = Vec::with_capacity(columns.len());
        let mut row_ok = true;
        for (i, (spec, cell)) in columns.iter().zip(record.iter()).enumerate() {
            match spec.parse_in(cell, options.timezone) {
                Ok(v) => row.push(v),
                Err(e) => {
                    row_ok = false;
                    push(
                        CsvError {
                            file: file.to_path_buf(),
                            line,
                            column: i + 1,
                            column_name: e.column,
                            message: e.message,
                        },
                        &mut errors,
                        &mut total,
                    );
                }
            }
        }
        if !row_ok || total > 0 {
            continue; // once anything is wrong, only check the rest
        }
        options.namespace.apply(table, written, &mut row);
        // By the parsed values: an instant's spellings are one key.
        key_text(&row, &key_positions, &mut key);
        if let Some(at) = action_at
            && let Some(SqlValue::Text(Some(action))) = row.get(at)
            && !crate::model::KNOWN_ACTIONS.contains(&action.as_str())
            && !options
                .extra_actions
                .iter()
                .any(|a| a.eq_ignore_ascii_case(action))
        {
            *notes.unknown_actions.entry(action.clone()).or_default() += 1;
        }
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            key.hash(&mut h);
            h.finish()
        };
        if let Some(&earlier) = first_line.get(&hash) {
            notes.repeated_keys += 1;
            if notes.repeated_examples.len() < MAX_LISTED_REPEATS {
                notes
                    .repeated_examples
                    .push((line, earlier, shown_key(&key_positions, &record)));
            }
        } else {
            first_line.insert(hash, line);
        }
        let same_key_at = match batch_keys.get(&hash) {
            None => {
                batch_keys.insert(hash, batch.len());
                None
            }
            Some(&at) => {
                key_text(&batch[at], &key_positions, &mut other_key);
                if other_key == key {
                    Some(at)
                } else {
                    match collided.get(&key) {
                        Some(&at) => Some(at),
                        None => {
                            collided.insert(key.clone(), batch.len());
                            None
                        }
                    }
                }
            }
        };
        match same_key_at {
            Some(at) => batch[at] = row,
            None => batch.push(row),
        }
        if batch.len() == rows_per_batch {
            batch_keys.clear();
            collided.clear();
            let full = std::mem::replace(&mut batch, Vec::with_capacity(rows_per_batch));
            if !deliver(full) {
                break; // the writer is gone
            }
        }
    }
    if total == 0 && !batch.is_empty() {
        deliver(batch);
    }
    (errors, total, notes)
}

/// A row's key as one text (`out` is reused from row to row): each part's
/// key text followed by its length between unit separators, so that two
/// keys are one text only when every part is equal (a separator inside an
/// id cannot make ("a\u{1f}", "b") the key ("a", "\u{1f}b")).
fn key_text(row: &[SqlValue], positions: &[usize], out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    for &i in positions {
        let start = out.len();
        if let Some(v) = row.get(i) {
            v.push_key_text(out);
        }
        let len = out.len() - start;
        // Writing to a String cannot fail.
        let _ = write!(out, "\u{1f}{len}\u{1f}");
    }
}

/// The maps keyed by a key's hash take it as it is: it is already a
/// 64-bit SipHash, and hashing it again cost 5% of a 1M-row import.
#[derive(Default, Clone, Copy)]
struct KeyHashed;

impl std::hash::BuildHasher for KeyHashed {
    type Hasher = HashAsIs;
    fn build_hasher(&self) -> HashAsIs {
        HashAsIs(0)
    }
}

/// The hasher of [`KeyHashed`]: a `u64` is its own hash.
struct HashAsIs(u64);

impl std::hash::Hasher for HashAsIs {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; anything else still spreads.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A repeated key as the file spells it, for the import's notes.
fn shown_key(positions: &[usize], record: &csv::StringRecord) -> String {
    positions
        .iter()
        .map(|&i| record.get(i).unwrap_or("").trim())
        .collect::<Vec<_>>()
        .join(", ")
}

fn csv_error(file: &Path, e: &csv::Error, line: u64) -> CsvError {
    let message = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("this line has {len} fields, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8: is the file Latin-1 or GBK? Save it as \
                                        \"CSV UTF-8\", or convert it with `iconv -f GBK -t UTF-8`"
            .to_string(),
        _ => e.to_string(),
    };
    CsvError {
        file: file.to_path_buf(),
        line,
        column: 0,
        column_name: String::new(),
        message,
    }
}

fn invalid(file: &Path, errors: Vec<CsvError>) -> ImportError {
    let total = errors.len();
    ImportError::Invalid {
        file: file.to_path_buf(),
        errors,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(parts: &[&str]) -> String {
        let row: Vec<SqlValue> = parts.iter().map(|p| SqlValue::text(*p)).collect();
        let positions: Vec<usize> = (0..row.len()).collect();
        let mut out = String::from("left over from the last row");
        key_text(&row, &positions, &mut out);
        out
    }

    #[test]
    fn a_key_text_is_the_same_only_for_the_same_parts() {
        assert_eq!(
            key_of(&["r1", "customer.view"]),
            key_of(&["r1", "customer.view"])
        );
        assert_ne!(key_of(&["r\u{1f}", "p"]), key_of(&["r", "\u{1f}p"]));
        assert_ne!(key_of(&["r\u{1f}1\u{1f}", "p"]), key_of(&["r", "p"]));
        assert_ne!(key_of(&["", "ab"]), key_of(&["a", "b"]));
        // An instant is one key however it was spelled: by its microseconds.
        let t = SqlValue::time(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
        let mut out = String::new();
        key_text(&[t], &[0], &mut out);
        assert_eq!(out, "0\u{1f}1\u{1f}");
    }
}
