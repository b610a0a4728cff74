//! Pipeline errors: a malformed pipeline file (with file and line), or a stage failure.

use std::path::PathBuf;

/// What went wrong running a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The pipeline file is malformed; `line` is 1-based.
    #[error("{}:{line}: {message}", file.display())]
    Config {
        /// The file.
        file: PathBuf,
        /// Line number (from 1).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A stage failed.
    #[error("stage `{stage}` failed: {message}")]
    Stage {
        /// The stage.
        stage: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A result table could not be read by column name (the message names the
    /// file, the column and the row).
    #[error("{0}")]
    Table(#[from] agree_schema::TableReadError),
    /// Reading or writing pipeline bookkeeping failed.
    #[error("{}: {message}", path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}
