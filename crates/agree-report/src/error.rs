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
    /// A table could not be read by column name: it does not follow its contract,
    /// or a column the report needs is missing, of the wrong kind or null (the
    /// message names the file, the column and the row).
    #[error("{0}")]
    Read(#[from] agree_schema::TableReadError),
    /// `manifest.json` could not be read or is malformed (the message names it).
    #[error("{0}")]
    Manifest(#[from] agree_schema::IdentityError),
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
