//! `--memory-limit`: a query whose sort does not fit spills to disk and returns
//! the rows an unlimited one does; an analysis under a limit too small for a
//! step is an error naming the step and the limit — and leaves the previous
//! results whole.

use std::path::Path;

use agree_schema::{ExperimentDir, read_table};
use agree_sql::synthetic_run::SyntheticRun;
use agree_sql::{AnalysisOptions, SessionSettings, SqlError, analyze, open_session_with, run_query};
use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use indicatif::ProgressBar;

fn experiment(dir: &Path) -> ExperimentDir {
    let dir = ExperimentDir::new(dir);
    SyntheticRun {
        archs: vec!["a".into(), "b".into()],
        networks: 2,
        epochs: 4,
        n_test: 4_000,
        n_train: 8_000,
        seed: 11,
    }
    .write(&dir)
    .unwrap();
    dir
}

fn analyse(dir: &ExperimentDir, memory_limit: Option<u64>, spill: &Path) -> Result<(), SqlError> {
    analyse_with(dir, memory_limit, None, spill, false)
}

fn analyse_with(
    dir: &ExperimentDir,
    memory_limit: Option<u64>,
    step_table_memory: Option<u64>,
    spill: &Path,
    sort_merge_joins: bool,
) -> Result<(), SqlError> {
    let options = AnalysisOptions {
        bootstrap_replicates: 20,
        session: SessionSettings {
            memory_limit,
            spill_dir: Some(spill.to_path_buf()),
            sort_merge_joins,
            ..SessionSettings::default()
        },
        step_table_memory,
        ..AnalysisOptions::default()
    };
    agree_sql::block_on(analyze(dir, &options, &ProgressBar::hidden()))
        .unwrap()
        .map(|_| ())
}

/// Every result table's rows (metadata aside: the analysis id names the settings).
fn results(dir: &ExperimentDir) -> Vec<(String, RecordBatch)> {
    let mut tables: Vec<(String, RecordBatch)> = std::fs::read_dir(dir.results_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|path| {
            let (schema, batches) = read_table(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, concat_batches(&schema, &batches).unwrap())
        })
        .collect();
    tables.sort_by(|a, b| a.0.cmp(&b.0));
    tables
}

/// A sort over every prediction row, ordered by a unique key so the result is one.
const SORT: &str = "SELECT run_id, epoch, split, sample_id, p_label FROM predictions \
                    ORDER BY p_label DESC, run_id, epoch, split, sample_id";

fn query(dir: &ExperimentDir, settings: &SessionSettings, sql: &str) -> Result<Vec<RecordBatch>, SqlError> {
    agree_sql::block_on(async {
        let session = open_session_with(dir, None, settings).await?;
        run_query(&session.ctx, sql).await.map(|(_, batches)| batches)
    })
    .unwrap()
}

#[test]
fn a_query_over_the_limit_spills_and_gives_the_same_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = experiment(&tmp.path().join("exp"));
    let unlimited = query(&dir, &SessionSettings::default(), SORT).unwrap();
    let limited = SessionSettings {
        memory_limit: Some(16 << 20),
        spill_dir: Some(tmp.path().join("spill")),
        ..SessionSettings::default()
    };
    // The sort of ~190 k rows does not fit in 16 MiB: it must have spilled.
    let explain = query(&dir, &limited, &format!("EXPLAIN ANALYZE {SORT}")).unwrap();
    let plan = arrow::util::pretty::pretty_format_batches(&explain)
        .unwrap()
        .to_string();
    let spills: Vec<u64> = plan
        .split("spill_count=")
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .collect();
    assert!(spills.iter().any(|&n| n > 0), "no spill under 16 MiB:\n{plan}");
    let rows = query(&dir, &limited, SORT).unwrap();
    let schema = unlimited[0].schema();
    assert_eq!(
        concat_batches(&schema, &rows).unwrap(),
        concat_batches(&schema, &unlimited).unwrap(),
        "the spilled sort differs"
    );
}

#[test]
fn a_limit_too_small_names_the_step_and_keeps_the_old_results() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = experiment(&tmp.path().join("exp"));
    let spill = tmp.path().join("spill");
    analyse(&dir, None, &spill).unwrap();
    let before = results(&dir);

    let err = analyse(&dir, Some(64 << 10), &spill).expect_err("64 KiB cannot hold a hash table");
    let SqlError::MemoryLimit { step, limit, .. } = &err else {
        panic!("not a memory error: {err}");
    };
    // A step of the analysis: a SQL file, or one of the statistics' two forms it computes first.
    assert!(
        step.ends_with(".sql") || ["statistic_values", "statistic_wide", "statistic_buckets"].contains(&step.as_str()),
        "{step}"
    );
    assert_eq!(limit, "64.0 KiB");
    let text = err.to_string();
    assert!(text.contains("--memory-limit 64.0 KiB"), "{text}");
    assert_eq!(results(&dir), before, "a failed analysis changed results/");
}

#[test]
fn step_tables_on_disk_give_the_results_of_step_tables_in_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = experiment(&tmp.path().join("exp"));
    let spill = tmp.path().join("spill");
    analyse(&dir, None, &spill).unwrap();
    let in_memory = results(&dir);
    // No step table may stay in memory: every one goes through a Parquet file.
    analyse_with(&dir, Some(1 << 30), Some(0), &spill, false).unwrap();
    assert_eq!(
        results(&dir),
        in_memory,
        "step tables read back from Parquet changed a result"
    );
    let left: Vec<String> = std::fs::read_dir(dir.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "the analysis left {left:?} in the experiment folder");
}

/// The joins an analysis falls back to when a hash join runs out of memory
/// (sort-merge joins, which spill) give every result table the rows hash joins give.
#[test]
fn sort_merge_joins_give_the_results_of_hash_joins() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = experiment(&tmp.path().join("exp"));
    let spill = tmp.path().join("spill");
    analyse(&dir, None, &spill).unwrap();
    let hashed = results(&dir);
    let plan = query(
        &dir,
        &SessionSettings {
            sort_merge_joins: true,
            ..SessionSettings::default()
        },
        "EXPLAIN SELECT count(*) FROM predictions AS p JOIN samples AS s ON s.sample_id = p.sample_id",
    )
    .unwrap();
    let plan = arrow::util::pretty::pretty_format_batches(&plan).unwrap().to_string();
    assert!(plan.contains("SortMergeJoin"), "no sort-merge join planned:\n{plan}");
    analyse_with(&dir, None, None, &spill, true).unwrap();
    let merged = results(&dir);
    assert_eq!(merged.len(), hashed.len());
    for ((name, a), (_, b)) in hashed.iter().zip(&merged) {
        assert_eq!(a, b, "results/{name} differs with sort-merge joins");
    }
}
