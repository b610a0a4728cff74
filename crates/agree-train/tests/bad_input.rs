//! Bad input is refused with a clear error before any training starts.

mod quadrants;

use std::path::Path;

use agree_train::{DeviceChoice, RuntimeOptions, cli::TrainArgs, train_study};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: TrainArgs,
}

fn cpu() -> RuntimeOptions {
    RuntimeOptions {
        device: DeviceChoice::Cpu,
        ..RuntimeOptions::default()
    }
}

fn nothing_written(dir: &Path) {
    for name in ["runs.parquet", "epochs.parquet", "predictions", "checkpoints"] {
        assert!(!dir.join(name).exists(), "{name} written despite the error");
    }
}

fn dataset(rows: &[quadrants::Row]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    quadrants::write_samples(dir.path(), rows);
    dir
}

#[test]
fn an_unknown_architecture_is_named() {
    let dir = dataset(&quadrants::rows(8, 4));
    let cli = Cli::try_parse_from([
        "t",
        dir.path().to_str().unwrap(),
        "--arch",
        "lenet5,alexnet",
        "--device",
        "cpu",
    ])
    .unwrap();
    let err = agree_train::cli::run(&cli.args, true).unwrap_err().to_string();
    assert!(err.contains("unknown architecture `alexnet`"), "{err}");
    nothing_written(dir.path());
}

#[test]
fn an_input_too_small_for_the_architecture_is_refused() {
    let dir = dataset(&quadrants::rows(8, 4));
    let mut c = quadrants::config(1, 1);
    c.arch = agree_train::Arch::Vgg16;
    let err = train_study(dir.path(), &[c], &cpu()).unwrap_err().to_string();
    assert!(
        err.contains("vgg16 needs inputs of at least 32×32") && err.contains("16×16"),
        "{err}"
    );
    nothing_written(dir.path());
}

#[test]
fn a_label_outside_the_classes_is_refused_naming_the_row() {
    let mut rows = quadrants::rows(8, 4);
    rows[5].label = 7;
    rows[5].class_name = "stray".into();
    let dir = dataset(&rows);
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &cpu())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("samples.parquet") && err.contains("row 5") && err.contains("label 7 outside 0..4"),
        "{err}"
    );
    nothing_written(dir.path());
}

#[test]
fn an_empty_split_is_refused() {
    let dir = dataset(&quadrants::rows(8, 0));
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &cpu())
        .unwrap_err()
        .to_string();
    assert!(err.contains("the `test` split has no samples"), "{err}");
    nothing_written(dir.path());
    let dir = dataset(&quadrants::rows(0, 8));
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &cpu())
        .unwrap_err()
        .to_string();
    assert!(err.contains("the `train` split has no samples"), "{err}");
}

#[test]
fn a_missing_device_is_refused() {
    let dir = dataset(&quadrants::rows(8, 4));
    if tch::Cuda::is_available() {
        return; // This machine has a GPU: nothing to refuse.
    }
    let rt = RuntimeOptions {
        device: DeviceChoice::Cuda(0),
        ..RuntimeOptions::default()
    };
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &rt)
        .unwrap_err()
        .to_string();
    assert!(err.contains("device `cuda:0` is not available"), "{err}");
    nothing_written(dir.path());
}

#[test]
fn a_missing_samples_table_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &cpu())
        .unwrap_err()
        .to_string();
    assert!(err.contains("samples.parquet"), "{err}");
}
