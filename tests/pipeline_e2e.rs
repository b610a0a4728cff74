//! End to end through the `agree` binary: a tiny quickstart runs every stage, every
//! table follows its contract, the science holds on the synthetic data (agreement
//! never below its lower bound; the latent difficulty predicts learning order), a
//! second run is a no-op, and a lost epoch of predictions makes training resume.

use std::{path::Path, process::Command};

use agree_schema::{Table, read_table};
use arrow::{
    array::{AsArray, RecordBatch},
    compute::concat_batches,
    datatypes::{DataType, Float64Type, Int32Type},
};

const TINY: &str = r#"
[pipeline]
name = "tiny"

[ingest]
format = "synthetic"
seed = 5
train = 1500
test = 400
size = 32

[stats]

[train]
arch = ["lenet5"]
networks = 3
epochs = 4
batch_size = 64
lr = 0.05
device = "cpu"
deterministic = true

[analyze]
bins = 4
bootstrap = 100

[report]
"#;

fn agree(args: &[&str], dir: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_agree"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "agree {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// One table: a file, or a folder of one file per network (`epochs/`, `runs/`).
fn load(path: &Path) -> RecordBatch {
    let files = if path.is_dir() {
        let f = agree_schema::table_files::parquet_files(path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!f.is_empty(), "{} holds no table file", path.display());
        f
    } else {
        vec![path.to_path_buf()]
    };
    let mut schema = None;
    let mut all = Vec::new();
    for f in files {
        let (s, batches) = read_table(&f).unwrap_or_else(|e| panic!("{e}"));
        schema.get_or_insert(s);
        all.extend(batches);
    }
    concat_batches(&schema.unwrap(), &all).unwrap()
}

fn f64s(b: &RecordBatch, col: &str) -> Vec<Option<f64>> {
    let c = arrow::compute::cast(b.column_by_name(col).unwrap(), &DataType::Float64).unwrap();
    c.as_primitive::<Float64Type>().iter().collect()
}

fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s[0].as_str().unwrap().to_string(),
                s[1]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn tiny_quickstart_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tiny.toml"), TINY).unwrap();
    let run = || {
        agree(
            &["pipeline", "--config", "tiny.toml", "--out", "exp", "--json"],
            tmp.path(),
        )
    };
    let first = run();
    assert!(statuses(&first).iter().all(|(_, s)| s == "ran"), "{first}");
    let dir = tmp.path().join("exp");

    // Every table exists and follows its contract (all but the ingest tables the synthetic
    // data has none of, and the predictions, one file per run and epoch, checked below).
    for table in Table::ALL
        .into_iter()
        .filter(|t| !matches!(t, Table::Rejects | Table::Scores | Table::Predictions))
    {
        let c = table.contract();
        let b = load(&dir.join(&c.file));
        c.check(&b.schema()).unwrap_or_else(|e| panic!("{e}"));
        assert!(b.num_rows() > 0, "{table} is empty");
    }
    let pred_dir = dir.join("predictions");
    let mut pred_files = Vec::new();
    // One folder per run; `predictions/dataset.json` stamps the data they were made on.
    for run in std::fs::read_dir(&pred_dir).unwrap() {
        let run = run.unwrap().path();
        if !run.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(run).unwrap() {
            pred_files.push(f.unwrap().path());
        }
    }
    assert_eq!(pred_files.len(), 3 * 4, "networks × epochs files");
    for f in &pred_files {
        let b = load(f);
        Table::Predictions.contract().check(&b.schema()).unwrap();
        assert_eq!(b.num_rows(), 1500 + 400, "one row per sample and split");
    }

    let page = std::fs::read_to_string(dir.join("report/index.html")).unwrap();
    assert!(page.contains("data:image/png;base64"), "the report inlines its figures");
    assert_eq!(
        first["summary"]["report"]
            .as_str()
            .map(|p| p.ends_with("report/index.html")),
        Some(true)
    );

    // Agreement is never below its lower bound.
    let a = load(&dir.join("results/agreement.parquet"));
    for (agreement, bound) in f64s(&a, "agreement").into_iter().zip(f64s(&a, "lower_bound")) {
        assert!(
            agreement.unwrap() + 1e-12 >= bound.unwrap(),
            "{agreement:?} < {bound:?}"
        );
    }
    let epochs = a.column_by_name("epoch").unwrap().as_primitive::<Int32Type>();
    assert_eq!(epochs.iter().flatten().max(), Some(4));

    // The latent difficulty orders learning: positive Spearman ρ, CI excluding 0.
    let c = load(&dir.join("results/statistic_correlation.parquet"));
    let stat = c.column_by_name("statistic").unwrap().as_string::<i32>();
    let split = c.column_by_name("split").unwrap().as_string::<i32>();
    let (rho, lo) = (f64s(&c, "spearman_rho"), f64s(&c, "spearman_ci_low"));
    let row = (0..c.num_rows())
        .find(|&i| stat.value(i).ends_with("difficulty") && split.value(i) == "test")
        .expect("difficulty is discovered as a statistic");
    assert!(
        rho[row].unwrap() > 0.0 && lo[row].unwrap() > 0.0,
        "rho {:?} CI low {:?}",
        rho[row],
        lo[row]
    );

    // A second run is a no-op.
    let second = run();
    assert!(statuses(&second).iter().all(|(_, s)| s == "skipped"), "{second}");

    // Losing the last epoch of one network's predictions makes exactly training resume.
    let lost = pred_dir.join("lenet5-s1/epoch=4.parquet");
    let kept = pred_dir.join("lenet5-s1/epoch=3.parquet");
    let before = (std::fs::read(&lost).unwrap(), mtime(&kept));
    std::fs::remove_file(&lost).unwrap();
    let third = run();
    let st = statuses(&third);
    assert_eq!(st[0], ("ingest".into(), "skipped".into()));
    assert_eq!(st[1], ("stats".into(), "skipped".into()));
    assert_eq!(st[2], ("train".into(), "ran".into()));
    assert!(lost.exists(), "the lost epoch is written again");
    assert_eq!(mtime(&kept), before.1, "earlier epochs are not retrained");
    assert_eq!(
        load(&lost),
        {
            let tmp2 = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(tmp2.path(), &before.0).unwrap();
            load(tmp2.path())
        },
        "deterministic resume reproduces the lost predictions"
    );
}
