//! Errors of the statistics stage; each names the file and, for image problems, the row.

use std::path::PathBuf;

use crate::image::ImageError;

/// Why `agree stats` failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a table file.
    #[error(transparent)]
    Table(#[from] agree_schema::TableFileError),
    /// The samples file could not be opened.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The samples file is not readable Parquet.
    #[error("{path}: {source}")]
    Parquet {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: parquet::errors::ParquetError,
    },
    /// Arrow failed on a batch of the samples file (or building an output batch).
    #[error("{path}: {source}")]
    Arrow {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: arrow::error::ArrowError,
    },
    /// The samples file lacks a column this stage needs, or it has the wrong type.
    #[error("{path}: column `{column}` {problem} (see schemas/samples.toml)")]
    Column {
        /// The file or folder concerned.
        path: PathBuf,
        /// The column.
        column: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An image could not be measured (under `--on-error fail`).
    #[error("{path}: sample_id {sample_id} (`{key}`): {source} (use --on-error skip to write nulls and continue)")]
    Image {
        /// The file or folder concerned.
        path: PathBuf,
        /// The sample's `sample_id`.
        sample_id: i64,
        /// The sample's key (its file or archive member).
        key: String,
        /// The underlying error.
        source: MeasureError,
    },
    /// A `sample_id` appears in two rows of the samples file.
    #[error("{path}: row {row}: sample_id {sample_id} appears again (first in row {first}); sample ids must be unique")]
    DuplicateSample {
        /// The file or folder concerned.
        path: PathBuf,
        /// Row in the table (from 0).
        row: usize,
        /// The sample's `sample_id`.
        sample_id: i64,
        /// The row where it appeared first.
        first: usize,
    },
    /// A command-line option is invalid.
    #[error("{0}")]
    Option(String),
    /// The experiment directory's stats files do not make one table (shards of
    /// another N, or both layouts).
    #[error(transparent)]
    Layout(#[from] agree_schema::LayoutError),
    /// The statistics schema does not follow schemas/stats.toml (a bug).
    #[error(transparent)]
    Contract(#[from] agree_schema::ContractError),
    /// The dataset fingerprint of the samples could not be read.
    #[error(transparent)]
    Identity(#[from] agree_schema::IdentityError),
}

/// Why one image could not be measured: it could not be decoded, or (a bug) one of
/// its statistics came out NaN or infinite.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeasureError {
    /// The stored bytes could not be turned into pixels (or resized).
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A statistic came out NaN or infinite (a bug; never written to the table).
    #[error("statistic `{0}` is not finite")]
    NonFinite(&'static str),
}
