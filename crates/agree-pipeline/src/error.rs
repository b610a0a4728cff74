//! Pipeline errors: a malformed pipeline file (with file and line), or a stage failure.

use std::path::PathBuf;

/// What went wrong running a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The pipeline file is malformed; `line` is 1-based.
    #[error("{}:{line}: {message}", file.display())]
    Config {
        file: PathBuf,
        line: usize,
        message: String,
    },
    /// A stage failed.
    #[error("stage `{stage}` failed: {message}")]
    Stage { stage: &'static str, message: String },
    /// Reading or writing pipeline bookkeeping failed.
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
}
