//! Why a report could not be made; every variant names the file or figure concerned.

use std::path::PathBuf;

/// Failure of the report stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A table the report cannot do without is absent.
    #[error("{path}: required table `{table}` is missing (run `agree analyze` first)")]
    MissingTable {
        /// The table.
        table: String,
        /// The file or folder concerned.
        path: PathBuf,
    },
    /// A table could not be read as Parquet.
    #[error("{0}")]
    Table(#[from] agree_schema::TableFileError),
    /// A table does not follow its contract in schemas/.
    #[error("{path}: {source}")]
    Contract {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: agree_schema::ContractError,
    },
    /// A table's values cannot be used (e.g. a column of the wrong kind, a null where a value is needed).
    #[error("{path}: {message}")]
    Malformed {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The result tables come from different runs of `agree analyze`.
    #[error("{dir}: the result tables come from different analyses ({tables}); run `agree analyze` again")]
    MixedResults {
        /// The folder concerned.
        dir: PathBuf,
        /// The tables that disagree.
        tables: String,
    },
    /// A figure could not be drawn or encoded.
    #[error("figure `{figure}`: {message}")]
    Figure {
        /// The figure.
        figure: String,
        /// What is wrong.
        message: String,
    },
    /// Writing the report failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
