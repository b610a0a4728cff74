//! Experiment directories on S3 (an emulator, moto's `moto_server`, on 127.0.0.1):
//! ingest, stats, deterministic training and the analysis on `s3://agree-test/exp`
//! write the same tables as on local disk, and `agree sql` answers the same; a wrong
//! endpoint and missing credentials are one clear error naming the URL; a stage killed
//! mid-upload leaves no half table visible, and the next stage completes the upload.
//!
//! `moto_server` comes from `.venv` (`cargo xtask setup` installs `moto[server]`) or
//! PATH; without it the test fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "agree-test";
const URL: &str = "s3://agree-test/exp";
/// Columns that measure the run (time, speed) rather than its result.
const WALL_CLOCK: [&str; 4] = ["images_per_s", "wall_s", "started_at", "updated_at"];

/// A moto server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("moto_server"))
        .find(|p| p.is_file());
    on_path.expect("moto_server is missing: `cargo xtask setup` installs moto[server] into .venv")
}

/// One HTTP/1.0 request to the emulator; returns the status line and body.
fn http(port: u16, method: &str, path: &str) -> std::io::Result<(String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((head.lines().next().unwrap_or("").to_string(), body.to_string()))
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let moto = Moto { child, port };
    let started = Instant::now();
    loop {
        match http(port, "PUT", &format!("/{BUCKET}")) {
            Ok((status, _)) if status.contains(" 200") => return moto,
            _ if started.elapsed() > Duration::from_secs(60) => panic!("moto_server did not answer on port {port}"),
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The visible keys of the bucket (the emulator's listing, XML).
fn keys(moto: &Moto) -> Vec<String> {
    let (_, body) = http(moto.port, "GET", &format!("/{BUCKET}?list-type=2&max-keys=10000")).unwrap();
    body.split("<Key>")
        .skip(1)
        .filter_map(|k| k.split_once("</Key>").map(|(k, _)| k.to_string()))
        .collect()
}

fn agree(moto: &Moto, cache: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agree"));
    c.args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{}", moto.port))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AGREE_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
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

/// Every stage on `dir` (a path or the URL), in one cache folder.
fn study(moto: &Moto, cache: &Path, dir: &str) {
    let stages: [Vec<&str>; 4] = [
        vec![
            "ingest",
            "synthetic",
            "--out",
            dir,
            "--seed",
            "3",
            "--train",
            "96",
            "--test",
            "48",
            "--size",
            "32",
        ],
        vec!["stats", dir],
        vec![
            "train",
            dir,
            "--arch",
            "lenet5",
            "--networks",
            "2",
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
        ],
        vec!["analyze", dir, "--bins", "3", "--bootstrap", "20"],
    ];
    for args in stages {
        succeed(
            agree(moto, cache, &args).output().unwrap(),
            &format!("agree {}", args.join(" ")),
        );
    }
}

/// The `.parquet` files under `root`, relative, sorted.
fn parquet_files(root: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if e.path().is_dir() {
            parquet_files(root, &child, out);
        } else if name.ends_with(".parquet") {
            out.push(child);
        }
    }
    out.sort();
}

/// A table's rows as sorted text lines, wall-clock columns left out.
fn table_text(path: &Path) -> Vec<String> {
    let (_, batches) = agree_schema::read_table(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = Vec::new();
    for b in batches {
        let keep: Vec<usize> = (0..b.num_columns())
            .filter(|&i| !WALL_CLOCK.contains(&b.schema().field(i).name().as_str()))
            .collect();
        let b = b.project(&keep).unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&[b]).unwrap().to_string();
        lines.extend(text.lines().filter(|l| l.starts_with("| ")).map(str::to_string));
    }
    lines.sort();
    lines
}

fn sql(moto: &Moto, cache: &Path, dir: &str, query: &str) -> String {
    let out = succeed(
        agree(moto, cache, &["sql", dir, query, "--quiet"]).output().unwrap(),
        &format!("agree sql {dir}"),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_study_on_s3_writes_the_tables_of_one_on_local_disk() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    let local_s = local.to_str().unwrap();
    let cache = tmp.path().join("cache");
    study(&moto, &cache, local_s);
    study(&moto, &cache, URL);

    let keys = keys(&moto);
    assert!(
        keys.iter().all(|k| !k.split('/').any(|c| c.starts_with('.'))),
        "hidden keys left: {keys:?}"
    );
    for table in [
        "exp/samples.parquet",
        "exp/stats.parquet",
        "exp/results/agreement.parquet",
    ] {
        assert!(keys.iter().any(|k| k == table), "{table} not in the bucket: {keys:?}");
    }

    // Another machine: a fresh working copy, pulled by a read-only query.
    let fresh = tmp.path().join("fresh");
    let query = "SELECT run_id, epoch, split, count(*) AS n, sum(CAST(correct AS INT)) AS right \
                 FROM predictions GROUP BY run_id, epoch, split ORDER BY run_id, epoch, split";
    assert_eq!(sql(&moto, &fresh, URL, query), sql(&moto, &cache, local_s, query));
    let copy = fresh.join("s3").join(BUCKET).join("exp");
    let mut expected = Vec::new();
    parquet_files(&local, "", &mut expected);
    let mut got = Vec::new();
    parquet_files(&copy, "", &mut got);
    assert_eq!(got, expected, "the bucket's tables differ from the local run's");
    assert!(expected.len() >= 15, "{expected:?}");
    for rel in &expected {
        assert_eq!(
            table_text(&copy.join(rel)),
            table_text(&local.join(rel)),
            "{rel} differs"
        );
    }
    let remote_keys: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("exp/"))
        .map(str::to_string)
        .collect();
    for rel in &expected {
        assert!(remote_keys.contains(rel), "{rel} is not in the bucket");
    }

    // A wrong endpoint, missing credentials: one error naming the URL.
    let wrong = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = agree(&moto, &fresh, &["sql", URL, "SELECT 1"])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{wrong}"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("s3://agree-test/exp: cannot list the bucket"), "{err}");
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
    let out = agree(&moto, &fresh, &["sql", URL, "SELECT 1"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("s3://agree-test/exp: "), "{err}");
    assert!(err.contains("AWS_ACCESS_KEY_ID is not set"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_stage_killed_mid_upload_leaves_no_half_table() {
    let moto = start_moto();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let url = "s3://agree-test/big";
    let copy = cache.join("s3").join(BUCKET).join("big");
    // A samples table of about 100 MB: it goes up in parts.
    let mut child = agree(
        &moto,
        &cache,
        &[
            "ingest",
            "synthetic",
            "--out",
            url,
            "--seed",
            "1",
            "--train",
            "12000",
            "--test",
            "0",
            "--size",
            "64",
        ],
    )
    .spawn()
    .unwrap();
    let started = Instant::now();
    while !copy.join("samples.parquet").is_file() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "ingest wrote no samples.parquet"
        );
        assert!(child.try_wait().unwrap().is_none(), "ingest ended before its upload");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The push starts after the manifest; kill during it.
    while !copy.join("manifest.json").is_file() {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let killed_early = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    let visible: Vec<String> = keys(&moto)
        .into_iter()
        .filter(|k| !k.split('/').any(|c| c.starts_with('.')))
        .collect();
    let fresh = tmp.path().join("fresh");
    if visible.iter().any(|k| k == "big/samples.parquet") {
        // Visible means whole.
        let n = sql(&moto, &fresh, url, "SELECT count(*) AS n FROM samples");
        assert!(n.contains("12000"), "{n}");
    }
    assert!(
        killed_early,
        "ingest finished before the kill; the test needs a larger table"
    );

    // The next stage on that working copy pushes what is missing and removes the
    // killed process's temporary key.
    succeed(agree(&moto, &cache, &["stats", url]).output().unwrap(), "agree stats");
    let all = keys(&moto);
    assert!(
        all.iter().all(|k| !k.split('/').any(|c| c.starts_with('.'))),
        "temporaries left: {all:?}"
    );
    let n = sql(
        &moto,
        &tmp.path().join("fresh2"),
        url,
        "SELECT count(*) AS n FROM samples JOIN stats USING (sample_id)",
    );
    assert!(n.contains("12000"), "{n}");
}
