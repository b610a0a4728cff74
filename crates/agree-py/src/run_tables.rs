//! A Recorder's `epochs` and `runs` rows: rewriting those tables atomically with the
//! rows of every other network kept (agree-schema's run tables, as `agree train`).

use std::{path::Path, sync::Mutex};

use agree_schema::{
    ExperimentDir,
    run_tables::{
        EpochRecord, RunRecord, epochs_batch, read_rows, runs_batch, started_at as started_at_of, write_rows,
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

/// Replaces this run's row of `epoch` in `epochs` (when given) and its row in `runs`.
pub fn record(dir: &Path, epoch: Option<&EpochRecord>, run: &RunRecord) -> Result<(), String> {
    let _turn = REWRITE.lock().unwrap_or_else(|p| p.into_inner());
    let layout = ExperimentDir::new(dir);
    if let Some(row) = epoch {
        let path = layout.table(agree_schema::Table::Epochs);
        let kept = read_rows(&path, agree_schema::Table::Epochs, &|id, e| {
            id != row.run_id || e != Some(row.epoch)
        })
        .map_err(|e| e.to_string())?;
        let ours = epochs_batch(std::slice::from_ref(row)).map_err(|e| format!("building the `epochs` row: {e}"))?;
        write_rows(&path, agree_schema::Table::Epochs, &kept, &ours).map_err(|e| e.to_string())?;
    }
    let path = layout.table(agree_schema::Table::Runs);
    let kept = read_rows(&path, agree_schema::Table::Runs, &|id, _| id != run.run_id).map_err(|e| e.to_string())?;
    let ours = runs_batch(std::slice::from_ref(run)).map_err(|e| format!("building the `runs` row: {e}"))?;
    write_rows(&path, agree_schema::Table::Runs, &kept, &ours).map_err(|e| e.to_string())?;
    Ok(())
}

/// `started_at` of the run's existing `runs` row, if an earlier Recorder wrote one.
pub fn started_at(dir: &Path, run_id: &str) -> Result<Option<i64>, String> {
    let path = ExperimentDir::new(dir).table(agree_schema::Table::Runs);
    let rows = read_rows(&path, agree_schema::Table::Runs, &|id, _| id == run_id).map_err(|e| e.to_string())?;
    Ok(started_at_of(&rows).get(run_id).copied())
}
