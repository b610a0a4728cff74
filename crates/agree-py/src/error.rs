//! Every refusal reaches Python as `agree.AgreeError` (a `ValueError`) with the
//! library's message, which names the file and the problem.

use pyo3::{PyErr, create_exception, exceptions::PyValueError};

create_exception!(
    _agree,
    AgreeError,
    PyValueError,
    "Refused input or a failed stage; the message names the file and the problem."
);

/// An `AgreeError` carrying `message`.
pub fn refuse(message: impl Into<String>) -> PyErr {
    AgreeError::new_err(message.into())
}

/// Any library error as an `AgreeError`.
pub fn to_py(error: impl std::fmt::Display) -> PyErr {
    refuse(error.to_string())
}
