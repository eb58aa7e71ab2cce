//! Getting data in: CSV import into the canonical tables (source mappings
//! that read foreign schemas come later, beside it).

pub mod csv_import;
pub mod tables;
