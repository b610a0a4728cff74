//! A Tokio runtime for callers without one (the CLI, benchmarks): DataFusion is async.

use std::future::Future;
use std::path::PathBuf;

use crate::error::SqlError;

/// Runs `future` to completion on a new multi-threaded runtime.
pub fn block_on<F: Future>(future: F) -> Result<F::Output, SqlError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| SqlError::Io {
            path: PathBuf::from("<tokio runtime>"),
            source,
        })?;
    Ok(runtime.block_on(future))
}
