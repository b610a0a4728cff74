//! Running a pipeline file: each stage in order, skipped when up to date.

use std::{path::PathBuf, time::Instant};

use serde::Serialize;

use crate::{
    PipelineError, PipelineFile, Stage,
    fingerprint::{StageManifest, fingerprint, read_manifest, signatures, up_to_date, write_manifest},
    stage::{clear_for_fresh_run, existing_outputs},
    summary::{StudySummary, summarise},
};

/// Options of a pipeline run.
#[derive(Debug, Clone, Default)]
pub struct PipelineOptions {
    /// Experiment directory (overrides the file's `[pipeline] out`).
    pub out: Option<PathBuf>,
    /// Stages to rerun even if up to date.
    pub force: Vec<Stage>,
    /// No progress bars or stage banners.
    pub quiet: bool,
}

/// What happened to one stage.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StageOutcome {
    /// The stage ran (or resumed) and took this long.
    Ran {
        /// Wall time in seconds.
        seconds: f64,
    },
    /// The stage's outputs were up to date.
    Skipped,
}

/// The result of a pipeline run.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    /// Pipeline name.
    pub pipeline: String,
    /// Experiment directory.
    pub dir: PathBuf,
    /// Each stage's outcome, in run order.
    pub stages: Vec<(String, StageOutcome)>,
    /// Key numbers of the study, when results exist.
    pub summary: Option<StudySummary>,
    /// Total wall time in seconds.
    pub seconds: f64,
}

/// Runs every stage of `file` into the experiment directory.
pub fn run_pipeline(file: &PipelineFile, opts: &PipelineOptions) -> Result<PipelineReport, PipelineError> {
    let start = Instant::now();
    let dir = opts
        .out
        .clone()
        .or_else(|| file.out.clone())
        .unwrap_or_else(|| PathBuf::from("experiments").join(&file.name));
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::Io {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let tool = format!("agree {}", env!("CARGO_PKG_VERSION"));
    let mut outcomes = Vec::new();
    for section in &file.stages {
        let stage = section.stage;
        let print = fingerprint(&dir, stage, &section.argv, &tool);
        if !opts.force.contains(&stage) && up_to_date(&dir, stage, &print) {
            if !opts.quiet {
                eprintln!("── {:<8} up to date", stage.name());
            }
            outcomes.push((stage.name().to_string(), StageOutcome::Skipped));
            continue;
        }
        // Same configuration and inputs as a run that was interrupted or whose outputs
        // were partly lost: let the stage resume. Anything else starts afresh, so no
        // stage resumes from state made for other data or settings.
        let resume = !opts.force.contains(&stage) && read_manifest(&dir, stage).is_some_and(|m| m.fingerprint == print);
        if !opts.quiet {
            let how = if resume { "resume" } else { "run" };
            eprintln!(
                "── {:<8} {how}: agree {} {}",
                stage.name(),
                stage.name(),
                section.argv.join(" ")
            );
        }
        if !resume {
            clear_for_fresh_run(stage, &dir)?;
        }
        let mut record = StageManifest {
            stage: stage.name().to_string(),
            fingerprint: print,
            argv: section.argv.clone(),
            tool: tool.clone(),
            complete: false,
            outputs: Vec::new(),
        };
        write_manifest(&dir, &record)?;
        let t = Instant::now();
        let mut argv = section.argv.clone();
        argv.extend(stage.dir_args(&dir));
        stage.run(&argv, opts.quiet)?;
        record.complete = true;
        record.outputs = signatures(&dir, &existing_outputs(stage, &dir));
        write_manifest(&dir, &record)?;
        outcomes.push((
            stage.name().to_string(),
            StageOutcome::Ran {
                seconds: t.elapsed().as_secs_f64(),
            },
        ));
    }
    let summary = summarise(&dir).ok();
    Ok(PipelineReport {
        pipeline: file.name.clone(),
        dir,
        stages: outcomes,
        summary,
        seconds: start.elapsed().as_secs_f64(),
    })
}
