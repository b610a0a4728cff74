//! The `epochs` and `runs` rows of a recorded network, and rewriting those tables
//! atomically with the rows of every other network kept.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use agree_schema::{TableWriter, contract, read_table};
use arrow::{
    array::{
        Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    },
    compute::filter_record_batch,
    datatypes::{DataType, Int32Type},
};

/// One row of `epochs`.
#[derive(Debug, Clone)]
pub struct EpochRow {
    pub epoch: i32,
    pub train_accuracy: f64,
    pub train_loss: f64,
    pub test_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub learning_rate: f64,
    pub images_per_s: f64,
    pub wall_s: f64,
    pub device: String,
}

/// One row of `runs`.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub seed: i64,
    pub label_noise: f64,
    pub label_noise_seed: i64,
    pub epochs_planned: i32,
    pub epochs_completed: i32,
    pub status: String,
    pub device: String,
    pub config: String,
    pub torch_version: String,
    pub started_at: i64,
    pub updated_at: i64,
}

/// The network the rows belong to.
#[derive(Debug, Clone)]
pub struct RunKey {
    pub run_id: String,
    pub arch: String,
    pub network: i32,
}

/// One rewrite at a time within the process (two Recorders may share a directory).
static REWRITE: Mutex<()> = Mutex::new(());

fn contract_of(name: &str) -> Result<&'static agree_schema::TableContract, String> {
    contract(name).map_err(|e| format!("schemas/{name}.toml: {e}"))
}

fn epochs_batch(key: &RunKey, r: &EpochRow) -> Result<RecordBatch, String> {
    let c = contract_of("epochs")?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![key.run_id.as_str()])),
        Arc::new(StringArray::from(vec![key.arch.as_str()])),
        Arc::new(Int32Array::from(vec![key.network])),
        Arc::new(Int32Array::from(vec![r.epoch])),
        Arc::new(Float64Array::from(vec![r.train_accuracy])),
        Arc::new(Float64Array::from(vec![r.train_loss])),
        Arc::new(Float64Array::from(vec![r.test_accuracy])),
        Arc::new(Float64Array::from(vec![r.test_loss])),
        Arc::new(Float64Array::from(vec![r.learning_rate])),
        Arc::new(Float64Array::from(vec![r.images_per_s])),
        Arc::new(Float64Array::from(vec![r.wall_s])),
        Arc::new(StringArray::from(vec![r.device.as_str()])),
    ];
    RecordBatch::try_new(c.schema(), columns).map_err(|e| format!("building the `epochs` row: {e}"))
}

fn runs_batch(key: &RunKey, r: &RunRow) -> Result<RecordBatch, String> {
    let c = contract_of("runs")?;
    let ts = |v: i64| Arc::new(TimestampMicrosecondArray::from(vec![v]).with_timezone("UTC")) as ArrayRef;
    let text = |v: &str| Arc::new(StringArray::from(vec![v])) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        text(&key.run_id),
        text(&key.arch),
        Arc::new(Int32Array::from(vec![key.network])),
        Arc::new(Int64Array::from(vec![r.seed])),
        Arc::new(Float64Array::from(vec![r.label_noise])),
        Arc::new(Int64Array::from(vec![r.label_noise_seed])),
        Arc::new(Int32Array::from(vec![r.epochs_planned])),
        Arc::new(Int32Array::from(vec![r.epochs_completed])),
        text(&r.status),
        text(&r.device),
        text(&r.config),
        text(&r.torch_version),
        text(env!("CARGO_PKG_VERSION")),
        ts(r.started_at),
        ts(r.updated_at),
    ];
    RecordBatch::try_new(c.schema(), columns).map_err(|e| format!("building the `runs` row: {e}"))
}

/// The rows of `table` at `path` for which `keep(run_id, epoch)` holds, in
/// contract column order (`epoch` is None for `runs`).
fn kept_rows(path: &Path, table: &str, keep: &dyn Fn(&str, Option<i32>) -> bool) -> Result<Vec<RecordBatch>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let c = contract_of(table)?;
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let (schema, batches) = read_table(path).map_err(|e| e.to_string())?;
    c.check(&schema).map_err(|e| fail(&e))?;
    let indices: Vec<usize> = c
        .columns
        .iter()
        .filter_map(|col| schema.index_of(&col.name).ok())
        .collect();
    let mut kept = Vec::new();
    for b in batches {
        let b = b.project(&indices).map_err(|e| fail(&e))?;
        let ids = arrow::compute::cast(b.column(0), &DataType::Utf8).map_err(|e| fail(&e))?;
        let ids = ids.as_string::<i32>();
        let epochs = match b.column_by_name("epoch") {
            Some(e) => Some(arrow::compute::cast(e, &DataType::Int32).map_err(|e| fail(&e))?),
            None => None,
        };
        let mask: BooleanArray = (0..b.num_rows())
            .map(|i| {
                let epoch = epochs.as_ref().map(|e| e.as_primitive::<Int32Type>().value(i));
                Some(!ids.is_valid(i) || keep(ids.value(i), epoch))
            })
            .collect();
        let b = filter_record_batch(&b, &mask).map_err(|e| fail(&e))?;
        let b = RecordBatch::try_new(c.schema(), b.columns().to_vec()).map_err(|e| fail(&e))?;
        if b.num_rows() > 0 {
            kept.push(b);
        }
    }
    Ok(kept)
}

fn rewrite(path: &Path, table: &str, kept: &[RecordBatch], ours: &RecordBatch) -> Result<(), String> {
    let c = contract_of(table)?;
    let mut w = TableWriter::create(path, c, c.schema()).map_err(|e| e.to_string())?;
    for b in kept.iter().chain(std::iter::once(ours)) {
        w.write(b).map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())?;
    Ok(())
}

/// Replaces this run's row of `epoch` in `epochs` (when given) and its row in `runs`.
pub fn record(dir: &Path, key: &RunKey, epoch: Option<&EpochRow>, run: &RunRow) -> Result<(), String> {
    let _turn = REWRITE.lock().unwrap_or_else(|p| p.into_inner());
    let layout = agree_schema::ExperimentDir::new(dir);
    if let Some(row) = epoch {
        let path = layout.table("epochs");
        let kept = kept_rows(&path, "epochs", &|id, e| id != key.run_id || e != Some(row.epoch))?;
        rewrite(&path, "epochs", &kept, &epochs_batch(key, row)?)?;
    }
    let path = layout.table("runs");
    let kept = kept_rows(&path, "runs", &|id, _| id != key.run_id)?;
    rewrite(&path, "runs", &kept, &runs_batch(key, run)?)
}

/// `started_at` of the run's existing `runs` row, if an earlier Recorder wrote one.
pub fn started_at(dir: &Path, run_id: &str) -> Result<Option<i64>, String> {
    let path = agree_schema::ExperimentDir::new(dir).table("runs");
    let rows = kept_rows(&path, "runs", &|id, _| id == run_id)?;
    Ok(rows.first().and_then(|b| {
        let ts = b.column_by_name("started_at")?;
        let ts = ts.as_primitive_opt::<arrow::datatypes::TimestampMicrosecondType>()?;
        ts.is_valid(0).then(|| ts.value(0))
    }))
}
