//! Score import: arbitrary bytes as a `.csv` (keyed by `key` or `sample_id`) or a
//! CIFAR-10H `.npy`, imported into an experiment of three CIFAR-10 test records.
//! Input: bit 0 of byte 0 picks csv (0) or npy (1); the rest is the file.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use agree_ingest::{IngestOptions, OnError, cifar10, scores};
use libfuzzer_sys::fuzz_target;

struct Experiment {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

/// An experiment whose samples are `test_batch.bin#00000..2` (ids 0..2).
fn experiment() -> &'static Experiment {
    static EXP: OnceLock<Experiment> = OnceLock::new();
    EXP.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().to_path_buf();
        let batches = root.join("cifar/cifar-10-batches-bin");
        std::fs::create_dir_all(&batches).expect("input directory");
        let records: Vec<u8> = (0..3u8)
            .flat_map(|label| std::iter::once(label).chain((0..3072).map(move |i| (i as u8).wrapping_mul(label + 1))))
            .collect();
        std::fs::write(batches.join("test_batch.bin"), records).expect("batch file");
        let opts = IngestOptions {
            on_error: OnError::Fail,
            quiet: true,
            recorded_options: Default::default(),
        };
        cifar10::ingest(&[root.join("cifar")], &root.join("exp"), &opts).expect("fixture ingest");
        Experiment { _dir: dir, root }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let exp = experiment();
    let file = exp.root.join(if pick & 1 == 0 { "fuzz.csv" } else { "fuzz.npy" });
    std::fs::write(&file, body).expect("score file");
    let _ = scores::import(&file, &exp.root.join("exp"), None);
});
