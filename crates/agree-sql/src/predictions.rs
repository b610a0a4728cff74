//! The prediction folders of an experiment directory
//! (`predictions/<run_id>/epoch=<E>.parquet`) and which epochs an analysis can use.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int32Type;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::SqlError;

/// One network's prediction files.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionRun {
    /// `<arch>-s<network>`, the folder name.
    pub run_id: String,
    /// Architecture, read from the first file.
    pub arch: String,
    /// Seed index, read from the first file.
    pub network: i32,
    /// Epoch → file.
    pub epochs: BTreeMap<i32, PathBuf>,
}

/// Lists every network folder under `predictions_dir`, sorted by run id. Files
/// whose name is not `epoch=<E>.parquet` (such as a writer's hidden temporary
/// file) are not predictions yet and are skipped.
pub fn list_prediction_runs(predictions_dir: &Path) -> Result<Vec<PredictionRun>, SqlError> {
    let io = |source| SqlError::Io {
        path: predictions_dir.to_path_buf(),
        source,
    };
    let mut runs = Vec::new();
    if !predictions_dir.is_dir() {
        return Ok(runs);
    }
    for entry in std::fs::read_dir(predictions_dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.path().is_dir() {
            continue;
        }
        let run_id = entry.file_name().to_string_lossy().into_owned();
        let mut epochs = BTreeMap::new();
        let run_dir = entry.path();
        for file in std::fs::read_dir(&run_dir).map_err(|source| SqlError::Io {
            path: run_dir.clone(),
            source,
        })? {
            let file = file.map_err(|source| SqlError::Io {
                path: run_dir.clone(),
                source,
            })?;
            let name = file.file_name().to_string_lossy().into_owned();
            if let Some(epoch) = name.strip_prefix("epoch=").and_then(|s| s.strip_suffix(".parquet")) {
                let epoch = epoch.parse::<i32>().map_err(|_| SqlError::Input {
                    path: file.path(),
                    message: "file name must be epoch=<integer>.parquet".into(),
                })?;
                epochs.insert(epoch, file.path());
            }
        }
        let Some(first) = epochs.values().next() else {
            continue;
        };
        let (arch, network) = read_network(first)?;
        runs.push(PredictionRun {
            run_id,
            arch,
            network,
            epochs,
        });
    }
    runs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(runs)
}

/// Reads `arch` and `network` from the first row of a prediction file.
fn read_network(path: &Path) -> Result<(String, i32), SqlError> {
    let input = |message: String| SqlError::Input {
        path: path.to_path_buf(),
        message,
    };
    let file = File::open(path).map_err(|source| SqlError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| input(e.to_string()))?;
    let schema = builder.schema().clone();
    let arch_at = schema.index_of("arch").map_err(|_| input("no column `arch`".into()))?;
    let network_at = schema
        .index_of("network")
        .map_err(|_| input("no column `network`".into()))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [arch_at, network_at]);
    let mut reader = builder
        .with_projection(mask)
        .with_batch_size(1)
        .build()
        .map_err(|e| input(e.to_string()))?;
    let batch = match reader.next() {
        Some(batch) => batch.map_err(|e| input(e.to_string()))?,
        None => return Err(input("no rows".into())),
    };
    let arch = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
        .map_err(|e| input(format!("column `arch`: {e}")))?;
    let arch = arch.as_string::<i32>();
    let network = batch
        .column(1)
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| input("column `network` must be int32".into()))?;
    if arch.is_null(0) || network.is_null(0) {
        return Err(input("row 0: `arch` and `network` must not be null".into()));
    }
    Ok((arch.value(0).to_string(), network.value(0)))
}

/// What `runs` says about one network.
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    /// `running`, `finished` or `failed`.
    pub status: String,
    /// Epochs the run is configured for.
    pub epochs_planned: i32,
}

/// The epochs an analysis uses, and what it had to say about them.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochPlan {
    /// Epochs present for every network, ascending.
    pub epochs: Vec<i32>,
    /// Remarks for the user (partial runs).
    pub notes: Vec<String>,
}

/// Chooses the analysed epochs. Every network must have the same epochs, except
/// while training is still writing them (a run `running` in `runs`): then
/// the epochs all networks have are analysed and the rest waits for a later run.
/// Networks configured for different epoch counts are an error.
pub fn plan_epochs(
    predictions_dir: &Path,
    runs: &[PredictionRun],
    states: &HashMap<String, RunState>,
) -> Result<EpochPlan, SqlError> {
    if runs.is_empty() {
        return Err(SqlError::Input {
            path: predictions_dir.to_path_buf(),
            message: "no prediction files (expected predictions/<run_id>/epoch=<E>.parquet)".into(),
        });
    }
    let counts = || {
        runs.iter()
            .map(|r| {
                let planned = states.get(&r.run_id).map(|s| format!(", {} planned", s.epochs_planned));
                format!("{}: {} epochs{}", r.run_id, r.epochs.len(), planned.unwrap_or_default())
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let planned: BTreeSet<i32> = runs
        .iter()
        .filter_map(|r| states.get(&r.run_id))
        .map(|s| s.epochs_planned)
        .collect();
    if planned.len() > 1 {
        return Err(SqlError::EpochMismatch {
            dir: predictions_dir.to_path_buf(),
            counts: counts(),
        });
    }
    let sets: Vec<BTreeSet<i32>> = runs.iter().map(|r| r.epochs.keys().copied().collect()).collect();
    let mut common = sets[0].clone();
    for s in &sets[1..] {
        common = common.intersection(s).copied().collect();
    }
    let mut notes = Vec::new();
    if sets.iter().any(|s| s != &common) {
        let running: Vec<&str> = runs
            .iter()
            .filter(|r| states.get(&r.run_id).is_some_and(|s| s.status == "running"))
            .map(|r| r.run_id.as_str())
            .collect();
        if running.is_empty() || common.is_empty() {
            return Err(SqlError::EpochMismatch {
                dir: predictions_dir.to_path_buf(),
                counts: counts(),
            });
        }
        let max = sets.iter().map(BTreeSet::len).max().unwrap_or(0);
        notes.push(format!(
            "partial run: analysing the {} epochs every network has written (up to {} exist; still running: {})",
            common.len(),
            max,
            running.join(", ")
        ));
    }
    Ok(EpochPlan {
        epochs: common.into_iter().collect(),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, epochs: &[i32]) -> PredictionRun {
        PredictionRun {
            run_id: id.into(),
            arch: "a".into(),
            network: 0,
            epochs: epochs.iter().map(|&e| (e, PathBuf::from(format!("{e}")))).collect(),
        }
    }

    fn state(status: &str, planned: i32) -> RunState {
        RunState {
            status: status.into(),
            epochs_planned: planned,
        }
    }

    #[test]
    fn equal_epochs_are_analysed_whole() {
        let plan = plan_epochs(
            Path::new("p"),
            &[run("a", &[1, 2, 3]), run("b", &[1, 2, 3])],
            &HashMap::new(),
        )
        .unwrap();
        assert_eq!(plan.epochs, vec![1, 2, 3]);
        assert!(plan.notes.is_empty());
    }

    #[test]
    fn running_networks_are_cut_to_common_epochs() {
        let states = HashMap::from([
            ("a".to_string(), state("finished", 3)),
            ("b".to_string(), state("running", 3)),
        ]);
        let plan = plan_epochs(Path::new("p"), &[run("a", &[1, 2, 3]), run("b", &[1, 2])], &states).unwrap();
        assert_eq!(plan.epochs, vec![1, 2]);
        assert!(plan.notes[0].contains("partial run"), "{:?}", plan.notes);
    }

    #[test]
    fn different_epoch_counts_are_an_error() {
        let err = plan_epochs(
            Path::new("p"),
            &[run("a", &[1, 2, 3]), run("b", &[1, 2])],
            &HashMap::new(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("different epoch counts"), "{err}");
        let states = HashMap::from([
            ("a".to_string(), state("running", 3)),
            ("b".to_string(), state("running", 5)),
        ]);
        let err = plan_epochs(Path::new("p"), &[run("a", &[1]), run("b", &[1])], &states).unwrap_err();
        assert!(err.to_string().contains("5 planned"), "{err}");
    }
}
