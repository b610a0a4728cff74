//! `agree pipeline`: run a pipeline file end to end.

use std::path::PathBuf;

use crate::{PipelineError, PipelineFile, PipelineOptions, Stage, run_pipeline};

/// Options of `agree pipeline`.
#[derive(Debug, clap::Args)]
pub struct PipelineArgs {
    /// Pipeline file.
    #[arg(long, short, default_value = "pipelines/quickstart.toml")]
    pub config: PathBuf,
    /// Experiment directory [default: the file's `[pipeline] out`].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Rerun this stage even if it is up to date (repeatable): ingest, stats, train, analyze, report.
    #[arg(long, value_parser = parse_stage)]
    pub force: Vec<Stage>,
    /// Print the run's report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_stage(s: &str) -> Result<Stage, String> {
    Stage::from_name(s).ok_or_else(|| {
        format!(
            "unknown stage `{s}`; stages: {}",
            Stage::ALL.iter().map(|s| s.name()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Runs `agree pipeline`.
pub fn run(args: &PipelineArgs, quiet: bool) -> Result<(), PipelineError> {
    let file = PipelineFile::read(&args.config)?;
    let opts = PipelineOptions {
        out: args.out.clone(),
        force: args.force.clone(),
        quiet: quiet || args.json,
    };
    let report = run_pipeline(&file, &opts)?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| PipelineError::Io {
            path: report.dir.clone(),
            message: e.to_string(),
        })?;
        println!("{text}");
    } else if !quiet {
        println!(
            "pipeline {} finished in {:.1} s → {}",
            report.pipeline,
            report.seconds,
            report.dir.display()
        );
        for (name, outcome) in &report.stages {
            match outcome {
                crate::StageOutcome::Ran { seconds } => println!("  {name:<8} ran in {seconds:.1} s"),
                crate::StageOutcome::Skipped => println!("  {name:<8} up to date"),
            }
        }
        if let Some(s) = &report.summary {
            print!("{}", s.render());
        }
    }
    Ok(())
}
