//! Work split across processes (`--shard I/N`) gives the tables of one unsplit run:
//! two training shards started together into one directory write the predictions,
//! epochs and runs of one unsharded training (deterministic mode; wall-clock columns
//! aside) and `agree analyze` on it writes the same result tables; two shards of
//! `agree stats` write the rows of one run. Older directories' single `epochs.parquet`
//! and `runs.parquet` still read as the same tables, and training moves them into
//! per-network files. Bad shard specs and shards of different N are clear errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use agree_schema::{CheckedTable, ExperimentDir, Table, TableWriter, read_table};
use arrow::array::RecordBatch;
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};

/// Columns that measure the run (time, speed) rather than its result.
const WALL_CLOCK: [&str; 4] = ["images_per_s", "wall_s", "started_at", "updated_at"];

const TRAIN: [&str; 16] = [
    "--arch",
    "lenet5,resnet-cifar-8",
    "--networks",
    "3",
    "--epochs",
    "2",
    "--batch-size",
    "32",
    "--lr",
    "0.05",
    "--device",
    "cpu",
    "--threads",
    "1",
    "--deterministic",
    "--quiet",
];

fn agree(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agree"));
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn succeed(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run(args: &[&str]) -> Output {
    succeed(agree(args).output().unwrap(), &format!("agree {}", args.join(" ")))
}

/// Runs each argument list as its own process, all at once, and waits for them all.
fn run_together(runs: &[Vec<&str>]) {
    let children: Vec<_> = runs.iter().map(|args| (args, agree(args).spawn().unwrap())).collect();
    for (args, child) in children {
        succeed(child.wait_with_output().unwrap(), &format!("agree {}", args.join(" ")));
    }
}

/// The stderr of a run that must fail.
fn fail(args: &[&str]) -> String {
    let out = agree(args).output().unwrap();
    assert!(!out.status.success(), "agree {} succeeded", args.join(" "));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ingest(exp: &Path) {
    let exp = exp.to_str().unwrap();
    run(&[
        "ingest",
        "synthetic",
        "--out",
        exp,
        "--seed",
        "3",
        "--train",
        "96",
        "--test",
        "48",
        "--size",
        "32",
        "--quiet",
    ]);
}

fn with<'a>(head: &[&'a str], tail: &[&'a str]) -> Vec<&'a str> {
    head.iter().chain(tail).copied().collect()
}

/// All rows of a table, without the wall-clock columns and without metadata,
/// sorted by `keys`.
fn rows(t: &CheckedTable, keys: &[&str]) -> RecordBatch {
    let all = concat_batches(t.schema(), t.batches()).unwrap();
    let keep: Vec<usize> = (0..all.num_columns())
        .filter(|&i| !WALL_CLOCK.contains(&all.schema().field(i).name().as_str()))
        .collect();
    let all = all.project(&keep).unwrap();
    let sort: Vec<SortColumn> = keys
        .iter()
        .map(|k| SortColumn {
            values: all.column_by_name(k).unwrap().clone(),
            options: None,
        })
        .collect();
    let sorted = take_record_batch(&all, &lexsort_to_indices(&sort, None).unwrap()).unwrap();
    let schema = std::sync::Arc::new(sorted.schema().as_ref().clone().with_metadata(Default::default()));
    RecordBatch::try_new(schema, sorted.columns().to_vec()).unwrap()
}

fn table_rows(dir: &ExperimentDir, table: Table, keys: &[&str]) -> RecordBatch {
    let t = CheckedTable::read_in(dir, table)
        .unwrap()
        .unwrap_or_else(|| panic!("no `{table}` in {}", dir.root().display()));
    rows(&t, keys)
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.is_file() {
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

/// A Parquet file's rows without its metadata.
fn file_rows(path: &Path) -> RecordBatch {
    let (schema, batches) = read_table(path).unwrap();
    let all = concat_batches(&schema, &batches).unwrap();
    let schema = std::sync::Arc::new(schema.as_ref().clone().with_metadata(Default::default()));
    RecordBatch::try_new(schema, all.columns().to_vec()).unwrap()
}

/// Rewrites the per-network `epochs/` and `runs/` of `dir` as the single
/// `epochs.parquet` and `runs.parquet` of directories written before them.
fn to_single_files(dir: &ExperimentDir) {
    for table in [Table::Epochs, Table::Runs] {
        let t = CheckedTable::read_in(dir, table).unwrap().unwrap();
        let c = table.contract();
        let mut w = TableWriter::create(dir.single_run_table(table), c, c.schema()).unwrap();
        for b in t.batches() {
            w.write(&c.conform(b).unwrap()).unwrap();
        }
        w.finish().unwrap();
        std::fs::remove_dir_all(dir.table(table)).unwrap();
    }
}

fn sql_csv(dir: &Path, query: &str) -> String {
    let out = run(&["sql", dir.to_str().unwrap(), query, "--format", "csv"]);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn two_shards_fill_one_directory_as_one_unsharded_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (whole, split) = (tmp.path().join("whole"), tmp.path().join("split"));
    ingest(&whole);
    ingest(&split);
    let (w, s) = (whole.to_str().unwrap(), split.to_str().unwrap());

    // Statistics: one run against two shards at once.
    run(&["stats", w, "--quiet"]);
    run_together(&[
        vec!["stats", s, "--shard", "0/2", "--quiet"],
        vec!["stats", s, "--shard", "1/2", "--quiet"],
    ]);
    let (we, se) = (ExperimentDir::new(&whole), ExperimentDir::new(&split));
    assert!(we.stats().is_file() && !we.shards_dir(Table::Stats).exists());
    assert!(!se.stats().exists() && !se.spectra().exists());
    for table in [Table::Stats, Table::Spectra] {
        let parts: Vec<PathBuf> = files_under(&se.shards_dir(table));
        assert_eq!(
            parts,
            [
                PathBuf::from("part-0-of-2.parquet"),
                PathBuf::from("part-1-of-2.parquet")
            ],
            "{table}"
        );
        let (a, b) = (
            table_rows(&we, table, &["sample_id"]),
            table_rows(&se, table, &["sample_id"]),
        );
        assert_eq!(a.num_rows(), 144, "{table}");
        assert_eq!(a, b, "{table}: the shards differ from one run");
    }
    // Each shard holds the samples with sample_id mod 2 = its index.
    let part = CheckedTable::read(&se.shard_table(Table::Stats, "1/2".parse().unwrap()), Table::Stats).unwrap();
    let ids = part.req_i64s("sample_id").unwrap();
    assert_eq!(ids.len(), 72);
    assert!(ids.iter().all(|id| id % 2 == 1));

    // Training: one run against two shards into one directory at once.
    run(&with(&["train", w], &TRAIN));
    run_together(&[
        with(&["train", s, "--shard", "0/2"], &TRAIN),
        with(&["train", s, "--shard", "1/2"], &TRAIN),
    ]);
    let predictions: Vec<PathBuf> = files_under(&we.predictions_dir());
    assert_eq!(predictions.len(), 2 * 3 * 2 + 1, "{predictions:?}"); // + dataset.json
    assert_eq!(predictions, files_under(&se.predictions_dir()));
    for file in predictions
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
    {
        assert_eq!(
            file_rows(&we.predictions_dir().join(file)),
            file_rows(&se.predictions_dir().join(file)),
            "{}",
            file.display()
        );
    }
    let epochs = table_rows(&we, Table::Epochs, &["run_id", "epoch"]);
    assert_eq!(epochs.num_rows(), 2 * 3 * 2);
    assert_eq!(epochs, table_rows(&se, Table::Epochs, &["run_id", "epoch"]));
    let runs = table_rows(&we, Table::Runs, &["run_id"]);
    assert_eq!(runs.num_rows(), 6);
    assert_eq!(runs, table_rows(&se, Table::Runs, &["run_id"]));
    assert_eq!(
        files_under(&se.table(Table::Runs)).len(),
        6,
        "one runs file per network"
    );

    // The analysis of the split directory is the analysis of the whole one.
    for dir in [w, s] {
        run(&["analyze", dir, "--bins", "3", "--bootstrap", "20", "--quiet"]);
    }
    let results = files_under(&we.results_dir());
    assert!(results.len() >= 8, "{results:?}");
    assert_eq!(results, files_under(&se.results_dir()));
    for file in &results {
        assert_eq!(
            file_rows(&we.results_dir().join(file)),
            file_rows(&se.results_dir().join(file)),
            "results/{}",
            file.display()
        );
    }
    // `agree sql` sees each as one table.
    let count = "SELECT count(*) AS n FROM epochs";
    assert_eq!(sql_csv(&split, count), "n\n12\n");
    assert_eq!(sql_csv(&split, "SELECT count(*) AS n FROM stats"), "n\n144\n");
    let listed = "SELECT run_id, epoch, train_accuracy FROM epochs ORDER BY 1, 2";
    let per_network = sql_csv(&split, listed);

    // An older directory's single files read as the same tables ...
    to_single_files(&we);
    assert!(we.single_run_table(Table::Epochs).is_file() && !we.table(Table::Epochs).exists());
    assert_eq!(sql_csv(&whole, listed), per_network);
    assert_eq!(epochs, table_rows(&we, Table::Epochs, &["run_id", "epoch"]));
    run(&["analyze", w, "--bins", "3", "--bootstrap", "20", "--quiet"]);
    for file in &results {
        assert_eq!(
            file_rows(&we.results_dir().join(file)),
            file_rows(&se.results_dir().join(file)),
            "results/{} from single files",
            file.display()
        );
    }
    // ... and a run in both layouts is refused, naming both files.
    std::fs::create_dir_all(we.table(Table::Runs)).unwrap();
    std::fs::copy(
        se.run_table(Table::Runs, "lenet5-s1"),
        we.run_table(Table::Runs, "lenet5-s1"),
    )
    .unwrap();
    let err = fail(&["sql", w, "SELECT count(*) FROM runs"]);
    assert!(
        err.contains("runs.parquet") && err.contains("run `lenet5-s1`") && err.contains("runs/lenet5-s1.parquet"),
        "{err}"
    );
    // Training (here: one shard, whose networks are finished) moves the single
    // files' rows into per-network files, keeping the newer file it finds.
    run(&with(&["train", w, "--shard", "1/3"], &TRAIN));
    assert!(!we.single_run_table(Table::Epochs).exists() && !we.single_run_table(Table::Runs).exists());
    assert_eq!(files_under(&we.table(Table::Epochs)).len(), 6);
    assert_eq!(epochs, table_rows(&we, Table::Epochs, &["run_id", "epoch"]));
    assert_eq!(runs, table_rows(&we, Table::Runs, &["run_id"]));

    // Shards of another N beside these are refused before anything is computed.
    let err = fail(&["stats", s, "--shard", "0/3", "--quiet"]);
    assert!(
        err.contains("part-0-of-2.parquet") && err.contains("part-0-of-3.parquet"),
        "{err}"
    );
    assert!(!se.shard_table(Table::Stats, "0/3".parse().unwrap()).exists());
    // An unsharded run replaces the shards.
    run(&["stats", s, "--quiet"]);
    assert!(se.stats().is_file() && !se.shards_dir(Table::Stats).exists() && !se.shards_dir(Table::Spectra).exists());
    assert_eq!(
        table_rows(&we, Table::Stats, &["sample_id"]),
        table_rows(&se, Table::Stats, &["sample_id"])
    );
}

#[test]
fn bad_shard_specs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    let e = exp.to_str().unwrap();
    for (spec, why) in [
        ("2/2", "I must be below N"),
        ("1/0", "N (the number of shards) must be at least 1"),
        ("a/b", "expected I/N"),
    ] {
        for stage in ["train", "stats"] {
            let err = fail(&[stage, e, "--shard", spec]);
            assert!(
                err.contains("--shard") && err.contains(spec) && err.contains(why),
                "{stage} {spec}: {err}"
            );
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    assert!(!exp.exists(), "nothing written");
    // Several devices: a device listed twice is refused when parsed.
    let err = fail(&["train", e, "--device", "cuda:0,cuda:0"]);
    assert!(err.contains("--device") && err.contains("twice"), "{err}");
}
