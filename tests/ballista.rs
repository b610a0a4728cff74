//! The same SQL on an Apache Ballista cluster: one `agree scheduler` and two `agree
//! executor` processes on free loopback ports. A small quickstart's analysis
//! through the cluster gives the local engine's result tables, the README's
//! example queries answer identically, and killing an executor mid-analysis
//! either completes or fails clearly, never leaving a half-written `results/`.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const TINY: &str = r#"
[pipeline]
name = "tiny"

[ingest]
format = "synthetic"
seed = 3
train = 1200
test = 300
size = 32

[stats]

[train]
arch = ["lenet5"]
networks = 3
epochs = 3
batch_size = 64
lr = 0.05
device = "cpu"
deterministic = true

[analyze]
bins = 4
bootstrap = 50
"#;

fn agree() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agree"));
    c.env_remove("RUST_BACKTRACE");
    c
}

fn run(args: &[&str]) -> Output {
    agree().args(args).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until `child`'s standard error has a line containing `needle` (the rest
/// of its output is drained in the background so the child never blocks).
fn wait_for_line(child: &mut Child, needle: &'static str) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains(needle) {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("no `{needle}` within 60 s"));
}

/// A scheduler and executors as child processes, killed when dropped.
struct Cluster {
    scheduler: Child,
    executors: Vec<Child>,
    port: u16,
    _work: tempfile::TempDir,
}

impl Cluster {
    fn start(executors: usize) -> Cluster {
        let work = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut scheduler = agree()
            .args([
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--executor-timeout",
                "5",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_line(&mut scheduler, "listening on");
        let executors = (0..executors)
            .map(|i| {
                let dir = work.path().join(format!("executor-{i}"));
                let mut child = agree()
                    .args(["executor", "--scheduler", &format!("127.0.0.1:{port}")])
                    .args(["--bind", "127.0.0.1:0", "--grpc-port", "0", "--vcores", "2"])
                    .arg("--work-dir")
                    .arg(&dir)
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                wait_for_line(&mut child, "agree executor on");
                child
            })
            .collect();
        // Executors register with their first poll of the scheduler.
        std::thread::sleep(Duration::from_secs(2));
        Cluster {
            scheduler,
            executors,
            port,
            _work: work,
        }
    }

    fn engine(&self) -> String {
        format!("ballista://127.0.0.1:{}", self.port)
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

/// The tiny quickstart, run locally (ingest, stats, train, analyze).
fn local_run() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let config = tmp.path().join("tiny.toml");
    std::fs::write(
        &config,
        TINY.replace("name = \"tiny\"", &format!("name = \"tiny\"\nout = {:?}", out)),
    )
    .unwrap();
    ok(&["pipeline", "--config", config.to_str().unwrap(), "--quiet"]);
    (tmp, out)
}

/// Every file of `results/`, by name, with its bytes.
fn results(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("results"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn assert_same_results(expected: &[(String, Vec<u8>)], dir: &Path, engine: &str) {
    let got = results(dir);
    let names = |r: &[(String, Vec<u8>)]| r.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(expected), "{engine}: result tables");
    for ((name, want), (_, have)) in expected.iter().zip(&got) {
        assert!(want == have, "{engine}: results/{name} differs from the local engine's");
    }
}

#[test]
fn the_analysis_and_example_queries_on_ballista_equal_the_local_engine() {
    let (_tmp, dir) = local_run();
    let d = dir.to_str().unwrap();
    let local = results(&dir);
    assert!(local.len() >= 6, "{local:?}");
    let cluster = Cluster::start(2);
    let engine = cluster.engine();
    ok(&[
        "analyze",
        d,
        "--bins",
        "4",
        "--bootstrap",
        "50",
        "--engine",
        &engine,
        "--quiet",
    ]);
    assert_same_results(&local, &dir, &engine);
    let queries = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/agree-sql/queries");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&queries)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for file in files {
        let f = file.to_str().unwrap();
        let here = ok(&["sql", d, "--file", f, "--format", "csv"]);
        let there = ok(&["sql", d, "--file", f, "--format", "csv", "--engine", &engine]);
        assert!(here.lines().count() > 1, "{f}: {here}");
        assert_eq!(here, there, "{f}: answers differ between local and {engine}");
    }
    // The standalone engine (scheduler and executor in-process) answers alike.
    let q = "SELECT split, count(*) AS n, precise_avg(CAST(correct AS DOUBLE)) AS acc FROM predictions GROUP BY split ORDER BY split";
    assert_eq!(
        ok(&["sql", d, q, "--format", "csv"]),
        ok(&["sql", d, q, "--format", "csv", "--engine", "ballista-standalone"])
    );
}

#[test]
fn an_unreachable_scheduler_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let port = free_port();
    let engine = format!("ballista://127.0.0.1:{port}");
    let out = run(&["sql", d, "SELECT 1", "--engine", &engine]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&engine) && err.contains("cannot reach the Ballista scheduler"),
        "{err}"
    );
    let out = run(&["sql", d, "SELECT 1", "--engine", "ballista://nowhere"]);
    assert_eq!(out.status.code(), Some(2), "a missing port is a usage error");
}

#[test]
fn killing_an_executor_mid_analysis_completes_or_fails_clearly() {
    let (_tmp, dir) = local_run();
    let d = dir.to_str().unwrap();
    let local = results(&dir);
    let mut cluster = Cluster::start(2);
    let engine = cluster.engine();
    let mut analysis = agree()
        .args([
            "analyze",
            d,
            "--bins",
            "4",
            "--bootstrap",
            "50",
            "--engine",
            &engine,
            "--quiet",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill one executor once the analysis has begun its steps.
    let started = Instant::now();
    let steps_begun = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().contains("analysis-steps"))
    };
    while !steps_begun() && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut victim = cluster.executors.remove(0);
    victim.kill().unwrap();
    victim.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = analysis.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the analysis neither finished nor failed within 240 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(analysis.stderr.as_mut().unwrap(), &mut err).unwrap();
    if !status.success() {
        assert!(!err.trim().is_empty(), "a failure says why");
        assert!(err.lines().count() < 40, "one clear error, not a dump: {err}");
    }
    // Either way results/ is whole: the earlier (equal) tables, or the new ones.
    assert_same_results(&local, &dir, &engine);
    let leftovers: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains("results"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
