//! All-or-nothing results: an analysis writes its tables into a hidden folder
//! beside `results/` and swaps it in only once every table is complete, so a
//! killed or failed analysis leaves the previous results whole. Every table
//! records the analysis id ([`agree_schema::ANALYSIS_ID_KEY`]) so that a reader
//! can refuse tables of different analyses.

use std::hash::{DefaultHasher, Hasher};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use agree_schema::{ANALYSIS_ID_KEY, ExperimentDir, Table, TableWriter, remove_stale_temporaries, temporary_name};

use crate::analysis::AnalysisOptions;
use crate::analysis_sql::{analysis_steps, step_sql};
use crate::catalog::{TableFile, TableKind, experiment_tables};
use crate::consistency::PredictionFile;
use crate::error::SqlError;
use crate::predictions::PredictionRun;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SqlError + '_ {
    move |source| SqlError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The result tables of one analysis being written.
#[derive(Debug)]
pub struct ResultsStaging {
    dir: ExperimentDir,
    tmp: PathBuf,
    analysis_id: String,
    committed: bool,
}

impl ResultsStaging {
    /// Starts a new results folder for the analysis `analysis_id`, first removing
    /// the staging folders (and any temporary file) of analyses that were killed.
    pub fn create(dir: &ExperimentDir, analysis_id: String) -> Result<Self, SqlError> {
        let root = dir.root();
        remove_stale_temporaries(root).map_err(io(root))?;
        let tmp = root.join(temporary_name("results", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        Ok(ResultsStaging {
            dir: dir.clone(),
            tmp,
            analysis_id,
            committed: false,
        })
    }

    /// The id recorded in every table.
    pub fn analysis_id(&self) -> &str {
        &self.analysis_id
    }

    /// A writer of the result table `table` into the staging folder, recording the analysis id.
    pub fn writer(&self, table: Table) -> Result<TableWriter, SqlError> {
        let contract = table.contract();
        let file = self
            .dir
            .table(table)
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("{table}.parquet")));
        Ok(TableWriter::create_with_metadata(
            self.tmp.join(file),
            contract,
            contract.schema(),
            &[(ANALYSIS_ID_KEY, &self.analysis_id)],
        )?)
    }

    /// Replaces `results/` by the staged tables. A kill between the two renames
    /// leaves no `results/` (never a mix); the next analysis removes the leftovers.
    pub fn commit(mut self) -> Result<PathBuf, SqlError> {
        let results = self.dir.results_dir();
        let old = self.dir.root().join(temporary_name("results-old", std::process::id()));
        if results.exists() {
            std::fs::rename(&results, &old).map_err(io(&results))?;
        }
        std::fs::rename(&self.tmp, &results).map_err(io(&results))?;
        self.committed = true;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(io(&old))?;
        }
        Ok(results)
    }
}

impl Drop for ResultsStaging {
    fn drop(&mut self) {
        if !self.committed {
            // A failed analysis leaves the previous results as they were.
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// The Parquet footer of `path` (its last `8 + footer length` bytes): what the
/// file holds, row groups, sizes and column statistics, without reading the data.
fn parquet_footer(path: &Path) -> Result<Vec<u8>, SqlError> {
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    let size = file.seek(SeekFrom::End(0)).map_err(io(path))?;
    let not_parquet = || SqlError::Input {
        path: path.to_path_buf(),
        message: "not a Parquet file (no footer)".into(),
    };
    if size < 12 {
        return Err(not_parquet());
    }
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8)).map_err(io(path))?;
    file.read_exact(&mut tail).map_err(io(path))?;
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if &tail[4..] != b"PAR1" || length + 8 > size {
        return Err(not_parquet());
    }
    let mut footer = vec![0u8; length as usize + 8];
    file.seek(SeekFrom::End(-(length as i64 + 8))).map_err(io(path))?;
    file.read_exact(&mut footer).map_err(io(path))?;
    Ok(footer)
}

/// The id of an analysis: a digest of its settings (`settings`, e.g. the options
/// and the SQL of every step) and of its input files (path under the experiment
/// directory, size and Parquet footer; other files whole). The same inputs and
/// settings give the same id, so rerunning an analysis reproduces its tables
/// byte for byte; any change of input or setting gives another id.
pub fn analysis_id(root: &Path, inputs: &[PathBuf], settings: &[String]) -> Result<String, SqlError> {
    let mut hasher = DefaultHasher::new();
    for s in settings {
        hasher.write(s.as_bytes());
        hasher.write_u8(0xff);
    }
    let mut inputs: Vec<&PathBuf> = inputs.iter().collect();
    inputs.sort();
    for path in inputs {
        let relative = path.strip_prefix(root).unwrap_or(path);
        hasher.write(relative.to_string_lossy().as_bytes());
        let size = std::fs::metadata(path).map_err(io(path))?.len();
        hasher.write_u64(size);
        let content = if path.extension().is_some_and(|e| e == "parquet") {
            parquet_footer(path)?
        } else {
            std::fs::read(path).map_err(io(path))?
        };
        hasher.write(&content);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

/// What an analysis reads: the chosen prediction files, and every other input file.
#[derive(Debug)]
pub struct AnalysisInputs {
    /// The prediction files of the analysed epochs.
    pub predictions: Vec<PredictionFile>,
    /// The stage and score tables (result tables are outputs, not inputs).
    pub tables: Vec<TableFile>,
    /// manifest.json, when present.
    pub manifest: Option<PathBuf>,
}

impl AnalysisInputs {
    /// The inputs of an analysis of `epochs` of `runs` in `dir`.
    pub fn read(dir: &ExperimentDir, runs: &[PredictionRun], epochs: &[i32]) -> Result<Self, SqlError> {
        let predictions = runs
            .iter()
            .flat_map(|r| r.epochs.iter())
            .filter(|(e, _)| epochs.contains(*e))
            .map(|(&epoch, path)| PredictionFile {
                path: path.clone(),
                epoch,
            })
            .collect();
        let tables = experiment_tables(dir)?
            .into_iter()
            .filter(|t| t.kind != TableKind::Result)
            .collect();
        let manifest = Some(dir.manifest()).filter(|m| m.is_file());
        Ok(AnalysisInputs {
            predictions,
            tables,
            manifest,
        })
    }

    /// The analysis id of these inputs under `options` and the SQL of every step.
    pub fn analysis_id(&self, dir: &ExperimentDir, options: &AnalysisOptions) -> Result<String, SqlError> {
        let mut settings = vec![
            env!("CARGO_PKG_VERSION").to_string(),
            options.quantile_bins.to_string(),
            options.bootstrap_replicates.to_string(),
            options.bootstrap_seed.to_string(),
            format!("el2n_epoch={:?}", options.el2n_epoch),
        ];
        for step in analysis_steps()? {
            settings.push(step_sql(step, options.sql_dir.as_deref())?.into_owned());
            if let Some(repeat) = &step.repeat {
                settings.push(format!("{repeat:?}"));
            }
        }
        let files: Vec<PathBuf> = self
            .predictions
            .iter()
            .map(|p| p.path.clone())
            .chain(self.tables.iter().flat_map(|t| t.files.iter().cloned()))
            .chain(self.manifest.clone())
            .collect();
        analysis_id(dir.root(), &files, &settings)
    }
}
