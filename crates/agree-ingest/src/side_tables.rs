//! The tables written beside `samples` once the stream has settled which samples
//! were kept: `attributes` (the dataset's per-sample attributes) and `rejects`.

use std::{path::PathBuf, sync::Arc};

use agree_schema::{ExperimentDir, TableContract, TableWriter, contract};
use arrow::{
    array::{Array, ArrayRef, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder},
    datatypes::{DataType, Field},
};

use crate::{Attribute, Catalog, IngestError, Result, catalog::Rejected, pipeline::Kept};

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
    let attrs_contract = contract("attributes").map_err(|e| IngestError::Dataset {
        path: out.attributes(),
        reason: e.to_string(),
    })?;
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut ids = Int64Builder::with_capacity(kept.indices().len());
    for &i in kept.indices() {
        ids.append_value(kept.final_id(i) as i64);
    }
    columns.push(Arc::new(ids.finish()));
    for (col, name) in catalog.attribute_names.iter().enumerate() {
        let (field, array) = attribute_column(catalog, kept, col, name, attrs_contract);
        fields.push(field);
        columns.push(array);
    }
    let schema = attrs_contract.schema_with(&fields).map_err(|e| IngestError::Dataset {
        path: out.attributes(),
        reason: e.to_string(),
    })?;
    // schema_with orders contract columns first; reorder the arrays to match.
    let ordered: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == "sample_id" {
                columns[0].clone()
            } else {
                let pos = catalog.attribute_names.iter().position(|n| n == f.name()).unwrap_or(0);
                columns[pos + 1].clone()
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), ordered).map_err(|source| IngestError::Arrow {
        table: "attributes",
        source,
    })?;
    let mut writer = TableWriter::create(out.attributes(), attrs_contract, schema)?;
    writer.write(&batch)?;
    Ok(writer.finish()?)
}

/// Attribute `col` (named `name`) of the kept samples: its type is the first value's,
/// or with no value at all (every sample rejected) the contract's.
fn attribute_column(
    catalog: &Catalog,
    kept: &Kept,
    col: usize,
    name: &str,
    attrs_contract: &TableContract,
) -> (Field, ArrayRef) {
    let values = kept
        .indices()
        .iter()
        .map(|&i| catalog.entries[i].attributes.get(col).and_then(Option::as_ref));
    let first = values.clone().flatten().next();
    let declared = attrs_contract.column(name).map(|c| c.data_type.clone());
    let (array, dtype): (ArrayRef, DataType) = match (first, declared) {
        (Some(Attribute::Int(_)), _) | (None, Some(DataType::Int32)) => {
            let mut b = Int32Builder::new();
            for v in values {
                b.append_option(if let Some(Attribute::Int(x)) = v {
                    Some(*x)
                } else {
                    None
                });
            }
            (Arc::new(b.finish()), DataType::Int32)
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
            (Arc::new(b.finish()), DataType::Utf8)
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
            (Arc::new(b.finish()), DataType::Float64)
        }
    };
    let nullable = array.null_count() > 0 || attrs_contract.column(name).is_some_and(|c| c.nullable);
    (Field::new(name, dtype, nullable), array)
}

fn write_rejects(rejects: &[Rejected], out: &ExperimentDir) -> Result<PathBuf> {
    let c = contract("rejects").map_err(|e| IngestError::Dataset {
        path: out.rejects(),
        reason: e.to_string(),
    })?;
    let mut source = StringBuilder::new();
    let mut member = StringBuilder::new();
    let mut reason = StringBuilder::new();
    for r in rejects {
        source.append_value(&r.source);
        member.append_option(r.member.as_deref());
        reason.append_value(&r.reason);
    }
    let batch = RecordBatch::try_new(
        c.schema(),
        vec![
            Arc::new(source.finish()),
            Arc::new(member.finish()),
            Arc::new(reason.finish()),
        ],
    )
    .map_err(|source| IngestError::Arrow {
        table: "rejects",
        source,
    })?;
    let mut writer = TableWriter::create(out.rejects(), c, c.schema())?;
    writer.write(&batch)?;
    Ok(writer.finish()?)
}

fn remove_stale(path: &std::path::Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(IngestError::io(path, e)),
    }
}
