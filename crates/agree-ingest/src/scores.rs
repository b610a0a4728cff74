//! Per-sample score tables imported next to the dataset: CSV or Parquet files keyed by
//! `key` or `sample_id`, and CIFAR-10H's `.npy` of soft labels, which becomes
//! `human_uncertainty` = entropy in bits of each row's normalised 10-way distribution.
//! Every numeric column becomes a statistic for the analysis.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
};

use agree_schema::{ExperimentDir, Table, TableContract, TableWriter, read_table};
use arrow::{
    array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray},
    compute::{cast, concat_batches, take},
    datatypes::{DataType, Field},
};

use crate::{IngestError, Result, samples_table::read_sample_keys};

/// What was imported.
#[derive(Debug, Clone)]
pub struct ScoresSummary {
    /// The table written.
    pub path: PathBuf,
    /// Rows imported.
    pub rows: usize,
    /// Columns imported (besides `sample_id`).
    pub columns: Vec<String>,
    /// Non-finite scores (NaN, ±inf) imported as nulls under [`NonFinite::Null`].
    pub nulled: usize,
}

/// What to do with a NaN or ±inf score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum NonFinite {
    /// Refuse the file, naming the column and the first such row.
    #[default]
    Refuse,
    /// Import them as nulls (counted in the summary).
    Null,
}

/// How to import a score file.
#[derive(Debug, Clone, Default)]
pub struct ScoreOptions {
    /// Table name under `scores/` [default: the file stem, `cifar10h` for .npy].
    pub name: Option<String>,
    /// NaN/±inf policy.
    pub non_finite: NonFinite,
}

/// Why `name` cannot name a score table: it must be a lower-case SQL identifier that
/// no table of agree uses, or every later query of the experiment would fail.
pub fn score_name_problem(name: &str) -> Option<String> {
    let identifier = agree_schema::is_table_identifier(name);
    if !identifier {
        return Some(format!(
            "score table name `{name}` is not a lower-case SQL identifier ([a-z_][a-z0-9_]*); choose one with --name"
        ));
    }
    let taken = agree_schema::is_reserved_table_name(name);
    taken.then(|| format!("score table name `{name}` is a table agree already has; choose another with --name"))
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
/// which must already hold `samples.parquet`, refusing non-finite scores.
pub fn import(file: &Path, out: &Path, name: Option<&str>) -> Result<ScoresSummary> {
    let opts = ScoreOptions {
        name: name.map(str::to_string),
        non_finite: NonFinite::Refuse,
    };
    import_with(file, out, &opts)
}

/// A score file's columns, keyed to samples.
struct ScoreFile {
    /// The table name under `scores/`.
    table_name: String,
    /// Each row's `sample_id`.
    ids: Vec<i64>,
    /// The score columns.
    columns: Vec<(Field, ArrayRef)>,
    /// How errors name a row (`line N` of a CSV, `row N` otherwise).
    row_name: Box<dyn Fn(usize) -> String>,
}

/// [`import`] with explicit options.
pub fn import_with(file: &Path, out: &Path, opts: &ScoreOptions) -> Result<ScoresSummary> {
    let dir = ExperimentDir::new(out);
    let samples = read_sample_keys(&dir)?;
    let scores = read_score_file(file, &samples, opts.name.as_deref())?;
    if let Some(problem) = score_name_problem(&scores.table_name) {
        return Err(IngestError::bad(file, None, problem));
    }
    let (columns, nulled) = finite_columns(file, scores.columns, opts.non_finite, &scores.row_name)?;
    let c = Table::Scores.contract();
    let batch = score_batch(file, c, &scores.ids, &columns)?;
    let path = dir.scores(&scores.table_name);
    let mut writer = TableWriter::create(&path, c, batch.schema())?;
    writer.write(&batch)?;
    let path = writer.finish()?;
    Ok(ScoresSummary {
        path,
        rows: scores.ids.len(),
        columns: columns.iter().map(|(f, _)| f.name().clone()).collect(),
        nulled,
    })
}

/// Reads a score file by its extension and keys its rows to `samples`.
fn read_score_file(file: &Path, samples: &[(i64, String, String)], name: Option<&str>) -> Result<ScoreFile> {
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scores".into());
    let by_index = || -> Box<dyn Fn(usize) -> String> { Box::new(|r| format!("row {r}")) };
    let named = |default: &str| name.unwrap_or(default).to_string();
    match ext.as_str() {
        "npy" => {
            let (ids, col) = import_cifar10h(file, samples)?;
            let (table_name, columns, row_name) = (named("cifar10h"), vec![col], by_index());
            Ok(ScoreFile {
                table_name,
                ids,
                columns,
                row_name,
            })
        }
        "csv" => {
            let (batch, lines) = read_csv(file)?;
            let row_name: Box<dyn Fn(usize) -> String> =
                Box::new(move |r| format!("line {}", lines.get(r).copied().unwrap_or(0)));
            keyed_file(file, &batch, samples, named(&stem), row_name)
        }
        "parquet" => {
            let (schema, batches) = read_table(file)?;
            let batch = concat_batches(&schema, &batches).map_err(|e| IngestError::bad(file, None, e.to_string()))?;
            keyed_file(file, &batch, samples, named(&stem), by_index())
        }
        _ => Err(IngestError::bad(
            file,
            None,
            "score files must be .csv, .parquet or CIFAR-10H .npy",
        )),
    }
}

/// A score table keyed by its `key` or `sample_id` column (CSV and Parquet alike).
fn keyed_file(
    file: &Path,
    batch: &RecordBatch,
    samples: &[(i64, String, String)],
    table_name: String,
    row_name: Box<dyn Fn(usize) -> String>,
) -> Result<ScoreFile> {
    let (ids, columns) = keyed_columns(file, batch, samples, &row_name)?;
    Ok(ScoreFile {
        table_name,
        ids,
        columns,
        row_name,
    })
}

/// The score table's batch: rows in `sample_id` order, columns in the contract's order.
fn score_batch(file: &Path, c: &TableContract, ids: &[i64], columns: &[(Field, ArrayRef)]) -> Result<RecordBatch> {
    let mut order: Vec<u32> = (0..ids.len() as u32).collect();
    order.sort_by_key(|&i| ids[i as usize]);
    let order = arrow::array::UInt32Array::from(order);
    let take_col =
        |a: &ArrayRef| take(a.as_ref(), &order, None).map_err(|e| IngestError::bad(file, None, e.to_string()));
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = vec![take_col(&(Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef))?];
    for (f, a) in columns {
        fields.push(f.clone());
        arrays.push(take_col(a)?);
    }
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
    RecordBatch::try_new(schema, ordered).map_err(|source| IngestError::Arrow {
        table: "scores",
        source,
    })
}

/// Applies the NaN/±inf policy to the float columns; returns them and how many
/// values became null.
fn finite_columns(
    file: &Path,
    columns: Vec<(Field, ArrayRef)>,
    policy: NonFinite,
    row_name: &dyn Fn(usize) -> String,
) -> Result<(Vec<(Field, ArrayRef)>, usize)> {
    let mut nulled = 0;
    let mut out = Vec::with_capacity(columns.len());
    for (field, array) in columns {
        if !matches!(
            field.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        ) {
            out.push((field, array));
            continue;
        }
        let values = cast(&array, &DataType::Float64).map_err(|e| IngestError::bad(file, None, e.to_string()))?;
        let values = values
            .as_any()
            .downcast_ref::<Float64Array>()
            .ok_or_else(|| IngestError::bad(file, None, format!("column `{}` is not numeric", field.name())))?;
        let bad = values.iter().position(|v| v.is_some_and(|v| !v.is_finite()));
        let Some(first) = bad else {
            out.push((field, array));
            continue;
        };
        if policy == NonFinite::Refuse {
            return Err(IngestError::bad(
                file,
                Some(&row_name(first)),
                format!(
                    "column `{}` holds a non-finite score ({}); use --non-finite null to import such scores as \
                     nulls",
                    field.name(),
                    values.value(first)
                ),
            ));
        }
        let cleaned: Float64Array = values.iter().map(|v| v.filter(|v| v.is_finite())).collect();
        nulled += cleaned.null_count() - values.null_count();
        out.push((Field::new(field.name(), DataType::Float64, true), Arc::new(cleaned)));
    }
    Ok((out, nulled))
}

/// Reads a score CSV; returns its columns and the file line of each row (every
/// error about a row of a CSV names its line, header = line 1).
fn read_csv(file: &Path) -> Result<(RecordBatch, Vec<u64>)> {
    let mut reader = csv::Reader::from_path(file).map_err(|e| IngestError::bad(file, None, e.to_string()))?;
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| IngestError::bad(file, Some("line 1"), e.to_string()))?
        .iter()
        .map(str::to_string)
        .collect();
    check_unique_columns(file, headers.iter().map(String::as_str))?;
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| format!("line {}", p.line()));
            IngestError::bad(file, line.as_deref(), e.to_string())
        })?;
        lines.push(record.position().map(|p| p.line()).unwrap_or(0));
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
    let batch = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), arrays)
        .map_err(|e| IngestError::bad(file, None, e.to_string()))?;
    Ok((batch, lines))
}

/// Refuses a file with two columns of one name: the table could not be queried.
fn check_unique_columns<'a>(file: &Path, names: impl Iterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(IngestError::bad(file, None, format!("column `{name}` appears twice")));
        }
    }
    Ok(())
}

/// Sample ids from a `sample_id` column: whole numbers only (a float column such as
/// CSV's is checked before the cast, which would truncate 1.5 to 1).
fn sample_ids(file: &Path, column: &ArrayRef, row: &dyn Fn(usize) -> String) -> Result<Int64Array> {
    if matches!(
        column.data_type(),
        DataType::Float16 | DataType::Float32 | DataType::Float64
    ) {
        let f =
            cast(column, &DataType::Float64).map_err(|e| IngestError::bad(file, None, format!("sample_id: {e}")))?;
        if let Some(f) = f.as_any().downcast_ref::<Float64Array>() {
            for (r, v) in f.iter().enumerate() {
                if let Some(v) = v.filter(|v| v.fract() != 0.0 || !v.is_finite()) {
                    return Err(IngestError::bad(
                        file,
                        Some(&row(r)),
                        format!("sample_id {v} is not a whole number"),
                    ));
                }
            }
        }
    }
    let c = cast(column, &DataType::Int64).map_err(|e| IngestError::bad(file, None, format!("sample_id: {e}")))?;
    Ok(c.as_any()
        .downcast_ref::<Int64Array>()
        .cloned()
        .unwrap_or_else(|| Int64Array::from(Vec::<i64>::new())))
}

/// Sample ids of a score table's rows, and its other columns.
type KeyedColumns = (Vec<i64>, Vec<(Field, ArrayRef)>);

/// Resolves the key column of a score table to sample ids; returns the other columns.
fn keyed_columns(
    file: &Path,
    batch: &RecordBatch,
    samples: &[(i64, String, String)],
    row_name: &dyn Fn(usize) -> String,
) -> Result<KeyedColumns> {
    let schema = batch.schema();
    check_unique_columns(file, schema.fields().iter().map(|f| f.name().as_str()))?;
    let by_key: HashMap<&str, i64> = samples.iter().map(|(id, _, k)| (k.as_str(), *id)).collect();
    let n_samples = samples.len() as i64;
    let mut ids = Vec::with_capacity(batch.num_rows());
    let key_col = if let Some(c) = batch.column_by_name("sample_id") {
        let c = sample_ids(file, c, row_name)?;
        for (row, v) in c.iter().enumerate() {
            match v {
                Some(id) if (0..n_samples).contains(&id) => ids.push(id),
                other => {
                    return Err(IngestError::bad(
                        file,
                        Some(&row_name(row)),
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
                        Some(&row_name(row)),
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
                Some(&row_name(row)),
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

/// The elements of a `rows × k` array in row-major order, whatever order it was stored in.
fn row_major(stored: Vec<f64>, rows: usize, k: usize, order: npyz::Order) -> Vec<f64> {
    match order {
        npyz::Order::C => stored,
        // Fortran order: element (r, c) sits at c * rows + r.
        npyz::Order::Fortran => (0..rows * k)
            .map(|i| stored.get((i % k) * rows + i / k).copied().unwrap_or(f64::NAN))
            .collect(),
    }
}

/// The file CIFAR-10H's original test labels are read from, beside the soft labels.
pub const CIFAR10_TEST_LABELS: &str = "cifar10-test-labels.npy";

/// A 2-D or 1-D `.npy` array of numbers, as `f64` in row-major order.
struct NpyArray {
    shape: Vec<u64>,
    values: Vec<f64>,
}

/// Reads a numeric `.npy` (float32/64, signed or unsigned integers of any width).
fn read_npy(file: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(file).map_err(|e| IngestError::io(file, e))?;
    let npy =
        npyz::NpyFile::new(&bytes[..]).map_err(|e| IngestError::bad(file, None, format!("not a .npy file: {e}")))?;
    let shape = npy.shape().to_vec();
    let order = npy.order();
    let dtype = npy.dtype();
    let unsupported = || IngestError::bad(file, None, format!("unsupported dtype {dtype:?}"));
    let npyz::DType::Plain(t) = &dtype else {
        return Err(unsupported());
    };
    fn widen<T: npyz::Deserialize>(npy: npyz::NpyFile<&[u8]>, f: fn(T) -> f64) -> std::io::Result<Vec<f64>> {
        Ok(npy.into_vec::<T>()?.into_iter().map(f).collect())
    }
    use npyz::TypeChar::{Float, Int, Uint};
    let stored = match (t.type_char(), t.size_field()) {
        (Float, 4) => widen::<f32>(npy, f64::from),
        (Float, 8) => widen::<f64>(npy, |v| v),
        (Int, 1) => widen::<i8>(npy, f64::from),
        (Int, 2) => widen::<i16>(npy, f64::from),
        (Int, 4) => widen::<i32>(npy, f64::from),
        (Int, 8) => widen::<i64>(npy, |v| v as f64),
        (Uint, 1) => widen::<u8>(npy, f64::from),
        (Uint, 2) => widen::<u16>(npy, f64::from),
        (Uint, 4) => widen::<u32>(npy, f64::from),
        (Uint, 8) => widen::<u64>(npy, |v| v as f64),
        _ => return Err(unsupported()),
    }
    .map_err(|e| IngestError::bad(file, None, e.to_string()))?;
    let values = match shape.as_slice() {
        &[rows, k] => row_major(stored, rows as usize, k as usize, order),
        _ => stored,
    };
    Ok(NpyArray { shape, values })
}

/// The sample key each CIFAR-10H row belongs to. Rows follow the original test order:
/// a binary ingest keeps it (`test_batch.bin#NNNNN`); the JPEG ImageFolder archive
/// numbers each class's images in that order (`test/<class>/NNNN.jpg` is the class's
/// NNNN-th test image, from 0000), so its keys follow from the original test labels,
/// read from [`CIFAR10_TEST_LABELS`] beside `file`.
fn cifar10h_row_keys(file: &Path, rows: usize, samples: &[(i64, String, String)]) -> Result<Vec<String>> {
    if samples.iter().any(|(_, _, key)| key.starts_with("test_batch.bin#")) {
        return Ok((0..rows).map(|r| format!("test_batch.bin#{r:05}")).collect());
    }
    let labels_file = file.with_file_name(CIFAR10_TEST_LABELS);
    if !labels_file.is_file() {
        return Err(IngestError::bad(
            file,
            None,
            format!(
                "CIFAR-10H rows follow the official test_batch order: a binary CIFAR-10 ingest (`agree ingest \
                 cifar10`, keys `test_batch.bin#NNNNN`) matches them directly, an ImageFolder one (the JPEG \
                 archive, keys `test/<class>/NNNN.jpg`) through the original test labels, expected in {}",
                labels_file.display()
            ),
        ));
    }
    let labels = read_npy(&labels_file)?;
    if labels.shape != [rows as u64] {
        return Err(IngestError::bad(
            &labels_file,
            None,
            format!(
                "expected {rows} test labels (one per CIFAR-10H row), found shape {:?}",
                labels.shape
            ),
        ));
    }
    let classes = crate::cifar10::CLASSES;
    let mut seen = [0usize; 10];
    let mut keys = Vec::with_capacity(rows);
    for (r, &label) in labels.values.iter().enumerate() {
        let class = (label.fract() == 0.0 && (0.0..10.0).contains(&label)).then_some(label as usize);
        let Some(class) = class else {
            return Err(IngestError::bad(
                &labels_file,
                Some(&format!("row {r}")),
                format!("label {label} is not a CIFAR-10 class index (0–9)"),
            ));
        };
        keys.push(format!("test/{}/{:04}.jpg", classes[class], seen[class]));
        seen[class] += 1;
    }
    Ok(keys)
}

/// CIFAR-10H's soft labels as `human_uncertainty` (entropy in bits) of the test
/// samples their rows belong to (see [`cifar10h_row_keys`]); every row must match.
fn import_cifar10h(file: &Path, samples: &[(i64, String, String)]) -> Result<(Vec<i64>, (Field, ArrayRef))> {
    let probs = read_npy(file)?;
    let &[rows, k] = probs.shape.as_slice() else {
        return Err(IngestError::bad(
            file,
            None,
            format!("expected a 2-D array of soft labels, found shape {:?}", probs.shape),
        ));
    };
    let (rows, k) = (rows as usize, k as usize);
    let keys = cifar10h_row_keys(file, rows, samples)?;
    let by_key: HashMap<&str, i64> = samples.iter().map(|(id, _, k)| (k.as_str(), *id)).collect();
    let mut ids = Vec::with_capacity(rows);
    let mut entropy = Vec::with_capacity(rows);
    for (r, key) in keys.iter().enumerate() {
        let Some(&id) = by_key.get(key.as_str()) else {
            return Err(IngestError::bad(
                file,
                Some(&format!("row {r}")),
                format!("no sample with key `{key}`: CIFAR-10H holds the 10,000 CIFAR-10 test images"),
            ));
        };
        let row = &probs.values[r * k..(r + 1) * k];
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
    fn fortran_order_is_read_row_major() {
        // [[1, 2, 3], [4, 5, 6]] stored column by column.
        let stored = vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        assert_eq!(
            row_major(stored.clone(), 2, 3, npyz::Order::Fortran),
            [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        assert_eq!(row_major(stored.clone(), 2, 3, npyz::Order::C), stored);
    }

    #[test]
    fn score_names_must_be_queryable_and_free() {
        for bad in [
            "samples",
            "stats",
            "agreement",
            "predictions",
            "my-scores",
            "123",
            "Hardness",
            "",
        ] {
            assert!(score_name_problem(bad).is_some(), "{bad} must be refused");
        }
        for good in ["hardness", "cifar10h", "_x1"] {
            assert_eq!(score_name_problem(good), None);
        }
    }

    #[test]
    fn entropy_in_bits() {
        assert_eq!(entropy_bits(&[1.0, 0.0, 0.0]), 0.0);
        assert!((entropy_bits(&[0.5, 0.5]) - 1.0).abs() < 1e-12);
        assert!((entropy_bits(&[3.0; 10]) - 10f64.log2()).abs() < 1e-12);
    }
}
