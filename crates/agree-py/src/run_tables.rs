//! A Recorder's `epochs` and `runs` rows: its network's own files
//! (`epochs/<run_id>.parquet`, `runs/<run_id>.parquet`) rewritten atomically,
//! never another network's (agree-schema's run tables, as `agree train`).

use std::{path::Path, sync::Mutex};

use agree_schema::{
    ExperimentDir, Table,
    run_tables::{
        EpochRecord, RunRecord, epochs_batch, move_single_files, read_rows, read_table_rows, runs_batch,
        started_at as started_at_of, write_rows,
    },
};

/// The network a Recorder records.
#[derive(Debug, Clone)]
pub struct RunKey {
    pub run_id: String,
    pub arch: String,
    pub network: i32,
}

/// One rewrite at a time within the process (two Recorders may share a directory).
static REWRITE: Mutex<()> = Mutex::new(());

/// Replaces this run's row of `epoch` in its `epochs` file (when given) and its `runs` file.
pub fn record(dir: &Path, epoch: Option<&EpochRecord>, run: &RunRecord) -> Result<(), String> {
    let _turn = REWRITE.lock().unwrap_or_else(|p| p.into_inner());
    let layout = ExperimentDir::new(dir);
    // An older directory's single files: their rows move into per-network files first.
    move_single_files(&layout).map_err(|e| e.to_string())?;
    if let Some(row) = epoch {
        let path = layout.run_table(Table::Epochs, &run.run_id);
        let kept = read_rows(&path, Table::Epochs, &|id, e| id != row.run_id || e != Some(row.epoch))
            .map_err(|e| e.to_string())?;
        let ours = epochs_batch(std::slice::from_ref(row)).map_err(|e| format!("building the `epochs` row: {e}"))?;
        write_rows(&path, Table::Epochs, &kept, &ours).map_err(|e| e.to_string())?;
    }
    let ours = runs_batch(std::slice::from_ref(run)).map_err(|e| format!("building the `runs` row: {e}"))?;
    write_rows(&layout.run_table(Table::Runs, &run.run_id), Table::Runs, &[], &ours).map_err(|e| e.to_string())?;
    Ok(())
}

/// `started_at` of the run's existing `runs` row, if an earlier Recorder wrote one.
pub fn started_at(dir: &Path, run_id: &str) -> Result<Option<i64>, String> {
    let rows =
        read_table_rows(&ExperimentDir::new(dir), Table::Runs, &|id, _| id == run_id).map_err(|e| e.to_string())?;
    Ok(started_at_of(&rows).get(run_id).copied())
}
