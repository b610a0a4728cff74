//! Training refuses to add predictions to, or resume from checkpoints of, a directory
//! whose earlier training ran on other data (issue 11: a network resumed from a
//! checkpoint of the old data ended with epochs of 1,200/1,200/600 rows).

mod quadrants;

use agree_schema::identity;
use agree_train::{DeviceChoice, RuntimeOptions, train_study};

const NOW: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OTHER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A dataset whose manifest records `NOW`, and `folder` stamped as made on `OTHER`.
fn experiment_with_stale(folder: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    quadrants::write_samples(dir.path(), &quadrants::rows(8, 4));
    let manifest = format!("{{\"dataset\": \"quadrants\", \"dataset_fingerprint\": \"{NOW}\"}}");
    std::fs::write(dir.path().join("manifest.json"), manifest).unwrap();
    let stale = dir.path().join(folder);
    std::fs::create_dir_all(stale.join("lenet5-s0")).unwrap();
    std::fs::write(
        stale.join(identity::STAMP_FILE),
        format!("{{\"dataset_fingerprint\": \"{OTHER}\"}}"),
    )
    .unwrap();
    dir
}

fn cpu() -> RuntimeOptions {
    RuntimeOptions {
        device: DeviceChoice::Cpu.into(),
        ..RuntimeOptions::default()
    }
}

#[test]
fn checkpoints_of_other_data_are_not_resumed() {
    let dir = experiment_with_stale("checkpoints");
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &cpu())
        .unwrap_err()
        .to_string();
    for needle in ["checkpoints/", OTHER, NOW] {
        assert!(err.contains(needle), "error `{err}` should mention `{needle}`");
    }
    for name in ["runs.parquet", "epochs.parquet", "runs", "epochs", "predictions"] {
        assert!(!dir.path().join(name).exists(), "{name} written despite the error");
    }
}

#[test]
fn predictions_of_other_data_are_not_added_to() {
    let dir = experiment_with_stale("predictions");
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &cpu())
        .unwrap_err()
        .to_string();
    for needle in ["predictions/", OTHER, NOW] {
        assert!(err.contains(needle), "error `{err}` should mention `{needle}`");
    }
    assert!(!dir.path().join("runs.parquet").exists() && !dir.path().join("runs").exists());
}
