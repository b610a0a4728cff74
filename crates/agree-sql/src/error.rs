//! Errors of the SQL stage; each names the file or query it is about.

use std::path::PathBuf;

/// What can go wrong while analysing an experiment directory or answering a query.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An input table or file does not have the expected shape.
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What was expected.
        message: String,
    },
    /// The networks' prediction folders cover different epochs in a finished run.
    #[error(
        "{dir}: the networks have different epoch counts ({counts}); agreement needs every network at the same epochs"
    )]
    EpochMismatch {
        /// The `predictions/` folder.
        dir: PathBuf,
        /// `run_id: n epochs` for every network.
        counts: String,
    },
    /// DataFusion failed while running a step of the analysis.
    #[error("{step}: {source}")]
    DataFusion {
        /// The step (SQL file) or action.
        step: String,
        /// DataFusion's error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A step needed more memory than the limit allows, even spilling to disk.
    #[error(
        "{step}: needs more memory than --memory-limit {limit} allows, even spilling to disk \
         (raise --memory-limit): {message}"
    )]
    MemoryLimit {
        /// The step (SQL file) or query.
        step: String,
        /// The limit, as a size.
        limit: String,
        /// The memory pool's message (which operators held how much).
        message: String,
    },
    /// An ad-hoc query could not be parsed or planned; the message shows where.
    #[error("{0}")]
    Query(String),
    /// The query would change something; `agree sql` is read-only.
    #[error("refused: {0}")]
    ReadOnly(String),
    /// A result does not follow its contract in schemas/.
    #[error("{step}: {message}")]
    Result {
        /// The step (SQL file).
        step: String,
        /// What is wrong.
        message: String,
    },
    /// Writing a Parquet table failed.
    #[error(transparent)]
    TableFile(#[from] agree_schema::TableFileError),
    /// A contract was not found or not followed.
    #[error(transparent)]
    Contract(#[from] agree_schema::ContractError),
    /// Inputs computed on another dataset than samples.parquet holds.
    #[error(transparent)]
    Identity(#[from] agree_schema::IdentityError),
    /// The step manifest `sql/steps.toml` is malformed, or names no such step.
    #[error("crates/agree-sql/sql/steps.toml: {0}")]
    Manifest(String),
    /// Writing query output failed.
    #[error("writing output: {0}")]
    Output(String),
    /// The engine could not be reached or started (`--engine`, `agree scheduler`, `agree executor`).
    #[error("{engine}: {problem}")]
    Engine {
        /// The engine or role, e.g. `--engine ballista://127.0.0.1:50050`.
        engine: String,
        /// What went wrong.
        problem: String,
    },
}

impl From<agree_schema::TableReadError> for SqlError {
    fn from(e: agree_schema::TableReadError) -> Self {
        SqlError::Input {
            path: e.path,
            message: e.problem,
        }
    }
}

impl SqlError {
    /// This error, said as running out of memory under `limit` when the memory
    /// pool refused a reservation (other errors are returned unchanged).
    pub fn within_limit(self, limit: Option<u64>) -> Self {
        let limit = || limit.map_or_else(|| "no limit".to_string(), crate::engine::format_size);
        match self {
            SqlError::DataFusion { step, source } if crate::engine::is_memory_exhausted(&source) => {
                SqlError::MemoryLimit {
                    step,
                    limit: limit(),
                    message: source.find_root().to_string(),
                }
            }
            SqlError::Query(message) if message.contains("Resources exhausted") => SqlError::MemoryLimit {
                step: "the query".into(),
                limit: limit(),
                message,
            },
            other => other,
        }
    }

    /// Wraps a DataFusion error with the step it happened in.
    pub fn datafusion(step: impl Into<String>, source: datafusion::error::DataFusionError) -> Self {
        SqlError::DataFusion {
            step: step.into(),
            source: Box::new(source),
        }
    }
}
