//! The contracts between agree's stages: every table of an experiment directory,
//! its Arrow schema (derived from `schemas/*.toml`, never written by hand twice),
//! where it lives on disk, and how it is written safely.
//!
//! This crate knows no statistics, no training and no SQL; it only says what the
//! tables look like and where they are.
//!
//! ```
//! use agree_schema::{ExperimentDir, contract};
//!
//! let exp = ExperimentDir::new("experiments/quickstart");
//! assert!(exp.samples().ends_with("samples.parquet"));
//! assert!(exp.predictions("lenet5-s0", 3).ends_with("predictions/lenet5-s0/epoch=3.parquet"));
//! // Every table's Arrow schema comes from its contract in schemas/.
//! let samples = contract("samples").unwrap();
//! let schema = samples.schema();
//! assert!(schema.field_with_name("sample_id").is_ok());
//! // A table that does not follow its contract is refused, naming what differs.
//! let stats = contract("stats").unwrap();
//! assert!(stats.check(&schema).is_err());
//! ```

mod contract;
pub mod identity;
mod layout;
mod names;
pub mod run_tables;
mod split;
mod table_file;

pub use contract::{ColumnContract, ContractError, TableContract, contract, contracts};
pub use identity::{IdentityError, Manifest, SourceInfo};
pub use layout::ExperimentDir;
pub use names::{SESSION_TABLES, is_reserved_table_name, is_table_identifier};
pub use split::Split;
pub use table_file::{
    ANALYSIS_ID_KEY, AtomicPath, TableFileError, TableWriter, read_key_value, read_table, remove_stale_temporaries,
    temporary_name, writer_properties,
};
