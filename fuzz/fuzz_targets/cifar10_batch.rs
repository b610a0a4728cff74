//! CIFAR-10 binary reader: a `data_batch_1.bin` of arbitrary bytes, with or without a
//! `batches.meta.txt`, through `cifar10::ingest` in both `--on-error` modes.
//! Input: byte 0 = 0 for no meta file, else meta length + 1 (and bit 7 of byte 0
//! selects skip mode); then the meta text; the rest is the batch file.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use agree_ingest::{IngestOptions, OnError, cifar10};
use libfuzzer_sys::fuzz_target;

fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temporary directory"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let on_error = if head & 0x80 != 0 { OnError::Skip } else { OnError::Fail };
    let meta_len = usize::from(head & 0x7f);
    let (meta, batch) = if meta_len == 0 {
        (None, rest)
    } else {
        let n = (meta_len - 1).min(rest.len());
        (Some(&rest[..n]), &rest[n..])
    };
    let root = scratch().path();
    let input = root.join("in/cifar-10-batches-bin");
    let out: PathBuf = root.join("out");
    let _ = std::fs::remove_dir_all(root.join("in"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&input).expect("input directory");
    if let Some(meta) = meta {
        std::fs::write(input.join("batches.meta.txt"), meta).expect("meta file");
    }
    std::fs::write(input.join("data_batch_1.bin"), batch).expect("batch file");
    let opts = IngestOptions {
        on_error,
        quiet: true,
        recorded_options: Default::default(),
    };
    let _ = cifar10::ingest(&[root.join("in")], &out, &opts);
});
