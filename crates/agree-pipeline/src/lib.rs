//! The pipeline: agree's stages run in order from one pipeline file
//! (`pipelines/*.toml`), each stage skipped when its outputs are up to date.
//!
//! A pipeline file has one section per stage whose keys are exactly the long options
//! of that stage's subcommand (`[train] epochs = 8` is `agree train --epochs 8`), so
//! every option of every stage is available and validated by the stage itself; no
//! option is defined twice. Each finished stage records a manifest (configuration
//! fingerprint, input and output signatures, tool version) under `<dir>/.agree/`;
//! a rerun skips stages whose manifest still matches, reruns stale ones, and lets an
//! interrupted training resume from its checkpoints.

pub mod cli;
mod config;
mod error;
mod fingerprint;
mod run;
mod stage;
mod summary;

pub use config::{PipelineFile, StageSection};
pub use error::PipelineError;
pub use run::{PipelineOptions, PipelineReport, StageOutcome, run_pipeline};
pub use stage::Stage;
pub use summary::{ResultsSummary, summarise};
