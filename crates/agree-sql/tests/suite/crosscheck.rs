//! Cross-check on a generated run of realistic shape: every agreement column,
//! learned_epoch, and Spearman/Kendall of every statistic against an independent
//! numpy/scipy implementation of the reference formulas (tests/python/crosscheck.py),
//! equal to 1e-9. Needs the project's `.venv/bin/python` with numpy, pyarrow and
//! scipy (`cargo xtask setup` installs them); when missing, the test fails saying so.

use std::path::PathBuf;
use std::process::Command;

use agree_schema::ExperimentDir;
use agree_sql::synthetic_run::SyntheticRun;
use agree_sql::{AnalysisOptions, analyze};
use indicatif::ProgressBar;

/// The project's venv python, with numpy, pyarrow and scipy; a missing one fails
/// the test, saying how to install it (a cross-check that skips proves nothing).
fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "crosscheck needs {} (create the venv: cargo xtask setup)",
        python.display()
    );
    let probe = Command::new(&python)
        .args(["-c", "import numpy, pyarrow, scipy"])
        .output()
        .expect("running the venv's python");
    assert!(
        probe.status.success(),
        "crosscheck needs numpy, pyarrow and scipy in {} ({}); run cargo xtask setup",
        python.display(),
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_equal_numpy_and_scipy_reference() {
    let python = python();
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    // 2 architectures × 3 networks × 8 epochs × 4,000 samples = 192,000 prediction rows.
    let run = SyntheticRun {
        archs: vec!["lenet5".into(), "resnet18".into()],
        networks: 3,
        epochs: 8,
        n_test: 1000,
        n_train: 3000,
        seed: 42,
    };
    run.write(&dir).unwrap();
    let options = AnalysisOptions {
        bootstrap_replicates: 20,
        ..AnalysisOptions::default()
    };
    let report = analyze(&dir, &options, &ProgressBar::hidden()).await.unwrap();
    assert_eq!(report.networks, 6);
    assert_eq!(report.statistics, 23, "22 stats columns + attributes.difficulty");
    for step in &report.steps {
        eprintln!("{:<24} {:>8.2} s {:>8} rows", step.name, step.seconds, step.rows);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/crosscheck.py");
    let out = Command::new(python).arg(script).arg(tmp.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "crosscheck failed:\n{stdout}\n{stderr}");
    eprintln!("{}", stdout.trim());
}
