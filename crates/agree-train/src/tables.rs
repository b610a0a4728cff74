//! The `epochs` and `runs` tables: their rows, and rewriting them atomically as
//! networks progress while keeping the rows of runs trained by other invocations.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use agree_schema::{TableWriter, contract, read_table};
use arrow::{
    array::{
        Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
        TimestampMicrosecondArray,
    },
    compute::filter_record_batch,
    datatypes::{SchemaRef, TimestampMicrosecondType},
};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// One row of `epochs`: a network's summary of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// `<arch>-s<network>`.
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
    /// `<arch>-s<network>`.
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
    /// libtorch version.
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

fn contract_of(name: &str) -> Result<&'static agree_schema::TableContract, TrainError> {
    contract(name).map_err(|source| TrainError::Contract {
        path: PathBuf::from(format!("schemas/{name}.toml")),
        source,
    })
}

/// The rows as a batch of `epochs`.
pub fn epochs_batch(rows: &[EpochRecord]) -> Result<RecordBatch, TrainError> {
    let schema = contract_of("epochs")?.schema();
    let s = |f: fn(&EpochRecord) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let f = |f: fn(&EpochRecord) -> f64| Arc::new(Float64Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        s(|r| &r.run_id),
        s(|r| &r.arch),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.network))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.epoch))),
        f(|r| r.train_accuracy),
        f(|r| r.train_loss),
        Arc::new(rows.iter().map(|r| r.test_accuracy).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.test_loss).collect::<Float64Array>()),
        f(|r| r.learning_rate),
        f(|r| r.images_per_s),
        f(|r| r.wall_s),
        s(|r| &r.device),
    ];
    batch(schema, columns, "epochs")
}

/// The rows as a batch of `runs`.
pub fn runs_batch(rows: &[RunRecord]) -> Result<RecordBatch, TrainError> {
    let schema = contract_of("runs")?.schema();
    let s = |f: fn(&RunRecord) -> &str| Arc::new(StringArray::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let i32s = |f: fn(&RunRecord) -> i32| Arc::new(Int32Array::from_iter_values(rows.iter().map(f))) as ArrayRef;
    let ts = |f: fn(&RunRecord) -> i64| {
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC")) as ArrayRef
    };
    let columns: Vec<ArrayRef> = vec![
        s(|r| &r.run_id),
        s(|r| &r.arch),
        i32s(|r| r.network),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.seed))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.label_noise))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.label_noise_seed))),
        i32s(|r| r.epochs_planned),
        i32s(|r| r.epochs_completed),
        s(|r| &r.status),
        s(|r| &r.device),
        s(|r| &r.config),
        s(|r| &r.torch_version),
        s(|r| &r.agree_version),
        ts(|r| r.started_at),
        ts(|r| r.updated_at),
    ];
    batch(schema, columns, "runs")
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>, table: &str) -> Result<RecordBatch, TrainError> {
    RecordBatch::try_new(schema, columns).map_err(|e| TrainError::Worker(format!("building `{table}` rows: {e}")))
}

/// Rows of an existing table that belong to runs other than `ours`, in contract
/// column order, and the `started_at` of our runs when the table is `runs`.
fn foreign_rows(
    path: &Path,
    table: &str,
    ours: &HashSet<String>,
) -> Result<(Vec<RecordBatch>, HashMap<String, i64>), TrainError> {
    if !path.exists() {
        return Ok((Vec::new(), HashMap::new()));
    }
    let c = contract_of(table)?;
    let (schema, batches) = read_table(path)?;
    c.check(&schema).map_err(|source| TrainError::Contract {
        path: path.to_path_buf(),
        source,
    })?;
    let indices: Vec<usize> = c
        .columns
        .iter()
        .filter_map(|col| schema.index_of(&col.name).ok())
        .collect();
    let mut kept = Vec::new();
    let mut started = HashMap::new();
    for b in batches {
        let b = b
            .project(&indices)
            .map_err(|e| TrainError::Worker(format!("{}: {e}", path.display())))?;
        let ids = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8)
            .map_err(|e| TrainError::Worker(format!("{}: {e}", path.display())))?;
        let ids = ids.as_string::<i32>();
        if let Some(col) = b.column_by_name("started_at") {
            let ts = col.as_primitive::<TimestampMicrosecondType>();
            for i in 0..b.num_rows() {
                if ours.contains(ids.value(i)) && ts.is_valid(i) {
                    started.insert(ids.value(i).to_string(), ts.value(i));
                }
            }
        }
        let keep: BooleanArray = (0..b.num_rows()).map(|i| Some(!ours.contains(ids.value(i)))).collect();
        let b = filter_record_batch(&b, &keep).map_err(|e| TrainError::Worker(format!("{}: {e}", path.display())))?;
        // Re-label with the contract schema (same columns; field metadata may differ).
        let b = RecordBatch::try_new(c.schema(), b.columns().to_vec())
            .map_err(|e| TrainError::Worker(format!("{}: {e}", path.display())))?;
        if b.num_rows() > 0 {
            kept.push(b);
        }
    }
    Ok((kept, started))
}

struct SinkState {
    foreign_epochs: Vec<RecordBatch>,
    foreign_runs: Vec<RecordBatch>,
    epochs: BTreeMap<String, Vec<EpochRecord>>,
    runs: BTreeMap<String, RunRecord>,
}

/// `epochs.parquet` and `runs.parquet` of one experiment directory, rewritten
/// atomically whenever a network finishes an epoch.
pub struct RunTables {
    epochs_path: PathBuf,
    runs_path: PathBuf,
    started: HashMap<String, i64>,
    state: Mutex<SinkState>,
}

impl RunTables {
    /// Opens the tables, keeping the rows of runs not in `ours`.
    pub fn open(epochs_path: PathBuf, runs_path: PathBuf, ours: &[String]) -> Result<Self, TrainError> {
        let ours: HashSet<String> = ours.iter().cloned().collect();
        let (foreign_epochs, _) = foreign_rows(&epochs_path, "epochs", &ours)?;
        let (foreign_runs, started) = foreign_rows(&runs_path, "runs", &ours)?;
        Ok(RunTables {
            epochs_path,
            runs_path,
            started,
            state: Mutex::new(SinkState {
                foreign_epochs,
                foreign_runs,
                epochs: BTreeMap::new(),
                runs: BTreeMap::new(),
            }),
        })
    }

    /// When a run was first started, if an earlier invocation recorded it.
    pub fn started_at(&self, run_id: &str) -> Option<i64> {
        self.started.get(run_id).copied()
    }

    /// Replaces the rows of one run and rewrites both tables.
    pub fn update(&self, run: RunRecord, epochs: Vec<EpochRecord>) -> Result<(), TrainError> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| TrainError::Worker("a network thread panicked while writing tables".into()))?;
        st.epochs.insert(run.run_id.clone(), epochs);
        st.runs.insert(run.run_id.clone(), run);
        let ours: Vec<EpochRecord> = st.epochs.values().flatten().cloned().collect();
        write(&self.epochs_path, "epochs", &st.foreign_epochs, epochs_batch(&ours)?)?;
        let runs: Vec<RunRecord> = st.runs.values().cloned().collect();
        write(&self.runs_path, "runs", &st.foreign_runs, runs_batch(&runs)?)?;
        Ok(())
    }
}

fn write(path: &Path, table: &str, foreign: &[RecordBatch], ours: RecordBatch) -> Result<(), TrainError> {
    let c = contract_of(table)?;
    let mut w = TableWriter::create(path, c, c.schema())?;
    for b in foreign {
        w.write(b)?;
    }
    w.write(&ours)?;
    w.finish()?;
    Ok(())
}
