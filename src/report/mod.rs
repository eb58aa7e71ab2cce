//! Turning a run into something to read: the JSON contract, CSV, a terminal table.
//! (The monthly report, its templates and archive build on this.)

pub mod output;
