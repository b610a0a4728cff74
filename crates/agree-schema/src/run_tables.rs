//! The rows of `epochs` and `runs`, kept one file per network
//! (`epochs/<run_id>.parquet`, `runs/<run_id>.parquet`): each network's trainer
//! rewrites its own files whole, atomically, after every epoch, and never another's,
//! so trainers on several machines fill one directory together. Directories written
//! before hold every run in one `epochs.parquet`/`runs.parquet`; a writer first moves
//! those rows into per-network files ([`move_single_files`]). agree-train's studies
//! and the Python package's Recorder write them through here.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use arrow::{
    array::{
        Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    },
    compute::filter_record_batch,
    datatypes::{Int32Type, TimestampMicrosecondType},
    error::ArrowError,
};
use serde::{Deserialize, Serialize};

use crate::{ContractError, ExperimentDir, Table, TableFileError, TableWriter, read_table, table_files};

/// One row of `epochs`: a network's summary of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// `<arch>-s<network>`, or the Recorder's `run_id`.
    pub run_id: String,
    /// Architecture name.
    pub arch: String,
    /// Seed index.
    pub network: i32,
    /// Epoch from 1.
    pub epoch: i32,
    /// Accuracy of the training-pass predictions.
    pub train_accuracy: f64,
    /// Mean training loss.
    pub train_loss: f64,
    /// Test accuracy (eval pass).
    pub test_accuracy: Option<f64>,
    /// Mean test loss.
    pub test_loss: Option<f64>,
    /// Learning rate of the epoch's last step.
    pub learning_rate: f64,
    /// Training images per second.
    pub images_per_s: f64,
    /// Wall time of training and evaluation.
    pub wall_s: f64,
    /// Device name.
    pub device: String,
}

/// One row of `runs`: a network's configuration and state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `<arch>-s<network>`, or the Recorder's `run_id`.
    pub run_id: String,
    /// Architecture name.
    pub arch: String,
    /// Seed index.
    pub network: i32,
    /// Seed of initialisation and batch order.
    pub seed: i64,
    /// Label randomisation probability.
    pub label_noise: f64,
    /// Label randomisation seed.
    pub label_noise_seed: i64,
    /// Planned epochs.
    pub epochs_planned: i32,
    /// Completed epochs.
    pub epochs_completed: i32,
    /// `running`, `finished` or `failed`.
    pub status: String,
    /// Device name.
    pub device: String,
    /// Configuration JSON.
    pub config: String,
    /// Torch version.
    pub torch_version: String,
    /// agree version.
    pub agree_version: String,
    /// Start time, µs since the Unix epoch (UTC).
    pub started_at: i64,
    /// Last update, µs since the Unix epoch (UTC).
    pub updated_at: i64,
}

/// Microseconds since the Unix epoch now.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The rows as a batch of `epochs`, laid out by column name.
pub fn epochs_batch(rows: &[EpochRecord]) -> Result<RecordBatch, ContractError> {
    let s = |f: fn(&EpochRecord) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let f = |f: fn(&EpochRecord) -> f64| Arc::new(Float64Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let i32s = |f: fn(&EpochRecord) -> i32| Arc::new(Int32Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let maybe = |f: fn(&EpochRecord) -> Option<f64>| Arc::new(rows.iter().map(f).collect::<Float64Array>()) as ArrayRef;
    Table::Epochs.contract().batch([
        ("run_id", s(|r| &r.run_id)),
        ("arch", s(|r| &r.arch)),
        ("network", i32s(|r| r.network)),
        ("epoch", i32s(|r| r.epoch)),
        ("train_accuracy", f(|r| r.train_accuracy)),
        ("train_loss", f(|r| r.train_loss)),
        ("test_accuracy", maybe(|r| r.test_accuracy)),
        ("test_loss", maybe(|r| r.test_loss)),
        ("learning_rate", f(|r| r.learning_rate)),
        ("images_per_s", f(|r| r.images_per_s)),
        ("wall_s", f(|r| r.wall_s)),
        ("device", s(|r| &r.device)),
    ])
}

/// The rows as a batch of `runs`, laid out by column name.
pub fn runs_batch(rows: &[RunRecord]) -> Result<RecordBatch, ContractError> {
    let s = |f: fn(&RunRecord) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let i32s = |f: fn(&RunRecord) -> i32| Arc::new(Int32Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let i64s = |f: fn(&RunRecord) -> i64| Arc::new(Int64Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let ts = |f: fn(&RunRecord) -> i64| {
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC")) as ArrayRef
    };
    Table::Runs.contract().batch([
        ("run_id", s(|r| &r.run_id)),
        ("arch", s(|r| &r.arch)),
        ("network", i32s(|r| r.network)),
        ("seed", i64s(|r| r.seed)),
        (
            "label_noise",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.label_noise))) as ArrayRef,
        ),
        ("label_noise_seed", i64s(|r| r.label_noise_seed)),
        ("epochs_planned", i32s(|r| r.epochs_planned)),
        ("epochs_completed", i32s(|r| r.epochs_completed)),
        ("status", s(|r| &r.status)),
        ("device", s(|r| &r.device)),
        ("config", s(|r| &r.config)),
        ("torch_version", s(|r| &r.torch_version)),
        ("agree_version", s(|r| &r.agree_version)),
        ("started_at", ts(|r| r.started_at)),
        ("updated_at", ts(|r| r.updated_at)),
    ])
}

/// The rows of `table` (`epochs` or `runs`) at `path` for which `keep(run_id, epoch)`
/// holds (`epoch` is None for `runs`), in the contract's column order and schema. A
/// missing file has no rows; a file that breaks the contract is an error naming it.
pub fn read_rows(
    path: &Path,
    table: Table,
    keep: &dyn Fn(&str, Option<i32>) -> bool,
) -> Result<Vec<RecordBatch>, TableFileError> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let c = table.contract();
    let (schema, batches) = read_table(path)?;
    c.check(&schema).map_err(|source| TableFileError::Contract {
        path: path.to_path_buf(),
        source,
    })?;
    let fail = |e: ArrowError| TableFileError::Parquet {
        path: path.to_path_buf(),
        source: e.into(),
    };
    let mut kept = Vec::new();
    for b in batches {
        // Laid out by name as the contract's columns (metadata and order may differ).
        let b = c.conform(&b).map_err(|source| TableFileError::Contract {
            path: path.to_path_buf(),
            source,
        })?;
        let ids = b
            .column_by_name("run_id")
            .ok_or_else(|| fail(ArrowError::SchemaError("no `run_id`".into())))?;
        let ids = ids.as_string::<i32>();
        let epochs = b.column_by_name("epoch").map(|e| e.as_primitive::<Int32Type>());
        let mask: BooleanArray = (0..b.num_rows())
            .map(|i| {
                let epoch = epochs.and_then(|e| e.is_valid(i).then(|| e.value(i)));
                Some(!ids.is_valid(i) || keep(ids.value(i), epoch))
            })
            .collect();
        let b = filter_record_batch(&b, &mask).map_err(fail)?;
        if b.num_rows() > 0 {
            kept.push(b);
        }
    }
    Ok(kept)
}

/// The rows of `table` (`epochs` or `runs`) of `dir`, whichever layout holds them
/// (see [`table_files`]), for which `keep(run_id, epoch)` holds.
pub fn read_table_rows(
    dir: &ExperimentDir,
    table: Table,
    keep: &dyn Fn(&str, Option<i32>) -> bool,
) -> Result<Vec<RecordBatch>, TableFileError> {
    let files = table_files(dir, table).map_err(|e| TableFileError::Io {
        path: e.path,
        source: std::io::Error::other(e.problem),
    })?;
    let mut rows = Vec::new();
    for file in files {
        rows.extend(read_rows(&file, table, keep)?);
    }
    Ok(rows)
}

/// Writes one network's rows: `epochs/<run_id>.parquet` (its every epoch), then
/// `runs/<run_id>.parquet` (its one row), each atomically; no other file is touched.
pub fn write_run(
    dir: &ExperimentDir,
    run_id: &str,
    epochs: &RecordBatch,
    run: &RecordBatch,
) -> Result<(), TableFileError> {
    write_rows(&dir.run_table(Table::Epochs, run_id), Table::Epochs, &[], epochs)?;
    write_rows(&dir.run_table(Table::Runs, run_id), Table::Runs, &[], run)?;
    Ok(())
}

/// Moves the rows of a directory's single `epochs.parquet`/`runs.parquet` (the layout
/// before per-network files) into `epochs/<run_id>.parquet`/`runs/<run_id>.parquet`,
/// then removes the single files. A per-network file already there is newer and kept
/// (files appear by hard link, which never replaces), so writers on several machines
/// may all do this at once. Returns the files written.
pub fn move_single_files(dir: &ExperimentDir) -> Result<Vec<PathBuf>, TableFileError> {
    let mut written = Vec::new();
    for table in [Table::Epochs, Table::Runs] {
        let single = dir.single_run_table(table);
        if !single.is_file() {
            continue;
        }
        let rows = read_rows(&single, table, &|_, _| true)?;
        let mut by_run: std::collections::BTreeMap<String, Vec<RecordBatch>> = Default::default();
        let fail = |e: ArrowError| TableFileError::Parquet {
            path: single.clone(),
            source: e.into(),
        };
        for b in &rows {
            let Some(ids) = b.column_by_name("run_id").and_then(|c| c.as_string_opt::<i32>()) else {
                continue;
            };
            let distinct: std::collections::BTreeSet<&str> = ids.iter().flatten().collect();
            for id in distinct {
                let mask: BooleanArray = ids.iter().map(|v| Some(v == Some(id))).collect();
                by_run
                    .entry(id.to_string())
                    .or_default()
                    .push(filter_record_batch(b, &mask).map_err(fail)?);
            }
        }
        let c = table.contract();
        for (run_id, batches) in by_run {
            let path = dir.run_table(table, &run_id);
            let mut w = TableWriter::create(&path, c, c.schema())?;
            for b in &batches {
                w.write(b)?;
            }
            if w.finish_unless_present()? {
                written.push(path);
            }
        }
        match std::fs::remove_file(&single) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(TableFileError::Io { path: single, source }),
        }
    }
    Ok(written)
}

/// `started_at` of each run in `runs` rows (as [`read_rows`] returns them).
pub fn started_at(runs: &[RecordBatch]) -> HashMap<String, i64> {
    let mut started = HashMap::new();
    for b in runs {
        let (Some(ids), Some(ts)) = (b.column_by_name("run_id"), b.column_by_name("started_at")) else {
            continue;
        };
        let (Some(ids), Some(ts)) = (
            ids.as_string_opt::<i32>(),
            ts.as_primitive_opt::<TimestampMicrosecondType>(),
        ) else {
            continue;
        };
        for i in 0..b.num_rows() {
            if ids.is_valid(i) && ts.is_valid(i) {
                started.insert(ids.value(i).to_string(), ts.value(i));
            }
        }
    }
    started
}

/// Writes `table` at `path` (atomically: temporary name, then rename) as the `kept`
/// rows followed by `ours`.
pub fn write_rows(
    path: &Path,
    table: Table,
    kept: &[RecordBatch],
    ours: &RecordBatch,
) -> Result<PathBuf, TableFileError> {
    let c = table.contract();
    let mut w = TableWriter::create(path, c, c.schema())?;
    for b in kept.iter().chain(std::iter::once(ours)) {
        w.write(b)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(run_id: &str, epoch: i32) -> EpochRecord {
        EpochRecord {
            run_id: run_id.into(),
            arch: "cnn".into(),
            network: 0,
            epoch,
            train_accuracy: 0.5,
            train_loss: 1.0,
            test_accuracy: (epoch % 2 == 0).then_some(0.4),
            test_loss: None,
            learning_rate: 0.1,
            images_per_s: 100.0,
            wall_s: 2.0,
            device: "cpu".into(),
        }
    }

    fn run(run_id: &str, started_at: i64) -> RunRecord {
        RunRecord {
            run_id: run_id.into(),
            arch: "cnn".into(),
            network: 0,
            seed: 1,
            label_noise: 0.0,
            label_noise_seed: 0,
            epochs_planned: 3,
            epochs_completed: 1,
            status: "running".into(),
            device: "cpu".into(),
            config: "{}".into(),
            torch_version: "2.11.0".into(),
            agree_version: "0".into(),
            started_at,
            updated_at: started_at + 5,
        }
    }

    #[test]
    fn rows_of_other_writers_are_kept_and_ours_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("epochs.parquet");
        let first = epochs_batch(&[epoch("a", 1), epoch("a", 2), epoch("b", 1)]).unwrap();
        write_rows(&path, Table::Epochs, &[], &first).unwrap();
        let kept = read_rows(&path, Table::Epochs, &|id, e| !(id == "a" && e == Some(2))).unwrap();
        assert_eq!(kept.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
        write_rows(&path, Table::Epochs, &kept, &epochs_batch(&[epoch("a", 2)]).unwrap()).unwrap();
        let all = read_rows(&path, Table::Epochs, &|_, _| true).unwrap();
        let rows: usize = all.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 3);
        assert!(!dir.path().read_dir().unwrap().any(|e| {
            let name = e.unwrap().file_name();
            name.to_string_lossy().ends_with(".tmp")
        }));
    }

    #[test]
    fn started_at_is_read_back_per_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.parquet");
        write_rows(
            &path,
            Table::Runs,
            &[],
            &runs_batch(&[run("a", 10), run("b", 20)]).unwrap(),
        )
        .unwrap();
        let rows = read_rows(&path, Table::Runs, &|id, _| id == "b").unwrap();
        assert_eq!(started_at(&rows), HashMap::from([("b".to_string(), 20)]));
        assert!(
            read_rows(&dir.path().join("missing.parquet"), Table::Runs, &|_, _| true)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn single_files_move_into_per_run_files_keeping_newer_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ExperimentDir::new(tmp.path());
        let single = dir.single_run_table(Table::Epochs);
        write_rows(
            &single,
            Table::Epochs,
            &[],
            &epochs_batch(&[epoch("a", 1), epoch("b", 1), epoch("a", 2)]).unwrap(),
        )
        .unwrap();
        write_rows(
            &dir.single_run_table(Table::Runs),
            Table::Runs,
            &[],
            &runs_batch(&[run("a", 1), run("b", 2)]).unwrap(),
        )
        .unwrap();
        // Run b already has its own, newer, files: they stay.
        write_run(
            &dir,
            "b",
            &epochs_batch(&[epoch("b", 1), epoch("b", 2)]).unwrap(),
            &runs_batch(&[run("b", 7)]).unwrap(),
        )
        .unwrap();
        let written = move_single_files(&dir).unwrap();
        assert_eq!(
            written,
            vec![dir.run_table(Table::Epochs, "a"), dir.run_table(Table::Runs, "a")]
        );
        assert!(!single.exists() && !dir.single_run_table(Table::Runs).exists());
        let count = |t, id: &'static str| {
            read_table_rows(&dir, t, &move |r, _| r == id)
                .unwrap()
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>()
        };
        assert_eq!((count(Table::Epochs, "a"), count(Table::Epochs, "b")), (2, 2));
        let runs = read_table_rows(&dir, Table::Runs, &|_, _| true).unwrap();
        assert_eq!(
            started_at(&runs),
            HashMap::from([("a".to_string(), 1), ("b".to_string(), 7)])
        );
        assert!(move_single_files(&dir).unwrap().is_empty());
        assert!(
            !tmp.path()
                .join("epochs")
                .read_dir()
                .unwrap()
                .any(|e| { e.unwrap().file_name().to_string_lossy().ends_with(".tmp") })
        );
    }

    #[test]
    fn a_file_of_another_table_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.parquet");
        write_rows(&path, Table::Epochs, &[], &epochs_batch(&[epoch("a", 1)]).unwrap()).unwrap();
        let err = read_rows(&path, Table::Runs, &|_, _| true).unwrap_err().to_string();
        assert!(err.contains("runs.parquet"), "{err}");
    }
}
