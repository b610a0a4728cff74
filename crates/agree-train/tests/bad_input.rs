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
        device: DeviceChoice::Cpu.into(),
        ..RuntimeOptions::default()
    }
}

fn nothing_written(dir: &Path) {
    for name in [
        "runs.parquet",
        "epochs.parquet",
        "runs",
        "epochs",
        "predictions",
        "checkpoints",
    ] {
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
    let Err(err) = Cli::try_parse_from([
        "t",
        dir.path().to_str().unwrap(),
        "--arch",
        "lenet5,alexnet",
        "--device",
        "cpu",
    ]) else {
        panic!("alexnet accepted");
    };
    let err = err.to_string();
    assert!(err.contains("unknown architecture `alexnet`"), "{err}");
    nothing_written(dir.path());
}

/// Parses `agree train DIR ARGS…`.
fn parse(args: &[&str]) -> Result<TrainArgs, clap::Error> {
    Cli::try_parse_from(["t", "DIR"].iter().chain(args)).map(|c| c.args)
}

#[test]
fn every_bad_number_is_refused_at_parse_time() {
    for bad in [
        "--epochs=0",
        "--networks=0",
        "--batch-size=1",
        "--batch-size=-5",
        "--lr=nan",
        "--lr=inf",
        "--lr=0",
        "--lr=-0.1",
        "--momentum=NaN",
        "--momentum=1.5",
        "--weight-decay=-1",
        "--beta1=1",
        "--beta2=inf",
        "--step-every=0",
        "--step-gamma=nan",
        "--label-smoothing=1",
        "--label-noise=1.01",
        "--label-noise=nan",
        "--resize=0",
        "--resize=100000",
        "--crop=100000",
        "--parallel=0",
        "--threads=0",
        "--threads=99999",
        "--prefetch=99999999999",
        "--cache-mb=-1",
        "--stop-after=0",
        "--max-pixels=0",
        "--device=tpu",
        "--arch=resnet19",
        "--arch=wrn-15-4",
    ] {
        let err = parse(&[bad]).err().unwrap_or_else(|| panic!("{bad:?} was accepted"));
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{bad:?}: {err}");
    }
    let ok = parse(&["--lr", "0.05", "--arch", "lenet5,wrn-16-4", "--label-noise", "1"]).unwrap();
    assert_eq!(ok.configs().unwrap().len(), 2);
}

#[test]
fn a_repeated_sample_id_is_refused_naming_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let rows = quadrants::rows(8, 4);
    let mut ids: Vec<i64> = (0..rows.len() as i64).collect();
    ids[6] = 2;
    quadrants::write_samples_with_ids(dir.path(), &rows, &ids);
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &cpu())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("samples.parquet")
            && err.contains("row 6")
            && err.contains("sample_id 2 appears again (first in row 2)"),
        "{err}"
    );
    nothing_written(dir.path());
}

#[test]
fn an_image_above_the_pixel_budget_is_refused_before_training() {
    let dir = dataset(&quadrants::rows(8, 4));
    let rt = RuntimeOptions {
        max_pixels: 15 * 16,
        ..cpu()
    };
    let err = train_study(dir.path(), &[quadrants::config(1, 1)], &rt)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("samples.parquet") && err.contains("16×16 = 256 pixels exceeds the budget of 240"),
        "{err}"
    );
    nothing_written(dir.path());
    // Resizing beyond the budget is refused too.
    let mut c = quadrants::config(1, 1);
    c.transform.resize = Some(64);
    let rt = RuntimeOptions {
        max_pixels: 64 * 64 - 1,
        ..cpu()
    };
    let err = train_study(dir.path(), &[c], &rt).unwrap_err().to_string();
    assert!(
        err.contains("resized to 64×64") && err.contains("budget of 4095"),
        "{err}"
    );
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
        device: DeviceChoice::Cuda(0).into(),
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
