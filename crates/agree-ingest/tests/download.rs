//! `--download` against a local HTTP server on 127.0.0.1 serving a small fixture
//! archive (this machine has no internet): verified files are used, mismatching ones
//! are refused and leave nothing behind.

use std::{
    io::{Read, Write},
    net::TcpListener,
    path::Path,
    thread,
};

use agree_ingest::download::{Checksum, Remote, fetch};
use sha2::{Digest, Sha256};

/// Serves `body` to at most `requests` GET requests, then stops.
fn serve(body: Vec<u8>, requests: usize) -> (String, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cifar-10-binary.tar.gz", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).unwrap();
            stream.write_all(&body).unwrap();
        }
    });
    (url, handle)
}

fn fixture_archive() -> Vec<u8> {
    let mut record = vec![4u8];
    record.extend((0..3072).map(|i| (i % 251) as u8));
    let mut builder = tar::Builder::new(Vec::new());
    for name in [
        "cifar-10-batches-bin/data_batch_1.bin",
        "cifar-10-batches-bin/test_batch.bin",
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(record.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, &record[..]).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&builder.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn download_verifies_then_ingests() {
    let body = fixture_archive();
    let sha = hex::encode(Sha256::digest(&body));
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");

    // Pinned checksum that the served file does not have: refused, nothing kept.
    let (url, server) = serve(body.clone(), 1);
    let pinned = Remote {
        url: "unused",
        file_name: "cifar-10-binary.tar.gz",
        checksum: Checksum::Sha256("00ff"),
    };
    let err = fetch(&pinned, &cache, Some(&url), None, true).unwrap_err().to_string();
    assert!(
        err.contains(&url) && err.contains("SHA-256 mismatch") && err.contains(&sha),
        "{err}"
    );
    assert!(leftovers(&cache).is_empty(), "{:?}", leftovers(&cache));
    server.join().unwrap();

    // The right checksum: the file appears under its name and ingests.
    let (url, server) = serve(body.clone(), 1);
    let good = Remote {
        url: "unused",
        file_name: "cifar-10-binary.tar.gz",
        checksum: Checksum::Sha256(Box::leak(sha.clone().into_boxed_str())),
    };
    let fetched = fetch(&good, &cache, Some(&url), None, true).unwrap();
    assert_eq!(fetched.sha256, sha);
    assert_eq!(std::fs::read(&fetched.path).unwrap(), body);
    server.join().unwrap();
    // A verified cached copy is reused without a request (no server is running now).
    let again = fetch(&good, &cache, Some("http://127.0.0.1:9/unreachable"), None, true).unwrap();
    assert_eq!(again.path, fetched.path);

    let out = tmp.path().join("exp");
    let opts = agree_ingest::IngestOptions {
        quiet: true,
        ..Default::default()
    };
    let s = agree_ingest::cifar10::ingest(&[fetched.path], &out, &opts).unwrap();
    assert_eq!(s.manifest.samples, 2);
    assert_eq!(s.manifest.sources[0].sha256.as_deref(), Some(sha.as_str()));
}

#[test]
fn cli_download_with_mirror_and_pinned_sha() {
    let body = fixture_archive();
    let sha = hex::encode(Sha256::digest(&body));
    let (url, server) = serve(body, 1);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("exp");
    let args = agree_ingest::cli::IngestArgs {
        format: agree_ingest::cli::Format::Cifar10,
        inputs: vec![],
        out: out.clone(),
        on_error: agree_ingest::OnError::Fail,
        download: true,
        cache: None,
        url: Some(url.clone()),
        sha256: Some(sha.clone()),
        seed: 0,
        train: 0,
        test: 0,
        size: 32,
        score_files: vec![],
        name: None,
        non_finite: agree_ingest::scores::NonFinite::Refuse,
        max_member_bytes: agree_ingest::tree::DEFAULT_MAX_MEMBER_BYTES,
        max_pixels: agree_ingest::inspect::DEFAULT_MAX_PIXELS,
        force: false,
    };
    agree_ingest::cli::run(&args, true).unwrap();
    server.join().unwrap();
    let m = agree_ingest::manifest::Manifest::read(&out.join("manifest.json")).unwrap();
    assert_eq!(m.samples, 2);
    assert_eq!(m.sources[0].url.as_deref(), Some(url.as_str()));
    assert_eq!(m.sources[0].sha256.as_deref(), Some(sha.as_str()));
}
