//! SQL-stage benchmark: `agree analyze` and the ad-hoc "agreement per epoch" query
//! on a generated run of 5 networks × 60 epochs × 60,000 samples (both splits,
//! 18 M prediction rows) with 22 stats columns and one attribute, side by side
//! with DuckDB running the same SQL files on the same Parquet files.
//!
//! `cargo bench --bench sql` (needs `.venv/bin/pip install duckdb`). The generated
//! run is cached under target/bench-data/. AGREE_BENCH_SQL_SMALL=1 uses a run 10×
//! smaller for a quick look. Peak memory is the process's VmHWM, reset before the
//! analysis.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use agree_schema::ExperimentDir;
use agree_sql::synthetic_run::SyntheticRun;
use agree_sql::{
    AnalysisOptions, ProgressBar, analysis_steps, block_on, expand_each_statistic, open_session, run_query,
    statistic_index_sql, statistic_values_sql, statistic_wide_sql,
};

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

fn reset_peak_rss() {
    // Linux: writing 5 to clear_refs resets VmHWM to the current RSS.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn generate(root: &Path, small: bool) -> PathBuf {
    let run = if small {
        SyntheticRun {
            archs: vec!["resnet18".into()],
            networks: 5,
            epochs: 60,
            n_test: 1000,
            n_train: 5000,
            seed: 1,
        }
    } else {
        SyntheticRun {
            archs: vec!["resnet18".into()],
            networks: 5,
            epochs: 60,
            n_test: 10_000,
            n_train: 50_000,
            seed: 1,
        }
    };
    let name = format!("sql-{}x{}x{}", run.networks, run.epochs, run.n_test + run.n_train);
    let path = root.join("target/bench-data").join(name);
    // Versioned: a run cached by an older generator (one whose manifest.json the
    // typed reader refuses) is generated again.
    let done = path.join(".complete-v2");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&path);
        let start = Instant::now();
        run.write(&ExperimentDir::new(&path)).expect("generating the run");
        std::fs::write(&done, "").expect("marker");
        println!("generated {} in {:.1} s", path.display(), start.elapsed().as_secs_f64());
    }
    path
}

/// agree's side: the whole analysis once (it takes seconds), then the query best of 3.
struct Ours {
    report: agree_sql::AnalysisReport,
    total_s: f64,
    peak_mib: f64,
    query_s: f64,
}

fn measure_ours(dir: &ExperimentDir, query: &str, options: &AnalysisOptions) -> Ours {
    reset_peak_rss();
    let start = Instant::now();
    let report = block_on(agree_sql::analyze(dir, options, &ProgressBar::hidden()))
        .expect("runtime")
        .expect("agree analyze");
    let total_s = start.elapsed().as_secs_f64();
    let peak_mib = peak_rss_mib();
    let mut query_s = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        let rows = block_on(async {
            let session = open_session(dir, None).await?;
            let (_, batches) = run_query(&session.ctx, query).await?;
            Ok::<usize, agree_sql::SqlError>(batches.iter().map(|b| b.num_rows()).sum())
        })
        .expect("runtime")
        .expect("agreement query");
        assert_eq!(rows, 120, "1 architecture × 2 splits × 60 epochs");
        query_s = query_s.min(start.elapsed().as_secs_f64());
    }
    Ours {
        report,
        total_s,
        peak_mib,
        query_s,
    }
}

/// DuckDB's side: the same SQL files, expanded for the same statistics, on the same
/// Parquet; the peer script prints its timings as JSON.
fn measure_duckdb(root: &Path, data: &Path, query_path: &Path) -> serde_json::Value {
    let dir = ExperimentDir::new(data);
    let statistics = block_on(async { open_session(&dir, None).await.map(|s| s.statistics) })
        .expect("runtime")
        .expect("session");
    let peer_dir = tempfile::tempdir().expect("temporary directory");
    let sql_dir = peer_dir.path().join("sql");
    std::fs::create_dir_all(&sql_dir).expect("peer sql folder");
    let write =
        |name: &str, sql: String| std::fs::write(sql_dir.join(format!("{name}.sql")), sql).expect("writing SQL");
    write("statistic_values", statistic_values_sql(&statistics));
    write("statistic_wide", statistic_wide_sql(&statistics));
    write("statistic_index", statistic_index_sql(&statistics));
    let mut steps = Vec::new();
    for step in analysis_steps().expect("step manifest") {
        write(
            &step.name,
            expand_each_statistic(step.sql, &statistics).expect("expanding the analysis SQL"),
        );
        steps.push(serde_json::json!({"name": step.name, "result": step.result.is_some()}));
    }
    std::fs::write(sql_dir.join("steps.json"), serde_json::Value::Array(steps).to_string()).expect("steps.json");
    let output = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("benches/python/sql_duckdb.py"))
        .arg(data)
        .arg(&sql_dir)
        .arg(query_path)
        .arg(peer_dir.path().join("results"))
        .output()
        .expect("running the DuckDB peer (.venv/bin/pip install duckdb)");
    assert!(
        output.status.success(),
        "DuckDB peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("peer JSON")
}

/// The side-by-side table: each step, the analysis, the query, memory.
fn print_comparison(data: &Path, rows: usize, ours: &Ours, peer: &serde_json::Value, options: &AnalysisOptions) {
    let f = |key: &str| peer[key].as_f64().unwrap_or(f64::NAN);
    let report = &ours.report;
    let correlation = report
        .steps
        .iter()
        .find(|s| s.name == "statistic_correlation")
        .map_or(0.0, |s| s.seconds);
    println!(
        "SQL stage on {} ({} prediction rows, {} statistics), {} cores",
        data.display(),
        rows,
        report.statistics,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<34} {:>10} {:>10} {:>8}", "", "agree (s)", "DuckDB (s)", "ratio");
    for step in &report.steps {
        let theirs = peer["steps"][&step.name].as_f64();
        let ratio = theirs.map_or("-".to_string(), |t| format!("{:.2}", step.seconds / t));
        let theirs = theirs.map_or("-".to_string(), |t| format!("{t:.2}"));
        println!("  {:<32} {:>10.2} {:>10} {:>8}", step.name, step.seconds, theirs, ratio);
    }
    let without = ours.total_s - correlation;
    println!(
        "{:<34} {:>10.2} {:>10.2} {:>8.2}",
        "analysis without correlation",
        without,
        f("analysis_s"),
        without / f("analysis_s")
    );
    println!(
        "{:<34} {:>10.2} {:>10} {:>8}",
        "whole analysis (target ≤ 20 s)", ours.total_s, "-", "-"
    );
    println!(
        "{:<34} {:>10.2} {:>10.2} {:>8.2}",
        "agreement per epoch query (best of 3; target ≤ 2 s, ≤ 1.5× DuckDB)",
        ours.query_s,
        f("query_s"),
        ours.query_s / f("query_s")
    );
    println!(
        "peak RSS: agree analyze {:.0} MiB (target ≤ 4096), DuckDB process {:.0} MiB; DuckDB threads {}",
        ours.peak_mib,
        f("peak_rss_mib"),
        peer["threads"]
    );
    println!(
        "bootstrap replicates: {} per CI (statistic_correlation: {:.2} s)",
        options.bootstrap_replicates, correlation
    );
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let small = std::env::var_os("AGREE_BENCH_SQL_SMALL").is_some();
    let data = generate(&root, small);
    let dir = ExperimentDir::new(&data);
    let _ = std::fs::remove_dir_all(dir.results_dir());
    let query_path = root.join("crates/agree-sql/queries/agreement_per_epoch.sql");
    let query = std::fs::read_to_string(&query_path).expect("query file");
    let options = AnalysisOptions::default();
    let ours = measure_ours(&dir, &query, &options);
    let peer = measure_duckdb(&root, &data, &query_path);
    let rows: usize = 5 * 60 * if small { 6000 } else { 60_000 };
    print_comparison(&data, rows, &ours, &peer, &options);
}
