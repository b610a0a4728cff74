//! The analysis on tiny hand-built prediction tables whose every result is
//! computed by hand in the comments.

use agree_schema::{ExperimentDir, Table};
use agree_sql::synthetic_run::{
    PredictionRow, synthetic_manifest, write_manifest, write_prediction_file, write_runs, write_sample_table,
};
use agree_sql::{AnalysisOptions, SqlError, analyze, open_session, run_query};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use indicatif::ProgressBar;

/// Correctness of networks a0 and a1 on test samples 0..3 at epochs 1..3.
const A0: [[bool; 4]; 3] = [
    [true, false, false, true],
    [true, true, false, false],
    [true, true, true, false],
];
const A1: [[bool; 4]; 3] = [
    [true, true, false, false],
    [true, true, false, true],
    [true, true, false, true],
];

fn rows(test: &[bool; 4]) -> Vec<PredictionRow> {
    let mut rows: Vec<PredictionRow> = test
        .iter()
        .enumerate()
        .map(|(i, &c)| PredictionRow {
            sample_id: i as i64,
            split: "test",
            correct: c,
            p_label: if c { 0.75 } else { 0.25 },
        })
        .collect();
    for id in 4..6 {
        rows.push(PredictionRow {
            sample_id: id,
            split: "train",
            correct: true,
            p_label: 0.75,
        });
    }
    rows
}

/// Architecture `a` (networks 0, 1) as in A0/A1, architecture `b` always right;
/// statistic stats.x = (3, 1, 2, 2, 5, 6) for samples 0..5.
fn build(dir: &ExperimentDir) {
    for epoch in 1..=3 {
        let e = (epoch - 1) as usize;
        write_prediction_file(dir, "a", 0, epoch, &rows(&A0[e])).unwrap();
        write_prediction_file(dir, "a", 1, epoch, &rows(&A1[e])).unwrap();
        write_prediction_file(dir, "b", 0, epoch, &rows(&[true; 4])).unwrap();
        write_prediction_file(dir, "b", 1, epoch, &rows(&[true; 4])).unwrap();
    }
    let ids: Vec<i64> = (0..6).collect();
    let x = [3.0, 1.0, 2.0, 2.0, 5.0, 6.0].map(Some).to_vec();
    // `x` is not a column of schemas/stats.toml (closed), so it lives in a score table.
    write_sample_table(&dir.scores("hand"), Table::Scores, &ids, &[("x", x)]).unwrap();
    let samples: Vec<(i64, &str)> = rows(&[true; 4]).iter().map(|r| (r.sample_id, r.split)).collect();
    write_manifest(dir, &synthetic_manifest("handmade", &samples)).unwrap();
}

async fn analysed(bins: u32) -> (tempfile::TempDir, ExperimentDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    build(&dir);
    let options = AnalysisOptions {
        quantile_bins: bins,
        bootstrap_replicates: 200,
        ..AnalysisOptions::default()
    };
    analyze(&dir, &options, &ProgressBar::hidden()).await.unwrap();
    (tmp, dir)
}

async fn query(dir: &ExperimentDir, sql: &str) -> RecordBatch {
    let session = open_session(dir, None).await.unwrap();
    let (schema, batches) = run_query(&session.ctx, sql).await.unwrap();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

fn f64s(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let c = arrow::compute::cast(
        batch.column_by_name(column).unwrap(),
        &arrow::datatypes::DataType::Float64,
    )
    .unwrap();
    let c = c.as_primitive::<Float64Type>();
    (0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i))).collect()
}

fn close(actual: &[Option<f64>], expected: &[Option<f64>]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        match (a, e) {
            (Some(a), Some(e)) => assert!((a - e).abs() < 1e-12, "{actual:?} vs {expected:?}"),
            (None, None) => {}
            _ => panic!("{actual:?} vs {expected:?}"),
        }
    }
}

#[tokio::test]
async fn agreement_columns_match_hand_computation() {
    let (_tmp, dir) = analysed(2).await;
    let b = query(
        &dir,
        "SELECT * FROM agreement WHERE group_kind = 'same_arch' AND group_name = 'a' AND split = 'test' ORDER BY epoch",
    )
    .await;
    // k per sample: e1 (2,1,0,1), e2 (2,2,0,1), e3 (2,2,1,1); accuracies (.5,.5), (.5,.75), (.75,.75).
    close(&f64s(&b, "agreement"), &[Some(1.0 / 3.0), Some(2.0 / 3.0), Some(0.5)]);
    close(&f64s(&b, "tpa"), &[Some(0.25), Some(0.5), Some(0.5)]);
    close(&f64s(&b, "lower_bound"), &[Some(0.0), Some(0.25), Some(0.5)]);
    close(&f64s(&b, "independent"), &[Some(0.25), Some(0.375), Some(0.5625)]);
    close(&f64s(&b, "mean_accuracy"), &[Some(0.5), Some(0.625), Some(0.75)]);
    close(&f64s(&b, "std_accuracy"), &[Some(0.0), Some(0.125), Some(0.0)]);
    // Fleiss: e1 P̄ = .5, P_e = .5 → 0; e2 P̄ = .75, P_e = 34/64 → 7/15; e3 P̄ = .5, P_e = .625 → −1/3.
    close(
        &f64s(&b, "fleiss_kappa"),
        &[Some(0.0), Some(7.0 / 15.0), Some(-1.0 / 3.0)],
    );
    close(&f64s(&b, "n_samples"), &[Some(4.0); 3]);
    close(&f64s(&b, "n_networks"), &[Some(2.0); 3]);

    // Always-right b: agreement 1, κ undefined (all ratings one category).
    let b = query(
        &dir,
        "SELECT * FROM agreement WHERE group_name = 'b' AND split = 'test' ORDER BY epoch",
    )
    .await;
    close(&f64s(&b, "agreement"), &[Some(1.0); 3]);
    close(&f64s(&b, "fleiss_kappa"), &[None, None, None]);

    // Cross-architecture s0 = {a0, b0} at epoch 1: all correct = a0's {0, 3}, some = all 4.
    let b = query(&dir, "SELECT agreement FROM agreement WHERE group_kind = 'cross_arch' AND group_name = 's0' AND split = 'test' AND epoch = 1").await;
    close(&f64s(&b, "agreement"), &[Some(0.5)]);
}

#[tokio::test]
async fn learning_order_matches_hand_computation() {
    let (_tmp, dir) = analysed(2).await;
    let b = query(
        &dir,
        "SELECT * FROM learning_order WHERE group_kind = 'same_arch' AND group_name = 'a' AND split = 'test' ORDER BY sample_id",
    )
    .await;
    // k over epochs: s0 (2,2,2), s1 (1,2,2), s2 (0,0,1), s3 (1,1,1).
    close(&f64s(&b, "learned_epoch"), &[Some(1.0), Some(2.0), None, None]);
    close(&f64s(&b, "first_agreed_epoch"), &[Some(1.0), Some(2.0), None, None]);
    // a0 on s3: 1,0,0 → one forgetting event; nothing else is forgotten.
    close(
        &f64s(&b, "forgetting_events"),
        &[Some(0.0), Some(0.0), Some(0.0), Some(1.0)],
    );
    // s1: a0 p = (.25,.75,.75), a1 (.75,.75,.75) → mean 4/6; s3: a0 (.75,.25,.25), a1 (.25,.75,.75)
    // → mean .5; a network with one correct/incorrect switch has std √(1/18).
    let v = (1.0f64 / 18.0).sqrt();
    close(
        &f64s(&b, "confidence"),
        &[Some(0.75), Some(2.0 / 3.0), Some(1.0 / 3.0), Some(0.5)],
    );
    close(
        &f64s(&b, "variability"),
        &[Some(0.0), Some(v / 2.0), Some(v / 2.0), Some(v)],
    );
    assert_eq!(
        b.column_by_name("learned_epoch").unwrap().data_type(),
        &arrow::datatypes::DataType::Int32
    );
    let _ = b.column_by_name("learned_epoch").unwrap().as_primitive::<Int32Type>();
}

#[tokio::test]
async fn statistic_tables_match_hand_computation() {
    let (_tmp, dir) = analysed(2).await;
    // learned (never → 4) = (1, 2, 4, 4) vs x = (3, 1, 2, 2):
    // ρ = −1.5/4.5 = −1/3 (average ranks); τ_b: n_c = 2, n_d = 3, one tie each side → −1/5.
    let b = query(
        &dir,
        "SELECT * FROM statistic_correlation WHERE group_name = 'a' AND split = 'test' AND statistic = 'hand.x'",
    )
    .await;
    close(&f64s(&b, "spearman_rho"), &[Some(-1.0 / 3.0)]);
    close(&f64s(&b, "kendall_tau"), &[Some(-0.2)]);
    close(&f64s(&b, "n"), &[Some(4.0)]);
    let (lo, hi) = (
        f64s(&b, "spearman_ci_low")[0].unwrap(),
        f64s(&b, "spearman_ci_high")[0].unwrap(),
    );
    assert!((-1.0..=1.0).contains(&lo) && lo <= hi && hi <= 1.0, "{lo} {hi}");

    // Epoch 1, group a, test: agreed = {s0} (x = 3); rest = {s1, s2, s3} (x = 1, 2, 2).
    let b = query(
        &dir,
        "SELECT subset, n, mean, median FROM agreement_by_statistic WHERE group_name = 'a' AND split = 'test' AND epoch = 1 ORDER BY subset",
    )
    .await;
    close(&f64s(&b, "n"), &[Some(1.0), Some(3.0)]);
    close(&f64s(&b, "mean"), &[Some(3.0), Some(5.0 / 3.0)]);
    close(&f64s(&b, "median"), &[Some(3.0), Some(2.0)]);

    // Two bins over test x = (3, 1, 2, 2): ranks 4, 1, 2, 2 → bins 1, 0, 0, 0.
    let b = query(
        &dir,
        "SELECT bin, bin_low, bin_high, n_samples, agreement, mean_accuracy FROM agreement_by_quantile \
         WHERE group_name = 'a' AND split = 'test' AND epoch = 1 ORDER BY bin",
    )
    .await;
    close(&f64s(&b, "bin_low"), &[Some(1.0), Some(3.0)]);
    close(&f64s(&b, "bin_high"), &[Some(2.0), Some(3.0)]);
    close(&f64s(&b, "n_samples"), &[Some(3.0), Some(1.0)]);
    close(&f64s(&b, "agreement"), &[Some(0.0), Some(1.0)]);
    close(&f64s(&b, "mean_accuracy"), &[Some(1.0 / 3.0), Some(1.0)]);

    // x over all six samples (1, 2, 2, 3, 5, 6): numpy-style quantiles 2, 2.5, 4.5.
    let b = query(&dir, "SELECT * FROM dataset_summary WHERE quantity = 'hand.x'").await;
    let mean = 19.0 / 6.0;
    let var = [3.0, 1.0, 2.0, 2.0, 5.0, 6.0]
        .iter()
        .map(|v: &f64| (v - mean).powi(2))
        .sum::<f64>()
        / 6.0;
    close(&f64s(&b, "mean"), &[Some(mean)]);
    close(&f64s(&b, "std"), &[Some(var.sqrt())]);
    close(&f64s(&b, "q25"), &[Some(2.0)]);
    close(&f64s(&b, "median"), &[Some(2.5)]);
    close(&f64s(&b, "q75"), &[Some(4.5)]);
    close(&f64s(&b, "min"), &[Some(1.0)]);
    close(&f64s(&b, "max"), &[Some(6.0)]);
    let d = b.column_by_name("dataset").unwrap();
    assert_eq!(
        arrow::compute::cast(d, &arrow::datatypes::DataType::Utf8)
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "handmade"
    );
    // Agreement curve (1/3, 2/3, 1/2) over epochs 1..3: trapezoids (1/2 + 7/12) / 2.
    let b = query(
        &dir,
        "SELECT mean, n FROM dataset_summary WHERE quantity = 'agreement_auc/same_arch/a/test'",
    )
    .await;
    close(&f64s(&b, "mean"), &[Some((0.5 + 7.0 / 12.0) / 2.0)]);
    close(&f64s(&b, "n"), &[Some(3.0)]);
}

#[tokio::test]
async fn results_follow_their_contracts() {
    let (_tmp, dir) = analysed(5).await;
    for table in Table::ALL.into_iter().filter(|t| t.is_result()) {
        let (schema, batches) = agree_schema::read_table(&dir.table(table)).unwrap();
        table.contract().check(&schema).unwrap();
        assert!(
            batches.iter().map(RecordBatch::num_rows).sum::<usize>() > 0,
            "{table} is empty"
        );
    }
    // Every statistic of the score table is analysed, never a hard-coded list.
    let b = query(&dir, "SELECT DISTINCT statistic FROM statistic_correlation").await;
    let s = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
    assert_eq!(s.as_string::<i32>().value(0), "hand.x");
    assert_eq!(b.num_rows(), 1);
}

#[tokio::test]
async fn single_network_degenerates_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    for epoch in 1..=3 {
        write_prediction_file(&dir, "a", 0, epoch, &rows(&A0[(epoch - 1) as usize])).unwrap();
    }
    let report = analyze(&dir, &AnalysisOptions::default(), &ProgressBar::hidden())
        .await
        .unwrap();
    assert!(
        report.notes.iter().any(|n| n.contains("single network")),
        "{:?}",
        report.notes
    );
    assert!(
        report.notes.iter().any(|n| n.contains("no statistics")),
        "{:?}",
        report.notes
    );
    let b = query(
        &dir,
        "SELECT agreement, mean_accuracy, fleiss_kappa FROM agreement WHERE split = 'test' ORDER BY epoch",
    )
    .await;
    // One network: all-correct = some-correct, so agreement is 1 whenever anything is right.
    close(&f64s(&b, "agreement"), &[Some(1.0); 3]);
    close(&f64s(&b, "mean_accuracy"), &[Some(0.5), Some(0.5), Some(0.75)]);
    close(&f64s(&b, "fleiss_kappa"), &[None, None, None]);
    let b = query(&dir, "SELECT count(*) AS n FROM statistic_correlation").await;
    assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 0);
}

#[tokio::test]
async fn epoch_counts_partial_runs_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    for epoch in 1..=3 {
        write_prediction_file(&dir, "a", 0, epoch, &rows(&A0[(epoch - 1) as usize])).unwrap();
    }
    for epoch in 1..=2 {
        write_prediction_file(&dir, "a", 1, epoch, &rows(&A1[(epoch - 1) as usize])).unwrap();
    }
    let err = analyze(&dir, &AnalysisOptions::default(), &ProgressBar::hidden())
        .await
        .unwrap_err();
    assert!(matches!(err, SqlError::EpochMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("a-s0: 3 epochs") && err.to_string().contains("a-s1: 2 epochs"),
        "{err}"
    );

    // The same files while a-s1 is still training: epochs 1..2 are analysed.
    write_runs(&dir, &[("a", 0, 3, "finished"), ("a", 1, 3, "running")]).unwrap();
    let report = analyze(&dir, &AnalysisOptions::default(), &ProgressBar::hidden())
        .await
        .unwrap();
    assert!(
        report.notes.iter().any(|n| n.contains("partial run")),
        "{:?}",
        report.notes
    );
    let b = query(&dir, "SELECT max(epoch) AS e FROM agreement").await;
    assert_eq!(b.column(0).as_primitive::<Int32Type>().value(0), 2);
    // Learned "to the last analysed epoch": s1 is right for both networks at epoch 2 → learned 2.
    let b = query(
        &dir,
        "SELECT learned_epoch FROM learning_order WHERE split = 'test' ORDER BY sample_id",
    )
    .await;
    close(&f64s(&b, "learned_epoch"), &[Some(1.0), Some(2.0), None, None]);
}

#[tokio::test]
async fn user_sql_overrides_a_step() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    build(&dir);
    let sql_dir = tmp.path().join("my_sql");
    agree_sql::export_sql(&sql_dir).unwrap();
    let original = std::fs::read_to_string(sql_dir.join("dataset_summary.sql")).unwrap();
    std::fs::write(
        sql_dir.join("dataset_summary.sql"),
        original.replace("ORDER BY q.quantity", "WHERE q.n > 3 ORDER BY q.quantity"),
    )
    .unwrap();
    let options = AnalysisOptions {
        sql_dir: Some(sql_dir.clone()),
        bootstrap_replicates: 10,
        ..AnalysisOptions::default()
    };
    analyze(&dir, &options, &ProgressBar::hidden()).await.unwrap();
    let b = query(&dir, "SELECT min(n) AS n FROM dataset_summary").await;
    assert!(b.column(0).as_primitive::<Int64Type>().value(0) > 3);

    // A user query that drops a contract column is reported against its file.
    std::fs::write(sql_dir.join("agreement.sql"), "SELECT group_kind FROM sample_agreement").unwrap();
    let err = analyze(&dir, &options, &ProgressBar::hidden())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("agreement.sql") && err.contains("group_name"), "{err}");
}
