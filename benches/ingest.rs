//! Ingest benchmark: the real CIFAR-10 archive (60,000 JPEGs in a tar.gz) through
//! `agree_ingest` and through the Python peer (tarfile + PIL decode + pyarrow write)
//! in one run, reporting images/s and the ratio.
//!
//! `cargo xtask bench ingest` (installs the Python peer's packages into .venv).
//! Set AGREE_BENCH_ARCHIVE to use another ImageFolder archive.

use std::{path::PathBuf, process::Command, time::Instant};

use agree_ingest::{IngestOptions, imagefolder};

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let archive = std::env::var_os("AGREE_BENCH_ARCHIVE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/data/cifar10-jpeg.tar.gz"));
    if !archive.exists() {
        eprintln!("skipped: {} not found", archive.display());
        return;
    }
    let tmp = tempfile::tempdir().expect("temporary directory");
    let threads = rayon::current_num_threads();

    // Best of three for both, after one warm-up read of the archive into the page cache.
    let _ = std::fs::read(&archive);
    let mut ours = f64::INFINITY;
    let mut images = 0;
    for i in 0..3 {
        let out = tmp.path().join(format!("agree{i}"));
        let start = Instant::now();
        let s = imagefolder::ingest(
            "imagefolder",
            std::slice::from_ref(&archive),
            &out,
            &IngestOptions::default(),
        )
        .expect("agree ingest");
        ours = ours.min(start.elapsed().as_secs_f64());
        images = s.manifest.samples;
    }

    let python = root.join(".venv/bin/python");
    let mut peer = f64::INFINITY;
    let mut peer_images = 0;
    for i in 0..3 {
        let out = tmp.path().join(format!("peer{i}.parquet"));
        let output = Command::new(&python)
            .arg(root.join("benches/python/ingest_peer.py"))
            .arg(&archive)
            .arg(&out)
            .output()
            .expect("running the Python peer (cargo xtask setup creates .venv)");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8_lossy(&output.stdout);
        let mut parts = text.split_whitespace();
        peer_images = parts.next().and_then(|v| v.parse().ok()).expect("image count");
        peer = peer.min(parts.next().and_then(|v| v.parse().ok()).expect("seconds"));
    }
    assert_eq!(images, peer_images, "both ingest the same images");

    println!(
        "ingest of {} ({images} images), best of 3, {threads} threads",
        archive.display()
    );
    println!("{:<38} {:>9} {:>12}", "", "seconds", "images/s");
    println!(
        "{:<38} {:>9.2} {:>12.0}",
        "agree ingest imagefolder",
        ours,
        images as f64 / ours
    );
    println!(
        "{:<38} {:>9.2} {:>12.0}",
        "python tarfile + PIL + pyarrow",
        peer,
        images as f64 / peer
    );
    println!("ratio (python time / agree time): {:.1}x", peer / ours);
}
