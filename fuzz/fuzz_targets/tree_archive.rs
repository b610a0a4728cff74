//! tar / tar.gz tree reading: arbitrary bytes as an input archive (gzip is recognised by
//! its magic bytes), scanned (keeping `.txt`/`.xml` members) and then streamed whole.
#![no_main]

use std::sync::OnceLock;

use agree_ingest::tree::InputTree;
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temporary directory"))
}

fuzz_target!(|data: &[u8]| {
    let path = scratch().path().join("input.tar");
    std::fs::write(&path, data).expect("archive file");
    let Ok(tree) = InputTree::open(&path) else { return };
    let Ok((entries, sha256)) = tree.scan(|p| p.ends_with(".txt") || p.ends_with(".xml")) else {
        return;
    };
    assert!(sha256.is_some(), "an archive scan returns its checksum");
    // A small archive's stream is served from what the scan retained: every file but
    // the kept ones, which the scan returned instead.
    let listed: Vec<&str> = entries
        .iter()
        .filter(|e| !e.is_dir && e.content.is_none())
        .map(|e| e.path.as_str())
        .collect();
    let mut streamed = Vec::new();
    if tree
        .stream(
            |_| true,
            |p, _| {
                streamed.push(p.to_string());
                Ok(())
            },
        )
        .is_ok()
    {
        assert_eq!(
            streamed, listed,
            "the stream serves the files the scan listed and did not keep"
        );
    }
});
