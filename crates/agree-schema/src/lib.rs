//! The contracts between agree's stages: every table of an experiment directory,
//! its Arrow schema (derived from `schemas/*.toml`, never written by hand twice),
//! where it lives on disk, and how it is written safely.
//!
//! This crate knows no statistics, no training and no SQL; it only says what the
//! tables look like and where they are.
//!
//! ```
//! use std::sync::Arc;
//!
//! use agree_schema::{ExperimentDir, Table};
//! use arrow::array::{ArrayRef, Float64Array, Int64Array, ListArray};
//!
//! let exp = ExperimentDir::new("experiments/quickstart");
//! assert!(exp.table(Table::Samples).ends_with("samples.parquet"));
//! assert!(exp.predictions("lenet5-s0", 3).ends_with("predictions/lenet5-s0/epoch=3.parquet"));
//! // Every table's Arrow schema comes from its contract in schemas/.
//! let samples = Table::Samples.contract();
//! let schema = samples.schema();
//! assert!(schema.field_with_name("sample_id").is_ok());
//! // A table that does not follow its contract is refused, naming what differs.
//! assert!(Table::Stats.contract().check(&schema).is_err());
//! // Batches are built by column name, in any order; the contract lays them out.
//! let power: ArrayRef = Arc::new(ListArray::new_null(
//!     Arc::new(arrow::datatypes::Field::new_list_field(arrow::datatypes::DataType::Float64, true)),
//!     2,
//! ));
//! let spectra = Table::Spectra.contract().batch([
//!     ("power", power),
//!     ("sample_id", Arc::new(Int64Array::from(vec![0, 1])) as ArrayRef),
//! ]);
//! assert_eq!(spectra.unwrap().schema().field(0).name(), "sample_id");
//! let wrong = Table::Spectra.contract().batch([("sample_id", Arc::new(Float64Array::from(vec![0.5])) as ArrayRef)]);
//! assert!(wrong.unwrap_err().to_string().contains("`power`: required column not given"));
//! ```

mod checked;
mod contract;
pub mod identity;
mod layout;
mod names;
mod on_error;
pub mod run_tables;
pub mod sample_image;
mod shard;
mod split;
mod table;
mod table_file;
pub mod table_files;

pub use checked::{CheckedTable, TableReadError};
pub use contract::{ColumnContract, ContractError, TableContract, contract, contracts};
pub use identity::{IdentityError, Manifest, SourceInfo};
pub use layout::ExperimentDir;
pub use names::{SESSION_TABLES, is_reserved_table_name, is_table_identifier};
pub use on_error::OnError;
pub use shard::{MAX_SHARDS, Shard};
pub use split::Split;
pub use table::Table;
pub use table_file::{
    ANALYSIS_ID_KEY, AtomicPath, TableFileError, TableWriter, read_key_value, read_table, remove_stale_temporaries,
    temporary_name, writer_properties,
};
pub use table_files::{LayoutError, table_files};
