//! `agree`: the command line over agree's stage libraries. Thin glue: every
//! subcommand's options and work live in its stage crate.

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Do independently trained classifiers learn the same images first, and is that
/// order explained by the images' statistics?
#[derive(Debug, Parser)]
#[command(name = "agree", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Print no progress bars or summaries (errors still go to stderr).
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read a dataset as distributed into samples.parquet (+ attributes, manifest).
    Ingest(agree_ingest::cli::IngestArgs),
    /// Compute the image statistics of every sample into stats.parquet and spectra.parquet.
    Stats(agree_imstats::cli::StatsArgs),
    /// Compute agreement, learning order and statistic correlations into results/ (DataFusion SQL).
    Analyze(agree_sql::cli::AnalyzeArgs),
    /// Read-only SQL over every table of an experiment directory.
    Sql(agree_sql::cli::SqlArgs),
    /// Train N networks per architecture and record every prediction of every epoch.
    Train(agree_train::cli::TrainArgs),
    /// Draw the figures (PNG, SVG) and one self-contained HTML page into DIR/report/.
    Report(agree_report::cli::ReportArgs),
    /// Run every stage from a pipeline file, skipping what is up to date.
    Pipeline(agree_pipeline::cli::PipelineArgs),
    /// Start the scheduler of a Ballista cluster that runs agree's SQL (`--engine ballista://HOST:PORT`).
    Scheduler(agree_sql::cluster::SchedulerArgs),
    /// Start an executor of a Ballista cluster, joining the scheduler at --scheduler.
    Executor(agree_sql::cluster::ExecutorArgs),
}

/// Input errors print as their message and causes only: `RUST_BACKTRACE=1` (common
/// among Rust users) would otherwise add anyhow's backtrace to every one. Panics —
/// real bugs — keep theirs.
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// `Error: …` and the `Caused by:` list, as anyhow prints them, without the backtrace.
fn error_chain(error: &anyhow::Error) -> String {
    let mut text = format!("Error: {error}");
    let causes: Vec<String> = error.chain().skip(1).map(ToString::to_string).collect();
    if !causes.is_empty() {
        text.push_str("\n\nCaused by:");
        for (i, cause) in causes.iter().enumerate() {
            match causes.len() {
                1 => text.push_str(&format!("\n    {cause}")),
                _ => text.push_str(&format!("\n    {i}: {cause}")),
            }
        }
    }
    text
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("AGREE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Ingest(args) => agree_ingest::cli::run(&args, cli.quiet)?,
        Command::Stats(args) => agree_imstats::cli::run(&args, cli.quiet)?,
        Command::Analyze(args) => agree_sql::cli::run_analyze(&args, cli.quiet)?,
        Command::Sql(args) => agree_sql::cli::run_sql(&args, cli.quiet)?,
        Command::Train(args) => agree_train::cli::run(&args, cli.quiet)?,
        Command::Report(args) => agree_report::cli::run(&args, cli.quiet)?,
        Command::Pipeline(args) => agree_pipeline::cli::run(&args, cli.quiet)?,
        Command::Scheduler(args) => agree_sql::cluster::run_scheduler(&args, cli.quiet)?,
        Command::Executor(args) => agree_sql::cluster::run_executor(&args, cli.quiet)?,
    }
    Ok(())
}
