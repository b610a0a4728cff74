//! `agree sql` through the binary cannot write: every write form — as the query
//! argument, with `-f` and on standard input — is refused, `--out` never lands in
//! the experiment directory or on an existing file, and afterwards not one file
//! of the experiment or of the temporary folder around it has changed. Also the
//! query-shaped crashes and silent successes: a 2,000-term expression, a missing
//! directory, CSV of a list column.

use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn agree(args: &[&str], cwd: &Path, stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agree"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file and folder under `root` with a digest of its bytes (folders: None).
fn tree(root: &Path) -> BTreeMap<PathBuf, Option<(u64, u64)>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(rel, None);
                stack.push(path);
            } else if meta.is_file() {
                let mut h = DefaultHasher::new();
                h.write(&std::fs::read(&path).unwrap());
                out.insert(rel, Some((meta.len(), h.finish())));
            } else {
                out.insert(rel, Some((0, 0)));
            }
        }
    }
    out
}

/// The write forms, each aimed at a table of the experiment, a new file in the
/// experiment, or a file beside it. `{E}` is the experiment, `{T}` the folder around it.
const WRITES: &[&str] = &[
    "COPY (SELECT sample_id FROM samples LIMIT 3) TO '{E}/stats.parquet' STORED AS PARQUET",
    "COPY (SELECT 'echo owned' AS s) TO '{T}/evil.sh' STORED AS CSV",
    "COPY samples TO '{T}/copy.parquet'",
    "EXPLAIN ANALYZE COPY (SELECT sample_id FROM samples LIMIT 3) TO '{E}/stats.parquet' STORED AS PARQUET",
    "EXPLAIN COPY (SELECT 1) TO '{T}/explain.csv'",
    "EXPLAIN ANALYZE VERBOSE COPY (SELECT 1) TO '{T}/verbose.csv' STORED AS CSV",
    "EXPLAIN ANALYZE EXPLAIN ANALYZE COPY (SELECT 1) TO '{T}/twice.csv' STORED AS CSV",
    "INSERT INTO samples SELECT * FROM samples",
    "EXPLAIN ANALYZE INSERT INTO samples SELECT * FROM samples",
    "CREATE TABLE dup AS SELECT * FROM samples",
    "CREATE VIEW v AS SELECT 1",
    "CREATE EXTERNAL TABLE ext (a INT) STORED AS CSV LOCATION '{T}/ext.csv'",
    "CREATE EXTERNAL TABLE ext STORED AS PARQUET LOCATION '{E}/samples.parquet'",
    "SET datafusion.execution.batch_size = 1",
    "SELECT * INTO dup FROM samples",
    "WITH w AS (SELECT 1) SELECT * FROM w; COPY (SELECT 1) TO '{T}/second.csv'",
    "DROP TABLE samples",
];

fn experiment(tmp: &Path) -> PathBuf {
    let out = agree(
        &[
            "ingest",
            "synthetic",
            "--out",
            "exp",
            "--train",
            "20",
            "--test",
            "10",
            "--size",
            "16",
            "--quiet",
        ],
        tmp,
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    tmp.join("exp")
}

#[test]
fn no_write_form_changes_any_file() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().canonicalize().unwrap();
    let exp = experiment(&t);
    let e = exp.to_str().unwrap();
    std::fs::write(t.join("existing.csv"), "keep me\n").unwrap();
    std::os::unix::fs::symlink(&exp, t.join("link")).unwrap();
    let sql_file = t.join("query.sql");
    let before = {
        std::fs::write(&sql_file, "").unwrap();
        tree(&t)
    };
    let mut refusals = 0;
    for write in WRITES {
        let sql = write.replace("{E}", e).replace("{T}", t.to_str().unwrap());
        let sql = sql.as_str();
        std::fs::write(&sql_file, sql).unwrap();
        let ways: [(Vec<&str>, Option<&str>); 3] = [
            (vec!["sql", e, sql], None),
            (vec!["sql", e, "-f", "query.sql"], None),
            (vec!["sql", e], Some(sql)),
        ];
        for (args, stdin) in ways {
            let out = agree(&args, &t, stdin);
            assert!(!out.status.success(), "{sql} ran via {args:?}");
            let err = stderr(&out);
            assert!(
                err.contains("refused") || err.contains("statements given"),
                "{sql} via {args:?}: {err}"
            );
            refusals += 1;
        }
        std::fs::write(&sql_file, "").unwrap();
    }
    // --out: never inside the experiment (directly, through a link, or `..`), never an existing file.
    let select = "SELECT sample_id FROM samples";
    for out in [
        format!("{e}/samples.parquet"),
        format!("{e}/new.csv"),
        format!("{e}/results/new.parquet"),
        "link/new.csv".to_string(),
        "exp/../exp/new.json".to_string(),
        "existing.csv".to_string(),
    ] {
        let res = agree(&["sql", e, select, "--out", out.as_str()], &t, None);
        assert!(!res.status.success(), "--out {out} was written");
        assert!(stderr(&res).contains("--out"), "{}", stderr(&res));
        refusals += 1;
    }
    let res = agree(
        &["sql", e, select, "--out", "link/samples.parquet", "--force"],
        &t,
        None,
    );
    assert!(!res.status.success(), "--force does not open the experiment");
    assert_eq!(tree(&t), before, "a refused command changed a file");
    assert!(refusals >= 3 * WRITES.len() + 6);

    // What is allowed: reads, EXPLAIN ANALYZE of a read, --out beside the experiment.
    let out = agree(&["sql", e, "EXPLAIN ANALYZE SELECT count(*) FROM samples"], &t, None);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = agree(&["sql", e, select, "--out", "ids.csv"], &t, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(t.join("ids.csv")).unwrap().lines().count(), 31);
    let out = agree(&["sql", e, select, "--out", "existing.csv", "--force"], &t, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(t.join("existing.csv"))
            .unwrap()
            .starts_with("sample_id")
    );
}

#[test]
fn hostile_and_careless_queries_get_an_error_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let exp = experiment(t);
    let e = exp.to_str().unwrap();

    let long = format!("SELECT {}", vec!["1"; 2_000].join(" + "));
    let ors = format!(
        "SELECT count(*) FROM samples WHERE {}",
        vec!["sample_id = 1"; 2_000].join(" OR ")
    );
    for sql in [long, ors] {
        let out = agree(&["sql", e, sql.as_str()], t, None);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains("deep"), "{}", stderr(&out));
    }
    // Just under the limit still runs, planning and evaluation included.
    let sum = format!("SELECT {} AS s", vec!["1"; 480].join(" + "));
    let out = agree(&["sql", e, sum.as_str(), "--format", "csv"], t, None);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "s\n480\n");

    // A query over the memory limit is an error that names the limit, not an abort;
    // a limit that is not a size is refused before anything runs.
    let sort = "SELECT * FROM samples ORDER BY image DESC";
    let out = agree(&["sql", e, sort, "--memory-limit", "16KiB"], t, None);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("--memory-limit 16.0 KiB"), "{}", stderr(&out));
    for bad in ["0", "lots", "-5MiB", "4 parsecs"] {
        let flag = format!("--memory-limit={bad}");
        let out = agree(&["sql", e, "select 1", flag.as_str()], t, None);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
        assert!(stderr(&out).contains("--memory-limit"), "{}", stderr(&out));
    }
    let out = agree(
        &[
            "sql",
            e,
            "SELECT count(*) AS n FROM samples",
            "--memory-limit",
            "64MiB",
            "--format",
            "csv",
        ],
        t,
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n\n30\n");

    let out = agree(&["sql", "/nonexistent/experiment", "select 1"], t, None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("/nonexistent/experiment"), "{}", stderr(&out));

    let out = agree(
        &[
            "sql",
            e,
            "SELECT 1 AS n, make_array(1.5, 2.0) AS l, 'x' AS s",
            "--format",
            "csv",
        ],
        t,
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n,l,s\n1,\"[1.5, 2.0]\",x\n");
}
