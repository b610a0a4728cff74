//! Running a pipeline file: each stage in order, skipped when up to date.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use serde::Serialize;

use crate::{
    PipelineError, PipelineFile, Stage, StageSection,
    fingerprint::{Decision, StageManifest, decide_in, fingerprint, signatures, write_manifest},
    stage::{clear_for_fresh_run, existing_outputs},
    summary::{ResultsSummary, summarise},
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
    pub summary: Option<ResultsSummary>,
    /// Total wall time in seconds.
    pub seconds: f64,
}

/// Runs every stage of `file` into the experiment directory.
pub fn run_pipeline(file: &PipelineFile, opts: &PipelineOptions) -> Result<PipelineReport, PipelineError> {
    let start = Instant::now();
    let dir = experiment_dir(file, opts);
    std::fs::create_dir_all(&dir).map_err(|e| PipelineError::Io {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let tool = format!("agree {}", env!("CARGO_PKG_VERSION"));
    let runs = run_stages(file, &dir, opts, &tool, &mut |stage, argv| stage.run(argv, opts.quiet))?;
    let summary = summarise(&dir)?;
    Ok(PipelineReport {
        pipeline: file.name.clone(),
        dir,
        stages: runs.iter().map(|r| (r.stage.name().to_string(), r.outcome())).collect(),
        summary,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The experiment directory: `--out`, else the file's `[pipeline] out`, else
/// `experiments/<name>`.
fn experiment_dir(file: &PipelineFile, opts: &PipelineOptions) -> PathBuf {
    opts.out
        .clone()
        .or_else(|| file.out.clone())
        .unwrap_or_else(|| PathBuf::from("experiments").join(&file.name))
}

/// One stage as the pipeline handled it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct StageRun {
    pub stage: Stage,
    pub decision: Decision,
    /// Wall time of the stage, 0 when skipped.
    pub seconds: f64,
}

impl StageRun {
    fn outcome(&self) -> StageOutcome {
        match self.decision {
            Decision::Skip => StageOutcome::Skipped,
            Decision::Resume | Decision::Fresh => StageOutcome::Ran { seconds: self.seconds },
        }
    }
}

/// Runs a stage with its full argument list (the experiment directory included).
pub(crate) type StageRunner<'a> = dyn FnMut(Stage, &[String]) -> Result<(), PipelineError> + 'a;

/// Each stage of `file` in order in `dir`: decided ([`decide_in`]), cleared when it
/// starts afresh, recorded as started, run by `runner`, recorded as complete with the
/// signatures of its outputs. `tool` is the version recorded in each fingerprint.
pub(crate) fn run_stages(
    file: &PipelineFile,
    dir: &Path,
    opts: &PipelineOptions,
    tool: &str,
    runner: &mut StageRunner<'_>,
) -> Result<Vec<StageRun>, PipelineError> {
    let mut runs = Vec::new();
    for section in &file.stages {
        let stage = section.stage;
        let print = fingerprint(dir, stage, &section.argv, tool);
        let decision = decide_in(dir, stage, &print, opts.force.contains(&stage));
        if !opts.quiet {
            announce(section, decision);
        }
        let seconds = match decision {
            Decision::Skip => 0.0,
            Decision::Fresh => {
                clear_for_fresh_run(stage, dir)?;
                run_recorded(section, dir, print, tool, runner)?
            }
            Decision::Resume => run_recorded(section, dir, print, tool, runner)?,
        };
        runs.push(StageRun {
            stage,
            decision,
            seconds,
        });
    }
    Ok(runs)
}

/// The banner of a stage on stderr.
fn announce(section: &StageSection, decision: Decision) {
    let stage = section.stage.name();
    let how = match decision {
        Decision::Skip => {
            eprintln!("── {stage:<8} up to date");
            return;
        }
        Decision::Resume => "resume",
        Decision::Fresh => "run",
    };
    eprintln!("── {stage:<8} {how}: agree {stage} {}", section.argv.join(" "));
}

/// Runs one stage between two manifests: incomplete before (so an interruption is
/// seen as one), complete with its outputs' signatures after. Returns its wall time.
fn run_recorded(
    section: &StageSection,
    dir: &Path,
    fingerprint: String,
    tool: &str,
    runner: &mut StageRunner<'_>,
) -> Result<f64, PipelineError> {
    let stage = section.stage;
    let mut record = StageManifest {
        stage: stage.name().to_string(),
        fingerprint,
        argv: section.argv.clone(),
        tool: tool.to_string(),
        complete: false,
        outputs: Vec::new(),
    };
    write_manifest(dir, &record)?;
    let t = Instant::now();
    let mut argv = section.argv.clone();
    argv.extend(stage.dir_args(dir));
    runner(stage, &argv)?;
    record.complete = true;
    record.outputs = signatures(dir, &existing_outputs(stage, dir));
    write_manifest(dir, &record)?;
    Ok(t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::fingerprint::read_manifest;

    use Decision::{Fresh, Resume, Skip};

    const ALL_STAGES: &str = r#"
[pipeline]
name = "decisions"

[ingest]
format = "synthetic"
train = 20
test = 10

[stats]
stats = "entropy_global"

[train]
arch = ["lenet5"]
epochs = 2

[analyze]
bins = 3

[report]
"#;

    const TOOL: &str = "agree test";

    fn parse(text: &str) -> PipelineFile {
        PipelineFile::parse(Path::new("decisions.toml"), text).unwrap()
    }

    /// Every write of a stand-in stage has a new length, so its outputs' signatures
    /// change on every run even within one clock tick.
    static WRITES: AtomicUsize = AtomicUsize::new(1);

    /// A stand-in for the real stages: writes each of the stage's outputs (one file
    /// in each output folder). The experiment directory is the last argument.
    fn write_outputs(stage: Stage, argv: &[String]) -> Result<(), PipelineError> {
        let dir = PathBuf::from(argv.last().unwrap());
        for rel in stage.outputs() {
            let mut path = dir.join(rel);
            if !rel.contains('.') {
                std::fs::create_dir_all(&path).unwrap();
                path = path.join("part.parquet");
            }
            let n = WRITES.fetch_add(1, Ordering::Relaxed);
            std::fs::write(&path, vec![b'x'; n]).unwrap();
        }
        Ok(())
    }

    /// Runs `file` in `dir` with the stand-in stages; each stage's decision, and
    /// checks that exactly the stages not skipped were run.
    fn run(file: &PipelineFile, dir: &Path, force: &[Stage], tool: &str) -> Vec<(Stage, Decision)> {
        let opts = PipelineOptions {
            out: None,
            force: force.to_vec(),
            quiet: true,
        };
        let mut ran = Vec::new();
        let runs = run_stages(file, dir, &opts, tool, &mut |stage, argv| {
            ran.push(stage);
            write_outputs(stage, argv)
        })
        .unwrap();
        let not_skipped: Vec<Stage> = runs.iter().filter(|r| r.decision != Skip).map(|r| r.stage).collect();
        assert_eq!(ran, not_skipped, "the runner runs exactly the stages not skipped");
        runs.into_iter().map(|r| (r.stage, r.decision)).collect()
    }

    fn expect(decisions: [Decision; 5]) -> Vec<(Stage, Decision)> {
        Stage::ALL.into_iter().zip(decisions).collect()
    }

    /// A directory where `ALL_STAGES` has run once, completely.
    fn finished_run() -> (tempfile::TempDir, PathBuf, PipelineFile) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exp");
        std::fs::create_dir_all(&dir).unwrap();
        let file = parse(ALL_STAGES);
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Fresh; 5]));
        (tmp, dir, file)
    }

    #[test]
    fn a_second_run_skips_every_up_to_date_stage() {
        let (_tmp, dir, file) = finished_run();
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Skip; 5]));
        for stage in Stage::ALL {
            let m = read_manifest(&dir, stage).unwrap();
            assert!(m.complete && !m.outputs.is_empty(), "{stage:?}: {m:?}");
        }
    }

    #[test]
    fn a_changed_option_reruns_its_stage_and_everything_downstream() {
        let (_tmp, dir, file) = finished_run();
        let train = parse(&ALL_STAGES.replace("epochs = 2", "epochs = 3"));
        assert_eq!(run(&train, &dir, &[], TOOL), expect([Skip, Skip, Fresh, Fresh, Fresh]));
        let stats = parse(
            &ALL_STAGES
                .replace("epochs = 2", "epochs = 3")
                .replace("entropy_global", "dct"),
        );
        // Training reads only the samples, so a stats change leaves it alone.
        assert_eq!(run(&stats, &dir, &[], TOOL), expect([Skip, Fresh, Skip, Fresh, Fresh]));
        let ingest = parse(&ALL_STAGES.replace("test = 10", "test = 11"));
        assert_eq!(run(&ingest, &dir, &[], TOOL), expect([Fresh; 5]));
        // Back to the first file: every stage was last run with other settings.
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Fresh; 5]));
    }

    #[test]
    fn force_reruns_an_up_to_date_stage_afresh_and_then_its_dependents() {
        let (_tmp, dir, file) = finished_run();
        std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
        std::fs::write(dir.join("checkpoints/net0.ot"), "state").unwrap();
        assert_eq!(
            run(&file, &dir, &[Stage::Train], TOOL),
            expect([Skip, Skip, Fresh, Fresh, Fresh])
        );
        assert!(
            !dir.join("checkpoints").exists(),
            "a forced training starts over, without its checkpoints"
        );
        assert_eq!(
            run(&file, &dir, &[Stage::Report], TOOL),
            expect([Skip, Skip, Skip, Skip, Fresh])
        );
    }

    #[test]
    fn a_stage_whose_outputs_were_deleted_or_changed_runs_again() {
        let (_tmp, dir, file) = finished_run();
        std::fs::remove_file(dir.join("stats.parquet")).unwrap();
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Skip, Resume, Skip, Fresh, Fresh]));
        std::fs::write(dir.join("results/part.parquet"), "edited by hand").unwrap();
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Skip, Skip, Skip, Resume, Fresh]));
        std::fs::remove_dir_all(dir.join("report")).unwrap();
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Skip, Skip, Skip, Skip, Resume]));
    }

    #[test]
    fn an_interrupted_stage_resumes_over_its_checkpoints_unless_its_settings_changed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exp");
        std::fs::create_dir_all(&dir).unwrap();
        let file = parse(ALL_STAGES);
        let opts = PipelineOptions {
            quiet: true,
            ..Default::default()
        };
        let err = run_stages(&file, &dir, &opts, TOOL, &mut |stage, argv| {
            if stage == Stage::Train {
                std::fs::create_dir_all(dir.join("checkpoints")).unwrap();
                std::fs::write(dir.join("checkpoints/net0.ot"), "epoch 1").unwrap();
                return Err(PipelineError::Stage {
                    stage: "train",
                    message: "interrupted".into(),
                });
            }
            write_outputs(stage, argv)
        })
        .unwrap_err();
        assert!(err.to_string().contains("interrupted"), "{err}");
        let record = read_manifest(&dir, Stage::Train).unwrap();
        assert!(!record.complete && record.outputs.is_empty(), "{record:?}");
        assert!(
            read_manifest(&dir, Stage::Analyze).is_none(),
            "nothing after the failure ran"
        );

        let again = run_stages(&file, &dir, &opts, TOOL, &mut |stage, argv| {
            if stage == Stage::Train {
                assert!(dir.join("checkpoints/net0.ot").exists(), "resumed over its checkpoints");
            }
            write_outputs(stage, argv)
        })
        .unwrap();
        let decisions: Vec<_> = again.iter().map(|r| (r.stage, r.decision)).collect();
        assert_eq!(decisions, expect([Skip, Skip, Resume, Fresh, Fresh]));

        // Interrupted again, then rerun with other settings: no resume from checkpoints
        // made for the old ones.
        std::fs::write(dir.join("checkpoints/net0.ot"), "epoch 1").unwrap();
        let mut record = read_manifest(&dir, Stage::Train).unwrap();
        record.complete = false;
        crate::fingerprint::write_manifest(&dir, &record).unwrap();
        let changed = parse(&ALL_STAGES.replace("epochs = 2", "epochs = 4"));
        assert_eq!(
            run(&changed, &dir, &[], TOOL),
            expect([Skip, Skip, Fresh, Fresh, Fresh])
        );
        assert!(!dir.join("checkpoints").exists());
    }

    #[test]
    fn another_tool_version_reruns_everything() {
        let (_tmp, dir, file) = finished_run();
        assert_eq!(run(&file, &dir, &[], "agree 99.0.0"), expect([Fresh; 5]));
    }

    #[test]
    fn a_changed_ingest_input_reruns_everything() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exp");
        std::fs::create_dir_all(&dir).unwrap();
        let input = tmp.path().join("images.tar");
        std::fs::write(&input, "first").unwrap();
        let text = ALL_STAGES.replace(
            "format = \"synthetic\"\ntrain = 20\ntest = 10",
            &format!("format = \"imagefolder\"\ninputs = [\"{}\"]", input.display()),
        );
        let file = parse(&text);
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Fresh; 5]));
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Skip; 5]));
        std::fs::write(&input, "second, longer").unwrap();
        assert_eq!(run(&file, &dir, &[], TOOL), expect([Fresh; 5]));
    }

    #[test]
    fn adding_a_stage_reruns_the_stages_that_read_its_outputs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("exp");
        std::fs::create_dir_all(&dir).unwrap();
        let without_stats = parse(&ALL_STAGES.replace("[stats]\nstats = \"entropy_global\"\n", ""));
        let decisions = run(&without_stats, &dir, &[], TOOL);
        assert_eq!(decisions.iter().map(|d| d.0).collect::<Vec<_>>().len(), 4);
        let with_stats = parse(ALL_STAGES);
        assert_eq!(
            run(&with_stats, &dir, &[], TOOL),
            expect([Skip, Fresh, Skip, Fresh, Fresh])
        );
    }
}
