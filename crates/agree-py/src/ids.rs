//! `agree.sample_ids`: a dataset's own keys (file paths, CIFAR record indices) to
//! agree's `sample_id`, read from `samples.parquet` without its image bytes.

use std::{collections::HashMap, fs::File, path::Path};

use agree_schema::{ExperimentDir, Table};
use arrow::{
    array::{Array, AsArray},
    datatypes::{DataType, Int64Type},
};
use parquet::arrow::{ProjectionMask, arrow_reader::ParquetRecordBatchReaderBuilder};
use pyo3::prelude::*;

use crate::error::refuse;

/// The `sample_id`, `split` and `key` of every sample, in file order.
pub struct SampleKeys {
    pub sample_id: Vec<i64>,
    pub split: Vec<String>,
    pub key: Vec<String>,
}

/// Reads `sample_id`, `split` and `key` of `samples.parquet` (the images are not read).
pub fn read_sample_keys(dir: &Path) -> Result<SampleKeys, String> {
    let path = ExperimentDir::new(dir).table(Table::Samples);
    let fail = |message: String| format!("{}: {message}", path.display());
    let file = File::open(&path).map_err(|e| fail(format!("{e} (run `agree ingest` first)")))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| fail(e.to_string()))?;
    let wanted = ["sample_id", "split", "key"];
    let fields = builder.parquet_schema();
    let indices: Vec<usize> = wanted
        .iter()
        .map(|name| {
            (0..fields.num_columns())
                .find(|&i| fields.column(i).name() == *name)
                .ok_or_else(|| fail(format!("no column `{name}`")))
        })
        .collect::<Result<_, _>>()?;
    let mask = ProjectionMask::leaves(fields, indices);
    let reader = builder.with_projection(mask).build().map_err(|e| fail(e.to_string()))?;
    let mut keys = SampleKeys {
        sample_id: Vec::new(),
        split: Vec::new(),
        key: Vec::new(),
    };
    for batch in reader {
        let batch = batch.map_err(|e| fail(e.to_string()))?;
        let column = |name: &str, ty: &DataType| {
            let c = batch
                .column_by_name(name)
                .ok_or_else(|| fail(format!("no column `{name}`")))?;
            if c.null_count() > 0 {
                return Err(fail(format!("column `{name}` has nulls")));
            }
            arrow::compute::cast(c, ty).map_err(|e| fail(format!("column `{name}`: {e}")))
        };
        let ids = column("sample_id", &DataType::Int64)?;
        let splits = column("split", &DataType::Utf8)?;
        let names = column("key", &DataType::Utf8)?;
        keys.sample_id
            .extend(ids.as_primitive::<Int64Type>().values().iter().copied());
        keys.split.extend(
            splits
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap_or_default().to_string()),
        );
        keys.key.extend(
            names
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap_or_default().to_string()),
        );
    }
    Ok(keys)
}

/// The `sample_id` of each key of `split` (see the package docs).
#[pyfunction]
pub fn sample_ids(py: Python<'_>, dir: std::path::PathBuf, split: String, keys: Vec<String>) -> PyResult<Vec<i64>> {
    py.detach(|| {
        let samples = read_sample_keys(&dir)?;
        let index: HashMap<&str, i64> = samples
            .key
            .iter()
            .zip(&samples.split)
            .zip(&samples.sample_id)
            .filter(|((_, s), _)| **s == split)
            .map(|((k, _), &id)| (k.as_str(), id))
            .collect();
        let mut missing = Vec::new();
        let ids: Vec<i64> = keys
            .iter()
            .map(|k| {
                index.get(k.as_str()).copied().unwrap_or_else(|| {
                    missing.push(k.as_str());
                    -1
                })
            })
            .collect();
        if !missing.is_empty() {
            let shown: Vec<&str> = missing.iter().take(5).copied().collect();
            return Err(format!(
                "{}: {} of {} keys are not samples of split `{split}` (first: {})",
                ExperimentDir::new(&dir).table(Table::Samples).display(),
                missing.len(),
                keys.len(),
                shown.join(", ")
            ));
        }
        Ok(ids)
    })
    .map_err(refuse)
}
