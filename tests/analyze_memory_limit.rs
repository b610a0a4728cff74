//! `agree analyze --memory-limit 512MiB` on a generated run whose unlimited
//! analysis needs more than that (3.6 M prediction rows, 22 statistics): it
//! completes, and its result tables are those of the unlimited run, byte for byte.

use std::path::Path;
use std::process::Command;

use agree_schema::ExperimentDir;
use agree_sql::synthetic_run::SyntheticRun;

/// Runs `agree analyze` with `limit` and returns the child's peak resident set in MiB.
fn analyze(dir: &Path, limit: &str, spill: &Path) -> f64 {
    let child = Command::new(env!("CARGO_BIN_EXE_agree"))
        .arg("analyze")
        .arg(dir)
        .args(["--memory-limit", limit, "--bootstrap", "20", "--quiet"])
        .arg("--spill-dir")
        .arg(spill)
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; both pointers are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    // Reaped by wait4; dropping a `Child` neither waits nor kills.
    drop(child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "agree analyze --memory-limit {limit} failed (status {status})"
    );
    usage.ru_maxrss as f64 / 1024.0
}

fn results(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("results"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_run_larger_than_the_limit_completes_within_it_with_the_unlimited_results() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    let spill = tmp.path().join("spill");
    SyntheticRun {
        archs: vec!["a".into()],
        networks: 5,
        epochs: 12,
        n_test: 10_000,
        n_train: 50_000,
        seed: 5,
    }
    .write(&ExperimentDir::new(&exp))
    .unwrap();
    let unlimited_mib = analyze(&exp, "none", &spill);
    let unlimited = results(&exp);
    assert!(
        unlimited_mib > 512.0,
        "the unlimited analysis peaked at {unlimited_mib:.0} MiB: the run is too small to test a 512 MiB limit"
    );
    let limited_mib = analyze(&exp, "512MiB", &spill);
    let limited = results(&exp);
    assert_eq!(limited.len(), unlimited.len());
    for ((name, a), (_, b)) in unlimited.iter().zip(&limited) {
        assert!(a == b, "results/{name} differs under --memory-limit 512MiB");
    }
    eprintln!("peak RSS: unlimited {unlimited_mib:.0} MiB, --memory-limit 512MiB {limited_mib:.0} MiB");
}
