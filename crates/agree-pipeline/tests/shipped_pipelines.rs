//! Every pipeline file shipped in `pipelines/` parses and validates against the
//! stages' own options.

use std::path::PathBuf;

use agree_pipeline::{PipelineFile, Stage};

#[test]
fn shipped_pipeline_files_are_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let p = PipelineFile::read(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                p.stages.iter().any(|s| s.stage == Stage::Train),
                "{}: trains",
                path.display()
            );
            names.push(p.name);
        }
    }
    names.sort();
    for needed in [
        "cifar10",
        "cifar10-cpu",
        "cifar10-extended",
        "cross-architecture",
        "imagenet",
        "kth-tips2b",
        "quickstart",
        "random-labels",
        "random-labels-lenet-p0.50",
        "random-labels-lenet-p1.00",
        "voc",
    ] {
        assert!(names.iter().any(|n| n == needed), "pipelines/{needed}.toml missing");
    }
}

/// The quickstart runs the stages with exactly these command lines (keys in sorted
/// order; the experiment directory is added when it runs): a change here changes what `cargo xtask
/// pipeline` does.
#[test]
fn the_quickstart_runs_these_command_lines() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/quickstart.toml");
    let p = PipelineFile::read(&path).unwrap();
    let lines: Vec<(Stage, String)> = p.stages.iter().map(|s| (s.stage, s.argv.join(" "))).collect();
    let expected = [
        (Stage::Ingest, "synthetic --seed 0 --size 32 --test 1000 --train 6000"),
        (Stage::Stats, ""),
        (
            Stage::Train,
            "--arch lenet5 --batch-size 64 --device cpu --epochs 10 --lr 0.05 --momentum 0.9 \
             --networks 4 --optimizer sgd --schedule cosine --weight-decay 0.0005",
        ),
        (Stage::Analyze, "--bins 5 --bootstrap 200"),
        (Stage::Report, ""),
    ];
    let expected: Vec<(Stage, String)> = expected.into_iter().map(|(s, l)| (s, l.to_string())).collect();
    assert_eq!(lines, expected);
    assert_eq!(p.out, Some(PathBuf::from("experiments/quickstart")));
}
