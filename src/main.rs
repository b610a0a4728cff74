//! `agree`: the command line over agree's stage libraries. Thin glue: every
//! subcommand's options and work live in its stage crate.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use agree_remote::RemoteDir;
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
    /// Where working copies of s3:// experiment directories live [default:
    /// $AGREE_CACHE_DIR, else $XDG_CACHE_HOME/agree, else ~/.cache/agree].
    #[arg(long, global = true, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
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
    let (quiet, cache) = (cli.quiet, cli.cache_dir.as_deref());
    // A stage given an s3:// directory runs on its local working copy: pulled first,
    // pushed after (read-only `agree sql` pushes nothing). What a failed stage wrote
    // completely is pushed too; its error is the one reported.
    match cli.command {
        Command::Ingest(mut args) => {
            let remote = pull(&mut args.out, cache, quiet)?;
            push(remote, agree_ingest::cli::run(&args, quiet).map_err(Into::into), quiet)?
        }
        Command::Stats(mut args) => {
            let remote = pull(&mut args.dir, cache, quiet)?;
            push(remote, agree_imstats::cli::run(&args, quiet).map_err(Into::into), quiet)?
        }
        Command::Analyze(mut args) => {
            let remote = pull(&mut args.dir, cache, quiet)?;
            push(
                remote,
                agree_sql::cli::run_analyze(&args, quiet).map_err(Into::into),
                quiet,
            )?
        }
        Command::Sql(mut args) => {
            let _remote = pull(&mut args.dir, cache, quiet)?;
            agree_sql::cli::run_sql(&args, quiet)?
        }
        Command::Train(mut args) => {
            let remote = pull(&mut args.dir, cache, quiet)?;
            push(remote, agree_train::cli::run(&args, quiet).map_err(Into::into), quiet)?
        }
        Command::Report(mut args) => {
            let remote = pull(&mut args.dir, cache, quiet)?;
            push(remote, agree_report::cli::run(&args, quiet).map_err(Into::into), quiet)?
        }
        Command::Pipeline(mut args) => {
            let remote = match args.out.as_mut() {
                Some(out) => pull(out, cache, quiet)?,
                None => None,
            };
            push(
                remote,
                agree_pipeline::cli::run(&args, quiet).map_err(Into::into),
                quiet,
            )?
        }
        Command::Scheduler(args) => agree_sql::cluster::run_scheduler(&args, quiet)?,
        Command::Executor(args) => agree_sql::cluster::run_executor(&args, quiet)?,
    }
    Ok(())
}

/// For an `s3://` directory: opens it, pulls it into its working copy and points
/// `dir` at the copy. `None` for a local directory.
fn pull(dir: &mut PathBuf, cache: Option<&Path>, quiet: bool) -> Result<Option<RemoteDir>> {
    if !agree_remote::is_remote(dir) {
        return Ok(None);
    }
    let remote = RemoteDir::open(dir, cache)?;
    let started = std::time::Instant::now();
    let summary = remote.pull()?;
    if !quiet {
        eprintln!(
            "{}: pulled {} files ({:.1} MB), {} up to date, into {} ({:.1} s)",
            remote.url(),
            summary.files,
            summary.bytes as f64 / 1e6,
            summary.unchanged,
            remote.local().display(),
            started.elapsed().as_secs_f64()
        );
    }
    *dir = remote.local().to_path_buf();
    Ok(Some(remote))
}

/// Pushes the working copy of `remote` (if any) after the stage, whatever its
/// outcome; the stage's error comes first.
fn push(remote: Option<RemoteDir>, outcome: Result<()>, quiet: bool) -> Result<()> {
    let Some(remote) = remote else { return outcome };
    let started = std::time::Instant::now();
    let pushed = remote.push();
    outcome?;
    let summary = pushed?;
    if !quiet {
        eprintln!(
            "{}: pushed {} files ({:.1} MB), removed {} ({:.1} s)",
            remote.url(),
            summary.files,
            summary.bytes as f64 / 1e6,
            summary.removed,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
