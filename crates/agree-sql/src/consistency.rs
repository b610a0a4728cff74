//! Checks of the analysis inputs that SQL would silently get wrong: a duplicated
//! or unknown prediction row is counted, a duplicated sample is joined twice, a
//! NaN or an infinity turns means into NaN and ranks among the values. Each
//! failure names the file, the first offending row (from 0, in file order) and
//! the column.
//!
//! They read only the key columns (footers and `sample_id`, `split`, `epoch`),
//! files in parallel, so they cost a small part of the analysis.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agree_schema::ExperimentDir;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float32Type, Float64Type, Int32Type, Int64Type, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};

use crate::catalog::TableFile;
use crate::error::SqlError;
use crate::statistics::is_statistic_table;

fn input(path: &Path, message: String) -> SqlError {
    SqlError::Input {
        path: path.to_path_buf(),
        message,
    }
}

/// Reads `columns` of the Parquet file at `path` (string columns as dictionaries,
/// so repeated names are not copied per row).
fn read_columns(path: &Path, columns: &[&str]) -> Result<Vec<RecordBatch>, SqlError> {
    let open = || {
        File::open(path).map_err(|source| SqlError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    let bad = |e: parquet::errors::ParquetError| input(path, e.to_string());
    let builder = ParquetRecordBatchReaderBuilder::try_new(open()?).map_err(bad)?;
    let file_schema = builder.schema().clone();
    let fields: Vec<_> = file_schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => f.as_ref().clone().with_data_type(
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            ),
            _ => f.as_ref().clone(),
        })
        .collect();
    let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(open()?, options).map_err(bad)?;
    let indices: Vec<usize> = columns
        .iter()
        .map(|c| {
            file_schema
                .index_of(c)
                .map_err(|_| input(path, format!("no column `{c}`")))
        })
        .collect::<Result<_, _>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder.with_projection(mask).build().map_err(bad)?;
    reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| input(path, e.to_string()))
}

fn int64s(path: &Path, batch: &RecordBatch, name: &str) -> Result<ArrayRef, SqlError> {
    let column = batch
        .column_by_name(name)
        .ok_or_else(|| input(path, format!("no column `{name}`")))?;
    arrow::compute::cast(column, &DataType::Int64).map_err(|e| input(path, format!("column `{name}`: {e}")))
}

/// The sample ids of `samples.parquet`: a bitmap over their range when dense
/// enough (the ids ingest writes are 0..n), else a sorted list.
#[derive(Debug)]
pub struct SampleIds {
    min: i64,
    dense: Option<Vec<bool>>,
    sorted: Vec<i64>,
}

impl SampleIds {
    /// Whether `id` is a sample.
    pub fn contains(&self, id: i64) -> bool {
        match &self.dense {
            Some(bits) => id
                .checked_sub(self.min)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| bits.get(i).copied())
                .unwrap_or(false),
            None => self.sorted.binary_search(&id).is_ok(),
        }
    }
}

/// Reads the `sample_id`s of `samples.parquet`; a duplicate is an error naming
/// both rows.
pub fn read_sample_ids(path: &Path) -> Result<SampleIds, SqlError> {
    let mut ids = Vec::new();
    for batch in read_columns(path, &["sample_id"])? {
        let column = int64s(path, &batch, "sample_id")?;
        let column = column.as_primitive::<Int64Type>();
        if let Some(row) = (0..column.len()).find(|&i| column.is_null(i)) {
            return Err(input(path, format!("row {}: `sample_id` is null", ids.len() + row)));
        }
        ids.extend(column.values().iter().copied());
    }
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| (ids[i], i));
    // Of all duplicated ids, report the one whose second occurrence comes first.
    let repeat = order.windows(2).filter(|w| ids[w[0]] == ids[w[1]]).min_by_key(|w| w[1]);
    if let Some(w) = repeat {
        return Err(input(
            path,
            format!(
                "row {}: duplicate `sample_id` {} (first at row {}); every sample must appear once",
                w[1], ids[w[1]], w[0]
            ),
        ));
    }
    let sorted: Vec<i64> = order.iter().map(|&i| ids[i]).collect();
    let min = sorted.first().copied().unwrap_or(0);
    let span = sorted.last().map_or(0, |max| max.saturating_sub(min));
    let dense = (span <= 16 * sorted.len() as i64 + 1024).then(|| {
        let mut bits = vec![false; span as usize + 1];
        for &id in &sorted {
            bits[(id - min) as usize] = true;
        }
        bits
    });
    Ok(SampleIds { min, dense, sorted })
}

/// One prediction file and the epoch its name says it holds.
#[derive(Debug, Clone)]
pub struct PredictionFile {
    /// `predictions/<run>/epoch=<E>.parquet`.
    pub path: PathBuf,
    /// `E`.
    pub epoch: i32,
}

/// The rows already seen of one split: first row by sample id.
enum SeenIds {
    /// Indexed by position in the dense sample-id range; 0 is unseen, else row + 1.
    Dense(Vec<u32>),
    Sparse(HashMap<i64, usize>),
}

impl SeenIds {
    fn new(samples: Option<&SampleIds>) -> Self {
        match samples.and_then(|s| s.dense.as_ref()) {
            Some(bits) => SeenIds::Dense(vec![0; bits.len()]),
            None => SeenIds::Sparse(HashMap::new()),
        }
    }
    /// Records `id` at `row`; returns the earlier row of `id`, if any.
    fn insert(&mut self, id: i64, row: usize, min: i64) -> Option<usize> {
        match self {
            SeenIds::Dense(first) => {
                // `id` is a sample (checked before), so inside the range.
                let slot = &mut first[(id - min) as usize];
                let earlier = (*slot > 0).then(|| *slot as usize - 1);
                if earlier.is_none() {
                    *slot = u32::try_from(row + 1).unwrap_or(u32::MAX);
                }
                earlier
            }
            SeenIds::Sparse(first) => match first.entry(id) {
                std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(row);
                    None
                }
            },
        }
    }
}

/// Checks one prediction file: every required column of the `predictions`
/// contract is there, every row's `epoch` is the file's, no `(split, sample_id)`
/// appears twice (so no `(run, epoch, split, sample_id)` does: a file is one
/// network's epoch), and every `sample_id` is a sample.
pub fn check_prediction_file(file: &PredictionFile, samples: Option<&SampleIds>) -> Result<(), SqlError> {
    let path = file.path.as_path();
    check_required_columns(path)?;
    let min = samples.map_or(0, |s| s.min);
    let mut seen: Vec<(String, SeenIds)> = Vec::new();
    let mut row = 0usize;
    let dictionary = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
    for batch in read_columns(path, &["epoch", "split", "sample_id"])? {
        let ids = int64s(path, &batch, "sample_id")?;
        let ids = ids.as_primitive::<Int64Type>();
        let column = |name: &str, to: &DataType| {
            let c = batch
                .column_by_name(name)
                .ok_or_else(|| input(path, format!("no column `{name}`")))?;
            arrow::compute::cast(c, to).map_err(|e| input(path, format!("column `{name}`: {e}")))
        };
        let epochs = column("epoch", &DataType::Int32)?;
        let epochs = epochs.as_primitive::<Int32Type>();
        let splits = column("split", &dictionary)?;
        let splits = splits.as_dictionary::<Int32Type>();
        let names = splits.values().as_string::<i32>();
        // Dictionary value → index into `seen`.
        let slots: Vec<usize> = (0..names.len())
            .map(|k| {
                let name = names.value(k);
                seen.iter().position(|(s, _)| s == name).unwrap_or_else(|| {
                    seen.push((name.to_string(), SeenIds::new(samples)));
                    seen.len() - 1
                })
            })
            .collect();
        let keys = splits.keys();
        for i in 0..batch.num_rows() {
            let at = row + i;
            if ids.is_null(i) || epochs.is_null(i) || keys.is_null(i) {
                return Err(input(
                    path,
                    format!("row {at}: null in `epoch`, `split` or `sample_id`"),
                ));
            }
            let (id, epoch) = (ids.value(i), epochs.value(i));
            if epoch != file.epoch {
                return Err(input(
                    path,
                    format!("row {at}: `epoch` is {epoch} in the file of epoch {}", file.epoch),
                ));
            }
            if samples.is_some_and(|s| !s.contains(id)) {
                return Err(input(
                    path,
                    format!("row {at}: `sample_id` {id} is not in samples.parquet"),
                ));
            }
            let (split, ids_seen) = &mut seen[slots[keys.value(i) as usize]];
            if let Some(first) = ids_seen.insert(id, at, min) {
                return Err(input(
                    path,
                    format!(
                        "row {at}: duplicate prediction for split `{split}`, `sample_id` {id} (first at row {first}); \
                         a network predicts each sample once per epoch and split"
                    ),
                ));
            }
        }
        row += batch.num_rows();
    }
    Ok(())
}

/// Every non-optional column of the `predictions` contract is in the file.
fn check_required_columns(path: &Path) -> Result<(), SqlError> {
    let file = File::open(path).map_err(|source| SqlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| input(path, e.to_string()))?;
    let contract = agree_schema::Table::Predictions.contract();
    let schema = builder.schema();
    let missing: Vec<&str> = contract
        .columns
        .iter()
        .filter(|c| !c.optional && !c.nullable && schema.index_of(&c.name).is_err())
        .map(|c| c.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(input(
            path,
            format!(
                "required column{} `{}` missing (schemas/predictions.toml)",
                if missing.len() == 1 { "" } else { "s" },
                missing.join("`, `")
            ),
        ));
    }
    Ok(())
}

/// The first NaN or infinity among the float columns of a per-sample table
/// (statistics, attributes, scores): an error naming the column and row.
pub fn check_finite(path: &Path) -> Result<(), SqlError> {
    let (_, batches) = agree_schema::read_table(path)?;
    let mut row = 0usize;
    for batch in &batches {
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            if let Some((i, value)) = first_non_finite(column.as_ref()) {
                return Err(input(
                    path,
                    format!(
                        "row {}: column `{}` is {value}; statistics must be finite (null marks a missing value)",
                        row + i,
                        field.name()
                    ),
                ));
            }
        }
        row += batch.num_rows();
    }
    Ok(())
}

fn first_non_finite(column: &dyn Array) -> Option<(usize, f64)> {
    let found = |values: &mut dyn Iterator<Item = Option<f64>>| {
        values
            .enumerate()
            .find_map(|(i, v)| v.filter(|v| !v.is_finite()).map(|v| (i, v)))
    };
    match column.data_type() {
        DataType::Float64 => found(&mut column.as_primitive::<Float64Type>().iter()),
        DataType::Float32 => found(&mut column.as_primitive::<Float32Type>().iter().map(|v| v.map(f64::from))),
        _ => None,
    }
}

/// Runs every check on the inputs of an analysis: `samples.parquet` (when
/// present), the chosen prediction `files` (against the samples), and the
/// per-sample statistic tables among `tables`.
pub fn check_inputs(dir: &ExperimentDir, files: &[PredictionFile], tables: &[TableFile]) -> Result<(), SqlError> {
    let samples = dir.samples();
    let samples = if samples.is_file() {
        Some(read_sample_ids(&samples)?)
    } else {
        None
    };
    check_in_parallel(files, |f| check_prediction_file(f, samples.as_ref()))?;
    let statistic_files: Vec<&std::path::PathBuf> = tables
        .iter()
        .filter(|t| is_statistic_table(t))
        .flat_map(|t| &t.files)
        .collect();
    check_in_parallel(&statistic_files, |f| check_finite(f))
}

/// Runs `check` on every item, on all cores; the error of the first failing item
/// (in order) is returned.
fn check_in_parallel<T: Sync>(items: &[T], check: impl Fn(&T) -> Result<(), SqlError> + Sync) -> Result<(), SqlError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len().max(1));
    let chunk = items.len().div_ceil(threads).max(1);
    let results: Vec<Result<(), SqlError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().try_for_each(&check)))
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .collect()
    });
    results.into_iter().collect()
}
