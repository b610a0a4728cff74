//! The `epochs` and `runs` rows of a study's networks, one file per network
//! (`epochs/<run_id>.parquet`, `runs/<run_id>.parquet`), each rewritten atomically as
//! its network progresses and never by another network's trainer, so studies on
//! several machines (`--shard`) fill one directory together (the rows and the files
//! are agree-schema's, shared with the Python Recorder).

use std::collections::{HashMap, HashSet};

pub use agree_schema::run_tables::{EpochRecord, RunRecord, now_us};
use agree_schema::{
    ExperimentDir, Table,
    run_tables::{epochs_batch, move_single_files, read_table_rows, runs_batch, started_at, write_run},
};

use crate::TrainError;

fn built(table: &str) -> impl FnOnce(agree_schema::ContractError) -> TrainError + '_ {
    move |e| TrainError::Worker(format!("building `{table}` rows: {e}"))
}

/// The per-network `epochs` and `runs` files of one experiment directory.
pub struct RunTables {
    dir: ExperimentDir,
    started: HashMap<String, i64>,
}

impl RunTables {
    /// Opens the tables for the runs `ours`: moves the rows of an older directory's
    /// single `epochs.parquet`/`runs.parquet` into per-network files first, and reads
    /// when each of ours was first started.
    pub fn open(dir: &ExperimentDir, ours: &[String]) -> Result<Self, TrainError> {
        move_single_files(dir)?;
        let ours: HashSet<&str> = ours.iter().map(String::as_str).collect();
        let started = started_at(&read_table_rows(dir, Table::Runs, &|id, _| ours.contains(id))?);
        Ok(RunTables {
            dir: dir.clone(),
            started,
        })
    }

    /// When a run was first started, if an earlier invocation recorded it.
    pub fn started_at(&self, run_id: &str) -> Option<i64> {
        self.started.get(run_id).copied()
    }

    /// Rewrites the files of one run with these rows.
    pub fn update(&self, run: RunRecord, epochs: Vec<EpochRecord>) -> Result<(), TrainError> {
        let epochs = epochs_batch(&epochs).map_err(built("epochs"))?;
        let runs = runs_batch(std::slice::from_ref(&run)).map_err(built("runs"))?;
        write_run(&self.dir, &run.run_id, &epochs, &runs)?;
        Ok(())
    }
}
