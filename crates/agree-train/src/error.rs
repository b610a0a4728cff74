//! Everything that can stop training, each naming the file, row or option at fault.

use std::path::PathBuf;

/// Why training could not start or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A table could not be read or written.
    #[error(transparent)]
    Table(#[from] agree_schema::TableFileError),
    /// A table does not follow its contract.
    #[error("{path}: {source}")]
    Contract {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: agree_schema::ContractError,
    },
    /// A file-system error outside table writing.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A row of `samples.parquet` holds something training cannot use.
    #[error("{path}: row {row} (sample_id {sample_id}): {message}")]
    BadSample {
        /// The file or folder concerned.
        path: PathBuf,
        /// Row in the table (from 0).
        row: usize,
        /// The sample's `sample_id`.
        sample_id: i64,
        /// What is wrong.
        message: String,
    },
    /// The samples table as a whole cannot be trained on (e.g. an empty split).
    #[error("{path}: {message}")]
    BadDataset {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An option value is not understood or does not fit the data.
    #[error("invalid option {option}: {message}")]
    BadOption {
        /// The option (e.g. `--arch`).
        option: String,
        /// What is wrong.
        message: String,
    },
    /// The requested device is not there.
    #[error("device `{requested}` is not available: {why}")]
    DeviceUnavailable {
        /// The device asked for.
        requested: String,
        /// Why it is unavailable.
        why: String,
    },
    /// A checkpoint cannot be used to resume.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// libtorch reported an error.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// A background worker (batch loader, network thread) died.
    #[error("{0}")]
    Worker(String),
    /// Predictions or checkpoints in the directory were made on other data.
    #[error(transparent)]
    Identity(#[from] agree_schema::IdentityError),
}

impl TrainError {
    /// An invalid option value.
    pub fn option(option: &str, message: impl Into<String>) -> Self {
        TrainError::BadOption {
            option: option.to_string(),
            message: message.into(),
        }
    }
}
