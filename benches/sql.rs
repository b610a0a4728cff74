//! SQL-stage benchmark: `agree analyze` on generated runs of 5 networks with 22
//! stats columns and one attribute, side by side with DuckDB running the same SQL
//! files on the same Parquet files, both under a 4 GiB memory limit:
//!
//! | size | epochs × samples | prediction rows |
//! |---|---|---|
//! | `18M` | 60 × 60,000 | 18 M |
//! | `60M` | 20 × 600,000 | 60 M |
//! | `120M` | 20 × 1,200,000 | 120 M |
//!
//! For each: wall time and peak RSS of agree (local engine, `--memory-limit 4GiB`)
//! and of DuckDB (`memory_limit='4GB'`), and the ad-hoc "agreement per epoch"
//! query. On the smallest size chosen, the analysis also runs on a Ballista
//! cluster of one scheduler and two executors (`agree scheduler`/`agree executor`
//! processes on this machine) against the local engine, with every process's peak.
//!
//! `cargo bench --bench sql` (needs `.venv/bin/pip install duckdb`;
//! `cargo xtask bench sql` installs it). `AGREE_BENCH_SQL_SIZES=18M,60M` picks
//! sizes (default: all three); `AGREE_BENCH_SQL_SMALL=1` runs one run 10× smaller
//! than 18M for a quick look; `AGREE_BENCH_SQL_BALLISTA=0` skips the cluster.
//! Generated runs are cached under target/bench-data/. Peak memory is VmHWM: the
//! bench process's reset before each analysis, the peer's and each executor's
//! their own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agree_schema::ExperimentDir;
use agree_sql::synthetic_run::SyntheticRun;
use agree_sql::{
    AnalysisOptions, Engine, ProgressBar, SessionSettings, analysis_steps, block_on, bucket_width,
    expand_each_statistic, open_session, open_session_with, run_query, statistic_buckets_sql, statistic_index_sql,
    statistic_table_rows, statistic_values_sql, statistic_wide_sql,
};

/// The memory limit of both engines.
const LIMIT: u64 = 4 << 30;

/// One benchmarked run shape.
struct Size {
    name: &'static str,
    epochs: i32,
    samples: usize,
}

const SIZES: [Size; 3] = [
    Size {
        name: "18M",
        epochs: 60,
        samples: 60_000,
    },
    Size {
        name: "60M",
        epochs: 20,
        samples: 600_000,
    },
    Size {
        name: "120M",
        epochs: 20,
        samples: 1_200_000,
    },
];

const NETWORKS: i32 = 5;

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

fn generate(root: &Path, size: &Size) -> PathBuf {
    let run = SyntheticRun {
        archs: vec!["resnet18".into()],
        networks: NETWORKS,
        epochs: size.epochs,
        n_test: size.samples / 6,
        n_train: size.samples - size.samples / 6,
        seed: 1,
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

/// agree's side: the whole analysis once, then the query best of 3.
struct Ours {
    report: agree_sql::AnalysisReport,
    total_s: f64,
    peak_mib: f64,
    query_s: f64,
}

fn measure_ours(dir: &ExperimentDir, query: &str, options: &AnalysisOptions, epochs: i32) -> Ours {
    let _ = std::fs::remove_dir_all(dir.results_dir());
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
            let session = open_session_with(dir, None, &options.session).await?;
            let (_, batches) = run_query(&session.ctx, query).await?;
            Ok::<usize, agree_sql::SqlError>(batches.iter().map(|b| b.num_rows()).sum())
        })
        .expect("runtime")
        .expect("agreement query");
        assert_eq!(rows, 2 * epochs as usize, "1 architecture × 2 splits × epochs");
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
/// Parquet, under `memory_limit='4GB'`; the peer script prints its timings as JSON.
/// `Err` carries the peer's own words when it fails (DuckDB runs out of its memory
/// limit on the larger sizes): agree's figures are still printed beside it.
fn measure_duckdb(root: &Path, data: &Path, query_path: &Path) -> Result<serde_json::Value, String> {
    let dir = ExperimentDir::new(data);
    let session = block_on(open_session(&dir, None)).expect("runtime").expect("session");
    let statistics = session.statistics;
    let width = bucket_width(statistic_table_rows(&session.tables).expect("statistic tables"));
    let peer_dir = tempfile::tempdir_in(data.parent().unwrap_or(data)).expect("temporary directory");
    let sql_dir = peer_dir.path().join("sql");
    std::fs::create_dir_all(&sql_dir).expect("peer sql folder");
    let write =
        |name: &str, sql: String| std::fs::write(sql_dir.join(format!("{name}.sql")), sql).expect("writing SQL");
    write("statistic_values", statistic_values_sql(&statistics));
    write("statistic_wide", statistic_wide_sql(&statistics));
    write("statistic_buckets", statistic_buckets_sql(&statistics, width));
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
        .arg("4GB")
        .arg(peer_dir.path().join("spill"))
        .output()
        .expect("running the DuckDB peer (.venv/bin/pip install duckdb)");
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // The last lines say what stopped it (a traceback ends in DuckDB's error).
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        return Err(lines[lines.len().saturating_sub(3)..].join(" | "));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("unreadable peer output: {e}"))
}

/// The side-by-side table of one size: each step, the analysis, the query, memory.
fn print_comparison(
    data: &Path,
    rows: usize,
    ours: &Ours,
    peer: &Result<serde_json::Value, String>,
    options: &AnalysisOptions,
) {
    let failed = serde_json::Value::Null;
    let peer = peer.as_ref().unwrap_or(&failed);
    let f = |key: &str| peer[key].as_f64().unwrap_or(f64::NAN);
    let report = &ours.report;
    let correlation_step = |name: &str| report.steps.iter().find(|s| s.name == name).map_or(0.0, |s| s.seconds);
    let (statistic_correlation, score_correlation) = (
        correlation_step("statistic_correlation"),
        correlation_step("score_correlation"),
    );
    let correlation = statistic_correlation + score_correlation;
    println!(
        "\nSQL stage on {} ({} prediction rows, {} statistics), {} cores, both under a 4 GiB limit",
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
    println!("{:<34} {:>10.2} {:>10} {:>8}", "whole analysis", ours.total_s, "-", "-");
    println!(
        "{:<34} {:>10.2} {:>10.2} {:>8.2}",
        "agreement per epoch query (best of 3)",
        ours.query_s,
        f("query_s"),
        ours.query_s / f("query_s")
    );
    println!(
        "peak RSS: agree analyze {:.0} MiB, DuckDB process {:.0} MiB (ratio {:.2}); DuckDB threads {}",
        ours.peak_mib,
        f("peak_rss_mib"),
        ours.peak_mib / f("peak_rss_mib"),
        peer["threads"]
    );
    println!(
        "bootstrap replicates: {} per CI (statistic_correlation: {:.2} s, score_correlation: {:.2} s)",
        options.bootstrap_replicates, statistic_correlation, score_correlation
    );
}

/// VmHWM of process `pid`, in MiB.
fn child_peak_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// A scheduler and two executors of `agree` on free loopback ports (killed on drop).
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    port: u16,
}

impl Cluster {
    fn start(work: &Path) -> Cluster {
        let agree = env!("CARGO_BIN_EXE_agree");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let scheduler = Command::new(agree)
            .args(["scheduler", "--bind", &format!("127.0.0.1:{port}"), "--quiet"])
            .stderr(Stdio::null())
            .spawn()
            .expect("agree scheduler");
        std::thread::sleep(Duration::from_secs(2));
        let executors = (0..2)
            .map(|i| {
                Command::new(agree)
                    .args(["executor", "--scheduler", &format!("127.0.0.1:{port}")])
                    .args(["--bind", "127.0.0.1:0", "--grpc-port", "0", "--quiet"])
                    .args(["--memory-limit", "2GiB", "--vcores", "1"])
                    .arg("--work-dir")
                    .arg(work.join(format!("executor-{i}")))
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("agree executor")
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        Cluster {
            scheduler,
            executors,
            port,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.executors.iter_mut().chain(std::iter::once(&mut self.scheduler)) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The analysis through a local Ballista cluster vs the local engine's time.
fn measure_ballista(dir: &ExperimentDir, local_s: f64) {
    let work = tempfile::tempdir().expect("executor work folder");
    let cluster = Cluster::start(work.path());
    let options = AnalysisOptions {
        session: SessionSettings {
            engine: Engine::Ballista {
                host: "127.0.0.1".into(),
                port: cluster.port,
            },
            memory_limit: Some(LIMIT),
            ..SessionSettings::default()
        },
        ..AnalysisOptions::default()
    };
    let _ = std::fs::remove_dir_all(dir.results_dir());
    reset_peak_rss();
    let start = Instant::now();
    let report = block_on(agree_sql::analyze(dir, &options, &ProgressBar::hidden()))
        .expect("runtime")
        .expect("agree analyze on Ballista");
    let total = start.elapsed().as_secs_f64();
    println!("\nBallista: 1 scheduler + 2 executors (1 vcore, 2 GiB each) on this machine");
    for step in &report.steps {
        println!("  {:<32} {:>10.2}", step.name, step.seconds);
    }
    println!(
        "analysis {total:.2} s vs local {local_s:.2} s (overhead ×{:.2}); peak RSS: client {:.0} MiB, \
         scheduler {:.0} MiB, executors {:.0} + {:.0} MiB",
        total / local_s,
        peak_rss_mib(),
        child_peak_mib(cluster.scheduler.id()),
        child_peak_mib(cluster.executors[0].id()),
        child_peak_mib(cluster.executors[1].id()),
    );
}

fn chosen_sizes() -> Vec<Size> {
    if std::env::var_os("AGREE_BENCH_SQL_SMALL").is_some() {
        return vec![Size {
            name: "1.8M",
            epochs: 60,
            samples: 6_000,
        }];
    }
    let wanted = std::env::var("AGREE_BENCH_SQL_SIZES").unwrap_or_else(|_| "18M,60M,120M".into());
    let wanted: Vec<&str> = wanted.split(',').map(str::trim).collect();
    SIZES.into_iter().filter(|s| wanted.contains(&s.name)).collect()
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let query_path = root.join("crates/agree-sql/queries/agreement_per_epoch.sql");
    let query = std::fs::read_to_string(&query_path).expect("query file");
    let options = AnalysisOptions {
        session: SessionSettings {
            memory_limit: Some(LIMIT),
            ..SessionSettings::default()
        },
        ..AnalysisOptions::default()
    };
    let ballista = std::env::var("AGREE_BENCH_SQL_BALLISTA").map_or(true, |v| v != "0");
    let mut summary = Vec::new();
    for (i, size) in chosen_sizes().iter().enumerate() {
        let data = generate(&root, size);
        let dir = ExperimentDir::new(&data);
        let ours = measure_ours(&dir, &query, &options, size.epochs);
        let peer = measure_duckdb(&root, &data, &query_path);
        let rows = NETWORKS as usize * size.epochs as usize * size.samples;
        print_comparison(&data, rows, &ours, &peer, &options);
        if let Err(why) = &peer {
            println!("DuckDB failed on {}: {why}", size.name);
        }
        let peer = peer.unwrap_or_default();
        summary.push((
            size.name,
            ours.total_s,
            ours.peak_mib,
            peer["analysis_s"].as_f64(),
            peer["peak_rss_mib"].as_f64(),
        ));
        if i == 0 && ballista {
            measure_ballista(&dir, ours.total_s);
        }
    }
    println!(
        "\n{:<6} {:>12} {:>14} {:>12} {:>14}",
        "size", "agree (s)", "agree (MiB)", "DuckDB (s)", "DuckDB (MiB)"
    );
    for (name, s, mib, ds, dmib) in summary {
        let d = |v: Option<f64>| v.map_or("failed".into(), |v| format!("{v:.1}"));
        println!("{name:<6} {s:>12.1} {mib:>14.0} {:>12} {:>14}", d(ds), d(dmib));
    }
}
