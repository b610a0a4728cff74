//! The `epochs` and `runs` tables of a study, rewritten atomically as its networks
//! progress while keeping the rows of runs trained by other invocations (the rows and
//! the rewriting are agree-schema's, shared with the Python Recorder).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
    sync::Mutex,
};

pub use agree_schema::run_tables::{EpochRecord, RunRecord, now_us};
use agree_schema::run_tables::{epochs_batch, read_rows, runs_batch, started_at, write_rows};
use arrow::array::RecordBatch;

use crate::TrainError;

fn built(table: &str) -> impl FnOnce(agree_schema::ContractError) -> TrainError + '_ {
    move |e| TrainError::Worker(format!("building `{table}` rows: {e}"))
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
        let foreign = |id: &str, _: Option<i32>| !ours.contains(id);
        let foreign_epochs = read_rows(&epochs_path, agree_schema::Table::Epochs, &foreign)?;
        let foreign_runs = read_rows(&runs_path, agree_schema::Table::Runs, &foreign)?;
        let started = started_at(&read_rows(&runs_path, agree_schema::Table::Runs, &|id, _| {
            ours.contains(id)
        })?);
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
        let batch = epochs_batch(&ours).map_err(built("epochs"))?;
        write_rows(
            &self.epochs_path,
            agree_schema::Table::Epochs,
            &st.foreign_epochs,
            &batch,
        )?;
        let runs: Vec<RunRecord> = st.runs.values().cloned().collect();
        let batch = runs_batch(&runs).map_err(built("runs"))?;
        write_rows(&self.runs_path, agree_schema::Table::Runs, &st.foreign_runs, &batch)?;
        Ok(())
    }
}
