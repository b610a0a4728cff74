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
        "cross-architecture",
        "imagenet",
        "kth-tips2b",
        "quickstart",
        "random-labels",
        "voc",
    ] {
        assert!(names.iter().any(|n| n == needed), "pipelines/{needed}.toml missing");
    }
}
