//! The README's example queries (crates/agree-sql/queries/*.sql) and the output
//! formats of `agree sql`, on a small generated run.

use std::path::PathBuf;

use agree_schema::ExperimentDir;
use agree_sql::synthetic_run::SyntheticRun;
use agree_sql::{AnalysisOptions, OutputFormat, analyze, open_session, run_query, write_batches};
use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use indicatif::ProgressBar;

async fn small_run() -> (tempfile::TempDir, ExperimentDir) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ExperimentDir::new(tmp.path());
    let run = SyntheticRun {
        archs: vec!["cnn".into()],
        networks: 3,
        epochs: 5,
        n_test: 100,
        n_train: 200,
        seed: 7,
    };
    run.write(&dir).unwrap();
    let options = AnalysisOptions {
        bootstrap_replicates: 20,
        ..AnalysisOptions::default()
    };
    analyze(&dir, &options, &ProgressBar::hidden()).await.unwrap();
    (tmp, dir)
}

fn query_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("queries").join(name);
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn example_queries_run_and_agree_with_the_results() {
    let (_tmp, dir) = small_run().await;
    let session = open_session(&dir, None).await.unwrap();
    for name in [
        "agreement_per_epoch.sql",
        "earliest_learned_per_class.sql",
        "entropy_learned_vs_not.sql",
        "strongest_correlations.sql",
        "difficulty_order_per_class.sql",
    ] {
        let (_, batches) = run_query(&session.ctx, &query_file(name))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert!(rows > 0, "{name} returned nothing");
    }
    // The ad-hoc agreement equals the analysis' agreement, epoch by epoch.
    let sql = format!(
        "WITH adhoc AS ({}) SELECT max(abs(a.agreement - r.agreement)) AS d, count(*) AS n FROM adhoc a \
         JOIN agreement r ON r.group_name = a.arch AND r.split = a.split AND r.epoch = a.epoch",
        query_file("agreement_per_epoch.sql").replace("ORDER BY arch, split, epoch", "")
    );
    let (_, batches) = run_query(&session.ctx, &sql).await.unwrap();
    let d = batches[0].column(0).as_primitive::<Float64Type>().value(0);
    assert!(d < 1e-12, "{d}");
    // 2 splits × 5 epochs.
    assert_eq!(
        batches[0]
            .column(1)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0),
        10
    );
}

#[tokio::test]
async fn output_formats() {
    let (tmp, dir) = small_run().await;
    let session = open_session(&dir, None).await.unwrap();
    let (schema, batches) = run_query(
        &session.ctx,
        "SELECT group_name, epoch, round(agreement, 4) AS agreement FROM agreement WHERE split = 'test' ORDER BY epoch LIMIT 2",
    )
    .await
    .unwrap();
    let mut text = Vec::new();
    write_batches(OutputFormat::Table, &schema, &batches, &mut text, None).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("| group_name |") && text.contains("2 rows"), "{text}");
    let mut csv = Vec::new();
    write_batches(OutputFormat::Csv, &schema, &batches, &mut csv, None).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(csv.lines().next(), Some("group_name,epoch,agreement"));
    assert_eq!(csv.lines().count(), 3);
    let mut json = Vec::new();
    write_batches(OutputFormat::Json, &schema, &batches, &mut json, None).unwrap();
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8(json).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(first["group_name"], "cnn");
    assert_eq!(first["epoch"], 1);
    let out = tmp.path().join("q.parquet");
    write_batches(
        OutputFormat::Parquet,
        &schema,
        &batches,
        &mut std::io::sink(),
        Some(&out),
    )
    .unwrap();
    let (read_schema, read) = agree_schema::read_table(&out).unwrap();
    assert_eq!(read.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    assert_eq!(
        read_schema.field_with_name("group_name").unwrap().data_type(),
        &DataType::Utf8
    );

    // --schema lists every table with its columns.
    let (_, batches) = agree_sql::describe_tables(&session.ctx).await.unwrap();
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let tables = arrow::compute::cast(all.column(0), &DataType::Utf8).unwrap();
    let tables: std::collections::BTreeSet<&str> = tables.as_string::<i32>().iter().flatten().collect();
    for t in [
        "predictions",
        "samples",
        "stats",
        "attributes",
        "runs",
        "agreement",
        "learning_order",
        "statistic_values",
    ] {
        assert!(tables.contains(t), "{t} missing from {tables:?}");
    }
}

#[tokio::test]
async fn writes_are_refused() {
    let (_tmp, dir) = small_run().await;
    let session = open_session(&dir, None).await.unwrap();
    for sql in [
        "INSERT INTO agreement SELECT * FROM agreement",
        "DROP TABLE stats",
        "CREATE VIEW v AS SELECT 1",
        "COPY agreement TO '/tmp/x.csv'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let err = run_query(&session.ctx, sql).await.unwrap_err();
        assert!(err.to_string().starts_with("refused:"), "{sql}: {err}");
    }
    let err = run_query(&session.ctx, "SELECT agreement FROM agreement WHERE nope > 1")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("nope") && err.to_string().contains("line 1, column 39"),
        "{err}"
    );
}

/// Rewrites a prediction file as one written before `logit_margin` and `el2n`.
fn drop_score_columns(path: &std::path::Path) {
    let (schema, batches) = agree_schema::read_table(path).unwrap();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| !["logit_margin", "el2n"].contains(&schema.field(i).name().as_str()))
        .collect();
    let old = std::sync::Arc::new(schema.project(&keep).unwrap());
    let mut writer = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), old, None).unwrap();
    for b in &batches {
        writer.write(&b.project(&keep).unwrap()).unwrap();
    }
    writer.close().unwrap();
}

/// Prediction files written before `logit_margin` and `el2n` existed (the contract's
/// optional columns) still analyse and read those columns as nulls; a folder mixing
/// old and new files reads both; when no file has them the analysis says so once,
/// and the scores made of them are null.
#[tokio::test]
async fn prediction_files_without_the_later_score_columns_read_them_as_nulls() {
    let (_tmp, dir) = small_run().await;
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.predictions_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    let files =
        |run: &PathBuf| -> Vec<PathBuf> { std::fs::read_dir(run).unwrap().map(|f| f.unwrap().path()).collect() };
    // Every file of the first network keeps the new columns.
    for run in &runs[1..] {
        files(run).iter().for_each(|p| drop_score_columns(p));
    }
    let options = AnalysisOptions {
        bootstrap_replicates: 20,
        ..AnalysisOptions::default()
    };
    let report = analyze(&dir, &options, &ProgressBar::hidden()).await.unwrap();
    assert!(
        !report.notes.iter().any(|n| n.contains("logit_margin")),
        "{:?}",
        report.notes
    );
    let session = open_session(&dir, None).await.unwrap();
    let sql = "SELECT run_id, count(logit_margin) AS m, count(el2n) AS e, count(*) AS n FROM predictions \
               GROUP BY run_id ORDER BY run_id";
    let (_, batches) = run_query(&session.ctx, sql).await.unwrap();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let counts = |c: usize| -> Vec<i64> {
        batch
            .column(c)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .to_vec()
    };
    let (m, e, n) = (counts(1), counts(2), counts(3));
    assert_eq!(m.len(), 3);
    assert_eq!(
        (m[0], e[0]),
        (n[0], n[0]),
        "the first network's files keep both columns"
    );
    assert_eq!(&m[1..], &[0, 0], "older files read logit_margin as nulls");
    assert_eq!(&e[1..], &[0, 0], "older files read el2n as nulls");

    files(&runs[0]).iter().for_each(|p| drop_score_columns(p));
    let report = analyze(&dir, &options, &ProgressBar::hidden()).await.unwrap();
    let said: Vec<&String> = report.notes.iter().filter(|n| n.contains("logit_margin")).collect();
    assert_eq!(said.len(), 1, "{:?}", report.notes);
    assert!(said[0].contains("`el2n`") && said[0].contains("aum"), "{}", said[0]);
    let session = open_session(&dir, None).await.unwrap();
    let sql = "SELECT count(aum) AS a, count(el2n) AS e, count(cumulative_accuracy) AS c FROM sample_dynamics";
    let (_, batches) = run_query(&session.ctx, sql).await.unwrap();
    let get = |c: usize| {
        batches[0]
            .column(c)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .value(0)
    };
    assert_eq!((get(0), get(1)), (0, 0), "aum and el2n without their columns");
    assert_eq!(
        get(2),
        300,
        "every one of the 200 train and 100 test samples has the other scores"
    );
}
