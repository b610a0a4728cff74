//! `agree.sql`: read-only SQL over an experiment directory (as `agree sql`), answered
//! as a `pyarrow.Table` whose buffers are handed over through the Arrow C data
//! interface, not copied (string columns, which DataFusion reads as view types, are
//! cast to the contracts' `string`).

use std::path::PathBuf;

use agree_schema::ExperimentDir;
use agree_sql::{block_on, open_session, run_query};
use std::sync::Arc;

use arrow::{
    array::{ArrayRef, RecordBatch},
    compute::cast,
    datatypes::{DataType, Field, Schema, SchemaRef},
};
use arrow_pyarrow::{IntoPyArrow, Table};
use pyo3::prelude::*;

use crate::error::to_py;

/// Runs `query` over every table of `dir`; DDL, DML, COPY and SET are refused.
#[pyfunction]
pub fn sql<'py>(py: Python<'py>, dir: PathBuf, query: String) -> PyResult<Bound<'py, PyAny>> {
    let (schema, batches) = py
        .detach(|| {
            block_on(async {
                let session = open_session(&ExperimentDir::new(&dir), None).await?;
                run_query(&session.ctx, &query).await
            })?
        })
        .map_err(to_py)?;
    let schema = plain_schema(&schema);
    let batches: Vec<RecordBatch> = batches
        .iter()
        .map(|b| plain_batch(&schema, b))
        .collect::<Result<_, _>>()
        .map_err(to_py)?;
    Table::try_new(batches, schema).map_err(to_py)?.into_pyarrow(py)
}

/// DataFusion reads Parquet strings as view types; the tables' contracts (and most
/// Python code) say `string`/`binary`, so those columns are cast. Every other column
/// is handed over as is.
fn plain_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8View => DataType::Utf8,
        DataType::BinaryView => DataType::Binary,
        other => other.clone(),
    }
}

fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(plain_type(f.data_type())))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn plain_batch(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch, arrow::error::ArrowError> {
    let columns: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(c.clone())
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<Result<_, _>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}
