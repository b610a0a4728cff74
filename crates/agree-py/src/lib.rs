//! `agree` from Python (the extension module `agree._agree`; the package's Python
//! layer in `python/agree/` converts tensors and documents the public API).
//!
//! Every function is a thin face of a library crate: the Recorder scores logits
//! with `agree-predictions` (the definitions agree's own training uses) and writes
//! with `agree-schema`; image statistics are `agree-imstats`; the stages parse their
//! keyword arguments with the CLI's own clap definitions; SQL is `agree-sql`,
//! handed to pyarrow through the Arrow C data interface. Nothing here links libtorch.

use pyo3::prelude::*;

mod arrays;
mod error;
mod ids;
mod images;
mod record;
mod recorder;
mod run_tables;
mod sql;
mod stages;

/// The native half of the `agree` package; import `agree`, not this module.
#[pymodule]
fn _agree(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("AgreeError", m.py().get_type::<error::AgreeError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<recorder::NativeRecorder>()?;
    m.add_function(wrap_pyfunction!(ids::sample_ids, m)?)?;
    m.add_function(wrap_pyfunction!(images::image_stats, m)?)?;
    m.add_function(wrap_pyfunction!(images::image_stats_batch, m)?)?;
    m.add_function(wrap_pyfunction!(stages::ingest, m)?)?;
    m.add_function(wrap_pyfunction!(stages::stats, m)?)?;
    m.add_function(wrap_pyfunction!(stages::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(stages::report, m)?)?;
    m.add_function(wrap_pyfunction!(sql::sql, m)?)?;
    Ok(())
}
