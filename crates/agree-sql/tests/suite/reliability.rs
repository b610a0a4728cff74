//! Inconsistent inputs stop the analysis with the file and the first offending
//! row; results are all-or-nothing and carry one analysis id.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agree_schema::{ANALYSIS_ID_KEY, ExperimentDir, Table, read_key_value, temporary_name};
use agree_sql::synthetic_run::{PredictionRow, SyntheticRun, write_prediction_file, write_sample_table, write_samples};
use agree_sql::{AnalysisOptions, analyze};
use indicatif::ProgressBar;

const N_TEST: usize = 20;
const N_TRAIN: usize = 40;

fn synthetic(dir: &Path) -> ExperimentDir {
    let dir = ExperimentDir::new(dir);
    SyntheticRun {
        archs: vec!["a".into()],
        networks: 2,
        epochs: 3,
        n_test: N_TEST,
        n_train: N_TRAIN,
        seed: 7,
    }
    .write(&dir)
    .unwrap();
    dir
}

fn run(dir: &ExperimentDir, options: &AnalysisOptions) -> Result<(), String> {
    agree_sql::block_on(analyze(dir, options, &ProgressBar::hidden()))
        .unwrap()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn analysis_error(dir: &ExperimentDir) -> String {
    run(dir, &AnalysisOptions::default()).expect_err("the analysis must refuse this input")
}

/// Prediction rows for every sample, as the synthetic run's split rule has them.
fn every_sample() -> Vec<PredictionRow> {
    (0..(N_TEST + N_TRAIN) as i64)
        .map(|id| PredictionRow {
            sample_id: id,
            split: if (id as usize) < N_TEST { "test" } else { "train" },
            correct: id % 3 == 0,
            p_label: 0.5,
        })
        .collect()
}

fn assert_names(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "`{p}` missing from: {err}");
    }
}

#[test]
fn a_duplicated_prediction_row_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    let mut rows = every_sample();
    rows.push(rows[5].clone());
    write_prediction_file(&dir, "a", 1, 2, &rows).unwrap();
    let err = analysis_error(&dir);
    assert_names(
        &err,
        &[
            "a-s1/epoch=2.parquet",
            "row 60",
            "duplicate",
            "sample_id` 5",
            "first at row 5",
        ],
    );
}

#[test]
fn a_prediction_of_an_unknown_sample_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    let mut rows = every_sample();
    rows[17].sample_id = 1000;
    write_prediction_file(&dir, "a", 0, 3, &rows).unwrap();
    let err = analysis_error(&dir);
    assert_names(
        &err,
        &["a-s0/epoch=3.parquet", "row 17", "1000", "not in samples.parquet"],
    );
}

#[test]
fn a_file_holding_another_epoch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    write_prediction_file(&dir, "a", 0, 3, &every_sample()).unwrap();
    std::fs::rename(dir.predictions("a-s0", 3), dir.predictions("a-s0", 2)).unwrap();
    write_prediction_file(&dir, "a", 0, 3, &every_sample()).unwrap();
    let err = analysis_error(&dir);
    assert_names(&err, &["a-s0/epoch=2.parquet", "row 0", "`epoch` is 3"]);
}

#[test]
fn a_duplicated_sample_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    let mut samples: Vec<(i64, &str)> = every_sample().iter().map(|r| (r.sample_id, r.split)).collect();
    samples.insert(30, (12, "test"));
    write_samples(&dir, &samples).unwrap();
    let err = analysis_error(&dir);
    assert_names(
        &err,
        &[
            "samples.parquet",
            "row 30",
            "duplicate `sample_id` 12",
            "first at row 12",
        ],
    );
}

#[test]
fn non_finite_statistics_and_scores_are_refused() {
    let ids: Vec<i64> = (0..(N_TEST + N_TRAIN) as i64).collect();
    for (bad, word) in [(f64::NAN, "NaN"), (f64::INFINITY, "inf"), (f64::NEG_INFINITY, "-inf")] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = synthetic(tmp.path());
        let mut x: Vec<Option<f64>> = ids.iter().map(|&i| Some(i as f64)).collect();
        x[7] = Some(bad);
        x[3] = None; // a null is a missing value, not an error
        write_sample_table(&dir.scores("human"), Table::Scores, &ids, &[("x", x)]).unwrap();
        let err = analysis_error(&dir);
        assert_names(&err, &["scores/human.parquet", "row 7", "column `x`", word]);
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    let mut d: Vec<Option<f64>> = ids.iter().map(|_| Some(0.5)).collect();
    d[44] = Some(f64::NAN);
    write_sample_table(&dir.attributes(), Table::Attributes, &ids, &[("difficulty", d)]).unwrap();
    let err = analysis_error(&dir);
    assert_names(&err, &["attributes.parquet", "row 44", "column `difficulty`", "NaN"]);
}

#[test]
fn a_prediction_file_without_correct_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    let path = dir.predictions("a-s1", 1);
    let (schema, batches) = agree_schema::read_table(&path).unwrap();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| schema.field(i).name() != "correct")
        .collect();
    let projected = Arc::new(schema.project(&keep).unwrap());
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, projected, None).unwrap();
    for b in &batches {
        writer.write(&b.project(&keep).unwrap()).unwrap();
    }
    writer.close().unwrap();
    let err = analysis_error(&dir);
    assert_names(&err, &["a-s1/epoch=1.parquet", "`correct`", "missing"]);
}

/// Every file under `dir`, relative, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

fn ids_of(results: &Path) -> Vec<Option<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(results).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .iter()
        .map(|f| read_key_value(f, ANALYSIS_ID_KEY).unwrap())
        .collect()
}

#[test]
fn results_are_all_or_nothing_and_carry_one_analysis_id() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    let options = AnalysisOptions::default();
    run(&dir, &options).unwrap();
    let results = dir.results_dir();
    let first = snapshot(&results);
    assert!(first.len() >= 6, "{:?}", first.keys());
    let ids = ids_of(&results);
    assert!(ids[0].is_some() && ids.iter().all(|i| i == &ids[0]), "{ids:?}");

    // The same inputs and settings: the same id. (Not always the same bytes:
    // DataFusion's parallel aggregation may order rows and sum floats differently.)
    run(&dir, &options).unwrap();
    assert_eq!(ids_of(&results), ids);
    let first = snapshot(&results);

    // An analysis failing at its last step leaves the previous results whole.
    let sql = tmp.path().join("sql");
    std::fs::create_dir_all(&sql).unwrap();
    std::fs::write(sql.join("dataset_summary.sql"), "SELECT no_such_column FROM agreement").unwrap();
    let broken = AnalysisOptions {
        quantile_bins: 3,
        sql_dir: Some(sql),
        ..AnalysisOptions::default()
    };
    let err = run(&dir, &broken).unwrap_err();
    assert!(err.contains("dataset_summary.sql"), "{err}");
    assert_eq!(
        snapshot(&results),
        first,
        "no table of the failed analysis replaced an old one"
    );

    // Other settings: another id, in every table.
    let other = AnalysisOptions {
        quantile_bins: 3,
        ..AnalysisOptions::default()
    };
    run(&dir, &other).unwrap();
    let new_ids = ids_of(&results);
    assert!(
        new_ids.iter().all(|i| i == &new_ids[0]) && new_ids[0] != ids[0],
        "{new_ids:?}"
    );

    // Nothing of the staging is left beside the results.
    let hidden: Vec<String> = std::fs::read_dir(dir.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn leftovers_of_a_killed_analysis_are_removed_by_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    run(&dir, &AnalysisOptions::default()).unwrap();
    // What a killed analysis leaves: its staging folder (with a half-written
    // table in it), and a temporary file of an older version beside a table.
    let dead = 4_194_305; // above any Linux pid_max
    let staging = dir.root().join(temporary_name("results", dead));
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join(temporary_name("agreement.parquet", dead)), b"half").unwrap();
    let old_style = dir.results_dir().join(temporary_name("learning_order.parquet", dead));
    std::fs::write(&old_style, b"half").unwrap();
    let swapped_out = dir.root().join(temporary_name("results-old", dead));
    std::fs::create_dir_all(&swapped_out).unwrap();
    run(&dir, &AnalysisOptions::default()).unwrap();
    assert!(!staging.exists() && !old_style.exists() && !swapped_out.exists());
}
