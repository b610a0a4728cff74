//! Experiment identity at ingest: the dataset fingerprint in `manifest.json` and
//! `samples.parquet`, and re-ingesting into an existing experiment — the same data
//! as before, other data (refused), or other data with `--force` (stale downstream
//! outputs removed).

mod common;

use std::path::Path;

use common::write_tree;

/// A 4×4 PNG whose pixels depend on `seed`.
fn png(seed: u8) -> Vec<u8> {
    common::png(4, 4, seed)
}

use agree_ingest::{IngestOptions, OnError, imagefolder, manifest::Manifest};
use agree_schema::{ExperimentDir, identity};

fn ingest(input: &Path, out: &Path, force: bool) -> agree_ingest::Result<agree_ingest::IngestSummary> {
    let opts = IngestOptions {
        on_error: OnError::Fail,
        force,
        ..Default::default()
    };
    imagefolder::ingest("imagefolder", &[input.to_path_buf()], out, &opts)
}

/// Stand-ins for what stats, train, analyze, report, score import and the pipeline
/// leave in an experiment directory.
const DOWNSTREAM: [&str; 15] = [
    "stats.parquet",
    "spectra.parquet",
    "stats/part-0-of-2.parquet",
    "spectra/part-1-of-2.parquet",
    "epochs.parquet",
    "runs.parquet",
    "epochs/lenet5-s0.parquet",
    "runs/lenet5-s0.parquet",
    "predictions/lenet5-s0/epoch=1.parquet",
    "checkpoints/lenet5-s0/epoch=1/meta.json",
    "results/agreement.parquet",
    "report/index.html",
    "scores/hardness.parquet",
    ".agree/stats.json",
    "predictions/dataset.json",
];

#[test]
fn the_fingerprint_follows_the_samples_not_the_container() {
    let tmp = tempfile::tempdir().unwrap();
    let files = [("train/a/1.png", png(1)), ("test/b/2.png", png(2))];
    write_tree(&tmp.path().join("d"), &files);
    let a = ingest(&tmp.path().join("d"), &tmp.path().join("a"), false).unwrap();
    let fp = a.manifest.dataset_fingerprint.clone().unwrap();
    assert_eq!(fp.len(), 64);
    let exp = ExperimentDir::new(tmp.path().join("a"));
    assert_eq!(
        identity::table_fingerprint(&exp.samples()).unwrap().as_deref(),
        Some(fp.as_str())
    );
    assert_eq!(
        Manifest::read(&exp.manifest()).unwrap().dataset_fingerprint.as_deref(),
        Some(fp.as_str())
    );
    let b = ingest(&tmp.path().join("d"), &tmp.path().join("b"), false).unwrap();
    assert_eq!(b.manifest.dataset_fingerprint.as_deref(), Some(fp.as_str()));

    // One changed pixel, one moved file: other data.
    write_tree(
        &tmp.path().join("e"),
        &[("train/a/1.png", png(1)), ("test/b/2.png", png(3))],
    );
    let e = ingest(&tmp.path().join("e"), &tmp.path().join("e_out"), false).unwrap();
    assert_ne!(e.manifest.dataset_fingerprint.as_deref(), Some(fp.as_str()));
    write_tree(
        &tmp.path().join("f"),
        &[("train/a/1.png", png(1)), ("train/b/2.png", png(2))],
    );
    let f = ingest(&tmp.path().join("f"), &tmp.path().join("f_out"), false).unwrap();
    assert_ne!(f.manifest.dataset_fingerprint.as_deref(), Some(fp.as_str()));
}

#[test]
fn ingesting_other_data_into_an_experiment_is_refused_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let first = tmp.path().join("first");
    write_tree(&first, &[("train/a/1.png", png(1)), ("train/b/2.png", png(2))]);
    let old = ingest(&first, &out, false)
        .unwrap()
        .manifest
        .dataset_fingerprint
        .unwrap();
    for rel in DOWNSTREAM {
        write_tree(&out, &[(rel, b"x".to_vec())]);
    }

    // The same data again: as before, downstream outputs stay.
    ingest(&first, &out, false).unwrap();
    assert!(DOWNSTREAM.iter().all(|rel| out.join(rel).exists()));

    // Other data: refused, naming the directory and both fingerprints; nothing changes.
    let second = tmp.path().join("second");
    write_tree(&second, &[("train/a/1.png", png(1)), ("train/b/9.png", png(9))]);
    let samples_before = std::fs::read(out.join("samples.parquet")).unwrap();
    let err = ingest(&second, &out, false).unwrap_err().to_string();
    let new = ingest(&second, &tmp.path().join("elsewhere"), false)
        .unwrap()
        .manifest
        .dataset_fingerprint
        .unwrap();
    for needle in [out.display().to_string(), old.clone(), new.clone(), "--force".into()] {
        assert!(err.contains(&needle), "error `{err}` should mention `{needle}`");
    }
    assert_eq!(std::fs::read(out.join("samples.parquet")).unwrap(), samples_before);
    assert!(DOWNSTREAM.iter().all(|rel| out.join(rel).exists()));
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // --force: starts afresh, the stale outputs are gone.
    let s = ingest(&second, &out, true).unwrap();
    assert_eq!(s.manifest.dataset_fingerprint.as_deref(), Some(new.as_str()));
    for rel in DOWNSTREAM {
        assert!(!out.join(rel).exists(), "{rel} was computed on the old data");
    }
    assert!(s.removed.iter().any(|p| p.ends_with("predictions")), "{:?}", s.removed);
    assert_eq!(
        identity::table_fingerprint(&ExperimentDir::new(&out).samples()).unwrap(),
        Some(new)
    );
}

/// Makes an experiment look as if ingested before fingerprints: none in the manifest,
/// none in the samples footer.
fn forget_fingerprint(dir: &ExperimentDir) {
    let mut m = Manifest::read(&dir.manifest()).unwrap();
    m.dataset_fingerprint = None;
    m.write(&dir.manifest()).unwrap();
    let (schema, batches) = agree_schema::read_table(&dir.samples()).unwrap();
    let schema = std::sync::Arc::new(schema.as_ref().clone().with_metadata(Default::default()));
    let c = agree_schema::Table::Samples.contract();
    let mut w = agree_schema::TableWriter::create(dir.samples(), c, schema.clone()).unwrap();
    for b in &batches {
        w.write(&arrow::array::RecordBatch::try_new(schema.clone(), b.columns().to_vec()).unwrap())
            .unwrap();
    }
    w.finish().unwrap();
    assert_eq!(identity::current_fingerprint(dir).unwrap(), None);
}

#[test]
fn an_experiment_from_before_fingerprints_is_compared_by_its_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let dir = ExperimentDir::new(&out);
    let first = tmp.path().join("first");
    write_tree(&first, &[("train/a/1.png", png(1))]);
    ingest(&first, &out, false).unwrap();
    forget_fingerprint(&dir);
    ingest(&first, &out, false).expect("the same data, by its samples_digest");
    forget_fingerprint(&dir);
    let second = tmp.path().join("second");
    write_tree(&second, &[("train/a/1.png", png(2))]);
    let err = ingest(&second, &out, false).unwrap_err().to_string();
    assert!(err.contains("samples_digest") && err.contains("--force"), "{err}");
}
