//! `agree analyze` refuses statistics or predictions computed on another dataset
//! than the one `samples.parquet`/`manifest.json` holds now (issue 11: analyze ran on
//! 7,000-sample predictions against 12 samples).

use std::sync::Arc;

use agree_schema::{ExperimentDir, identity};
use agree_sql::synthetic_run::{PredictionRow, synthetic_manifest, write_manifest, write_prediction_file};
use agree_sql::{AnalysisOptions, analyze};
use arrow::array::{Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use indicatif::ProgressBar;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

const NOW: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const OTHER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Two networks, one epoch, four test samples; the manifest records `NOW`.
fn build(dir: &ExperimentDir) {
    let rows: Vec<PredictionRow> = (0..4)
        .map(|i| PredictionRow {
            sample_id: i,
            split: "test",
            correct: i % 2 == 0,
            p_label: 0.5,
        })
        .collect();
    for network in 0..2 {
        write_prediction_file(dir, "a", network, 1, &rows).unwrap();
    }
    let samples: Vec<(i64, &str)> = rows.iter().map(|r| (r.sample_id, r.split)).collect();
    let mut manifest = synthetic_manifest("handmade", &samples);
    manifest.dataset_fingerprint = Some(NOW.to_string());
    write_manifest(dir, &manifest).unwrap();
}

fn stamp(folder: &std::path::Path, fp: &str) {
    std::fs::write(
        folder.join(identity::STAMP_FILE),
        format!("{{\"dataset_fingerprint\": \"{fp}\"}}"),
    )
    .unwrap();
}

/// A table whose footer says it was computed on `fp` (its content is never reached).
fn table_made_on(path: &std::path::Path, fp: &str) {
    let schema = Arc::new(Schema::new(vec![Field::new("sample_id", DataType::Int64, false)]));
    let props = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![identity::fingerprint_metadata(fp)]))
        .build();
    let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema.clone(), Some(props)).unwrap();
    w.write(&RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![0]))]).unwrap())
        .unwrap();
    w.close().unwrap();
}

async fn analysis_error(dir: &ExperimentDir) -> String {
    analyze(dir, &AnalysisOptions::default(), &ProgressBar::hidden())
        .await
        .expect_err("inputs of other data must be refused")
        .to_string()
}

#[tokio::test]
async fn predictions_of_other_data_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    build(&dir);
    stamp(&dir.predictions_dir(), OTHER);
    let err = analysis_error(&dir).await;
    for needle in ["predictions/", OTHER, NOW, "--force"] {
        assert!(err.contains(needle), "error `{err}` should mention `{needle}`");
    }
    assert!(!dir.results_dir().exists(), "nothing was written");
}

#[tokio::test]
async fn statistics_of_other_data_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    build(&dir);
    stamp(&dir.predictions_dir(), NOW);
    table_made_on(&dir.stats(), OTHER);
    let err = analysis_error(&dir).await;
    for needle in ["stats.parquet", OTHER, NOW] {
        assert!(err.contains(needle), "error `{err}` should mention `{needle}`");
    }
}

#[tokio::test]
async fn inputs_of_the_same_data_are_analysed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    build(&dir);
    stamp(&dir.predictions_dir(), NOW);
    analyze(&dir, &AnalysisOptions::default(), &ProgressBar::hidden())
        .await
        .unwrap();
    assert!(dir.table(agree_schema::Table::Agreement).is_file());
}

#[tokio::test]
async fn a_malformed_manifest_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    build(&dir);
    // A manifest that is JSON but not a manifest (most fields missing).
    std::fs::write(dir.manifest(), "{\"dataset\": \"handmade\"}").unwrap();
    let err = analysis_error(&dir).await;
    let path = dir.manifest().display().to_string();
    assert!(
        err.contains(&path) && err.contains("malformed manifest") && err.contains("missing field"),
        "{err}"
    );
    assert!(!dir.results_dir().exists(), "nothing was written");
}
