//! Per-sample score tables imported next to the dataset: CSV or Parquet files keyed by
//! `key` or `sample_id`, and CIFAR-10H's `.npy` of soft labels, which becomes
//! `human_uncertainty` = entropy in bits of each row's normalised 10-way distribution.
//! Every numeric column becomes a statistic for the analysis.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use agree_schema::{ExperimentDir, TableWriter, contract, read_table};
use arrow::{
    array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray},
    compute::{cast, concat_batches, take},
    datatypes::{DataType, Field},
};

use crate::{IngestError, Result, pipeline::read_sample_keys};

/// What was imported.
#[derive(Debug, Clone)]
pub struct ScoresSummary {
    /// The table written.
    pub path: PathBuf,
    /// Rows imported.
    pub rows: usize,
    /// Columns imported (besides `sample_id`).
    pub columns: Vec<String>,
}

/// Shannon entropy in bits of a distribution given as non-negative weights.
pub fn entropy_bits(weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    -weights
        .iter()
        .filter(|&&w| w > 0.0)
        .map(|&w| w / total * (w / total).log2())
        .sum::<f64>()
}

/// Imports `file` into `scores/<name>.parquet` of the experiment directory `out`,
/// which must already hold `samples.parquet`.
pub fn import(file: &Path, out: &Path, name: Option<&str>) -> Result<ScoresSummary> {
    let dir = ExperimentDir::new(out);
    let samples = read_sample_keys(&dir)?;
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scores".into());
    let (table_name, ids, columns): (String, Vec<i64>, Vec<(Field, ArrayRef)>) = match ext.as_str() {
        "npy" => {
            let (ids, col) = import_cifar10h(file, &samples)?;
            (name.unwrap_or("cifar10h").to_string(), ids, vec![col])
        }
        "csv" => {
            let batch = read_csv(file)?;
            let (ids, cols) = keyed_columns(file, &batch, &samples)?;
            (name.unwrap_or(&stem).to_string(), ids, cols)
        }
        "parquet" => {
            let (schema, batches) = read_table(file)?;
            let batch = concat_batches(&schema, &batches).map_err(|e| IngestError::bad(file, None, e.to_string()))?;
            let (ids, cols) = keyed_columns(file, &batch, &samples)?;
            (name.unwrap_or(&stem).to_string(), ids, cols)
        }
        _ => {
            return Err(IngestError::bad(
                file,
                None,
                "score files must be .csv, .parquet or CIFAR-10H .npy",
            ));
        }
    };
    if !table_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        || table_name.is_empty()
    {
        return Err(IngestError::bad(
            file,
            None,
            format!("score table name `{table_name}` must be letters, digits, _ or -"),
        ));
    }
    // Rows in sample_id order.
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.sort_by_key(|&i| ids[i as usize]);
    let order = arrow::array::UInt32Array::from(order);
    let take_col =
        |a: &ArrayRef| take(a.as_ref(), &order, None).map_err(|e| IngestError::bad(file, None, e.to_string()));
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = vec![take_col(&(Arc::new(Int64Array::from(ids.clone())) as ArrayRef))?];
    for (f, a) in &columns {
        fields.push(f.clone());
        arrays.push(take_col(a)?);
    }
    let c = contract("scores").map_err(|e| IngestError::bad(file, None, e.to_string()))?;
    let schema = c
        .schema_with(&fields)
        .map_err(|e| IngestError::bad(file, None, e.to_string()))?;
    let by_name: HashMap<&str, &ArrayRef> = std::iter::once("sample_id")
        .chain(fields.iter().map(|f| f.name().as_str()))
        .zip(arrays.iter())
        .collect();
    let ordered: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| by_name[f.name().as_str()].clone())
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), ordered).map_err(|source| IngestError::Arrow {
        table: "scores",
        source,
    })?;
    let path = dir.scores(&table_name);
    let mut writer = TableWriter::create(&path, c, schema)?;
    writer.write(&batch)?;
    let path = writer.finish()?;
    Ok(ScoresSummary {
        path,
        rows: ids.len(),
        columns: fields.iter().map(|f| f.name().clone()).collect(),
    })
}

fn read_csv(file: &Path) -> Result<RecordBatch> {
    let mut reader = csv::Reader::from_path(file).map_err(|e| IngestError::bad(file, None, e.to_string()))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| IngestError::bad(file, None, e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(|e| IngestError::bad(file, Some(&format!("row {}", row + 2)), e.to_string()))?;
        for (c, v) in record.iter().enumerate() {
            if let Some(col) = cells.get_mut(c) {
                col.push(v.to_string());
            }
        }
    }
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (h, col) in headers.iter().zip(cells) {
        let numeric = h != "key"
            && col
                .iter()
                .all(|v| v.trim().is_empty() || v.trim().parse::<f64>().is_ok());
        if numeric {
            let a: Float64Array = col.iter().map(|v| v.trim().parse::<f64>().ok()).collect();
            fields.push(Field::new(h, DataType::Float64, true));
            arrays.push(Arc::new(a));
        } else {
            fields.push(Field::new(h, DataType::Utf8, true));
            arrays.push(Arc::new(StringArray::from(col)));
        }
    }
    RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), arrays)
        .map_err(|e| IngestError::bad(file, None, e.to_string()))
}

/// Sample ids of a score table's rows, and its other columns.
type KeyedColumns = (Vec<i64>, Vec<(Field, ArrayRef)>);

/// Resolves the key column of a score table to sample ids; returns the other columns.
fn keyed_columns(file: &Path, batch: &RecordBatch, samples: &[(i64, String, String)]) -> Result<KeyedColumns> {
    let schema = batch.schema();
    let by_key: HashMap<&str, i64> = samples.iter().map(|(id, _, k)| (k.as_str(), *id)).collect();
    let n_samples = samples.len() as i64;
    let mut ids = Vec::with_capacity(batch.num_rows());
    let key_col = if let Some(c) = batch.column_by_name("sample_id") {
        let c = cast(c, &DataType::Int64).map_err(|e| IngestError::bad(file, None, format!("sample_id: {e}")))?;
        let c = c
            .as_any()
            .downcast_ref::<Int64Array>()
            .cloned()
            .unwrap_or_else(|| Int64Array::from(Vec::<i64>::new()));
        for (row, v) in c.iter().enumerate() {
            match v {
                Some(id) if (0..n_samples).contains(&id) => ids.push(id),
                other => {
                    return Err(IngestError::bad(
                        file,
                        Some(&format!("row {row}")),
                        format!("sample_id {other:?} is not in samples.parquet (0..{})", n_samples - 1),
                    ));
                }
            }
        }
        "sample_id"
    } else if let Some(c) = batch.column_by_name("key") {
        let c = cast(c, &DataType::Utf8).map_err(|e| IngestError::bad(file, None, format!("key: {e}")))?;
        let c = c
            .as_any()
            .downcast_ref::<StringArray>()
            .cloned()
            .unwrap_or_else(|| StringArray::from(Vec::<String>::new()));
        for (row, v) in c.iter().enumerate() {
            match v.and_then(|k| by_key.get(k)) {
                Some(&id) => ids.push(id),
                None => {
                    return Err(IngestError::bad(
                        file,
                        Some(&format!("row {row}")),
                        format!("key {:?} is not in samples.parquet", v.unwrap_or("")),
                    ));
                }
            }
        }
        "key"
    } else {
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        return Err(IngestError::bad(
            file,
            None,
            format!("no `key` or `sample_id` column (columns: {})", names.join(", ")),
        ));
    };
    let mut seen = std::collections::HashSet::new();
    for (row, id) in ids.iter().enumerate() {
        if !seen.insert(*id) {
            return Err(IngestError::bad(
                file,
                Some(&format!("row {row}")),
                format!("sample {id} appears twice"),
            ));
        }
    }
    let cols = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .filter(|(f, _)| f.name() != key_col && f.name() != "key" && f.name() != "sample_id")
        .map(|(f, a)| (Field::new(f.name(), f.data_type().clone(), true), a.clone()))
        .collect::<Vec<_>>();
    if cols.is_empty() {
        return Err(IngestError::bad(file, None, "no score columns besides the key"));
    }
    Ok((ids, cols))
}

/// CIFAR-10H: rows follow the official test_batch order, which only the binary
/// CIFAR-10 ingest preserves (keys `test_batch.bin#NNNNN`).
fn import_cifar10h(file: &Path, samples: &[(i64, String, String)]) -> Result<(Vec<i64>, (Field, ArrayRef))> {
    let bytes = std::fs::read(file).map_err(|e| IngestError::io(file, e))?;
    let npy =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| IngestError::bad(file, None, format!("not a .npy file: {e}")))?;
    let shape = npy.shape().to_vec();
    if shape.len() != 2 {
        return Err(IngestError::bad(
            file,
            None,
            format!("expected a 2-D array of soft labels, found shape {shape:?}"),
        ));
    }
    let (rows, k) = (shape[0] as usize, shape[1] as usize);
    let values: Vec<f64> = match npy.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => npy
            .into_vec::<f32>()
            .map_err(|e| IngestError::bad(file, None, e.to_string()))?
            .into_iter()
            .map(f64::from)
            .collect(),
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => npy
            .into_vec::<f64>()
            .map_err(|e| IngestError::bad(file, None, e.to_string()))?,
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Int || t.type_char() == npyz::TypeChar::Uint => npy
            .into_vec::<i64>()
            .map_err(|e| IngestError::bad(file, None, e.to_string()))?
            .into_iter()
            .map(|v| v as f64)
            .collect(),
        other => return Err(IngestError::bad(file, None, format!("unsupported dtype {other:?}"))),
    };
    let by_key: HashMap<&str, i64> = samples.iter().map(|(id, _, k)| (k.as_str(), *id)).collect();
    let mut ids = Vec::with_capacity(rows);
    let mut entropy = Vec::with_capacity(rows);
    for r in 0..rows {
        let key = format!("test_batch.bin#{r:05}");
        let Some(&id) = by_key.get(key.as_str()) else {
            return Err(IngestError::bad(
                file,
                Some(&format!("row {r}")),
                format!(
                    "no sample with key `{key}`: CIFAR-10H rows follow the official test_batch order, which only \
                     `agree ingest cifar10 cifar-10-binary.tar.gz` preserves"
                ),
            ));
        };
        let row = &values[r * k..(r + 1) * k];
        if row.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(IngestError::bad(
                file,
                Some(&format!("row {r}")),
                "soft labels must be finite and non-negative",
            ));
        }
        ids.push(id);
        entropy.push(entropy_bits(row));
    }
    Ok((
        ids,
        (
            Field::new("human_uncertainty", DataType::Float64, false),
            Arc::new(Float64Array::from(entropy)),
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_in_bits() {
        assert_eq!(entropy_bits(&[1.0, 0.0, 0.0]), 0.0);
        assert!((entropy_bits(&[0.5, 0.5]) - 1.0).abs() < 1e-12);
        assert!((entropy_bits(&[3.0; 10]) - 10f64.log2()).abs() < 1e-12);
    }
}
