//! The stages a pipeline runs, each mapped to its subcommand's options and outputs.

use std::path::{Path, PathBuf};

use agree_schema::Table;
use clap::{Args, FromArgMatches};

use crate::PipelineError;

/// One stage of the pipeline, in run order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// `agree ingest`.
    Ingest,
    /// `agree stats`.
    Stats,
    /// `agree train`.
    Train,
    /// `agree analyze`.
    Analyze,
    /// `agree report`.
    Report,
}

impl Stage {
    /// Every stage in run order.
    pub const ALL: [Stage; 5] = [Stage::Ingest, Stage::Stats, Stage::Train, Stage::Analyze, Stage::Report];

    /// The stage's name (its section in pipeline files and its subcommand).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ingest => "ingest",
            Stage::Stats => "stats",
            Stage::Train => "train",
            Stage::Analyze => "analyze",
            Stage::Report => "report",
        }
    }

    /// The stage of this name.
    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The stage's subcommand definition (its options are the section's keys).
    pub fn command(self) -> clap::Command {
        let cmd = clap::Command::new(self.name()).no_binary_name(true);
        match self {
            Stage::Ingest => agree_ingest::cli::IngestArgs::augment_args(cmd),
            Stage::Stats => agree_imstats::cli::StatsArgs::augment_args(cmd),
            Stage::Train => agree_train::cli::TrainArgs::augment_args(cmd),
            Stage::Analyze => agree_sql::cli::AnalyzeArgs::augment_args(cmd),
            Stage::Report => agree_report::cli::ReportArgs::augment_args(cmd),
        }
    }

    /// Argument ids the pipeline supplies itself (the experiment directory).
    pub fn reserved(self) -> &'static [&'static str] {
        match self {
            Stage::Ingest => &["out"],
            _ => &["dir"],
        }
    }

    /// The arguments locating the experiment directory.
    pub fn dir_args(self, dir: &Path) -> Vec<String> {
        match self {
            Stage::Ingest => vec!["--out".into(), dir.display().to_string()],
            _ => vec![dir.display().to_string()],
        }
    }

    /// Stages whose outputs this one reads.
    pub fn upstream(self) -> &'static [Stage] {
        match self {
            Stage::Ingest => &[],
            Stage::Stats | Stage::Train => &[Stage::Ingest],
            Stage::Analyze => &[Stage::Ingest, Stage::Stats, Stage::Train],
            Stage::Report => &[Stage::Ingest, Stage::Stats, Stage::Train, Stage::Analyze],
        }
    }

    /// Files and folders the stage writes, relative to the experiment directory (its
    /// tables' files as their contracts place them).
    pub fn outputs(self) -> Vec<&'static str> {
        let file = |t: Table| t.contract().file.as_str();
        match self {
            Stage::Ingest => vec![
                "manifest.json",
                file(Table::Samples),
                file(Table::Attributes),
                file(Table::Rejects),
                "scores",
            ],
            // Unsharded files and the folders of `--shard` parts alike.
            Stage::Stats => vec![file(Table::Stats), file(Table::Spectra), "stats", "spectra"],
            // One file per network, and the single files of older directories.
            Stage::Train => vec![
                "predictions",
                file(Table::Epochs),
                file(Table::Runs),
                "epochs.parquet",
                "runs.parquet",
            ],
            Stage::Analyze => vec!["results"],
            Stage::Report => vec!["report"],
        }
    }

    /// Checks `argv` (without the subcommand name) as the stage does before it starts:
    /// its own parser (every option's value parser) and its checks of how options
    /// combine. Reads no file, so a whole pipeline file is checked before any stage runs.
    pub fn check(self, argv: &[String]) -> Result<(), String> {
        let matches = self
            .command()
            .try_get_matches_from(argv)
            .map_err(|e| crate::config::clap_message(&e))?;
        let invalid = |e: clap::Error| crate::config::clap_message(&e);
        match self {
            Stage::Stats => {
                let args = agree_imstats::cli::StatsArgs::from_arg_matches(&matches).map_err(invalid)?;
                agree_imstats::cli::check(&args).map_err(|e| e.to_string())
            }
            Stage::Train => {
                let args = agree_train::cli::TrainArgs::from_arg_matches(&matches).map_err(invalid)?;
                args.configs().map(drop).map_err(|e| e.to_string())
            }
            Stage::Ingest => {
                let args = agree_ingest::cli::IngestArgs::from_arg_matches(&matches).map_err(invalid)?;
                // The experiment directory is a placeholder here: leave it out.
                agree_ingest::cli::check(&args).map_err(|e| match e {
                    agree_ingest::IngestError::Dataset { reason, .. } => reason,
                    other => other.to_string(),
                })
            }
            // Every option of these is checked by its value parser; none combine.
            Stage::Analyze | Stage::Report => Ok(()),
        }
    }

    /// Parses `argv` (without the subcommand name) with the stage's own parser and runs it.
    pub fn run(self, argv: &[String], quiet: bool) -> Result<(), PipelineError> {
        let fail = |message: String| PipelineError::Stage {
            stage: self.name(),
            message,
        };
        let matches = self
            .command()
            .try_get_matches_from(argv)
            .map_err(|e| fail(e.to_string()))?;
        match self {
            Stage::Ingest => {
                let args =
                    agree_ingest::cli::IngestArgs::from_arg_matches(&matches).map_err(|e| fail(e.to_string()))?;
                agree_ingest::cli::run(&args, quiet).map_err(|e| fail(e.to_string()))
            }
            Stage::Stats => {
                let args =
                    agree_imstats::cli::StatsArgs::from_arg_matches(&matches).map_err(|e| fail(e.to_string()))?;
                agree_imstats::cli::run(&args, quiet).map_err(|e| fail(e.to_string()))
            }
            Stage::Train => {
                let args = agree_train::cli::TrainArgs::from_arg_matches(&matches).map_err(|e| fail(e.to_string()))?;
                agree_train::cli::run(&args, quiet).map_err(|e| fail(e.to_string()))
            }
            Stage::Analyze => {
                let args = agree_sql::cli::AnalyzeArgs::from_arg_matches(&matches).map_err(|e| fail(e.to_string()))?;
                agree_sql::cli::run_analyze(&args, quiet).map_err(|e| fail(e.to_string()))
            }
            Stage::Report => {
                let args =
                    agree_report::cli::ReportArgs::from_arg_matches(&matches).map_err(|e| fail(e.to_string()))?;
                agree_report::cli::run(&args, quiet).map_err(|e| fail(e.to_string()))
            }
        }
    }
}

/// What a fresh run of the stage must not find: its outputs, and for training the
/// checkpoints it would otherwise resume from.
pub(crate) fn clear_for_fresh_run(stage: Stage, dir: &Path) -> Result<(), PipelineError> {
    let extra: &[&str] = if stage == Stage::Train { &["checkpoints"] } else { &[] };
    for rel in stage.outputs().iter().chain(extra) {
        let p = dir.join(rel);
        let result = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(PipelineError::Io {
                    path: p,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// Paths of a stage's outputs that exist.
pub(crate) fn existing_outputs(stage: Stage, dir: &Path) -> Vec<PathBuf> {
    stage
        .outputs()
        .into_iter()
        .map(|o| dir.join(o))
        .filter(|p| p.exists())
        .collect()
}
