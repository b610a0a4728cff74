//! The analysis stage of agree: DataFusion SQL over an experiment directory.
//!
//! `agree analyze` registers every table of the directory (Parquet files, and the
//! prediction folders as one `predictions` table) in a DataFusion session and runs
//! the SQL files of `crates/agree-sql/sql/` in order, writing the result tables of
//! SPEC §5 (`agreement`, `agreement_by_statistic`, `agreement_by_quantile`,
//! `learning_order`, `statistic_correlation`, `dataset_summary`, the per-sample
//! scores `sample_dynamics` and their correlations `score_correlation`) into `results/`.
//! `agree sql` answers read-only ad-hoc queries over the same session.
//!
//! Where SQL lacks a primitive, an aggregate function fills it (`spearman`,
//! `kendall_tau`, `bootstrap_ci`, `fleiss_kappa`, `forgetting_events`); they are
//! registered in every session. This crate knows nothing about how predictions or
//! statistics are produced: it reads tables that follow `schemas/`.

mod analysis;
mod analysis_sql;
mod bootstrap;
mod catalog;
pub mod cli;
pub mod cluster;
mod consistency;
mod correlation;
mod engine;
mod error;
mod functions;
mod predictions;
pub mod query;
mod runtime;
mod session;
mod staging;
mod statistics;
mod step_tables;
pub mod synthetic_run;

pub use analysis::{AnalysisOptions, AnalysisReport, StepOutput, WrittenTable, analyze, run_one_step, step_output};
pub use analysis_sql::{
    AnalysisStep, OutputContract, SESSION_TABLES, StepColumn, analysis_steps, export_sql, find_step, reserved_by,
    step_sql,
};
pub use bootstrap::{RankMethod, bootstrap_ci, quantile_sorted};
pub use catalog::{TableFile, TableKind, experiment_tables};
pub use consistency::{PredictionFile, SampleIds, check_finite, check_inputs, check_prediction_file, read_sample_ids};
pub use correlation::RankedPairs;
pub use engine::{
    Engine, MemorySize, SessionArgs, SessionSettings, context, default_memory_limit, format_size, is_distributed,
    local_context, parse_host_port,
};
pub use error::SqlError;
pub use functions::{aggregate_functions, fleiss_kappa, register_functions};
/// Progress display taken by [`analyze`] (re-exported so callers need no indicatif).
pub use indicatif::ProgressBar;
pub use predictions::{EpochPlan, PredictionRun, RunState, list_prediction_runs, plan_epochs};
pub use query::{
    MAX_EXPRESSION_DEPTH, MAX_QUERY_TOKENS, OutputFormat, check_read_only, describe_tables, plan_read_only,
    read_only_options, run_query, write_batches,
};
pub use runtime::block_on;
pub use session::{ExperimentSession, new_context, open_session, open_session_with, register_batches};
pub use staging::{AnalysisInputs, ResultsStaging, analysis_id};
pub use statistics::{
    StatisticColumn, bucket_width, discover_statistics, expand_each_statistic, statistic_buckets_sql,
    statistic_index_sql, statistic_table_rows, statistic_values_sql, statistic_wide_sql, uses_each_statistic,
};
