//! Ingest errors. Every variant that concerns input names the file (and the archive
//! member or record) and what was wrong with it.

use std::path::PathBuf;

/// What went wrong while ingesting.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An input file (or a member/record inside it) is not what the format expects.
    #[error("{path}{}: {reason}", member.as_ref().map(|m| format!(" [{m}]")).unwrap_or_default())]
    BadInput {
        /// The file or folder concerned.
        path: PathBuf,
        /// The archive member, if any.
        member: Option<String>,
        /// What went wrong.
        reason: String,
    },
    /// The dataset as a whole is unusable (no images, no classes, …).
    #[error("{path}: {reason}")]
    Dataset {
        /// The file or folder concerned.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Writing a table failed.
    #[error(transparent)]
    Table(#[from] agree_schema::TableFileError),
    /// Reading or writing the manifest, or an experiment of other data in the way.
    #[error(transparent)]
    Identity(#[from] agree_schema::IdentityError),
    /// Arrow failed to build a batch.
    #[error("building {table}: {source}")]
    Arrow {
        /// The table.
        table: &'static str,
        /// The underlying error.
        source: arrow::error::ArrowError,
    },
    /// A download failed or did not match its pinned checksum.
    #[error("download {url}: {reason}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}

impl IngestError {
    /// A bad-input error about `path` (and optionally a member inside it).
    pub fn bad(path: impl Into<PathBuf>, member: Option<&str>, reason: impl Into<String>) -> Self {
        IngestError::BadInput {
            path: path.into(),
            member: member.map(str::to_string),
            reason: reason.into(),
        }
    }
    /// A file-system error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result of ingest operations.
pub type Result<T, E = IngestError> = std::result::Result<T, E>;
