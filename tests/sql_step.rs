//! `agree sql --step NAME` through the binary: a step run alone gives exactly
//! what `agree analyze` computes (a result step: its results/ table), with
//! `--sql-dir`'s edited file where there is one; an edited step that breaks its
//! contract fails naming the step and the column; a string literal that looks
//! like a template stays a literal; a score table named like a step is refused;
//! and the experiment directory is left as it was.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agree_schema::ExperimentDir;
use agree_sql::synthetic_run::SyntheticRun;

fn agree(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agree"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = agree(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(args: &[&str]) -> String {
    let out = agree(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} did not fail: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every path under `root`.
fn listing(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.insert(path.strip_prefix(root).unwrap().to_path_buf());
        }
    }
    out
}

#[test]
fn a_step_runs_alone_as_the_analysis_runs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let exp = tmp.path().join("exp");
    SyntheticRun {
        archs: vec!["a".into(), "b".into()],
        networks: 2,
        epochs: 3,
        n_test: 30,
        n_train: 60,
        seed: 5,
    }
    .write(&ExperimentDir::new(&exp))
    .unwrap();
    let e = exp.to_str().unwrap();
    ok(&["analyze", e, "--quiet", "--bootstrap", "20"]);
    let before = listing(&exp);

    // A result step alone is its results/ table, byte for byte as CSV.
    for step in ["agreement", "statistic_correlation", "agreement_by_quantile"] {
        let alone = ok(&["sql", e, "--step", step, "--bootstrap", "20", "--format", "csv"]);
        let written = ok(&["sql", e, &format!("SELECT * FROM {step}"), "--format", "csv"]);
        assert!(alone.lines().count() > 1, "{step}: {alone}");
        assert_eq!(alone, written, "{step}");
    }
    // The bootstrap parameter reaches the step as it reaches the analysis.
    let other = ok(&[
        "sql",
        e,
        "--step",
        "statistic_correlation",
        "--bootstrap",
        "30",
        "--format",
        "csv",
    ]);
    assert_ne!(
        other,
        ok(&["sql", e, "SELECT * FROM statistic_correlation", "--format", "csv"])
    );
    // An intermediate step prints its table, in its contract's columns.
    let sample_agreement = ok(&["sql", e, "--step", "sample_agreement", "--format", "csv"]);
    let header = sample_agreement.lines().next().unwrap();
    assert_eq!(
        header,
        "group_kind,group_name,split,epoch,sample_id,n_correct,n_networks"
    );
    // 2 same-arch + 2 cross-arch groups × 90 samples × 3 epochs.
    assert_eq!(sample_agreement.lines().count(), 1 + 4 * 90 * 3);

    // An edited step, tested alone: a literal that looks like a template stays one.
    let sql_dir = tmp.path().join("sql");
    ok(&["analyze", e, "--export-sql", sql_dir.to_str().unwrap()]);
    let by_statistic = sql_dir.join("agreement_by_statistic.sql");
    let text = std::fs::read_to_string(&by_statistic).unwrap();
    // The subset's name is written once, in the CTE every pass reads.
    assert_eq!(text.matches("'rest'").count(), 1);
    std::fs::write(
        &by_statistic,
        text.replace("'rest'", "'{each statistic: not a placeholder}'"),
    )
    .unwrap();
    let s = sql_dir.to_str().unwrap();
    let edited = ok(&[
        "sql",
        e,
        "--step",
        "agreement_by_statistic",
        "--sql-dir",
        s,
        "--format",
        "csv",
    ]);
    assert!(edited.contains(",{each statistic: not a placeholder},"), "{edited}");
    assert!(edited.contains(",agreed,"));

    // An edited step that breaks its contract fails naming the step and the column,
    // alone and as the input of a later step.
    let sample_sql = sql_dir.join("sample_agreement.sql");
    let text = std::fs::read_to_string(&sample_sql).unwrap();
    std::fs::write(&sample_sql, text.replace("AS n_correct", "AS n_right")).unwrap();
    for step in ["sample_agreement", "agreement"] {
        let err = fails(&["sql", e, "--step", step, "--sql-dir", s]);
        assert!(
            err.contains("sample_agreement.sql: column 6 is `n_right`, the contract says `n_correct`"),
            "{err}"
        );
    }
    let err = fails(&["analyze", e, "--quiet", "--sql-dir", s]);
    assert!(err.contains("sample_agreement.sql: column 6 is `n_right`"), "{err}");
    // A step that reads a table its manifest entry does not list is refused before anything runs.
    std::fs::write(
        &sample_sql,
        text.replace(
            "FROM predictions AS p",
            "FROM predictions AS p CROSS JOIN samples AS extra",
        ),
    )
    .unwrap();
    let err = fails(&["sql", e, "--step", "group_members", "--sql-dir", s]);
    assert!(err.contains("sample_agreement.sql: reads `samples`"), "{err}");

    let err = fails(&["sql", e, "--step", "no_such_step"]);
    assert!(
        err.contains("no step `no_such_step`; the steps are group_members, sample_agreement"),
        "{err}"
    );
    assert_eq!(
        listing(&exp),
        before,
        "agree sql --step changed the experiment directory"
    );

    // A score table named like a step is refused, not shadowed.
    let scores = exp.join("scores");
    std::fs::create_dir_all(&scores).unwrap();
    std::fs::copy(exp.join("attributes.parquet"), scores.join("sample_agreement.parquet")).unwrap();
    for args in [
        vec!["sql", e, "--step", "agreement"],
        vec!["analyze", e, "--quiet"],
        vec!["sql", e, "SELECT 1"],
    ] {
        let err = fails(&args);
        assert!(
            err.contains("the score table `sample_agreement` would be shadowed by the intermediate analysis step"),
            "{args:?}: {err}"
        );
    }
}
