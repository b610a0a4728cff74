//! What the input consistency checks cost next to the analysis they guard, on a
//! generated run: `cargo run --release -p agree-sql --example input_checks --
//! [samples] [epochs]` (default 6,000 samples × 5 networks × 10 epochs).

use std::time::Instant;

use agree_schema::ExperimentDir;
use agree_sql::PredictionFile;
use agree_sql::synthetic_run::SyntheticRun;
use agree_sql::{
    AnalysisOptions, ProgressBar, analyze, block_on, check_inputs, experiment_tables, list_prediction_runs,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let samples = args.next().transpose()?.unwrap_or(6_000);
    let epochs = args.next().transpose()?.unwrap_or(10);
    let tmp = tempfile::tempdir()?;
    let dir = ExperimentDir::new(tmp.path());
    let run = SyntheticRun {
        archs: vec!["resnet18".into()],
        networks: 5,
        epochs: epochs as i32,
        n_test: samples / 6,
        n_train: samples - samples / 6,
        seed: 1,
    };
    run.write(&dir)?;
    let rows = samples * 5 * epochs;
    let files: Vec<PredictionFile> = list_prediction_runs(&dir.predictions_dir())?
        .iter()
        .flat_map(|r| r.epochs.iter())
        .map(|(&epoch, path)| PredictionFile {
            path: path.clone(),
            epoch,
        })
        .collect();
    let tables = experiment_tables(&dir)?;
    let started = Instant::now();
    check_inputs(&dir, &files, &tables)?;
    let checks = started.elapsed().as_secs_f64();
    let started = Instant::now();
    block_on(analyze(&dir, &AnalysisOptions::default(), &ProgressBar::hidden()))??;
    let total = started.elapsed().as_secs_f64();
    println!(
        "{rows} prediction rows: input checks {checks:.3} s, whole analysis (checks included) {total:.3} s ({:.1} %)",
        100.0 * checks / total
    );
    Ok(())
}
