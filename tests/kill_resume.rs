//! Every stage killed with SIGKILL at several points of its run, then run again:
//! nothing temporary is left behind, and the outputs are those of an
//! uninterrupted run, byte for byte (the epoch and run tables up to their
//! wall-clock columns, which measure the run itself).
//!
//! Kill points are fractions of the uninterrupted run's duration, so they land
//! during startup, reading, writing and renaming alike; kills that come after the
//! process ended are counted and most must land.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agree_schema::read_table;
use arrow::array::RecordBatch;
use arrow::compute::concat_batches;

/// One stage: its arguments and what it writes (relative to the experiment).
struct Stage {
    name: &'static str,
    args: &'static [&'static str],
    outputs: &'static [&'static str],
}

const STAGES: [Stage; 5] = [
    Stage {
        name: "ingest",
        args: &[
            "ingest",
            "synthetic",
            "--out",
            "exp",
            "--seed",
            "3",
            "--train",
            "96",
            "--test",
            "48",
            "--size",
            "32",
        ],
        outputs: &[
            "samples.parquet",
            "attributes.parquet",
            "manifest.json",
            "rejects.parquet",
        ],
    },
    Stage {
        name: "stats",
        args: &["stats", "exp"],
        outputs: &["stats.parquet", "spectra.parquet"],
    },
    Stage {
        name: "train",
        args: &[
            "train",
            "exp",
            "--arch",
            "lenet5",
            "--networks",
            "2",
            "--epochs",
            "3",
            "--batch-size",
            "32",
            "--lr",
            "0.05",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--deterministic",
        ],
        outputs: &["predictions", "checkpoints", "epochs", "runs"],
    },
    Stage {
        name: "analyze",
        args: &["analyze", "exp", "--bins", "3", "--bootstrap", "20"],
        outputs: &["results"],
    },
    Stage {
        name: "report",
        args: &["report", "exp"],
        outputs: &["report"],
    },
];

/// Where in the uninterrupted run's duration the kills land.
const KILL_AT: [f64; 3] = [0.3, 0.6, 0.9];

/// Columns and manifest keys that measure the run (time, speed) rather than its result.
const WALL_CLOCK: [&str; 5] = ["images_per_s", "wall_s", "started_at", "updated_at", "created_unix_s"];

fn command(stage: &Stage, cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agree"));
    c.args(stage.args)
        .arg("--quiet")
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn run_to_end(stage: &Stage, cwd: &Path) -> Duration {
    let started = Instant::now();
    let out = command(stage, cwd).output().unwrap();
    assert!(
        out.status.success(),
        "agree {} failed:\n{}",
        stage.name,
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// Starts the stage and SIGKILLs it after `after`; true when it was still running.
fn kill_after(stage: &Stage, cwd: &Path, after: Duration) -> bool {
    let mut child = command(stage, cwd).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(after);
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    running
}

/// A table without its wall-clock columns, for the tables that have some.
fn table_without_wall_clock(path: &Path) -> RecordBatch {
    let (schema, batches) = read_table(path).unwrap();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|&i| !WALL_CLOCK.contains(&schema.field(i).name().as_str()))
        .collect();
    let all = concat_batches(&schema, &batches).unwrap();
    all.project(&keep).unwrap()
}

/// What a stage's outputs hold: file → bytes, or → a table's content where the
/// file records wall-clock time.
#[derive(Debug, PartialEq)]
enum Content {
    Bytes(Vec<u8>),
    Table(RecordBatch),
    /// A JSON document without its wall-clock keys.
    Json(serde_json::Value),
    /// A checkpoint's metadata: its epoch records carry their wall-clock time.
    Present,
}

/// Every file and folder under `path` (itself included), depth first.
fn walk(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for entry in std::fs::read_dir(&p).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
        if p.symlink_metadata().is_ok() {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn outputs(stage: &Stage, exp: &Path) -> BTreeMap<PathBuf, Content> {
    let mut out = BTreeMap::new();
    for o in stage.outputs {
        for path in walk(&exp.join(o)) {
            if !path.is_file() {
                continue;
            }
            let path = path.as_path();
            let name = path.file_name().unwrap().to_string_lossy();
            // epochs/<run>.parquet and runs/<run>.parquet record the run's wall-clock time.
            let folder = path
                .parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned());
            let run_table =
                folder.as_deref().is_some_and(|f| f == "epochs" || f == "runs") && name.ends_with(".parquet");
            let content = if run_table {
                Content::Table(table_without_wall_clock(path))
            } else if name == "manifest.json" {
                let mut doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
                for key in WALL_CLOCK {
                    doc.as_object_mut().unwrap().remove(key);
                }
                Content::Json(doc)
            } else if name == "meta.json" {
                Content::Present
            } else {
                Content::Bytes(std::fs::read(path).unwrap())
            };
            out.insert(path.strip_prefix(exp).unwrap().to_path_buf(), content);
        }
    }
    out
}

/// Temporary files and folders anywhere in the experiment.
fn leftovers(exp: &Path) -> Vec<PathBuf> {
    walk(exp)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".tmp") || name.contains(".tmp-")
        })
        .collect()
}

fn remove_outputs(stage: &Stage, exp: &Path) {
    for o in stage.outputs {
        let p = exp.join(o);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else if p.exists() {
            std::fs::remove_file(&p).unwrap();
        }
    }
}

#[test]
fn every_stage_killed_anywhere_reruns_to_the_same_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    let (mut kills, mut landed) = (0, 0);
    for stage in &STAGES {
        let took = run_to_end(stage, tmp.path());
        let reference = outputs(stage, &exp);
        assert!(!reference.is_empty(), "{} wrote nothing", stage.name);
        for (k, at) in KILL_AT.iter().enumerate() {
            // Alternately from scratch and over complete earlier outputs.
            if k % 2 == 0 {
                remove_outputs(stage, &exp);
            }
            kills += 1;
            if kill_after(stage, tmp.path(), took.mul_f64(*at)) {
                landed += 1;
            }
            run_to_end(stage, tmp.path());
            let left = leftovers(&exp);
            assert!(left.is_empty(), "{} killed at {at}: left {left:?}", stage.name);
            let again = outputs(stage, &exp);
            let differ: Vec<&PathBuf> = reference
                .keys()
                .chain(again.keys())
                .filter(|p| reference.get(*p) != again.get(*p))
                .collect();
            assert!(
                differ.is_empty(),
                "{} killed at {at} of {took:?} then rerun: {differ:?} differ from an uninterrupted run",
                stage.name
            );
        }
    }
    assert!(
        landed * 3 >= kills * 2,
        "only {landed} of {kills} kills hit a running stage"
    );
}
