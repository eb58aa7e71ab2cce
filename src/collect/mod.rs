//! Getting data in: CSV import into the canonical tables, and source
//! mappings that read foreign schemas (SQL databases, files, Elasticsearch)
//! into them with history (`accessaudit sync`).

pub mod csv_import;
pub mod directory;
pub mod mapping;
pub mod namespace;
pub mod readers;
pub mod source;
pub mod sync;
pub mod tables;
