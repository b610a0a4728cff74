//! Where each table of one study lives on disk.

use std::path::{Path, PathBuf};

use crate::Table;

/// An experiment directory: every table of one study under fixed names, so that
/// every stage and every ad-hoc query finds tables by name.
///
/// ```text
/// <dir>/manifest.json            ingest manifest (dataset, counts, checksums)
/// <dir>/samples.parquet          images and labels
/// <dir>/attributes.parquet       dataset-provided per-sample attributes
/// <dir>/rejects.parquet          inputs skipped under --on-error skip
/// <dir>/scores/<name>.parquet    imported per-sample scores
/// <dir>/stats.parquet            image statistics (or stats/part-I-of-N.parquet, one per shard)
/// <dir>/spectra.parquet          radially averaged power spectra (or spectra/part-I-of-N.parquet)
/// <dir>/predictions/<run>/epoch=<E>.parquet
/// <dir>/epochs/<run>.parquet, runs/<run>.parquet   (older directories: epochs.parquet, runs.parquet)
/// <dir>/checkpoints/<run>/       training checkpoints
/// <dir>/results/<table>.parquet  analysis results
/// <dir>/report/index.html        the report
/// ```
#[derive(Debug, Clone)]
pub struct ExperimentDir {
    root: PathBuf,
}

impl ExperimentDir {
    /// The experiment directory at `root` (not created).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ExperimentDir { root: root.into() }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Where `table` lives: its file, as its contract says (`stats.parquet`,
    /// `results/agreement.parquet`, …); for the tables kept as one file per run or per
    /// name, their folder (`predictions/`, `scores/`, `epochs/`, `runs/`). The files
    /// of a table that several writers fill are listed by
    /// [`table_files`](crate::table_files).
    pub fn table(&self, table: Table) -> PathBuf {
        match table {
            Table::Predictions => self.predictions_dir(),
            Table::Scores => self.scores_dir(),
            Table::Epochs | Table::Runs => self.root.join(table.name()),
            other => self.root.join(&other.contract().file),
        }
    }
    /// `manifest.json`, written by ingest.
    pub fn manifest(&self) -> PathBuf {
        self.root.join("manifest.json")
    }
    /// `samples.parquet`.
    pub fn samples(&self) -> PathBuf {
        self.table(Table::Samples)
    }
    /// `attributes.parquet`.
    pub fn attributes(&self) -> PathBuf {
        self.table(Table::Attributes)
    }
    /// `rejects.parquet`.
    pub fn rejects(&self) -> PathBuf {
        self.table(Table::Rejects)
    }
    /// `scores/`, one Parquet file per imported score table.
    pub fn scores_dir(&self) -> PathBuf {
        self.root.join("scores")
    }
    /// `scores/<name>.parquet`.
    pub fn scores(&self, name: &str) -> PathBuf {
        self.scores_dir().join(format!("{name}.parquet"))
    }
    /// `stats.parquet`.
    pub fn stats(&self) -> PathBuf {
        self.table(Table::Stats)
    }
    /// `spectra.parquet`.
    pub fn spectra(&self) -> PathBuf {
        self.table(Table::Spectra)
    }
    /// `epochs/<run_id>.parquet` or `runs/<run_id>.parquet`: one network's rows of a
    /// per-network table, written by that network's trainer alone.
    pub fn run_table(&self, table: Table, run_id: &str) -> PathBuf {
        self.table(table).join(format!("{run_id}.parquet"))
    }
    /// `epochs.parquet` or `runs.parquet`: every network's rows in one file, as
    /// directories written before the per-network files hold them (read, never written).
    pub fn single_run_table(&self, table: Table) -> PathBuf {
        self.root.join(format!("{}.parquet", table.name()))
    }
    /// `stats/` or `spectra/`: the folder of a table computed in shards.
    pub fn shards_dir(&self, table: Table) -> PathBuf {
        self.root.join(table.name())
    }
    /// `stats/part-I-of-N.parquet`: one shard's rows of a table computed in shards.
    pub fn shard_table(&self, table: Table, shard: crate::Shard) -> PathBuf {
        self.shards_dir(table).join(crate::table_files::part_file_name(shard))
    }
    /// `predictions/`.
    pub fn predictions_dir(&self) -> PathBuf {
        self.root.join("predictions")
    }
    /// `predictions/<run_id>/epoch=<epoch>.parquet`.
    pub fn predictions(&self, run_id: &str, epoch: u32) -> PathBuf {
        self.predictions_dir()
            .join(run_id)
            .join(format!("epoch={epoch}.parquet"))
    }
    /// `checkpoints/<run_id>/`.
    pub fn checkpoints(&self, run_id: &str) -> PathBuf {
        self.root.join("checkpoints").join(run_id)
    }
    /// `results/`.
    pub fn results_dir(&self) -> PathBuf {
        self.root.join("results")
    }
    /// `report/`.
    pub fn report_dir(&self) -> PathBuf {
        self.root.join("report")
    }
    /// `checkpoints/`, one folder per network.
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }
    /// `.agree/`, the pipeline's records of finished stages.
    pub fn stage_records_dir(&self) -> PathBuf {
        self.root.join(".agree")
    }
    /// Everything computed from `samples.parquet`: what must go when the samples are
    /// replaced by other data.
    pub fn downstream_of_samples(&self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = [
            Table::Attributes,
            Table::Stats,
            Table::Spectra,
            Table::Epochs,
            Table::Runs,
        ]
        .into_iter()
        .map(|t| self.table(t))
        .collect();
        paths.extend([
            self.single_run_table(Table::Epochs),
            self.single_run_table(Table::Runs),
            self.shards_dir(Table::Stats),
            self.shards_dir(Table::Spectra),
            self.scores_dir(),
            self.predictions_dir(),
            self.checkpoints_dir(),
            self.results_dir(),
            self.report_dir(),
            self.stage_records_dir(),
        ]);
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_live_under_fixed_names() {
        let d = ExperimentDir::new("/x");
        assert_eq!(d.samples(), Path::new("/x/samples.parquet"));
        assert_eq!(d.table(Table::Agreement), Path::new("/x/results/agreement.parquet"));
        assert_eq!(d.table(Table::Predictions), Path::new("/x/predictions"));
        for t in Table::ALL {
            let path = d.table(t);
            assert!(path.starts_with("/x") && !path.to_string_lossy().contains('{'), "{t}");
        }
        assert_eq!(
            d.predictions("lenet5-s0", 3),
            Path::new("/x/predictions/lenet5-s0/epoch=3.parquet")
        );
        assert_eq!(d.scores("cifar10h"), Path::new("/x/scores/cifar10h.parquet"));
        assert_eq!(
            d.run_table(Table::Runs, "lenet5-s1"),
            Path::new("/x/runs/lenet5-s1.parquet")
        );
        assert_eq!(d.single_run_table(Table::Epochs), Path::new("/x/epochs.parquet"));
        assert_eq!(
            d.shard_table(Table::Spectra, crate::Shard::new(1, 4).unwrap()),
            Path::new("/x/spectra/part-1-of-4.parquet")
        );
    }
}
