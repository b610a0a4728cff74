//! The contracts between agree's stages: every table of an experiment directory,
//! its Arrow schema (derived from `schemas/*.toml`, never written by hand twice),
//! where it lives on disk, and how it is written safely.
//!
//! This crate knows no statistics, no training and no SQL; it only says what the
//! tables look like and where they are.

mod contract;
pub mod identity;
mod layout;
mod names;
pub mod run_tables;
mod table_file;

pub use contract::{ColumnContract, ContractError, TableContract, contract, contracts};
pub use identity::{IdentityError, Manifest, SourceInfo};
pub use layout::ExperimentDir;
pub use names::{SESSION_TABLES, is_reserved_table_name, is_table_identifier};
pub use table_file::{
    ANALYSIS_ID_KEY, AtomicPath, TableFileError, TableWriter, read_key_value, read_table, remove_stale_temporaries,
    temporary_name, writer_properties,
};
