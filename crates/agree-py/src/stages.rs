//! The stages from Python: keyword arguments become the stage's command line
//! (`bins=10` is `--bins 10`, `on_error="skip"` is `--on-error skip`, `download=True`
//! is `--download`), parsed by the CLI's own clap definitions, so every option, its
//! default and its validation are the CLI's. The GIL is released while a stage runs.

use clap::{Args, FromArgMatches};
use pyo3::{
    prelude::*,
    types::{PyDict, PyList, PyString, PyTuple},
};

use crate::error::{refuse, to_py};

/// One keyword argument's value on the command line (None when it is left out).
fn value_text(value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Some(s.to_str()?.to_string()));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let parts: Vec<String> = value
            .try_iter()?
            .map(|v| v.and_then(|v| Ok(value_text(&v)?.unwrap_or_default())))
            .collect::<PyResult<_>>()?;
        return Ok(Some(parts.join(",")));
    }
    let os = value.py().import("os")?;
    if value.hasattr("__fspath__")? {
        return Ok(Some(os.call_method1("fspath", (value,))?.str()?.to_string()));
    }
    Ok(Some(value.str()?.to_string()))
}

/// The command line of `agree <stage>` from positional values and keyword arguments.
fn command_line(stage: &str, positional: &[String], kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<String>> {
    let mut argv = vec![format!("agree {stage}")];
    argv.extend(positional.iter().cloned());
    for (key, value) in kwargs.into_iter().flat_map(|d| d.iter()) {
        let flag = format!("--{}", key.extract::<String>()?.replace('_', "-"));
        if let Ok(b) = value.cast::<pyo3::types::PyBool>() {
            if b.is_true() {
                argv.push(flag);
            }
            continue;
        }
        if let Some(text) = value_text(&value)? {
            argv.push(flag);
            argv.push(text);
        }
    }
    Ok(argv)
}

/// Parses `argv` with the clap definition of `A` (the stage's `XxxArgs`).
fn parse<A: Args + FromArgMatches>(argv: Vec<String>) -> PyResult<A> {
    // argv[0] (the stage's name) stands where the binary's name would.
    let cmd = A::augment_args(clap::Command::new("agree").no_binary_name(false));
    let matches = cmd
        .try_get_matches_from(argv)
        .map_err(|e| refuse(e.render().to_string().trim().to_string()))?;
    A::from_arg_matches(&matches).map_err(|e| refuse(e.to_string()))
}

fn path_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    value_text(value)?.ok_or_else(|| refuse("a path is required"))
}

/// `agree ingest FORMAT INPUT… --out DIR [options]`.
#[pyfunction]
#[pyo3(signature = (format, *inputs, out, quiet=false, **options))]
pub fn ingest(
    py: Python<'_>,
    format: &str,
    inputs: &Bound<'_, PyTuple>,
    out: &Bound<'_, PyAny>,
    quiet: bool,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let mut positional = vec![format.to_string()];
    for input in inputs.iter() {
        positional.push(path_text(&input)?);
    }
    positional.extend(["--out".to_string(), path_text(out)?]);
    let args: agree_ingest::cli::IngestArgs = parse(command_line("ingest", &positional, options)?)?;
    py.detach(|| agree_ingest::cli::run(&args, quiet)).map_err(to_py)
}

/// Runs `agree <stage> DIR [options]` with the stage's clap definition `A`, without
/// the GIL.
fn dir_stage<A, E>(
    py: Python<'_>,
    stage: &str,
    dir: &Bound<'_, PyAny>,
    options: Option<&Bound<'_, PyDict>>,
    run: impl FnOnce(&A) -> Result<(), E> + Send,
) -> PyResult<()>
where
    A: Args + FromArgMatches + Sync,
    E: std::fmt::Display + Send,
{
    let args: A = parse(command_line(stage, &[path_text(dir)?], options)?)?;
    py.detach(|| run(&args)).map_err(to_py)
}

/// `agree stats DIR [options]`.
#[pyfunction]
#[pyo3(signature = (dir, quiet=false, **options))]
pub fn stats(py: Python<'_>, dir: &Bound<'_, PyAny>, quiet: bool, options: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    dir_stage(py, "stats", dir, options, |args| agree_imstats::cli::run(args, quiet))
}

/// `agree analyze DIR [options]`.
#[pyfunction]
#[pyo3(signature = (dir, quiet=false, **options))]
pub fn analyze(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    quiet: bool,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    dir_stage(py, "analyze", dir, options, |args| {
        agree_sql::cli::run_analyze(args, quiet)
    })
}

/// `agree report DIR [options]`.
#[pyfunction]
#[pyo3(signature = (dir, quiet=false, **options))]
pub fn report(
    py: Python<'_>,
    dir: &Bound<'_, PyAny>,
    quiet: bool,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    dir_stage(py, "report", dir, options, |args| agree_report::cli::run(args, quiet))
}
