//! The tables written beside `samples` once the stream has settled which samples
//! were kept: `attributes` (the dataset's per-sample attributes) and `rejects`.

use std::{path::PathBuf, sync::Arc};

use agree_schema::{ExperimentDir, Table, TableContract, TableWriter};
use arrow::{
    array::{ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder},
    datatypes::DataType,
};

use crate::{
    Attribute, Catalog, IngestError, Result, catalog::Rejected, pipeline::Kept, samples_table::contract_error,
};

/// Writes `attributes.parquet` of the kept samples, or removes a stale one when the
/// dataset has no attributes. Returns the table written, if any.
pub(crate) fn write_attributes_or_remove(
    catalog: &Catalog,
    kept: &Kept,
    out: &ExperimentDir,
) -> Result<Option<PathBuf>> {
    if catalog.attribute_names.is_empty() {
        remove_stale(&out.attributes())?;
        return Ok(None);
    }
    write_attributes(catalog, kept, out).map(Some)
}

/// Writes `rejects.parquet`, or removes a stale one when nothing was rejected.
/// Returns the table written, if any.
pub(crate) fn write_rejects_or_remove(rejects: &[Rejected], out: &ExperimentDir) -> Result<Option<PathBuf>> {
    if rejects.is_empty() {
        remove_stale(&out.rejects())?;
        return Ok(None);
    }
    write_rejects(rejects, out).map(Some)
}

fn write_attributes(catalog: &Catalog, kept: &Kept, out: &ExperimentDir) -> Result<PathBuf> {
    let attrs_contract = Table::Attributes.contract();
    let mut ids = Int64Builder::with_capacity(kept.indices().len());
    for &i in kept.indices() {
        ids.append_value(kept.final_id(i) as i64);
    }
    let mut columns: Vec<(&str, ArrayRef)> = vec![("sample_id", Arc::new(ids.finish()))];
    for (col, name) in catalog.attribute_names.iter().enumerate() {
        let array = attribute_column(catalog, kept, col, name, attrs_contract);
        columns.push((name, array));
    }
    let batch = attrs_contract
        .batch(columns)
        .map_err(|e| contract_error(&out.attributes(), e))?;
    write_one(&out.attributes(), attrs_contract, &batch)
}

/// Writes `batch` as the whole table `contract` at `path`.
fn write_one(path: &std::path::Path, contract: &TableContract, batch: &RecordBatch) -> Result<PathBuf> {
    let mut writer = TableWriter::create(path, contract, batch.schema())?;
    writer.write(batch)?;
    Ok(writer.finish()?)
}

/// Attribute `col` (named `name`) of the kept samples: its type is the first value's,
/// or with no value at all (every sample rejected) the contract's (to which
/// [`TableContract::batch`] casts a column the contract declares).
fn attribute_column(
    catalog: &Catalog,
    kept: &Kept,
    col: usize,
    name: &str,
    attrs_contract: &TableContract,
) -> ArrayRef {
    let values = kept
        .indices()
        .iter()
        .map(|&i| catalog.entries[i].attributes.get(col).and_then(Option::as_ref));
    let first = values.clone().flatten().next();
    let declared = attrs_contract.column(name).map(|c| c.data_type.clone());
    match (first, declared) {
        (Some(Attribute::Int(_)), _) | (None, Some(DataType::Int32)) => {
            let mut b = Int32Builder::new();
            for v in values {
                b.append_option(if let Some(Attribute::Int(x)) = v {
                    Some(*x)
                } else {
                    None
                });
            }
            Arc::new(b.finish())
        }
        (Some(Attribute::Text(_)), _) | (None, Some(DataType::Utf8)) => {
            let mut b = StringBuilder::new();
            for v in values {
                b.append_option(if let Some(Attribute::Text(x)) = v {
                    Some(x.as_str())
                } else {
                    None
                });
            }
            Arc::new(b.finish())
        }
        _ => {
            let mut b = Float64Builder::new();
            for v in values {
                b.append_option(match v {
                    Some(Attribute::Float(x)) => Some(*x),
                    Some(Attribute::Int(x)) => Some(*x as f64),
                    _ => None,
                });
            }
            Arc::new(b.finish())
        }
    }
}

fn write_rejects(rejects: &[Rejected], out: &ExperimentDir) -> Result<PathBuf> {
    let mut source = StringBuilder::new();
    let mut member = StringBuilder::new();
    let mut reason = StringBuilder::new();
    for r in rejects {
        source.append_value(&r.source);
        member.append_option(r.member.as_deref());
        reason.append_value(&r.reason);
    }
    let columns: [(&str, ArrayRef); 3] = [
        ("source", Arc::new(source.finish())),
        ("member", Arc::new(member.finish())),
        ("reason", Arc::new(reason.finish())),
    ];
    let c = Table::Rejects.contract();
    let batch = c.batch(columns).map_err(|e| contract_error(&out.rejects(), e))?;
    write_one(&out.rejects(), c, &batch)
}

fn remove_stale(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IngestError::io(path, e)),
    }
}
